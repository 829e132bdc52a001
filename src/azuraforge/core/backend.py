"""Where the core chooses its array library: once per process, not per tensor.

Only NumPy ships. Today this seam covers tensor creation; the primitives and fused kernels
call NumPy directly, and a CuPy backend would route them through here too. The device is
``AZURAFORGE_DEVICE`` (default ``cpu``), read once, when the first tensor is made, or the
name given to :func:`set_device`. ``cuda`` is recognised, and refused with a clear message,
because no GPU was available to test such a backend and untested GPU code is not shipped.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np

from azuraforge.errors import InvalidParameterError

DEVICE_VARIABLE = "AZURAFORGE_DEVICE"
_MODULES: dict[str, ModuleType] = {"cpu": np}
_DEVICES = (*_MODULES, "cuda")

_device: str | None = None  # None until the first tensor or set_device


def _checked_device(name: object, given_as: str, instead: str) -> str:
    device = name.lower() if isinstance(name, str) else name
    if device in _MODULES:
        return str(device)
    if device == "cuda":
        raise InvalidParameterError(
            f"{given_as}: this build ships no GPU backend (none could be tested); {instead}"
        )
    raise InvalidParameterError(
        f"{given_as}: the device must be one of {', '.join(_DEVICES)}, got {name!r}; {instead}"
    )


def set_device(name: str) -> None:
    """Choose the device every tensor made from now on lives on (only ``"cpu"`` ships).

    Raises
    ------
    InvalidParameterError
        If this build cannot run on ``name`` (``"cuda"``) or ``name`` is not a device.

    Examples
    --------
    >>> set_device("cpu")
    >>> get_device()
    'cpu'
    """
    global _device
    _device = _checked_device(name, f"set_device({name!r})", "use set_device('cpu')")


def get_device() -> str:
    """The device tensors are made on; the first call reads ``AZURAFORGE_DEVICE``.

    Raises
    ------
    InvalidParameterError
        If ``AZURAFORGE_DEVICE`` names a device this build cannot run on.
    """
    global _device
    if _device is None:
        value = os.environ.get(DEVICE_VARIABLE, "cpu")
        _device = _checked_device(
            value, f"{DEVICE_VARIABLE}={value}", f"unset {DEVICE_VARIABLE} or set it to 'cpu'"
        )
    return _device


def array_module() -> ModuleType:
    """The array module (NumPy) of the chosen device; see :func:`get_device`."""
    return _MODULES[get_device()]

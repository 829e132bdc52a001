"""Where the core chooses its array library.

Only NumPy ships. Today this seam covers tensor creation; the primitives and fused kernels
call NumPy directly, and a CuPy backend would route them through here too.
``AZURAFORGE_DEVICE=cuda`` is recognised, and refused with a clear message, because no GPU
was available to test such a backend and untested GPU code is not shipped.
"""

import os
from types import ModuleType

import numpy as np

from azuraforge.errors import InvalidParameterError

_DEVICES = ("cpu", "cuda")


def array_module() -> ModuleType:
    """The array module (NumPy) selected by ``AZURAFORGE_DEVICE`` (default ``cpu``).

    Raises
    ------
    InvalidParameterError
        If ``AZURAFORGE_DEVICE`` names a device this build cannot run on.
    """
    device = os.environ.get("AZURAFORGE_DEVICE", "cpu").lower()
    if device == "cpu":
        return np
    if device == "cuda":
        raise InvalidParameterError(
            "AZURAFORGE_DEVICE=cuda: this build ships no GPU backend (none could be tested); "
            "unset AZURAFORGE_DEVICE or set it to 'cpu'"
        )
    raise InvalidParameterError(
        f"AZURAFORGE_DEVICE must be one of {', '.join(_DEVICES)}, got {device!r}"
    )

"""The one seam through which the core reaches its array library.

Only NumPy ships today. ``AZURAFORGE_DEVICE=cuda`` is recognised so a CuPy backend can be
added behind this function later; it is refused with a clear message until a GPU is there
to test it on.
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

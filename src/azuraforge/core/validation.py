"""Argument checks shared by layers, kernels and optimisers, each raising a clear error.

Every check names the caller (``what``), the argument, the value it got and what it
expected, as STYLE.md section 6 asks.
"""

import math
from numbers import Integral, Real
from typing import Any, TypeVar

from azuraforge.errors import InvalidParameterError

REDUCTIONS = ("mean", "sum", "none")
# What the second spelling given to `either` is to the first.
TORCH_NAME = "PyTorch's name for"
OLD_NAME = "the old name of"
_T = TypeVar("_T")


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_positive(what: str, **sizes: Any) -> None:
    """Raise unless every size is an int >= 1 (NumPy ints included)."""
    for name, value in sizes.items():
        if not _is_int(value) or value < 1:
            raise InvalidParameterError(f"{what}: {name} must be a positive int, got {value!r}")


def check_non_negative(what: str, **values: Any) -> None:
    """Raise unless every value is a finite real number >= 0 (NumPy scalars included)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
            raise InvalidParameterError(f"{what}: {name} must be a number >= 0, got {value!r}")
        if value < 0:
            raise InvalidParameterError(f"{what}: {name} must be a number >= 0, got {value!r}")


def check_probability(what: str, name: str, p: Any) -> None:
    """Raise unless ``p`` is a number in [0, 1) (a dropout probability)."""
    if isinstance(p, bool) or not isinstance(p, Real) or not 0.0 <= float(p) < 1.0:
        raise InvalidParameterError(f"{what}: {name} must be in [0, 1), got {p!r}")


def check_reduction(reduction: Any, what: str) -> None:
    """Raise unless ``reduction`` is 'mean', 'sum' or 'none'."""
    if reduction not in REDUCTIONS:
        raise InvalidParameterError(
            f"{what}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )


def pair(value: Any, name: str, minimum: int = 1) -> tuple[int, int]:
    """``value`` (an int or two ints, each >= ``minimum``) as a (height, width) pair."""
    items = tuple(value) if isinstance(value, tuple | list) else (value, value)
    if len(items) != 2 or not all(_is_int(v) and v >= minimum for v in items):
        raise InvalidParameterError(
            f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}"
        )
    return int(items[0]), int(items[1])


def check_padding(what: str, padding: Any, stride: Any) -> None:
    """Refuse a convolution's ``padding`` that is neither zeros on each side (an int or a
    pair, >= 0) nor ``"same"`` (with stride 1) or ``"valid"``, naming ``what``."""
    if not isinstance(padding, str):
        pair(padding, "padding", minimum=0)
    elif padding not in ("same", "valid"):
        raise InvalidParameterError(
            f"{what}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}"
        )
    elif padding == "same" and pair(stride, "stride") != (1, 1):
        raise InvalidParameterError(f"{what}: padding='same' needs stride 1, got {stride!r}")


def either(
    what: str, names: tuple[str, str], ours: _T | None, theirs: _T | None, relation: str
) -> _T | None:
    """The value of an argument that has two spellings, ``names`` (ours, then the other), or
    ``None`` when neither is given; ``relation`` says what the other spelling is
    (:data:`TORCH_NAME`, :data:`OLD_NAME`).

    Raises
    ------
    InvalidParameterError
        If both spellings are given with different values.

    Examples
    --------
    >>> either("argmax", ("axis", "dim"), None, 1, TORCH_NAME)
    1
    >>> either("argmax", ("axis", "dim"), 0, 1, TORCH_NAME)
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: argmax: dim is PyTorch's name for axis; give \
one, got axis=0 and dim=1
    """
    if theirs is None or ours is None or ours == theirs:
        return ours if theirs is None else theirs
    raise InvalidParameterError(
        f"{what}: {names[1]} is {relation} {names[0]}; give one, got "
        f"{names[0]}={ours} and {names[1]}={theirs}"
    )

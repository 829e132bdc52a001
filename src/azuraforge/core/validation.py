"""Argument checks shared by layers, kernels and optimisers, each raising a clear error.

Every check names the caller (``what``), the argument, the value it got and what it
expected, as STYLE.md section 6 asks.
"""

import math
from numbers import Integral, Real
from typing import Any

from azuraforge.errors import InvalidParameterError

REDUCTIONS = ("mean", "sum", "none")


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

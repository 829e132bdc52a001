"""The ``Metric`` ABC, and the input checks every metric shares.

A metric is a small stateful object in River's manner: feed it predictions as they come
(``update`` for one pair, ``update_many`` for arrays), read it at any time (``get``), start
over (``reset``). Every constructor argument is stored unchanged on ``self`` under its own
name, so ``clone()`` and saved artifacts can rebuild a metric from its ``__init__`` signature.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from numbers import Real
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from azuraforge.core import Tensor
from azuraforge.errors import InvalidParameterError, ShapeError

__all__ = ["Metric"]

FloatArray = npt.NDArray[np.float64]


class Metric(ABC):
    """Base class of the scalar metrics.

    Contract:

    - ``update(y_true, y_pred)`` takes one value pair, ``update_many(y_true, y_pred)`` takes
      arrays of any shape (flattened; both shapes must match): NumPy arrays, lists, or core
      tensors, whose data is read. Feeding the same values one by one or in batches of any
      size gives the same result, up to floating-point rounding.
      The trainer calls ``update_many``, which is vectorised.
    - ``get()`` returns the score so far as a Python float, and **NaN when nothing has been
      scored yet** (or when the score is undefined, as each metric documents) instead of
      raising: a report can always print it.
    - ``reset()`` forgets every value seen; the constructor arguments stay.
    - Inputs are checked before any state changes: mismatched shapes raise
      :class:`~azuraforge.errors.ShapeError` naming both shapes, NaN or infinite numbers
      raise :class:`~azuraforge.errors.InvalidParameterError`.
    - ``repr`` reads ``Name: value`` with four decimals, plus a note where the number needs
      one (the averaging, the annualisation, the baseline).

    Class attributes:

    - ``bigger_is_better``: whether a higher value is a better model (for early stopping and
      best checkpoints).
    - ``works_with``: the predictions it scores, ``'regression'`` (real values; the trading
      metrics too) or ``'classification'`` (class labels).
    """

    bigger_is_better: ClassVar[bool]
    works_with: ClassVar[str]

    def update(self, y_true: Any, y_pred: Any) -> None:
        """Add one (true value, prediction) pair."""
        self.update_many(*one_pair(self.name, y_true, y_pred))

    @abstractmethod
    def update_many(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        """Add arrays of true values and predictions (same shape, flattened)."""

    @abstractmethod
    def get(self) -> float:
        """The score so far; NaN before the first scored value."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every value seen."""

    @property
    def name(self) -> str:
        """The metric's name: its class name (``'MAE'``)."""
        return type(self).__name__

    def clone(self) -> Self:
        """A fresh metric with the same constructor arguments and no values seen."""
        return type(self)(**params_of(self))

    def _note(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{self.name}: {self.get():.4f}{self._note()}"


def params_of(obj: object) -> dict[str, Any]:
    """The constructor arguments of ``obj``, read back from the attributes of the same name."""
    signature = inspect.signature(type(obj).__init__)
    names = [n for n in signature.parameters if n != "self"]
    return {n: getattr(obj, n) for n in names}


def score(metric: Metric, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """``metric`` fed with the arrays in one go, then read: the plain functions use this."""
    metric.update_many(y_true, y_pred)
    return metric.get()


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN for 0 / 0 and a signed infinity for x / 0."""
    if denominator != 0:
        return numerator / denominator
    return math.nan if numerator == 0 else math.copysign(math.inf, numerator)


# ---- input checks -----------------------------------------------------------------------


def to_array(values: Any) -> np.ndarray:
    """``values`` as a NumPy array; a core ``Tensor`` gives its data (no gradient needed)."""
    return np.asarray(values.data if isinstance(values, Tensor) else values)


def one_pair(what: str, y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as one-element arrays, or a ShapeError if either is more."""
    t, p = to_array(y_true), to_array(y_pred)
    if t.size != 1 or p.size != 1:
        raise ShapeError(
            f"{what}.update takes one value pair, got y_true of shape {t.shape} and y_pred "
            f"of shape {p.shape}; use update_many for arrays"
        )
    return t.reshape(1), p.reshape(1)


def same_shape(what: str, **arrays: npt.ArrayLike) -> list[np.ndarray]:
    """The arrays, converted; a ShapeError naming every shape unless they all match."""
    converted = [to_array(a) for a in arrays.values()]
    if len({a.shape for a in converted}) > 1:
        parts = [f"{name} has shape {a.shape}" for name, a in zip(arrays, converted, strict=True)]
        shapes = " but ".join(parts) if len(parts) == 2 else ", ".join(parts)
        raise ShapeError(f"{what}: {shapes}; they must match")
    return converted


def check_finite(what: str, name: str, values: np.ndarray) -> None:
    """Raise InvalidParameterError if a float array holds NaN or infinity."""
    if values.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(values.ravel())
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"{what}: {name} has {int(bad.sum())} NaN or infinite value(s), the first "
            f"({values.ravel()[first]}) at index {first}; drop or fill them before scoring"
        )


def as_floats(what: str, name: str, values: np.ndarray) -> FloatArray:
    """A flat float64 copy of a real-valued array, checked for NaN and infinity."""
    if values.dtype.kind not in "biuf":
        raise InvalidParameterError(
            f"{what}: {name} must hold real numbers, got dtype {values.dtype}"
        )
    check_finite(what, name, values)
    return values.astype(np.float64).ravel()


def real_pairs(what: str, **arrays: npt.ArrayLike) -> list[FloatArray]:
    """Same-shape, finite, flattened float64 versions of the named arrays."""
    converted = same_shape(what, **arrays)
    return [as_floats(what, name, a) for name, a in zip(arrays, converted, strict=True)]


def check_series(what: str, values: np.ndarray) -> None:
    """Raise ShapeError unless the array holds one value per step: (n,), (n, 1), (1, n)..."""
    if values.ndim > 1 and values.size != max(values.shape):
        raise ShapeError(
            f"{what}: expects one value per time step, shape (n,) or (n, 1), "
            f"got shape {values.shape}"
        )


def is_positive_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number > 0 (NumPy scalars yes, bools no)."""
    return not isinstance(value, bool) and isinstance(value, Real) and 0 < float(value) < math.inf


def check_option(what: str, name: str, value: Any, options: tuple[str, ...]) -> None:
    """Raise InvalidParameterError listing ``options`` unless ``value`` is one of them."""
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in options[:-1]) + f" or {options[-1]!r}"
        raise InvalidParameterError(f"{what}: {name} must be {listed}, got {value!r}")


class Moments:
    """Count, mean and sum of squared deviations, merged batch by batch (Chan et al.)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def add(self, values: FloatArray) -> None:
        if values.size == 0:
            return
        batch_mean = float(values.mean())
        batch_m2 = float(np.sum((values - batch_mean) ** 2))
        n = self.n + values.size
        delta = batch_mean - self.mean
        self.mean += delta * values.size / n
        self.m2 += batch_m2 + delta**2 * self.n * values.size / n
        self.n = n

    def std(self) -> float:
        """Sample standard deviation (ddof=1); NaN below two values."""
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else math.nan

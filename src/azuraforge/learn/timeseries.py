"""Time-series preparation: chronological splits, windows, scalers and transforms.

The honest protocol of DESIGN.md section 4 lives here: splits are chronological (the test
part is the future), every scaler and transform is *fitted on training rows only*, and each
one has an exact inverse so predictions are scored in the original units. Every fitted
object can be saved as plain state (:meth:`state_dict`) and rebuilt with :func:`from_state`,
which is how a model artifact carries its preprocessing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from azuraforge.errors import (
    AzuraForgeError,
    InvalidParameterError,
    NotFoundError,
    PluginError,
    ShapeError,
    shorten,
)


@dataclass(frozen=True)
class Split:
    """Row ranges of a chronological train / validation / test split."""

    train: slice
    val: slice
    test: slice


def chronological_split(n_rows: int, train: float = 0.7, val: float = 0.1) -> Split:
    """Split ``n_rows`` in time order: first ``train``, then ``val``, the rest is test.

    Examples
    --------
    >>> chronological_split(10)
    Split(train=slice(0, 7, None), val=slice(7, 8, None), test=slice(8, 10, None))
    """
    if not (0 < train < 1 and 0 <= val < 1 and train + val < 1):
        raise InvalidParameterError(
            f"split fractions need 0 < train, 0 <= val and train + val < 1, got train={train}, "
            f"val={val}"
        )
    end_train, end_val = round(n_rows * train), round(n_rows * (train + val))
    if end_train == 0 or end_val == n_rows:
        raise InvalidParameterError(
            f"{n_rows} rows are too few for a train/val/test split of {train}/{val}"
        )
    return Split(slice(0, end_train), slice(end_train, end_val), slice(end_val, n_rows))


@dataclass(frozen=True)
class Windows:
    """Input windows ``x`` (n, sequence_length, features), targets ``y`` (n,) and the row
    index of each target in the original series (``target_rows``)."""

    x: np.ndarray
    y: np.ndarray
    target_rows: np.ndarray


def make_windows(
    features: np.ndarray,
    target: np.ndarray,
    sequence_length: int,
    horizon: int = 1,
    stride: int = 1,
    rows: slice = slice(None),
) -> Windows:
    """Sliding windows of ``sequence_length`` rows, each labelled ``horizon`` rows after its end.

    Only windows whose *target* falls in ``rows`` are made, so the windows of a validation or
    test part may read earlier rows as inputs (they are the past) but never label a row of
    another part.

    Examples
    --------
    >>> w = make_windows(np.arange(10.0)[:, None], np.arange(10.0), sequence_length=3, horizon=2)
    >>> w.x.shape, w.y[:2], w.target_rows[:2]
    ((6, 3, 1), array([4., 5.]), array([4, 5]))
    """
    if features.ndim != 2 or target.shape != features.shape[:1]:
        raise ShapeError(
            f"make_windows needs features (rows, columns) and target (rows,), got "
            f"{features.shape} and {target.shape}"
        )
    sizes = {"sequence_length": sequence_length, "horizon": horizon, "stride": stride}
    for name, value in sizes.items():
        if not isinstance(value, int) or value < 1:
            raise InvalidParameterError(f"make_windows: {name} must be an int >= 1, got {value!r}")
    first, last, _ = rows.indices(len(target))
    first = max(first, sequence_length - 1 + horizon)
    target_rows = np.arange(first, last, stride)
    if target_rows.size == 0:
        raise InvalidParameterError(
            f"no window fits: {len(target)} rows, target rows {rows}, sequence_length "
            f"{sequence_length}, horizon {horizon}"
        )
    x = window_inputs(features, target_rows - horizon, sequence_length)
    return Windows(x=x, y=target[target_rows], target_rows=target_rows)


def window_inputs(features: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """The windows of ``length`` rows of ``features`` (rows, columns) ending at the rows
    ``ends`` (each at least ``length - 1``), as one contiguous (windows, length, columns)
    array: the model input of :func:`make_windows` and of a forecaster's ``predict``.

    Examples
    --------
    >>> window_inputs(np.arange(5.0)[:, None], np.array([2, 4]), length=2)[:, :, 0]
    array([[1., 2.],
           [3., 4.]])
    """
    view = np.lib.stride_tricks.sliding_window_view(features, length, axis=0)
    return np.ascontiguousarray(view[ends - length + 1].transpose(0, 2, 1))


class Transform(ABC):
    """A fitted, invertible, column-wise transform with plain-data state.

    ``fit`` sees training rows only; ``transform`` and ``inverse_transform`` then apply the
    same parameters to any rows. ``columns`` restricts the inverse to a subset of the fitted
    columns (e.g. the target column of a feature matrix).

    A concrete subclass declares a ``kind`` of its own, the name :func:`from_state` finds it
    by; a second class under a taken kind, declared or inherited, is refused with a
    :class:`~azuraforge.errors.PluginError`. An intermediate class that declares no kind,
    and inherits none, is not registered.
    """

    kind: ClassVar[str]
    _registry: ClassVar[dict[str, type[Transform]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = getattr(cls, "kind", None)
        if kind is None:
            return
        if not isinstance(kind, str):
            raise PluginError(
                f"transform {_qualified(cls)}: kind must be a str, got {kind!r}; "
                f"declare e.g. kind = {cls.__name__.lower()!r}"
            )
        registered = Transform._registry.get(kind)
        # The same class defined again (a reloaded module) takes its own place back.
        if registered is not None and _qualified(registered) != _qualified(cls):
            how = "declares" if "kind" in cls.__dict__ else "inherits"
            raise PluginError(
                f"transform {_qualified(cls)} {how} kind {kind!r}, which "
                f"{_qualified(registered)} is registered under; from_state() finds a transform "
                f"by its kind, so declare a kind of its own, e.g. kind = {cls.__name__.lower()!r}"
            )
        Transform._registry[kind] = cls

    @abstractmethod
    def fit(self, train: np.ndarray) -> Transform:
        """Learn the parameters from training rows (columns on the last axis)."""

    @abstractmethod
    def transform(self, values: np.ndarray) -> np.ndarray:
        """Apply the fitted transform."""

    @abstractmethod
    def inverse_transform(self, values: np.ndarray, columns: Any = slice(None)) -> np.ndarray:
        """Undo :meth:`transform` (for the given fitted ``columns``)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted transform, as lists and numbers."""

    @classmethod
    @abstractmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Transform:
        """The fitted transform :meth:`state_dict` describes."""

    def _fitted(self, *names: str) -> list[np.ndarray]:
        """The named fitted arrays; a clear error before ``fit`` was called."""
        values = [getattr(self, n, None) for n in names]
        if any(v is None for v in values):
            raise InvalidParameterError(f"{type(self).__name__} is not fitted: call fit(train)")
        return values  # type: ignore[return-value]


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def from_state(state: dict[str, Any]) -> Transform:
    """Rebuild a fitted transform from :meth:`Transform.state_dict`.

    Raises
    ------
    InvalidParameterError
        If ``state`` is not a dict with a string ``kind``, or its values do not rebuild the
        transform of that kind (a missing key, a value of another type or size).
    NotFoundError
        If no transform is registered under its ``kind``.

    Examples
    --------
    >>> type(from_state({"kind": "standard", "mean": [1.0], "std": [2.0]})).__name__
    'StandardScaler'
    >>> from_state({"kind": "standard", "mean": [1.0], "std": [0.0]})
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: standard state: 'std' must be > 0, got 0
    """
    kind = state.get("kind") if isinstance(state, dict) else None
    if not isinstance(kind, str):
        raise InvalidParameterError(
            f"a transform state is a dict with a string 'kind' (what state_dict() returns), "
            f"got {shorten(repr(state))}"
        )
    if kind not in Transform._registry:
        raise NotFoundError(f"no transform kind {kind!r}; known: {sorted(Transform._registry)}")
    try:
        return Transform._registry[kind].from_state_dict(state)
    except AzuraForgeError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a plugin's own checks
        raise InvalidParameterError(
            f"{kind} state {shorten(repr(state))} does not rebuild the transform: "
            f"{type(e).__name__}: {e}"
        ) from e


def _state_columns(
    state: dict[str, Any], offset: str, scale: str
) -> tuple[np.ndarray, np.ndarray]:
    """A scaler's fitted ``offset`` and ``scale`` from its state: numbers, a scalar or one per
    column, as many of each, every scale > 0."""
    columns = [_state_numbers(state, key) for key in (offset, scale)]
    if columns[0].shape != columns[1].shape:
        raise InvalidParameterError(
            f"{state['kind']} state: {offset!r} and {scale!r} must have one value per column "
            f"each, got {columns[0].size} and {columns[1].size}"
        )
    if (columns[1] <= 0).any():
        raise InvalidParameterError(
            f"{state['kind']} state: {scale!r} must be > 0, got {columns[1].min():g}"
        )
    return columns[0], columns[1]


def _state_numbers(state: dict[str, Any], key: str) -> np.ndarray:
    try:
        values = np.asarray(state.get(key))
    except ValueError:  # ragged nested lists
        values = np.asarray(None)
    if values.dtype.kind not in "iuf" or values.ndim > 1 or not np.isfinite(values).all():
        raise InvalidParameterError(
            f"{state['kind']} state: {key!r} must be a finite number or a list of them, got "
            f"{shorten(repr(state.get(key)))}"
        )
    return values.astype(np.float64)


def _as_2d(values: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim not in (1, 2):
        raise ShapeError(f"{what} expects (rows,) or (rows, columns), got shape {array.shape}")
    if np.isnan(array).any():
        raise InvalidParameterError(f"{what}: the data holds NaN; fill or drop missing rows first")
    return array


class StandardScaler(Transform):
    """(x - mean) / std per column, mean and std from the training rows.

    Examples
    --------
    >>> s = StandardScaler().fit(np.array([[1.0], [3.0]]))
    >>> s.transform(np.array([[5.0]]))
    array([[3.]])
    >>> s.inverse_transform(np.array([[3.0]]))
    array([[5.]])
    """

    kind = "standard"

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, train: np.ndarray) -> StandardScaler:
        data = _as_2d(train, "StandardScaler.fit")
        self.mean = data.mean(axis=0)
        std = data.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)  # a constant column passes through centred
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        mean, std = self._fitted("mean", "std")
        scaled: np.ndarray = (_as_2d(values, "StandardScaler.transform") - mean) / std
        return scaled

    def inverse_transform(self, values: np.ndarray, columns: Any = slice(None)) -> np.ndarray:
        mean, std = self._fitted("mean", "std")
        restored: np.ndarray = np.asarray(values, dtype=np.float64) * std[columns] + mean[columns]
        return restored

    def fitted_column(self, column: int) -> tuple[float, float]:
        """The fitted mean and standard deviation of one column, as Python floats."""
        mean, std = self._fitted("mean", "std")
        return float(mean[column]), float(std[column])

    def state_dict(self) -> dict[str, Any]:
        mean, std = self._fitted("mean", "std")
        return {"kind": self.kind, "mean": mean.tolist(), "std": std.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> StandardScaler:
        scaler = cls()
        scaler.mean, scaler.std = _state_columns(state, "mean", "std")
        return scaler


class MinMaxScaler(Transform):
    """Map each column's training range onto [0, 1]."""

    kind = "minmax"

    def __init__(self) -> None:
        self.low: np.ndarray | None = None
        self.span: np.ndarray | None = None

    def fit(self, train: np.ndarray) -> MinMaxScaler:
        data = _as_2d(train, "MinMaxScaler.fit")
        self.low = data.min(axis=0)
        span = data.max(axis=0) - self.low
        self.span = np.where(span > 0, span, 1.0)
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        low, span = self._fitted("low", "span")
        scaled: np.ndarray = (_as_2d(values, "MinMaxScaler.transform") - low) / span
        return scaled

    def inverse_transform(self, values: np.ndarray, columns: Any = slice(None)) -> np.ndarray:
        low, span = self._fitted("low", "span")
        restored: np.ndarray = np.asarray(values, dtype=np.float64) * span[columns] + low[columns]
        return restored

    def state_dict(self) -> dict[str, Any]:
        low, span = self._fitted("low", "span")
        return {"kind": self.kind, "low": low.tolist(), "span": span.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> MinMaxScaler:
        scaler = cls()
        scaler.low, scaler.span = _state_columns(state, "low", "span")
        return scaler


class LogTransform(Transform):
    """Natural log; refuses values <= 0 instead of returning NaN or -inf."""

    kind = "log"

    def fit(self, train: np.ndarray) -> LogTransform:
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        data = _as_2d(values, "LogTransform")
        if (data <= 0).any():
            raise InvalidParameterError(
                f"LogTransform needs values > 0, got a minimum of {data.min()}; shift the data "
                "or use another transform"
            )
        logs: np.ndarray = np.log(data)
        return logs

    def inverse_transform(self, values: np.ndarray, columns: Any = slice(None)) -> np.ndarray:
        return np.exp(np.asarray(values, dtype=np.float64))

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> LogTransform:
        return cls()

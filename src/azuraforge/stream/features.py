"""Features of a price series, computed one event at a time and in batch with the same
numbers: returns over several horizons, rolling mean, standard deviation, minimum and
maximum, RSI (Wilder), MACD (line, signal, histogram), Bollinger %B and bandwidth.

Each feature is a small stateful object (River's style): :meth:`Feature.update` takes the
next value and returns the feature's outputs that are ready (none while it warms up);
:meth:`Feature.batch` computes the same outputs over a whole array (NaN while warming up).
The two agree to within 1e-12 (relative, or absolute near 0): rolling windows are summed in
another order, the recursive indicators (RSI, MACD) run the same arithmetic in both.
:class:`FeatureSet` puts several on one column of a stream's events.

Definitions (those of pandas' rolling and exponentially weighted means, and of the ``ta``
package's indicators):

- ``return_h``: ``x[t] / x[t-h] - 1``.
- ``mean_w``, ``std_w``, ``min_w``, ``max_w``: over the last ``w`` values; the standard
  deviation is the sample one (``ddof=1``).
- ``rsi_n``: Wilder's: the first average gain and loss are the means of the first ``n``
  changes, then ``avg = (avg x (n - 1) + change) / n``; ``100 - 100 / (1 + gain / loss)``,
  100 when there was no loss (50 when neither).
- ``macd``: EMA(fast) - EMA(slow) of the values, each EMA ``alpha = 2 / (span + 1)``
  seeded with the first value and shown from its ``span``-th value on; ``macd_signal``: the
  EMA(signal) of the line from its first value on; ``macd_hist``: line - signal.
- ``bb_pct_b``: ``(x - lower) / (upper - lower)`` with bands ``mean ± k x std`` over ``w``
  values (population standard deviation, ``ddof=0``); ``bb_width``: ``(upper - lower) /
  mean``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import Event


class Feature(ABC):
    """One or more numbers computed from a series, one value at a time or all at once."""

    @property
    @abstractmethod
    def names(self) -> tuple[str, ...]:
        """The names of its outputs (``("rsi_14",)``, ``("macd", "macd_signal", ...)``)."""

    @abstractmethod
    def update(self, value: float) -> dict[str, float]:
        """Take the next value; the outputs that are ready, by name."""

    @abstractmethod
    def batch(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Every output over ``values`` (oldest first), NaN where :meth:`update` would not
        have given it yet."""


def _check_size(owner: str, name: str, value: int, least: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidParameterError(
            f"{owner}: {name} must be an integer >= {least}, got {value!r}"
        )


class Returns(Feature):
    """``return_h = x[t] / x[t-h] - 1`` for each horizon ``h``.

    >>> feature = Returns([1, 2])
    >>> [feature.update(value) for value in (100.0, 125.0, 150.0)]
    [{}, {'return_1': 0.25}, {'return_1': 0.19999999999999996, 'return_2': 0.5}]
    """

    def __init__(self, horizons: Sequence[int] = (1,)) -> None:
        if not horizons:
            raise InvalidParameterError("Returns: give at least one horizon (1: the last step)")
        for horizon in horizons:
            _check_size("Returns", "each horizon", horizon)
        self.horizons = tuple(horizons)
        self._past: deque[float] = deque(maxlen=max(self.horizons) + 1)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"return_{horizon}" for horizon in self.horizons)

    def update(self, value: float) -> dict[str, float]:
        self._past.append(value)
        seen = len(self._past)
        return {f"return_{h}": value / self._past[-1 - h] - 1 for h in self.horizons if seen > h}

    def batch(self, values: np.ndarray) -> dict[str, np.ndarray]:
        values = np.asarray(values, dtype=np.float64)
        out = {}
        for horizon in self.horizons:
            column = np.full(len(values), np.nan)
            column[horizon:] = values[horizon:] / values[:-horizon] - 1
            out[f"return_{horizon}"] = column
        return out


class Rolling(Feature):
    """Mean, sample standard deviation, minimum and maximum of the last ``window`` values
    (``mean_20``, ``std_20``, ``min_20``, ``max_20``); ``stats`` picks some of them."""

    STATS = ("mean", "std", "min", "max")

    def __init__(self, window: int = 20, stats: Sequence[str] = STATS) -> None:
        _check_size("Rolling", "window", window, least=2)
        unknown = sorted(set(stats) - set(self.STATS))
        if unknown:
            raise InvalidParameterError(
                f"Rolling: unknown stats {', '.join(unknown)}; the stats are "
                f"{', '.join(self.STATS)}"
            )
        self.window = window
        self.stats = tuple(stats)
        self._values: deque[float] = deque(maxlen=window)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"{stat}_{self.window}" for stat in self.stats)

    def update(self, value: float) -> dict[str, float]:
        self._values.append(value)
        if len(self._values) < self.window:
            return {}
        window = self._values
        mean = sum(window) / self.window
        found = {
            "mean": mean,
            "std": math.sqrt(sum((x - mean) ** 2 for x in window) / (self.window - 1)),
            "min": min(window),
            "max": max(window),
        }
        return {f"{stat}_{self.window}": found[stat] for stat in self.stats}

    def batch(self, values: np.ndarray) -> dict[str, np.ndarray]:
        windows = _windows(values, self.window)
        found = {
            "mean": lambda: windows.mean(axis=1),
            "std": lambda: windows.std(axis=1, ddof=1),
            "min": lambda: windows.min(axis=1),
            "max": lambda: windows.max(axis=1),
        }
        return {
            f"{stat}_{self.window}": _padded(found[stat](), len(values), self.window)
            for stat in self.stats
        }


class RSI(Feature):
    """Wilder's relative strength index over ``period`` changes (``rsi_14``)."""

    def __init__(self, period: int = 14) -> None:
        _check_size("RSI", "period", period)
        self.period = period
        self._last: float | None = None
        self._changes = 0
        self._gain = 0.0
        self._loss = 0.0

    @property
    def names(self) -> tuple[str, ...]:
        return (f"rsi_{self.period}",)

    def update(self, value: float) -> dict[str, float]:
        last, self._last = self._last, value
        if last is None:
            return {}
        change = value - last
        gain, loss = max(change, 0.0), max(-change, 0.0)
        self._changes += 1
        n = self.period
        if self._changes <= n:  # the first averages: plain means of the first n changes
            self._gain += gain / n
            self._loss += loss / n
            if self._changes < n:
                return {}
        else:
            self._gain = (self._gain * (n - 1) + gain) / n
            self._loss = (self._loss * (n - 1) + loss) / n
        return {self.names[0]: _rsi(self._gain, self._loss)}

    def batch(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return _replayed(RSI(self.period), values)


class MACD(Feature):
    """The moving-average convergence divergence: ``macd``, ``macd_signal``, ``macd_hist``."""

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        for name, span in (("fast", fast), ("slow", slow), ("signal", signal)):
            _check_size("MACD", name, span)
        if fast >= slow:
            raise InvalidParameterError(f"MACD: fast ({fast}) must be below slow ({slow})")
        self.fast, self.slow, self.signal = fast, slow, signal
        self._fast = _EMA(fast)
        self._slow = _EMA(slow)
        self._signal = _EMA(signal)

    @property
    def names(self) -> tuple[str, ...]:
        return ("macd", "macd_signal", "macd_hist")

    def update(self, value: float) -> dict[str, float]:
        fast, slow = self._fast.update(value), self._slow.update(value)
        if self._slow.seen < self.slow:
            return {}
        line = fast - slow
        signal = self._signal.update(line)
        if self._signal.seen < self.signal:
            return {"macd": line}
        return {"macd": line, "macd_signal": signal, "macd_hist": line - signal}

    def batch(self, values: np.ndarray) -> dict[str, np.ndarray]:
        return _replayed(MACD(self.fast, self.slow, self.signal), values)


class Bollinger(Feature):
    """Where the value sits in its Bollinger bands (``bb_pct_b``: 0 on the lower band, 1 on
    the upper) and how wide they are against their middle (``bb_width``)."""

    def __init__(self, window: int = 20, k: float = 2.0) -> None:
        _check_size("Bollinger", "window", window, least=2)
        if not (isinstance(k, int | float) and math.isfinite(k) and k > 0):
            raise InvalidParameterError(f"Bollinger: k must be above 0, got {k!r}")
        self.window = window
        self.k = k
        self._values: deque[float] = deque(maxlen=window)

    @property
    def names(self) -> tuple[str, ...]:
        return ("bb_pct_b", "bb_width")

    def update(self, value: float) -> dict[str, float]:
        self._values.append(value)
        if len(self._values) < self.window:
            return {}
        mean = sum(self._values) / self.window
        std = math.sqrt(sum((x - mean) ** 2 for x in self._values) / self.window)
        return _bands(value, mean, std, self.k)

    def batch(self, values: np.ndarray) -> dict[str, np.ndarray]:
        values = np.asarray(values, dtype=np.float64)
        windows = _windows(values, self.window)
        mean, std = windows.mean(axis=1), windows.std(axis=1)
        width = 2 * self.k * std
        last = values[self.window - 1 :]
        with np.errstate(divide="ignore", invalid="ignore"):
            pct_b = np.where(width > 0, (last - (mean - self.k * std)) / width, 0.5)
            relative = np.where(mean != 0, width / mean, np.nan)
        return {
            "bb_pct_b": _padded(pct_b, len(values), self.window),
            "bb_width": _padded(relative, len(values), self.window),
        }


class FeatureSet:
    """Several features of one column of a stream's events.

    >>> features = FeatureSet("close", [Returns([1]), RSI(2)])
    >>> [features.update(Event(t, {"close": close})) for t, close in enumerate([10.0, 11, 10])]
    [{}, {'return_1': 0.10000000000000009}, {'return_1': -0.09090909090909094, 'rsi_2': 50.0}]
    """

    def __init__(self, column: str, features: Sequence[Feature]) -> None:
        names = [name for feature in features for name in feature.names]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise InvalidParameterError(
                f"FeatureSet: two features give {', '.join(repeated)}; keep one of each"
            )
        self.column = column
        self.features = list(features)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for feature in self.features for name in feature.names)

    def update(self, event: Event) -> dict[str, float]:
        """The features' outputs after ``event``, by name (those that are ready)."""
        try:
            value = event.values[self.column]
        except KeyError:
            raise InvalidParameterError(
                f"FeatureSet: the event of line {event.line} has no {self.column!r}; it has "
                f"{', '.join(event.values) or 'no values'}"
            ) from None
        out: dict[str, float] = {}
        for feature in self.features:
            out.update(feature.update(value))
        return out

    def batch(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Every output over the column's ``values``, NaN while warming up."""
        out: dict[str, np.ndarray] = {}
        for feature in self.features:
            out.update(feature.batch(values))
        return out


class _EMA:
    """An exponential moving average seeded with its first value (pandas' ``adjust=False``)."""

    def __init__(self, span: int) -> None:
        self.alpha = 2 / (span + 1)
        self.value = 0.0
        self.seen = 0

    def update(self, value: float) -> float:
        self.seen += 1
        self.value = value if self.seen == 1 else self.value + self.alpha * (value - self.value)
        return self.value


def _rsi(gain: float, loss: float) -> float:
    if loss == 0:
        return 100.0 if gain > 0 else 50.0
    return 100 - 100 / (1 + gain / loss)


def _bands(value: float, mean: float, std: float, k: float) -> dict[str, float]:
    width = 2 * k * std
    pct_b = (value - (mean - k * std)) / width if width > 0 else 0.5
    return {"bb_pct_b": pct_b, "bb_width": width / mean if mean else math.nan}


def _windows(values: np.ndarray, window: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if len(values) < window:
        return np.empty((0, window))
    return sliding_window_view(values, window)


def _padded(column: np.ndarray, length: int, window: int) -> np.ndarray:
    """``column`` (one value per full window) as ``length`` values: NaN for the first
    ``window - 1``."""
    out = np.full(length, np.nan)
    out[window - 1 :] = column
    return out


def _replayed(fresh: Feature, values: np.ndarray) -> dict[str, np.ndarray]:
    """A recursive feature's batch: a fresh copy updated value by value (the same
    arithmetic as :meth:`Feature.update`, so the same numbers)."""
    values = np.asarray(values, dtype=np.float64)
    out = {name: np.full(len(values), np.nan) for name in fresh.names}
    for index, value in enumerate(values.tolist()):
        for name, found in fresh.update(value).items():
            out[name][index] = found
    return out

"""Trading metrics: directional accuracy, hit rate, Sharpe ratio and maximum drawdown.

All four score a forecast of the next value of a series, fed in time order, one value per
step, and read it as a trading signal: at step t the strategy is long if the forecast is
above the previous true value, short if below, out of the market if equal. ``series`` says
what the values are:

- ``'price'`` (default): price levels. Moves are ``y[t] - y[t-1]`` and
  ``ŷ[t] - y[t-1]``; the asset's return is ``y[t] / y[t-1] - 1`` (prices must be positive).
- ``'log_price'``: log prices. Same moves; the asset's return is ``exp(y[t] - y[t-1]) - 1``.
- ``'return'``: per-period simple returns, forecast directly. Moves are ``y[t]`` and
  ``ŷ[t]`` themselves (compared with 0) and the asset's return is ``y[t]``.

With levels the first value only sets the reference, so ``n`` values give ``n - 1`` steps,
across updates too: the last value of one batch is the reference of the next. No trading
costs, no risk-free rate, positions rebalanced every step.

Each metric carries its naive baseline (``baseline()``, also in its ``repr``) because a
trading score means nothing alone (DESIGN.md section 4): the majority-class rate for the
direction metrics, buy and hold for the Sharpe ratio and the drawdown.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np
import numpy.typing as npt

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.metrics.base import (
    FloatArray,
    Metric,
    Moments,
    check_option,
    check_series,
    is_positive_number,
    real_pairs,
    score,
    to_array,
)

__all__ = [
    "DirectionalAccuracy",
    "HitRate",
    "MaxDrawdown",
    "SharpeRatio",
    "directional_accuracy",
    "hit_rate",
    "majority_rate",
    "max_drawdown",
    "sharpe_ratio",
]

SERIES = ("price", "log_price", "return")


class _Trading(Metric):
    """Turns (true value, forecast) pairs into steps: actual move, forecast move, reference."""

    works_with = "regression"

    def __init__(self, series: str = "price") -> None:
        check_option(self.name, "series", series, SERIES)
        self.series = series
        self.reset()

    def reset(self) -> None:
        self._previous: float | None = None
        self._reset_steps()

    def update_many(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        t, p = real_pairs(self.name, y_true=y_true, y_pred=y_pred)
        check_series(self.name, to_array(y_true))
        if self.series == "return":
            self._add_steps(t, p, np.zeros_like(t))
            return
        if not t.size:
            return
        reference = np.concatenate([[] if self._previous is None else [self._previous], t[:-1]])
        scored_t, scored_p = t[t.size - reference.size :], p[p.size - reference.size :]
        self._add_steps(scored_t - reference, scored_p - reference, reference)
        self._previous = float(t[-1])

    def baseline(self) -> float:
        """The same score for the naive strategy on the same steps (see the class)."""
        return self._baseline()

    @abstractmethod
    def _reset_steps(self) -> None: ...

    @abstractmethod
    def _add_steps(self, actual: FloatArray, forecast: FloatArray, reference: FloatArray) -> None:
        """Score steps; must check everything before changing any state."""

    @abstractmethod
    def _baseline(self) -> float: ...

    def _asset_returns(self, actual: FloatArray, reference: FloatArray) -> FloatArray:
        if self.series == "log_price":
            return np.expm1(actual)
        if self.series == "return":
            return actual
        bad = np.flatnonzero(reference <= 0)
        if bad.size:
            raise InvalidParameterError(
                f"{self.name}: series='price' needs positive prices to compute returns, got "
                f"{reference[bad[0]]} at step {bad[0]}; pass series='log_price' for log "
                "prices or series='return' for returns"
            )
        return actual / reference


def _count(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


class DirectionalAccuracy(_Trading):
    """Share of steps where the forecast move has the sign of the actual move.

    Signs are -1, 0 or +1: a flat forecast is right only on a flat step. Its baseline is
    the **majority-class rate**, the share of the most frequent actual direction over the
    same steps, what always forecasting that direction would score. Compare with it, never
    with 50 % (S&P 500 2009-2023: 54.5 % of days up).

    Parameters
    ----------
    series
        ``'price'`` (default), ``'log_price'`` or ``'return'``: see the module docstring.

    Examples
    --------
    Moves 1, 1, -1, 1; forecast moves 0.5, -0.5, -0.5, 0.5: three of four right, while
    "always up" gets three of four too.

    >>> metric = DirectionalAccuracy()
    >>> metric.update_many([10.0, 11.0, 12.0, 11.0, 12.0], [9.0, 10.5, 10.5, 11.5, 11.5])
    >>> metric
    DirectionalAccuracy: 0.7500 (majority rate 0.7500)
    >>> metric.baseline()
    0.75
    """

    bigger_is_better = True

    def _reset_steps(self) -> None:
        self._n = self._correct = self._up = self._down = 0

    def _add_steps(self, actual: FloatArray, forecast: FloatArray, reference: FloatArray) -> None:
        self._n += actual.size
        self._correct += _count(np.sign(actual) == np.sign(forecast))
        self._up += _count(actual > 0)
        self._down += _count(actual < 0)

    def get(self) -> float:
        return self._correct / self._n if self._n else math.nan

    def _baseline(self) -> float:
        flat = self._n - self._up - self._down
        return max(self._up, self._down, flat) / self._n if self._n else math.nan

    def _note(self) -> str:
        return f" (majority rate {self.baseline():.4f})"


class HitRate(_Trading):
    """Share of the strategy's trades that made money: its win rate.

    Differs from :class:`DirectionalAccuracy` only where a move is exactly 0: a step with a
    flat forecast is no trade and is not counted at all (so a persistence forecast has no
    trades, and NaN), and a trade on a flat step is a loss, not a hit. On continuous data
    with no such steps the two are equal. The baseline is the better of always long and
    always short over the same steps: ``max(up steps, down steps) / steps``.

    Parameters
    ----------
    series
        ``'price'`` (default), ``'log_price'`` or ``'return'``: see the module docstring.

    Examples
    --------
    Returns forecast directly: three trades (the 0.0 forecast is none), two won.

    >>> metric = HitRate(series="return")
    >>> metric.update_many([0.01, -0.02, 0.03, 0.01], [0.02, 0.01, 0.0, 0.01])
    >>> metric
    HitRate: 0.6667 (3 trades; majority direction 0.7500)
    """

    bigger_is_better = True

    def _reset_steps(self) -> None:
        self._n = self._trades = self._wins = self._up = self._down = 0

    def _add_steps(self, actual: FloatArray, forecast: FloatArray, reference: FloatArray) -> None:
        position = np.sign(forecast)
        self._n += actual.size
        self._trades += _count(position)
        self._wins += _count(position * actual > 0)
        self._up += _count(actual > 0)
        self._down += _count(actual < 0)

    def get(self) -> float:
        return self._wins / self._trades if self._trades else math.nan

    def _baseline(self) -> float:
        return max(self._up, self._down) / self._n if self._n else math.nan

    def _note(self) -> str:
        return f" ({self._trades} trades; majority direction {self.baseline():.4f})"


class SharpeRatio(_Trading):
    """Annualised Sharpe ratio of the long/short-by-sign strategy's returns.

    The strategy's return at step t is ``sign(forecast move) · asset return``. Then
    ``Sharpe = mean(r) / std(r) · sqrt(periods_per_year)``, with the sample standard
    deviation (ddof=1), a risk-free rate of 0 and no costs: the per-period ratio scaled by
    the square root of the number of periods in a year (252 trading days by default; 52 for
    weeks, 12 for months, 8760 for hours of a 24/7 market). ``get()`` is NaN below two
    steps or when the returns do not vary. The baseline is buy and hold on the same steps.

    Parameters
    ----------
    series
        ``'price'`` (default), ``'log_price'`` or ``'return'``: see the module docstring.
    periods_per_year
        Steps in a year, to annualise with; a positive number.

    Examples
    --------
    Strategy returns 0.01, 0.02, -0.01 (short on the -0.02 day): mean 0.00667, std 0.01528,
    0.436 a day, 6.93 a year. Buy and hold has the same spread around a mean of -0.00667.

    >>> metric = SharpeRatio(series="return")
    >>> metric.update_many([0.01, -0.02, -0.01], [0.5, -0.1, 0.2])
    >>> metric
    SharpeRatio: 6.9282 (annualised x sqrt(252); buy and hold -6.9282)
    """

    bigger_is_better = True

    def __init__(self, series: str = "price", periods_per_year: float = 252) -> None:
        if not is_positive_number(periods_per_year):
            raise InvalidParameterError(
                f"SharpeRatio: periods_per_year must be a positive number (252 for trading "
                f"days), got {periods_per_year!r}"
            )
        self.periods_per_year = periods_per_year
        super().__init__(series)

    def _reset_steps(self) -> None:
        self._strategy = Moments()
        self._hold = Moments()

    def _add_steps(self, actual: FloatArray, forecast: FloatArray, reference: FloatArray) -> None:
        asset = self._asset_returns(actual, reference)
        self._strategy.add(np.sign(forecast) * asset)
        self._hold.add(asset)

    def _annualised(self, returns: Moments) -> float:
        std = returns.std()
        if not std > 0:
            return math.nan
        return returns.mean / std * math.sqrt(self.periods_per_year)

    def get(self) -> float:
        return self._annualised(self._strategy)

    def _baseline(self) -> float:
        return self._annualised(self._hold)

    def _note(self) -> str:
        scale = f"sqrt({self.periods_per_year})"
        return f" (annualised x {scale}; buy and hold {self.baseline():.4f})"


class _Drawdown:
    """Equity (starting at 1), its running peak and the deepest fall below it so far."""

    def __init__(self) -> None:
        self.n = 0
        self.equity = self.peak = 1.0
        self.worst = 0.0

    def add(self, returns: FloatArray) -> None:
        if not returns.size:
            return
        path = self.equity * np.cumprod(1.0 + returns)
        peaks = np.maximum.accumulate(np.concatenate([[self.peak], path]))[1:]
        self.worst = max(self.worst, float(np.max(1.0 - path / peaks)))
        self.equity, self.peak = float(path[-1]), float(peaks[-1])
        self.n += returns.size

    def get(self) -> float:
        return self.worst if self.n else math.nan


class MaxDrawdown(_Trading):
    """Deepest fall of the strategy's equity curve below its running peak, as a fraction.

    The equity curve starts at 1 and compounds the long/short-by-sign strategy's returns
    (see :class:`SharpeRatio`); the drawdown at a step is ``1 - equity / peak so far``
    (0.25 = 25 % below the peak) and this is its maximum. Above 1 the equity went below
    zero, which a short position on an asset that more than doubled in one step can do.
    The baseline, buy and hold, is the maximum drawdown of the series itself: to get the
    drawdown of an equity curve you already have, feed it as ``y_true`` and read
    ``baseline()``.

    Parameters
    ----------
    series
        ``'price'`` (default), ``'log_price'`` or ``'return'``: see the module docstring.

    Examples
    --------
    The strategy is long, long, short: equity 1 → 1.1 → 0.88 → 0.968, the low is 20 %
    under the peak of 1.1. Buy and hold goes 1 → 1.1 → 0.88 → 0.792, 28 % under.

    >>> metric = MaxDrawdown()
    >>> metric.update_many([100.0, 110.0, 88.0, 79.2], [0.0, 120.0, 111.0, 80.0])
    >>> metric
    MaxDrawdown: 0.2000 (buy and hold 0.2800)
    """

    bigger_is_better = False

    def _reset_steps(self) -> None:
        self._strategy = _Drawdown()
        self._hold = _Drawdown()

    def _add_steps(self, actual: FloatArray, forecast: FloatArray, reference: FloatArray) -> None:
        asset = self._asset_returns(actual, reference)
        self._strategy.add(np.sign(forecast) * asset)
        self._hold.add(asset)

    def get(self) -> float:
        return self._strategy.get()

    def _baseline(self) -> float:
        return self._hold.get()

    def _note(self) -> str:
        return f" (buy and hold {self.baseline():.4f})"


# ---- one-shot functions -----------------------------------------------------------------


def directional_accuracy(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, series: str = "price"
) -> float:
    """Directional accuracy of a forecast series (see :class:`DirectionalAccuracy`).

    Examples
    --------
    >>> directional_accuracy([10.0, 11.0, 12.0, 11.0, 12.0], [9.0, 10.5, 10.5, 11.5, 11.5])
    0.75
    """
    return score(DirectionalAccuracy(series), y_true, y_pred)


def majority_rate(y_true: npt.ArrayLike, series: str = "price") -> float:
    """Share of the most frequent direction of the moves of ``y_true``: the baseline of
    :func:`directional_accuracy` on the same steps.

    Examples
    --------
    >>> majority_rate([10.0, 11.0, 12.0, 11.0, 12.0])  # up, up, down, up
    0.75
    """
    metric = DirectionalAccuracy(series)
    # The forecasts do not enter the baseline; the true values stand in for them.
    metric.update_many(y_true, y_true)
    return metric.baseline()


def hit_rate(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, series: str = "price") -> float:
    """Win rate of the long/short-by-sign strategy's trades (see :class:`HitRate`).

    Examples
    --------
    >>> hit_rate([0.01, -0.02, 0.03, 0.01], [0.02, 0.01, 0.0, 0.01], series="return")
    0.6666666666666666
    """
    return score(HitRate(series), y_true, y_pred)


def sharpe_ratio(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    series: str = "price",
    periods_per_year: float = 252,
) -> float:
    """Annualised Sharpe ratio of the long/short-by-sign strategy (see :class:`SharpeRatio`).

    Examples
    --------
    >>> round(sharpe_ratio([0.01, -0.02, -0.01], [0.5, -0.1, 0.2], series="return"), 4)
    6.9282
    """
    return score(SharpeRatio(series, periods_per_year), y_true, y_pred)


def max_drawdown(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, series: str = "price") -> float:
    """Maximum drawdown of the long/short-by-sign strategy (see :class:`MaxDrawdown`).

    Examples
    --------
    >>> round(max_drawdown([100.0, 110.0, 88.0, 79.2], [0.0, 120.0, 111.0, 80.0]), 4)
    0.2
    """
    return score(MaxDrawdown(series), y_true, y_pred)

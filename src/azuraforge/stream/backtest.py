"""A backtest of long/flat positions net of trading costs, beside buy and hold.

A position decided at step t (1 long, 0 flat) earns the asset's return from t to t+1; each
change of position costs ``cost`` (a fraction of the capital: ``0.001`` is 0.1 %), as does
buying in at the start for buy and hold. Figures:

- ``total_return``: the final equity over the first, minus 1 (compounded).
- ``sharpe``: the mean step return over its standard deviation (``ddof=1``), times the
  square root of ``periods_per_year``; no risk-free rate. ``periods_per_year`` is what the
  caller states (8,760 for hourly prices traded around the clock, 252 for daily stock
  closes); :func:`periods_per_year` measures it from the event times.
- ``max_drawdown``: the largest fall of the equity from a previous peak, as a fraction.
- ``turnover``: position changes per year; ``exposure``: the share of steps spent long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from azuraforge.errors import InvalidParameterError

SECONDS_PER_YEAR = 365.25 * 24 * 3600
TRADING_COST = 0.001
"""The cost of a change of position a stream's running returns are net of (0.1 %, as the
API's scores take by default)."""


@dataclass(frozen=True)
class Backtest:
    """What one strategy did; see the module docstring for each figure."""

    name: str
    total_return: float
    sharpe: float
    max_drawdown: float
    turnover: float
    exposure: float
    steps: int


@dataclass
class Equity:
    """What 1 became holding long/flat positions one step at a time, net of ``cost`` a
    change, starting flat: :func:`net_returns` for a stream, which never has all its steps.

    >>> equity = Equity(cost=0.01)
    >>> equity.step(True, 0.10)
    >>> equity.step(False, -0.10)
    >>> round(equity.value, 4), equity.steps  # (1 + 0.10 - 0.01) * (1 - 0.01)
    (1.0791, 2)
    """

    cost: float = TRADING_COST
    value: float = 1.0
    position: float = 0.0
    steps: int = 0

    def step(self, long: bool, gain: float) -> None:
        """Hold long (or flat) over a step whose asset return is ``gain``."""
        held = float(long)
        self.value *= 1.0 + held * gain - self.cost * abs(held - self.position)
        self.position, self.steps = held, self.steps + 1


def periods_per_year(times: np.ndarray) -> float:
    """Steps per year in ``times`` (seconds): the count of steps over the years spanned."""
    span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    return (len(times) - 1) / (span / SECONDS_PER_YEAR) if span > 0 else math.nan


def net_returns(asset_returns: np.ndarray, positions: np.ndarray, *, cost: float) -> np.ndarray:
    """Each step's return of long/flat ``positions`` held over ``asset_returns``, net of
    ``cost`` per change, starting flat; the equity curve is ``np.cumprod(1 + net)``.

    Raises
    ------
    InvalidParameterError
        As :func:`backtest`.

    >>> net_returns(np.array([0.10, -0.10]), np.array([1, 0]), cost=0.01).round(4)
    array([ 0.09, -0.01])
    """
    returns, held = np.asarray(asset_returns, dtype=float), np.asarray(positions, dtype=float)
    if returns.shape != held.shape or returns.ndim != 1:
        raise InvalidParameterError(
            f"backtest: {returns.shape} asset returns but {held.shape} positions"
        )
    if not np.isin(held, (0.0, 1.0)).all():
        raise InvalidParameterError("backtest: positions must be 1 (long) or 0 (flat)")
    if not 0 <= cost < 1:
        raise InvalidParameterError(f"backtest: cost must be in [0, 1), got {cost!r}")
    net: np.ndarray = held * returns - cost * np.abs(np.diff(held, prepend=0.0))
    return net


def backtest(
    name: str,
    asset_returns: np.ndarray,
    positions: np.ndarray,
    *,
    cost: float,
    periods_per_year: float,
) -> Backtest:
    """Long/flat ``positions`` (1 or 0, one per step, held over that step's
    ``asset_returns``) net of ``cost`` per change, starting flat.

    Raises
    ------
    InvalidParameterError
        If the arrays differ in length, a position is not 0 or 1, or ``cost`` is not in
        [0, 1).

    Examples
    --------
    >>> r = np.array([0.10, -0.10, 0.10])
    >>> result = backtest("flip", r, np.array([1, 0, 1]), cost=0.0, periods_per_year=252)
    >>> round(result.total_return, 4), result.turnover > 0
    (0.21, True)
    """
    held = np.asarray(positions, dtype=float)
    net = net_returns(asset_returns, held, cost=cost)
    changes = np.abs(np.diff(held, prepend=0.0))
    equity = np.cumprod(1.0 + net)
    peaks = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    std = float(net.std(ddof=1)) if len(net) > 1 else 0.0
    years = len(net) / periods_per_year
    return Backtest(
        name=name,
        total_return=float(equity[-1] - 1.0) if len(equity) else 0.0,
        sharpe=float(net.mean()) / std * math.sqrt(periods_per_year) if std > 0 else math.nan,
        max_drawdown=float(np.max(1.0 - equity / peaks)) if len(equity) else 0.0,
        turnover=float(changes.sum()) / years if years > 0 else math.nan,
        exposure=float(held.mean()) if len(held) else 0.0,
        steps=len(net),
    )

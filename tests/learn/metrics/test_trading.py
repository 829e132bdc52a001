"""Trading metrics against steps worked out by hand."""

import math

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError, ShapeError
from azuraforge.learn.metrics import (
    DirectionalAccuracy,
    HitRate,
    MaxDrawdown,
    SharpeRatio,
    directional_accuracy,
    hit_rate,
    majority_rate,
    max_drawdown,
    sharpe_ratio,
)
from tests.helpers import rng

# Prices 10 -> 11 -> 12 -> 11 -> 12: moves +1, +1, -1, +1.
# Forecast moves (forecast - previous true): 10.5-10, 10.5-11, 11.5-12, 11.5-11
#                                          = +0.5,    -0.5,    -0.5,    +0.5
PRICES = [10.0, 11.0, 12.0, 11.0, 12.0]
FORECASTS = [9.0, 10.5, 10.5, 11.5, 11.5]


def test_directional_accuracy_on_prices():
    # right, wrong, right, right; majority: 3 up of 4
    assert directional_accuracy(PRICES, FORECASTS) == 3 / 4
    assert majority_rate(PRICES) == 3 / 4
    metric = DirectionalAccuracy()
    metric.update_many(PRICES, FORECASTS)
    assert metric.baseline() == 3 / 4
    assert repr(metric) == "DirectionalAccuracy: 0.7500 (majority rate 0.7500)"


def test_directional_accuracy_carries_the_previous_value_across_updates():
    metric = DirectionalAccuracy()
    metric.update(PRICES[0], FORECASTS[0])  # sets the reference only
    assert math.isnan(metric.get())
    metric.update_many(PRICES[1:3], FORECASTS[1:3])
    metric.update_many(PRICES[3:], FORECASTS[3:])
    assert metric.get() == 3 / 4


def test_directional_accuracy_on_returns_and_flat_steps():
    # signs: actual +, -, 0, +; forecast +, +, -, + -> right, wrong, wrong, right
    y_true, y_pred = [0.01, -0.02, 0.0, 0.03], [0.5, 0.1, -0.1, 0.2]
    assert directional_accuracy(y_true, y_pred, series="return") == 2 / 4
    # up 2, down 1, flat 1: the majority is 2 of 4
    assert majority_rate(y_true, series="return") == 2 / 4
    # a flat forecast is right on a flat step only: moves 0, +1; forecast moves 0, 0
    assert directional_accuracy([1.0, 1.0, 2.0], [0.0, 1.0, 1.0]) == 1 / 2


def test_log_prices_give_the_same_directions():
    assert directional_accuracy(np.log(PRICES), np.log(FORECASTS), series="log_price") == 0.75


def test_hit_rate_counts_trades_only():
    # forecasts 0, -0.5, 0.3: no trade, short, long; actual -> two trades, both won
    y_true, y_pred = [0.01, -0.01, 0.02], [0.0, -0.5, 0.3]
    assert hit_rate(y_true, y_pred, series="return") == 2 / 2
    # directional accuracy counts the flat forecast as wrong instead
    assert directional_accuracy(y_true, y_pred, series="return") == 2 / 3
    # a trade on a flat step is not a hit: long, long on moves 0, +0.01
    assert hit_rate([0.0, 0.01], [0.1, 0.1], series="return") == 1 / 2


def test_hit_rate_baseline_and_repr():
    metric = HitRate()
    metric.update_many(PRICES, FORECASTS)
    # trades 4 (long, short, short, long), wins 3; always long wins 3 of 4
    assert metric.get() == 3 / 4 and metric.baseline() == 3 / 4
    assert repr(metric) == "HitRate: 0.7500 (4 trades; majority direction 0.7500)"


def test_persistence_takes_no_trades():
    prices = [1.0, 2.0, 1.5, 3.0]
    persistence = [1.0, *prices[:-1]]
    assert math.isnan(hit_rate(prices, persistence))
    assert directional_accuracy(prices, persistence) == 0.0
    assert math.isnan(sharpe_ratio(prices, persistence))  # returns all 0: no spread
    assert max_drawdown(prices, persistence) == 0.0


def test_sharpe_ratio_on_returns():
    # positions +1, -1, +1 -> strategy returns 0.01, 0.02, -0.01
    y_true, y_pred = [0.01, -0.02, -0.01], [0.5, -0.1, 0.2]
    mean = (0.01 + 0.02 - 0.01) / 3
    std = math.sqrt(((0.01 - mean) ** 2 + (0.02 - mean) ** 2 + (-0.01 - mean) ** 2) / 2)
    expected = mean / std * math.sqrt(252)
    assert sharpe_ratio(y_true, y_pred, series="return") == pytest.approx(expected, rel=1e-12)
    monthly = sharpe_ratio(y_true, y_pred, series="return", periods_per_year=12)
    assert monthly == pytest.approx(mean / std * math.sqrt(12), rel=1e-12)


def test_sharpe_ratio_on_prices_and_its_buy_and_hold_baseline():
    # steps 100 -> 110 -> 99 -> 99: asset returns +0.1, -0.1, 0
    # forecasts 120 > 100 long, 100 < 110 short, 98 < 99 short -> strategy +0.1, +0.1, 0
    metric = SharpeRatio()
    metric.update_many([100.0, 110.0, 99.0, 99.0], [0.0, 120.0, 100.0, 98.0])
    mean = 0.2 / 3
    std = math.sqrt(((0.1 - mean) ** 2 * 2 + mean**2) / 2)
    assert metric.get() == pytest.approx(mean / std * math.sqrt(252), rel=1e-12)
    assert metric.baseline() == pytest.approx(0.0, abs=1e-12)  # buy and hold: mean 0
    assert repr(metric).startswith("SharpeRatio: 18.3303 (annualised x sqrt(252); buy and")


def test_sharpe_ratio_on_log_prices_equals_prices():
    prices = 50 * np.exp(np.cumsum(rng(0).normal(scale=0.02, size=60)))
    forecasts = prices * np.exp(rng(1).normal(scale=0.02, size=60))
    assert sharpe_ratio(np.log(prices), np.log(forecasts), series="log_price") == pytest.approx(
        sharpe_ratio(prices, forecasts), rel=1e-9
    )


def test_sharpe_ratio_is_nan_without_spread():
    assert math.isnan(sharpe_ratio([0.01], [1.0], series="return"))  # one step
    assert math.isnan(sharpe_ratio([0.01, -0.01], [1.0, -1.0], series="return"))  # 0.01 twice


def test_max_drawdown():
    # always long: equity 1.1, 0.55, 0.66 -> 1 - 0.55 / 1.1
    returns = [0.1, -0.5, 0.2]
    assert max_drawdown(returns, [1.0, 1.0, 1.0], series="return") == pytest.approx(0.5)
    # always short: strategy -0.1, +0.5, -0.2 -> equity 0.9, 1.35, 1.08
    # drawdowns 1 - 0.9 / 1 = 0.1, then 1 - 1.08 / 1.35 = 0.2
    metric = MaxDrawdown(series="return")
    metric.update_many(returns, [-1.0, -1.0, -1.0])
    assert metric.get() == pytest.approx(0.2)
    assert metric.baseline() == pytest.approx(0.5)
    assert repr(metric) == "MaxDrawdown: 0.2000 (buy and hold 0.5000)"
    assert max_drawdown([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == 0.0  # never below a peak


def test_max_drawdown_can_exceed_one():
    # short an asset that triples: equity 1 -> 1 - 2 = -1, drawdown 1 - (-1) / 1 = 2
    assert max_drawdown([2.0], [-1.0], series="return") == 2.0


def test_max_drawdown_of_prices_from_the_docstring():
    # long, long, short: equity 1.1, 0.88, 0.968; buy and hold 1.1, 0.88, 0.792
    metric = MaxDrawdown()
    metric.update_many([100.0, 110.0, 88.0, 79.2], [0.0, 120.0, 111.0, 80.0])
    assert metric.get() == pytest.approx(1 - 0.88 / 1.1)
    assert metric.baseline() == pytest.approx(1 - 0.792 / 1.1)


@pytest.mark.parametrize("cls", [DirectionalAccuracy, HitRate, SharpeRatio, MaxDrawdown])
def test_bad_series(cls):
    with pytest.raises(
        InvalidParameterError,
        match=f"{cls.__name__}: series must be 'price', 'log_price' or 'return', got 'prices'",
    ):
        cls(series="prices")


@pytest.mark.parametrize("value", [0, -252, True, "252", math.inf])
def test_bad_periods_per_year(value):
    with pytest.raises(InvalidParameterError, match="periods_per_year must be a positive"):
        SharpeRatio(periods_per_year=value)


def test_price_returns_need_positive_prices():
    metric = MaxDrawdown()
    with pytest.raises(InvalidParameterError, match=r"series='price' needs positive prices.*-1"):
        metric.update_many([1.0, -1.0, 2.0], [0.0, 2.0, 3.0])
    assert math.isnan(metric.get())
    # directions need no returns, so any level is fine there
    assert directional_accuracy([1.0, -1.0, 2.0], [0.0, 2.0, 3.0]) == 1 / 2


def test_one_value_per_step():
    with pytest.raises(ShapeError, match=r"HitRate: expects one value per time step.*\(2, 2\)"):
        hit_rate(np.ones((2, 2)), np.ones((2, 2)))
    column = np.array(PRICES)[:, None]
    assert directional_accuracy(column, np.array(FORECASTS)[:, None]) == 0.75


def test_flags():
    assert SharpeRatio.bigger_is_better and DirectionalAccuracy.bigger_is_better
    assert not MaxDrawdown.bigger_is_better

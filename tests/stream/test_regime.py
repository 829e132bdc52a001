"""The volatility regime detector: it finds known regimes, agrees with its batch form, and
keeps its meaning where there is no regime to find."""

from __future__ import annotations

import re

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.regime import VolatilityRegime


def switching_prices(
    events: int, seed: int, calm: float = 0.005, turbulent: float = 0.02, stay: float = 0.99
) -> tuple[np.ndarray, np.ndarray]:
    """Prices whose returns' volatility switches between two levels by a hidden Markov chain;
    the prices and each return's true state (True: turbulent)."""
    rng = np.random.default_rng(seed)
    states = np.zeros(events, dtype=bool)
    for i in range(1, events):
        states[i] = states[i - 1] if rng.random() < stay else not states[i - 1]
    returns = rng.normal(0, np.where(states, turbulent, calm))
    return 100 * np.cumprod(1 + returns), states


def rolling_std_labels(prices: np.ndarray, window: int, threshold: float) -> np.ndarray:
    """The baseline: turbulent where the last ``window`` returns' std is above ``threshold``."""
    returns = np.diff(prices) / prices[:-1]
    stds = np.array([returns[max(0, i - window + 1) : i + 1].std() for i in range(len(returns))])
    return stds > threshold


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_known_regimes_are_found_better_than_a_rolling_std_with_the_true_threshold(seed):
    prices, states = switching_prices(6000, seed)
    probabilities = VolatilityRegime().batch(prices)["regime"]
    ready = ~np.isnan(probabilities)
    found = (probabilities[ready] > 0.5) == states[ready]
    # The baseline is told the threshold between the true levels (the detector is not).
    baseline = rolling_std_labels(prices, 20, np.sqrt(0.005 * 0.02))
    kept = (baseline == states[1:])[ready[1:]]
    assert found.mean() >= 0.9
    assert found.mean() > kept.mean()


def test_one_pass_and_the_batch_give_the_same_numbers():
    prices, _ = switching_prices(800, seed=3)
    regime = VolatilityRegime(warmup=20)
    stepped = [regime.update(float(price)).get("regime", np.nan) for price in prices]
    np.testing.assert_array_equal(np.isnan(stepped), np.isnan(regime.batch(prices)["regime"]))
    np.testing.assert_allclose(np.array(stepped), regime.batch(prices)["regime"], rtol=0)
    assert np.isnan(stepped[19]) and not np.isnan(stepped[20])  # after the 20th return


def test_a_stationary_market_is_seldom_called_turbulent_and_a_shock_is_at_once():
    rng = np.random.default_rng(4)
    prices = 100 * np.cumprod(1 + rng.normal(0, 0.01, 20_000))
    regime = VolatilityRegime()
    labels = regime.batch(prices)["regime"]
    assert np.nanmean(labels > 0.5) < 0.05
    for price in prices:
        regime.update(float(price))
    calm, turbulent = regime.variances
    assert calm < 0.01**2 < turbulent
    shocked = regime.update(float(prices[-1]) * 1.08)["regime"]  # an 8-sigma move
    assert shocked > 0.99


def test_a_price_that_never_moves_gives_a_number_not_an_error():
    out = VolatilityRegime(warmup=5).batch(np.full(50, 7.0))["regime"]
    assert np.all(np.isfinite(out[6:]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stay": 1.0}, "stay must be in [0.5, 1), got 1.0"),
        ({"memory": 5}, "memory must be an integer >= 10, got 5"),
        ({"warmup": 1.5}, "warmup must be an integer >= 2, got 1.5"),
        ({"min_ratio": 1}, "min_ratio must be above 1, got 1"),
    ],
)
def test_bad_settings_are_named(options, message):
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        VolatilityRegime(**options)

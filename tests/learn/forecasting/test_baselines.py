"""Naive baselines never read the value they forecast."""

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.forecasting.baselines import (
    CLIMATOLOGY_DAYS,
    climatology,
    drift,
    naive_baselines,
    persistence,
    seasonal_naive,
    unreachable_seasons,
)
from azuraforge.learn.forecasting.frequency import get_frequency

SERIES = np.arange(100.0)
ROWS = np.arange(60, 100)


@pytest.mark.parametrize("horizon", [1, 5])
def test_persistence_is_the_value_horizon_rows_earlier(horizon):
    np.testing.assert_array_equal(persistence(SERIES, ROWS, horizon), ROWS - horizon)


@pytest.mark.parametrize(("horizon", "lag"), [(1, 7), (7, 7), (8, 14), (15, 21)])
def test_seasonal_naive_uses_the_latest_same_season_value_known(horizon, lag):
    np.testing.assert_array_equal(seasonal_naive(SERIES, ROWS, horizon, period=7), ROWS - lag)


def test_drift_adds_the_mean_training_change():
    series = np.array([1.0, 3.0, 5.0, 7.0, 10.0])
    np.testing.assert_array_equal(drift(series, np.array([4]), 2, slice(0, 4)), [9.0])
    growth = np.array([1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(drift(growth, np.array([3]), 1, slice(0, 3), log=True), [8.0])


@pytest.mark.parametrize(
    ("frequency", "names"),
    [
        ("hourly", ["persistence", "same hour yesterday"]),
        ("daily", ["persistence", "same day last week", "same day last year"]),
        ("weekly", ["persistence", "same week last year"]),
        ("monthly", ["persistence", "same month last year"]),
        ("yearly", ["persistence"]),
    ],
)
def test_the_frequency_chooses_the_seasonal_baselines(frequency, names):
    series = np.arange(1000.0)
    forecasts = naive_baselines(series, np.arange(900, 1000), 1, get_frequency(frequency))
    assert list(forecasts) == names
    periods = dict(get_frequency(frequency).seasons)
    for name in names[1:]:
        np.testing.assert_array_equal(forecasts[name], np.arange(900, 1000) - periods[name])


def test_a_baseline_reaching_before_the_data_is_refused_by_name():
    with pytest.raises(InvalidParameterError, match="row 3, before the 24 rows the 'same hour"):
        naive_baselines(SERIES, np.arange(3, 10), 1, get_frequency("hourly"))


def test_unreachable_seasons_can_be_left_out_instead():
    daily = get_frequency("daily")
    rows = np.arange(300, 400)
    assert unreachable_seasons(rows, 1, daily) == {"same day last year": 365}
    assert unreachable_seasons(rows, 10, daily) == {"same day last year": 365}
    assert unreachable_seasons(np.arange(700, 800), 400, daily) == {"same day last year": 730}
    forecasts = naive_baselines(np.arange(400.0), rows, 1, daily, reachable_only=True)
    assert list(forecasts) == ["persistence", "same day last week"]


def _daily(years: int) -> np.ndarray:
    return np.arange("2001-01-01", f"{2001 + years}-01-01", dtype="datetime64[D]")


def test_climatology_is_the_training_mean_of_the_same_days_of_the_year():
    days = _daily(4)
    yearday = (days - days.astype("datetime64[Y]")).astype(int)
    values = yearday + 1000.0 * (days.astype("datetime64[Y]").astype(int) - 31)  # year jumps
    train, rows = np.arange(3 * 365), np.arange(3 * 365, len(days))
    forecast = climatology(days, values, train, rows, get_frequency("daily"))
    distance = np.abs(yearday[train][None, :] - yearday[rows][:, None])
    near = np.minimum(distance, 366 - distance) <= CLIMATOLOGY_DAYS  # late December meets January
    by_hand = (near * values[train]).sum(axis=1) / near.sum(axis=1)
    np.testing.assert_allclose(forecast, by_hand)


def test_climatology_never_reads_the_rows_it_forecasts():
    days = _daily(3)
    values = np.random.default_rng(0).normal(size=len(days))
    train, rows = np.arange(730), np.arange(730, len(days))
    changed = values.copy()
    changed[rows] += 100.0
    daily = get_frequency("daily")
    np.testing.assert_array_equal(
        climatology(days, values, train, rows, daily),
        climatology(days, changed, train, rows, daily),
    )


def test_climatology_needs_a_year_of_training_rows_and_a_time_of_year():
    days = _daily(2)
    values = np.ones(len(days))
    assert (
        climatology(days, values, np.arange(200), np.arange(600, 700), get_frequency("daily"))
        is None
    )
    hours = np.arange("2001-01-01T00", "2001-03-01T00", dtype="datetime64[h]")
    assert (
        climatology(
            hours,
            np.ones(len(hours)),
            np.arange(100),
            np.arange(100, 200),
            get_frequency("hourly"),
        )
        is None
    )

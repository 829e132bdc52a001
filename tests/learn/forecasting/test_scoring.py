"""score_forecast: the regression report plus seasonal MASE rows."""

import numpy as np
import pytest

from azuraforge.learn.forecasting.scoring import mase_row, naive_scale, score_forecast
from azuraforge.learn.metrics import mase, regression_report

RNG = np.random.default_rng(0)
TRAIN = RNG.normal(size=200).cumsum()
ACTUAL = RNG.normal(size=50)
PREDICTED = ACTUAL + RNG.normal(scale=0.5, size=50)
BASELINES = {"persistence": ACTUAL + 1.0, "same day last week": ACTUAL - 2.0}


def test_the_regression_report_rows_come_first_and_unchanged():
    scores = score_forecast(ACTUAL, PREDICTED, BASELINES, TRAIN)
    assert scores == regression_report(ACTUAL, PREDICTED, BASELINES, train=TRAIN)


def test_each_season_adds_one_mase_row_per_period():
    seasons = {"same day last week": 7, "same day last year": 365, "again": 7}
    scores = score_forecast(ACTUAL, PREDICTED, BASELINES, TRAIN, seasons)
    assert "MASE (m=7)" in scores and "MASE (m=365)" not in scores  # train too short for 365
    assert scores["MASE (m=7)"]["model"] == pytest.approx(mase(ACTUAL, PREDICTED, TRAIN, m=7))
    assert set(scores["MASE (m=7)"]) == {"model", *BASELINES}


def test_mase_row_scores_every_forecast():
    row = mase_row(ACTUAL, {"model": PREDICTED, **BASELINES}, TRAIN)
    assert row["persistence"] == pytest.approx(mase(ACTUAL, ACTUAL + 1.0, TRAIN))


def test_a_season_with_a_zero_in_sample_scale_adds_no_row():
    periodic = np.tile([1.0, 2.0, 3.0], 20)
    scores = score_forecast(ACTUAL, PREDICTED, BASELINES, periodic, {"cycle": 3, "pair": 2})
    assert "MASE (m=3)" not in scores and "MASE (m=2)" in scores


def test_mase_is_scaled_only_by_observed_pairs_of_a_filled_weekend():
    weekdays = RNG.normal(size=60).cumsum()
    train, observed = [], []
    for week in weekdays.reshape(12, 5):  # Friday's value carried over Saturday and Sunday
        train += [*week, week[-1], week[-1]]
        observed += [True] * 5 + [False, False]
    observed_changes = [
        abs(train[i + 1] - train[i])
        for i in range(len(train) - 1)
        if observed[i] and observed[i + 1]
    ]
    scores = score_forecast(ACTUAL, PREDICTED, BASELINES, np.array(train), {"week": 7},
                            np.array(observed))  # fmt: skip
    scale = float(np.mean(observed_changes))
    assert scores["MASE"]["model"] == pytest.approx(mase(ACTUAL, PREDICTED, scale=scale))
    week_scale = naive_scale(np.array(train), 7, np.array(observed))
    assert week_scale == pytest.approx(np.abs(weekdays[5:] - weekdays[:-5]).mean())
    assert scores["MASE (m=7)"]["model"] == pytest.approx(
        mase(ACTUAL, PREDICTED, scale=week_scale)
    )


def test_a_constant_training_part_leaves_the_mase_rows_out_instead_of_failing():
    scores = score_forecast(ACTUAL, PREDICTED, BASELINES, np.full(100, 3.0), {"week": 7})
    assert "MASE" not in scores and "MASE (m=7)" not in scores
    assert scores["MAE"] == regression_report(ACTUAL, PREDICTED, BASELINES)["MAE"]


def test_the_one_step_mase_row_stays_before_the_relative_rows():
    scores = score_forecast(ACTUAL, PREDICTED, BASELINES, TRAIN, {"week": 7})
    expected = regression_report(ACTUAL, PREDICTED, BASELINES, train=TRAIN)
    assert list(scores) == [*expected, "MASE (m=7)"]

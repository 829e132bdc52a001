"""score_forecast: the regression report plus seasonal MASE rows."""

import numpy as np
import pytest

from azuraforge.learn.forecasting.scoring import mase_row, score_forecast
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

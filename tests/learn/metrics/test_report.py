"""regression_report: each score of the model beside its baselines'."""

import math

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError, ShapeError
from azuraforge.learn.metrics import regression_report

Y = [1.0, 2.0, 3.0, 4.0]
MODEL = [1.5, 2.0, 3.5, 4.0]  # errors 0.5, 0, 0.5, 0
BASELINES = {
    "persistence": [0.0, 1.0, 2.0, 2.0],  # errors 1, 1, 1, 2
    "mean": [2.0, 2.0, 2.0, 2.0],  # errors 1, 0, 1, 2
}


def test_every_metric_for_the_model_and_each_baseline():
    report = regression_report(Y, MODEL, BASELINES, train=[0.0, 2.0, 1.0, 3.0])
    assert list(report) == [
        "MAE",
        "RMSE",
        "R2",
        "MAPE",
        "MASE",
        "RelativeMAE vs persistence",
        "Skill vs persistence",
        "RelativeMAE vs mean",
        "Skill vs mean",
    ]
    assert all(list(row) == ["model", "persistence", "mean"] for row in report.values())
    assert report["MAE"] == {"model": 0.25, "persistence": 1.25, "mean": 1.0}
    assert report["RMSE"] == pytest.approx(
        {"model": math.sqrt(0.5 / 4), "persistence": math.sqrt(7 / 4), "mean": math.sqrt(6 / 4)}
    )
    # SST around the mean 2.5: 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert report["R2"] == pytest.approx(
        {"model": 1 - 0.5 / 5, "persistence": 1 - 7 / 5, "mean": 1 - 6 / 5}
    )
    assert report["MAPE"] == pytest.approx(
        {
            "model": 100 * (0.5 / 1 + 0.5 / 3) / 4,
            "persistence": 100 * (1 / 1 + 1 / 2 + 1 / 3 + 2 / 4) / 4,
            "mean": 100 * (1 / 1 + 0 + 1 / 3 + 2 / 4) / 4,
        }
    )
    # MASE scale: train errors |2-0|, |1-2|, |3-1| = 2, 1, 2 -> 5/3
    assert report["MASE"] == pytest.approx({"model": 0.15, "persistence": 0.75, "mean": 0.6})
    assert report["RelativeMAE vs persistence"] == pytest.approx(
        {"model": 0.25 / 1.25, "persistence": 1.0, "mean": 1.0 / 1.25}
    )
    assert report["Skill vs persistence"] == pytest.approx(
        {"model": 0.8, "persistence": 0.0, "mean": 0.2}
    )
    assert report["RelativeMAE vs mean"] == pytest.approx(
        {"model": 0.25, "persistence": 1.25, "mean": 1.0}
    )
    assert report["Skill vs mean"] == pytest.approx(
        {"model": 0.75, "persistence": -0.25, "mean": 0}
    )


def test_seasonal_period_of_the_mase_scale():
    # m=2: |1-0|, |3-2| -> scale 1
    report = regression_report(Y, MODEL, {}, train=[0.0, 2.0, 1.0, 3.0], m=2)
    assert report["MASE"] == {"model": 0.25}


def test_a_given_scale_replaces_the_training_series():
    report = regression_report(Y, MODEL, {}, scale=0.5)  # MAE 0.25
    assert report["MASE"] == {"model": 0.5}
    assert list(report) == list(regression_report(Y, MODEL, {}, train=[0.0, 2.0, 1.0, 3.0]))
    with pytest.raises(InvalidParameterError, match=r"MASE: pass either train .* got both"):
        regression_report(Y, MODEL, {}, train=[0.0, 2.0, 1.0, 3.0], scale=0.5)


def test_mape_and_mase_are_left_out_when_undefined_or_not_asked():
    report = regression_report([0.0, 1.0], [0.5, 1.0], {})
    assert list(report) == ["MAE", "RMSE", "R2"]
    assert report["MAE"] == {"model": 0.25}


def test_arrays_of_any_matching_shape():
    column = np.array(Y)[:, None]
    report = regression_report(column, np.array(MODEL)[:, None], {"mean": np.full((4, 1), 2.0)})
    assert report["MAE"] == {"model": 0.25, "mean": 1.0}


def test_errors_name_the_baseline():
    with pytest.raises(
        ShapeError,
        match=r"regression_report: y_true has shape \(4,\) but baseline 'mean' has shape \(3,\)",
    ):
        regression_report(Y, MODEL, {"mean": [2.0, 2.0, 2.0]})
    with pytest.raises(ShapeError, match=r"y_true has shape \(4,\) but y_pred has shape \(2,\)"):
        regression_report(Y, [1.0, 2.0], {})
    with pytest.raises(InvalidParameterError, match="baseline 'drift' has 1 NaN"):
        regression_report(Y, MODEL, {"drift": [1.0, np.nan, 3.0, 4.0]})
    with pytest.raises(InvalidParameterError, match="'model' names the model's column"):
        regression_report(Y, MODEL, {"model": MODEL})
    with pytest.raises(InvalidParameterError, match="MASE: the scale must be a positive"):
        regression_report(Y, MODEL, {}, train=[1.0, 1.0])

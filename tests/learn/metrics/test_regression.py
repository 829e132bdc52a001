"""Regression metrics against values worked out by hand on tiny arrays."""

import math

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError, ShapeError
from azuraforge.learn.metrics import (
    MAE,
    MAPE,
    MASE,
    MSE,
    R2,
    RMSE,
    RelativeMAE,
    Skill,
    mae,
    mape,
    mase,
    mse,
    r2,
    relative_mae,
    rmse,
    skill,
)
from tests.helpers import rng

Y = [3.0, -0.5, 2.0, 7.0]
P = [2.5, 0.0, 2.0, 8.0]


def test_mae():
    # |3 - 2.5| + |-0.5 - 0| + |2 - 2| + |7 - 8| = 0.5 + 0.5 + 0 + 1 = 2, over 4 rows
    assert mae(Y, P) == 0.5
    assert MAE.bigger_is_better is False


def test_mse_and_rmse():
    # 0.25 + 0.25 + 0 + 1 = 1.5, over 4 rows
    assert mse(Y, P) == 0.375
    assert rmse(Y, P) == math.sqrt(0.375)
    assert rmse([0.0, 0.0], [3.0, -4.0]) == math.sqrt((9 + 16) / 2)


def test_elementwise_metrics_flatten_any_matching_shape():
    y_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    # errors 1, 0, 0, 3: MAE 4 / 4
    assert mae(y_true, y_true + np.array([[1.0, 0.0], [0.0, -3.0]])) == 1.0
    assert mae([1, 2], [2, 2]) == 0.5  # ints are fine


def test_r2():
    # mean 11.5 / 4 = 2.875; deviations 0.125, -3.375, -0.875, 4.125
    # SST = 0.015625 + 11.390625 + 0.765625 + 17.015625 = 29.1875; SSE = 1.5
    assert r2(Y, P) == pytest.approx(1 - 1.5 / 29.1875, rel=1e-15)
    assert r2([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == 0.0  # the mean predictor
    assert r2([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == 1 - 8 / 2  # worse than the mean
    assert R2.bigger_is_better is True


def test_r2_is_nan_when_y_true_does_not_vary():
    assert math.isnan(r2([0.1, 0.1, 0.1], [0.1, 0.2, 0.3]))
    metric = R2()
    metric.update(5.0, 4.0)
    assert math.isnan(metric.get())  # one value: no variance yet
    metric.update(6.0, 6.0)
    assert metric.get() == 1 - 1 / 0.5  # SST = 0.25 + 0.25, SSE = 1


def test_mape_is_in_percent():
    # |100 - 110| / 100 = 0.1 and |200 - 150| / 200 = 0.25: mean 0.175 = 17.5 %
    assert mape([100.0, 200.0], [110.0, 150.0]) == 17.5
    assert mape([-4.0], [-2.0]) == 50.0  # divides by |y_true|
    metric = MAPE()
    metric.update_many([100.0, 200.0], [110.0, 150.0])
    assert repr(metric) == "MAPE: 17.5000%"


def test_mape_refuses_zeros_in_y_true():
    metric = MAPE()
    with pytest.raises(InvalidParameterError, match=r"MAPE: y_true has 2 zero\(s\), the first "):
        metric.update_many([1.0, 2.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0])
    assert math.isnan(metric.get())


def test_mase_scale_from_train():
    train = [1.0, 3.0, 2.0, 5.0]
    # m=1: naive errors |3-1|, |2-3|, |5-2| = 2, 1, 3 -> scale 2
    # m=2: |2-1|, |5-3| = 1, 2 -> scale 1.5
    # model MAE on the test rows: (|5-4| + |6-6.5|) / 2 = 0.75
    assert mase([5.0, 6.0], [4.0, 6.5], train=train) == 0.75 / 2
    assert mase([5.0, 6.0], [4.0, 6.5], train=train, m=2) == 0.75 / 1.5
    assert mase([5.0, 6.0], [4.0, 6.5], scale=0.25) == 3.0
    assert mase([5.0], [4.0], train=np.array(train)[:, None]) == 0.5  # a column is fine
    metric = MASE(train=train)
    metric.update_many([5.0, 6.0], [4.0, 6.5])
    assert repr(metric) == "MASE: 0.3750 (scale 2.0000)"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, InvalidParameterError, "pass either train .* or scale, got neither"),
        (
            {"train": [1.0, 2.0], "scale": 1.0},
            InvalidParameterError,
            "pass either train .* got both",
        ),
        ({"train": [1.0, 1.0, 1.0]}, InvalidParameterError, r"the scale must be .* got 0\.0"),
        ({"scale": -1.0}, InvalidParameterError, "the scale must be a positive number, got -1.0"),
        (
            {"train": [1.0, 2.0], "m": 2},
            InvalidParameterError,
            "train needs more than m=2 values .*, got 2",
        ),
        ({"scale": 1.0, "m": 0}, InvalidParameterError, "m must be a positive int, got 0"),
        ({"train": [1.0, np.nan, 3.0]}, InvalidParameterError, "train has 1 NaN"),
        ({"train": np.ones((3, 2))}, ShapeError, r"expects one value per time step.*\(3, 2\)"),
    ],
)
def test_mase_errors(kwargs, error, message):
    with pytest.raises(error, match=f"MASE: {message}"):
        MASE(**kwargs)


def test_relative_mae_with_baseline_predictions():
    # model |1-1.5| + |2-2| + |3-2| = 1.5; baseline |1-0| + |2-1| + |3-2| = 3
    args = ([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], [0.0, 1.0, 2.0])
    assert relative_mae(*args) == 0.5
    assert skill(*args) == 0.5
    metric = RelativeMAE()
    for t, p, b in zip(*args, strict=True):
        metric.update(t, p, b)
    assert metric.get() == 0.5
    assert repr(metric) == "RelativeMAE: 0.5000 (model MAE 0.5000 / baseline MAE 1.0000)"


def test_relative_mae_builds_persistence_from_the_stream():
    # y 1, 2, 4: rows 2 and 4 have a predecessor. Model |2-2.5| + |4-3| = 1.5,
    # persistence |2-1| + |4-2| = 3
    assert relative_mae([1.0, 2.0, 4.0], [0.0, 2.5, 3.0], m=1) == 0.5


def test_relative_mae_seasonal_lag_carries_over_between_updates():
    # m=2: rows 4 and 7 are scored against 1 and 2. Model |4-5| + |7-6| = 2,
    # baseline |4-1| + |7-2| = 8
    metric = RelativeMAE(m=2)
    metric.update_many([1.0], [9.0])
    assert math.isnan(metric.get())
    metric.update_many([2.0, 4.0], [9.0, 5.0])
    metric.update(7.0, 6.0)
    assert metric.get() == 2 / 8
    assert relative_mae([1.0, 2.0, 4.0, 7.0], [9.0, 9.0, 5.0, 6.0], m=2) == 2 / 8


def test_relative_mae_against_a_perfect_baseline():
    assert relative_mae([1.0, 2.0], [1.0, 3.0], [1.0, 2.0]) == math.inf
    assert math.isnan(relative_mae([1.0, 2.0], [1.0, 2.0], [1.0, 2.0]))


def test_skill_is_one_minus_relative_mae():
    y_true, y_pred, base = rng(0).normal(size=(3, 30))
    assert skill(y_true, y_pred, base) == pytest.approx(1 - relative_mae(y_true, y_pred, base))
    assert Skill.bigger_is_better is True and RelativeMAE.bigger_is_better is False
    assert skill([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], m=1) == 1.0
    assert skill([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], m=1) == 0.0  # persistence itself


def test_relative_mae_errors():
    with pytest.raises(InvalidParameterError, match=r"RelativeMAE: pass the baseline's .*m=1"):
        relative_mae([1.0], [1.0])
    with pytest.raises(InvalidParameterError, match=r"RelativeMAE\(m=1\) builds its baseline"):
        relative_mae([1.0], [1.0], [1.0], m=1)
    with pytest.raises(InvalidParameterError, match="Skill: m must be a positive int, got 0"):
        Skill(m=0)
    with pytest.raises(ShapeError, match=r"y_pred has shape \(2,\), y_baseline has shape \(1,\)"):
        relative_mae([1.0, 2.0], [1.0, 2.0], [1.0])
    with pytest.raises(InvalidParameterError, match="y_baseline has 1 NaN"):
        relative_mae([1.0, 2.0], [1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ShapeError, match="one value per time step"):
        relative_mae(np.ones((2, 2)), np.ones((2, 2)), m=1)


def test_infinite_values_are_refused_like_nan():
    with pytest.raises(InvalidParameterError, match=r"y_true has 1 NaN or infinite value.*inf"):
        mae([1.0, np.inf], [1.0, 2.0])


def test_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y_true = rng(1).uniform(1, 10, size=50)
    y_pred = y_true + rng(2).normal(size=50)
    assert mae(y_true, y_pred) == pytest.approx(
        sklearn_metrics.mean_absolute_error(y_true, y_pred)
    )
    assert mse(y_true, y_pred) == pytest.approx(sklearn_metrics.mean_squared_error(y_true, y_pred))
    assert r2(y_true, y_pred) == pytest.approx(sklearn_metrics.r2_score(y_true, y_pred))
    assert mape(y_true, y_pred) == pytest.approx(
        100 * sklearn_metrics.mean_absolute_percentage_error(y_true, y_pred)
    )


def test_mse_and_rmse_classes_share_state_shape():
    metric = RMSE()
    metric.update_many(Y, P)
    assert isinstance(metric, MSE)
    assert repr(metric) == f"RMSE: {math.sqrt(0.375):.4f}"

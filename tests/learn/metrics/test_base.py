"""The Metric contract, checked over every metric: streaming equals batch, reset, NaN when
empty, clone and stored parameters, repr, input errors."""

import inspect
import math

import numpy as np
import pytest

from azuraforge.core import Tensor
from azuraforge.errors import InvalidParameterError, ShapeError
from azuraforge.learn import metrics
from azuraforge.learn.metrics.base import Metric, Moments, is_positive_number
from tests.helpers import rng

PRICES = 100 + np.cumsum(rng(0).normal(size=40))
FORECASTS = np.concatenate([[PRICES[0]], PRICES[:-1]]) + rng(1).normal(scale=0.8, size=40)
LABELS = rng(2).integers(0, 4, size=40)
GUESSES = np.where(rng(3).random(40) < 0.6, LABELS, rng(4).integers(0, 4, size=40))

REGRESSION = [
    metrics.MAE,
    metrics.MSE,
    metrics.RMSE,
    metrics.R2,
    metrics.MAPE,
    lambda: metrics.MASE(train=PRICES[:20], m=2),
    lambda: metrics.RelativeMAE(m=1),
    lambda: metrics.Skill(m=3),
    metrics.DirectionalAccuracy,
    metrics.HitRate,
    metrics.SharpeRatio,
    metrics.MaxDrawdown,
    lambda: metrics.SharpeRatio(series="log_price", periods_per_year=52),
    lambda: metrics.MaxDrawdown(series="return"),
]
CLASSIFICATION = [
    metrics.Accuracy,
    metrics.Precision,
    lambda: metrics.Recall(average="micro"),
    lambda: metrics.F1(average="weighted"),
    lambda: metrics.F1(labels=[0, 1, 2, 3, 4]),
]
ALL = REGRESSION + CLASSIFICATION
METRIC_CLASSES = [
    obj
    for obj in vars(metrics).values()
    if isinstance(obj, type) and issubclass(obj, Metric) and obj is not Metric
]
# Non-default arguments for every constructor parameter (a new parameter must be added here).
ARGUMENTS = {
    "MASE": {"train": np.array([1.0, 2.0, 4.0]), "m": 2, "scale": None},
    "RelativeMAE": {"m": 2},
    "Skill": {"m": 2},
    "Precision": {"average": "weighted", "labels": [2, 1]},
    "Recall": {"average": "micro", "labels": ("a", "b")},
    "F1": {"average": "weighted", "labels": [0, 1]},
    "ConfusionMatrix": {"labels": ["up", "down"]},
    "DirectionalAccuracy": {"series": "return"},
    "HitRate": {"series": "log_price"},
    "SharpeRatio": {"series": "return", "periods_per_year": 365.25},
    "MaxDrawdown": {"series": "log_price"},
}


def _data(metric):
    if metric.works_with == "classification":
        return LABELS, GUESSES
    if getattr(metric, "series", None) == "return":
        return np.diff(np.log(PRICES)), np.diff(np.log(FORECASTS))
    if getattr(metric, "series", None) == "log_price":
        return np.log(PRICES), np.log(FORECASTS)
    return PRICES, FORECASTS


def _ids(factories):
    return [repr(f()).split(":")[0] + f"-{i}" for i, f in enumerate(factories)]


@pytest.mark.parametrize("make", ALL, ids=_ids(ALL))
def test_update_one_by_one_equals_update_many_in_one_go(make):
    one_by_one, batch = make(), make()
    y_true, y_pred = _data(batch)
    for t, p in zip(y_true, y_pred, strict=True):
        one_by_one.update(t, p)
    batch.update_many(y_true, y_pred)
    assert math.isfinite(batch.get())
    assert one_by_one.get() == pytest.approx(batch.get(), rel=1e-12)
    assert repr(one_by_one) == repr(batch)


@pytest.mark.parametrize("make", ALL, ids=_ids(ALL))
def test_batches_of_any_size_give_the_same_value(make):
    chunked, batch = make(), make()
    y_true, y_pred = _data(batch)
    for start, stop in [(0, 0), (0, 1), (1, 4), (4, 4), (4, 17), (17, len(y_true))]:
        chunked.update_many(y_true[start:stop], y_pred[start:stop])
    batch.update_many(y_true, y_pred)
    assert chunked.get() == pytest.approx(batch.get(), rel=1e-12)


@pytest.mark.parametrize("make", ALL, ids=_ids(ALL))
def test_empty_gives_nan_and_reset_forgets(make):
    metric = make()
    assert math.isnan(metric.get())
    metric.update_many([], [])
    assert math.isnan(metric.get())
    y_true, y_pred = _data(metric)
    metric.update_many(y_true, y_pred)
    value = metric.get()
    metric.reset()
    assert math.isnan(metric.get())
    metric.update_many(y_true, y_pred)
    assert metric.get() == value


@pytest.mark.parametrize("make", ALL, ids=_ids(ALL))
def test_clone_has_the_same_arguments_and_no_values(make):
    metric = make()
    metric.update_many(*_data(metric))
    twin = metric.clone()
    assert type(twin) is type(metric)
    assert math.isnan(twin.get())
    twin.update_many(*_data(metric))
    assert twin.get() == metric.get()


@pytest.mark.parametrize(
    "cls", [*METRIC_CLASSES, metrics.ConfusionMatrix], ids=lambda c: c.__name__
)
def test_every_constructor_argument_is_stored_unchanged(cls):
    arguments = ARGUMENTS.get(cls.__name__, {})
    assert list(arguments) == list(inspect.signature(cls).parameters)
    metric = cls(**arguments)
    for name, value in arguments.items():
        assert getattr(metric, name) is value, name
    assert all(getattr(metric.clone(), name) is value for name, value in arguments.items())


@pytest.mark.parametrize("cls", METRIC_CLASSES, ids=lambda c: c.__name__)
def test_flags(cls):
    assert isinstance(cls.bigger_is_better, bool)
    assert cls.works_with in ("regression", "classification")


@pytest.mark.parametrize("make", ALL, ids=_ids(ALL))
def test_repr_is_name_colon_value_with_four_decimals(make):
    metric = make()
    metric.update_many(*_data(metric))
    assert metric.name == type(metric).__name__
    assert repr(metric).startswith(f"{metric.name}: {metric.get():.4f}")


@pytest.mark.parametrize("make", ALL, ids=_ids(ALL))
def test_mismatched_shapes_raise_naming_both(make):
    metric = make()
    with pytest.raises(ShapeError, match=r"y_true has shape \(3,\) but y_pred has shape \(2,\)"):
        metric.update_many([1.0, 2.0, 3.0], [1.0, 2.0])


@pytest.mark.parametrize("make", ALL, ids=_ids(ALL))
def test_nan_raises_and_leaves_the_state_alone(make):
    metric = make()
    y_true, y_pred = _data(metric)
    metric.update_many(y_true[:10], y_pred[:10])
    before = repr(metric)
    bad = y_pred[10:20].astype(float)
    bad[3] = np.nan
    with pytest.raises(InvalidParameterError, match=r"y_pred has 1 NaN .* at index 3"):
        metric.update_many(y_true[10:20], bad)
    assert repr(metric) == before


@pytest.mark.parametrize("make", ALL, ids=_ids(ALL))
def test_update_takes_one_pair_only(make):
    with pytest.raises(ShapeError, match=r"update takes one value pair.*use update_many"):
        make().update([1.0, 2.0], [1.0, 2.0])


def test_metric_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Metric()  # type: ignore[abstract]


def test_numbers_must_be_real():
    with pytest.raises(InvalidParameterError, match=r"MAE: y_true must hold real numbers"):
        metrics.mae(["a", "b"], [1.0, 2.0])


def test_moments_merged_by_batches_equal_numpy():
    values = rng(5).normal(loc=1e6, size=101)
    moments = Moments()
    for chunk in np.array_split(values, [1, 2, 50, 50]):
        moments.add(chunk)
    assert moments.n == 101
    assert moments.mean == pytest.approx(values.mean(), rel=1e-14)
    assert moments.std() == pytest.approx(values.std(ddof=1), rel=1e-9)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (1, True),
        (0.5, True),
        (np.int64(3), True),
        (0, False),
        (-1.0, False),
        (True, False),
        (math.inf, False),
        (math.nan, False),
        ("2", False),
    ],
)
def test_is_positive_number(value, ok):
    assert is_positive_number(value) is ok


def test_core_tensors_are_read_as_arrays():
    y_true = Tensor([1.0, 2.0, 4.0])
    y_pred = Tensor([1.5, 2.0, 3.0], requires_grad=True)
    assert metrics.mae(y_true, y_pred) == pytest.approx(0.5)
    assert metrics.relative_mae(y_true, y_pred, m=1) == pytest.approx(1.0 / 3.0)
    assert metrics.directional_accuracy(y_true, y_pred) == 1.0  # up, up; forecast +1, +1
    metric = metrics.MAE()
    metric.update(Tensor(1.0), Tensor(3.0))
    assert metric.get() == 2.0

"""Online learners: the learner contract over each of ours, the same numbers as River's
models on the same stream, and the one-event path equal to the core optimiser's batch path."""

from __future__ import annotations

import re

import numpy as np
import pytest
from river import linear_model, preprocessing  # in the test extra: never skipped

from azuraforge.errors import InvalidParameterError
from azuraforge.stream import (
    LinearRegression,
    LogisticRegression,
    MLPClassifier,
    MLPRegressor,
    Pipeline,
    StandardScaler,
)
from azuraforge.stream.direction import make_learner, tuned_kind
from azuraforge.testing.learners import check_learner, sample_stream

LEARNERS = {
    "scaler": StandardScaler,
    "logistic-sgd": LogisticRegression,
    "logistic-adam-l2": lambda: LogisticRegression(optimizer="adam", lr=0.05, l2=0.01),
    "linear-sgd": lambda: LinearRegression(lr=0.005),
    "linear-adam": lambda: LinearRegression(optimizer="adam"),
    "pipeline": lambda: Pipeline(StandardScaler(), LogisticRegression(optimizer="adam")),
    "pipeline-regression": lambda: Pipeline(StandardScaler(), LinearRegression()),
    "mlp-classifier": lambda: MLPClassifier(hidden=(4,), lr=0.01),
    "mlp-regressor": lambda: MLPRegressor(hidden=(3, 3), activation="relu", optimizer="sgd"),
}


@pytest.mark.parametrize("make", LEARNERS.values(), ids=LEARNERS.keys())
def test_learner_contract(make) -> None:
    check_learner(make)


def _columns(events):
    names = sorted({name for x, _ in events for name in x})
    return {n: np.array([x.get(n, 0.0) for x, _ in events]) for n in names}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("kind", [LogisticRegression, LinearRegression])
def test_one_event_path_equals_core_optimiser_path(kind, optimizer) -> None:
    """learn_one (plain Python) and learn_many of one event (the core's SGD/Adam on a
    tensor) take the same steps."""
    # Squared error on feature b (mean 5, sd 10) diverges at lr 0.01, and a diverging run
    # grows a last-bit difference (a BLAS with fused multiply-add, e.g. OpenBLAS's SkylakeX
    # kernels, against plain Python) past any tolerance: the regression steps at 0.001.
    lr = 0.01 if kind is LogisticRegression else 0.001
    one, many = (
        kind(optimizer=optimizer, lr=lr, l2=0.001),
        kind(optimizer=optimizer, lr=lr, l2=0.001),
    )
    for x, label in sample_stream(400):
        y = label if kind is LogisticRegression else x["a"] * 3 - 1
        one.learn_one(x, y)
        many.learn_many({k: [v] for k, v in x.items()}, [y])
    np.testing.assert_allclose(list(one.weights.values()), list(many.weights.values()), rtol=1e-12)
    assert one.intercept == pytest.approx(many.intercept, rel=1e-12)
    assert max(abs(w) for w in one.weights.values()) < 100  # the run converged


def test_scaler_batches_give_the_running_statistics() -> None:
    events = list(sample_stream(1000))
    one, many = StandardScaler(), StandardScaler()
    for x, _ in events:
        one.learn_one(x)
    for start in range(0, 1000, 137):
        many.learn_many(_columns(events[start : start + 137]))
    for name in "abc":
        assert many.means[name] == pytest.approx(one.means[name], rel=1e-12)
        assert many.stds[name] == pytest.approx(one.stds[name], rel=1e-12)
        assert one.stds[name] == pytest.approx(np.std([x[name] for x, _ in events]), rel=1e-12)


def test_features_come_and_go() -> None:
    """A new name gets a weight from 0; a missing one reads as 0; predicting learns none."""
    model = LogisticRegression(lr=0.1)
    model.learn_one({"a": 1.0}, True)
    model.predict_proba_one({"a": 1.0, "unseen": 5.0})
    assert model.features == ["a"]
    model.learn_one({"b": 2.0}, False)
    assert model.features == ["a", "b"]
    assert model.weights["b"] == pytest.approx(-0.1 * 2.0 * 0.5 / 1.0, rel=0.2)


def test_bad_arguments_and_batches() -> None:
    with pytest.raises(
        InvalidParameterError, match="optimizer must be 'sgd' or 'adam', got 'rmsprop'"
    ):
        LogisticRegression(optimizer="rmsprop")
    with pytest.raises(InvalidParameterError, match="lr must be a number >= 0, got -1"):
        LinearRegression(lr=-1)
    with pytest.raises(InvalidParameterError, match="3 rows of X but 2 values of y"):
        LogisticRegression().learn_many({"a": [1.0, 2.0, 3.0]}, [True, False])
    with pytest.raises(InvalidParameterError, match="Pipeline: needs transformers then one"):
        Pipeline(LogisticRegression(), StandardScaler())
    with pytest.raises(InvalidParameterError, match="predicts numbers, not probabilities"):
        Pipeline(StandardScaler(), LinearRegression()).predict_proba_one({"a": 1.0})


def test_mlp_learns_a_nonlinear_rule() -> None:
    """XOR of two signs: out of reach of a linear model, learned by the MLP on the core."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(2000, 2))
    y = (X[:, 0] > 0) ^ (X[:, 1] > 0)
    mlp, linear = MLPClassifier(hidden=(16,), lr=0.02), LogisticRegression(lr=0.1)
    for _ in range(30):
        for start in range(0, 2000, 50):
            batch = {"u": X[start : start + 50, 0], "v": X[start : start + 50, 1]}
            mlp.learn_many(batch, y[start : start + 50])
            linear.learn_many(batch, y[start : start + 50])
    test = {"u": X[:, 0], "v": X[:, 1]}
    assert np.mean(mlp.predict_many(test) == y) > 0.9
    assert np.mean(linear.predict_many(test) == y) < 0.65


def _river_stream(n: int = 3000):
    rng = np.random.default_rng(1)
    scales = np.array([1.0, 5.0, 0.1, 40.0])
    X = rng.normal(size=(n, 4)) * scales + 3
    y = X @ np.array([1.0, -0.2, 8.0, 0.02]) + rng.normal(size=n) - 3
    return [dict(zip("abcd", row, strict=True)) for row in X.tolist()], y


def test_same_numbers_as_river_logistic_regression() -> None:
    rows, y = _river_stream()
    ours = Pipeline(StandardScaler(), LogisticRegression())
    theirs = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for x, target in zip(rows, (y > 0).tolist(), strict=True):
        assert ours.predict_proba_one(x)[True] == pytest.approx(
            theirs.predict_proba_one(x)[True], abs=1e-12
        )
        ours.learn_one(x, target)
        theirs.learn_one(x, target)


def test_same_numbers_as_river_linear_regression() -> None:
    rows, y = _river_stream()
    ours = Pipeline(StandardScaler(), LinearRegression())
    theirs = preprocessing.StandardScaler() | linear_model.LinearRegression(intercept_lr=0.01)
    for x, target in zip(rows, y.tolist(), strict=True):
        assert ours.predict_one(x) == pytest.approx(theirs.predict_one(x), rel=1e-9, abs=1e-9)
        ours.learn_one(x, target)
        theirs.learn_one(x, target)


def test_river_models_run_through_the_adapter() -> None:
    from azuraforge.stream import RiverClassifier

    rows, y = _river_stream(500)
    adapted = RiverClassifier(preprocessing.StandardScaler() | linear_model.LogisticRegression())
    ours = Pipeline(StandardScaler(), LogisticRegression())
    for x, target in zip(rows, (y > 0).tolist(), strict=True):
        adapted.learn_one(x, target)
        ours.learn_one(x, target)
    x = rows[0]
    assert adapted.predict_proba_one(x)[True] == pytest.approx(ours.predict_proba_one(x)[True])
    adapted.learn_many(
        {"a": [1.0, 2.0], "b": [0.0, 1.0], "c": [3.0, 3.0], "d": [1.0, 1.0]}, [True, False]
    )
    with pytest.raises(InvalidParameterError, match="does not unpickle"):
        adapted.state_dict()


def test_a_tuned_kind_is_made_with_its_settings_and_a_bad_one_is_named() -> None:
    kind = tuned_kind("logreg-sgd", {"lr": 0.05})
    assert kind == "logreg-sgd(lr=0.05)" and make_learner(kind).steps[-1].lr == 0.05
    assert make_learner("mlp(lr=0.002)", seed=3).steps[-1].lr == 0.002
    for bad, says in [
        ("logreg-adam(lr=0.5)", "logreg-adam takes lr in [1e-05, 0.03], l2 in [1e-06, 0.1]"),
        ("logreg-adam(momentum=0.9)", "logreg-adam takes lr in"),
        ("logreg-adam(lr=fast)", "logreg-adam takes lr in"),
        ("ensemble(lr=0.01)", "is not a tunable kind (logreg-sgd, logreg-adam, mlp)"),
        ("logreg-sgd(lr=0.01", "is not a tunable kind"),
    ]:
        with pytest.raises(InvalidParameterError, match=re.escape(says)):
            make_learner(bad)

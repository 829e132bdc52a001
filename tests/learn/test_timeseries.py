"""Splits, windows, scalers and transforms: shapes, leakage and exact round trips."""

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError, PluginError, ShapeError
from azuraforge.learn.timeseries import (
    LogTransform,
    MinMaxScaler,
    StandardScaler,
    Transform,
    chronological_split,
    from_state,
    make_windows,
    window_inputs,
)


def test_split_is_chronological_and_covers_every_row_once():
    split = chronological_split(1000, train=0.7, val=0.1)
    rows = np.arange(1000)
    parts = [rows[split.train], rows[split.val], rows[split.test]]
    assert [len(p) for p in parts] == [700, 100, 200]
    assert np.array_equal(np.concatenate(parts), rows)
    assert parts[0].max() < parts[1].min() and parts[1].max() < parts[2].min()


@pytest.mark.parametrize(("train", "val"), [(0.0, 0.1), (0.9, 0.1), (1.2, 0.0), (0.5, -0.1)])
def test_split_rejects_impossible_fractions(train, val):
    with pytest.raises(InvalidParameterError, match="split fractions"):
        chronological_split(100, train=train, val=val)


def test_windows_have_the_right_inputs_and_targets():
    series = np.arange(20.0)
    features = np.stack([series, -series], axis=1)
    w = make_windows(features, series * 10, sequence_length=4, horizon=3, stride=2)
    # The first target row is 4 - 1 + 3 = 6: inputs are rows 0..3, the target is row 6.
    assert w.target_rows[:3].tolist() == [6, 8, 10]
    np.testing.assert_array_equal(w.x[0, :, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(w.x[0, :, 1], [0, -1, -2, -3])
    assert w.y[0] == 60
    assert w.x.shape == (len(w.y), 4, 2)
    for x, row in zip(w.x, w.target_rows, strict=True):
        assert x[-1, 0] == row - 3  # every window ends exactly `horizon` rows before its target


def test_windows_label_only_rows_of_their_part_but_may_read_the_past():
    series = np.arange(100.0)
    split = chronological_split(100)
    test = make_windows(series[:, None], series, sequence_length=10, rows=split.test)
    assert test.target_rows.min() == split.test.start
    assert test.x[0, 0, 0] < split.test.start  # its inputs come from earlier rows
    train = make_windows(series[:, None], series, sequence_length=10, rows=split.train)
    assert train.target_rows.max() < split.train.stop


def test_windows_reject_bad_arguments():
    with pytest.raises(ShapeError, match="features \\(rows, columns\\)"):
        make_windows(np.zeros(5), np.zeros(5), 2)
    with pytest.raises(InvalidParameterError, match="horizon must be an int >= 1"):
        make_windows(np.zeros((5, 1)), np.zeros(5), 2, horizon=0)
    with pytest.raises(InvalidParameterError, match="no window fits"):
        make_windows(np.zeros((5, 1)), np.zeros(5), 5)


@pytest.mark.parametrize("scaler_class", [StandardScaler, MinMaxScaler])
def test_scalers_are_fitted_on_training_rows_only(scaler_class):
    data = np.random.default_rng(0).normal(size=(100, 3))
    split = chronological_split(100)
    scaler = scaler_class().fit(data[split.train])
    poisoned = data.copy()
    poisoned[split.test] = 1e6  # changing the test rows must not change the fit
    again = scaler_class().fit(poisoned[split.train])
    assert scaler.state_dict() == again.state_dict()
    if scaler_class is StandardScaler:
        np.testing.assert_allclose(scaler.transform(data[split.train]).mean(axis=0), 0, atol=1e-12)


@pytest.mark.parametrize("transform", [StandardScaler(), MinMaxScaler(), LogTransform()])
def test_transforms_round_trip_exactly_and_through_their_state(transform):
    data = np.random.default_rng(1).uniform(1, 50, size=(30, 2))
    fitted = transform.fit(data[:20])
    encoded = fitted.transform(data)
    np.testing.assert_allclose(fitted.inverse_transform(encoded), data, rtol=1e-12)
    rebuilt = from_state(fitted.state_dict())
    np.testing.assert_allclose(rebuilt.transform(data), encoded, rtol=1e-12)
    np.testing.assert_allclose(
        rebuilt.inverse_transform(encoded[:, 1], columns=1), data[:, 1], rtol=1e-12
    )


def test_unfitted_scaler_and_bad_data_give_clear_errors():
    with pytest.raises(InvalidParameterError, match="not fitted: call fit"):
        StandardScaler().transform(np.ones((2, 1)))
    with pytest.raises(InvalidParameterError, match="NaN"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(InvalidParameterError, match="values > 0"):
        LogTransform().fit(np.ones(3)).transform(np.array([1.0, 0.0]))
    with pytest.raises(NotFoundError, match="no transform kind 'cubic'"):
        from_state({"kind": "cubic"})


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([1.0, 2.0], r"a transform state is a dict with a string 'kind' .*, got \[1\.0, 2\.0\]"),
        ({"kind": 3}, r"a transform state is a dict with a string 'kind'"),
        ({"kind": "standard", "mean": [1.0]}, r"standard state: 'std' must be a finite number"),
        ({"kind": "standard", "mean": ["a"], "std": [1]}, r"'mean' must be .*, got \['a'\]"),
        ({"kind": "standard", "mean": [[1], [2, 3]], "std": [1]}, r"'mean' must be a finite"),
        ({"kind": "standard", "mean": [np.nan], "std": [1]}, r"'mean' must be a finite"),
        ({"kind": "standard", "mean": [1, 2], "std": [1]}, r"one value per column .*2 and 1"),
        ({"kind": "minmax", "low": [0.0], "span": [-1.0]}, r"minmax state: 'span' must be > 0"),
    ],
)
def test_a_bad_state_is_refused_before_it_rebuilds_anything(state, message):
    with pytest.raises(InvalidParameterError, match=message):
        from_state(state)


def test_a_long_state_is_cut_in_the_message():
    with pytest.raises(
        InvalidParameterError, match=r"got \[0, 1, 2, .*\.\.\. \(\d+ characters\)$"
    ):
        from_state([*range(100)])


def test_a_scaler_fitted_on_one_column_rebuilds_from_its_state():
    fitted = StandardScaler().fit(np.array([1.0, 3.0]))
    rebuilt = from_state(fitted.state_dict())
    np.testing.assert_array_equal(rebuilt.transform(np.array([5.0])), fitted.transform([5.0]))


@pytest.fixture
def registry(monkeypatch):
    """Transforms the test registers are forgotten after it."""
    monkeypatch.setattr(Transform, "_registry", dict(Transform._registry))
    return Transform._registry


def test_a_subclass_without_its_own_kind_cannot_replace_a_builtin(registry):
    with pytest.raises(
        PluginError,
        match=r"RobustScaler inherits kind 'standard', which azuraforge\.learn\.timeseries\."
        r"StandardScaler is registered under; .*declare a kind of its own, e\.g\. "
        r"kind = 'robustscaler'",
    ):

        class RobustScaler(StandardScaler):
            pass

    state = StandardScaler().fit(np.ones((2, 1))).state_dict()
    assert type(from_state(state)) is StandardScaler


def test_a_second_class_declaring_a_taken_kind_is_refused(registry):
    with pytest.raises(PluginError, match=r"Scaler declares kind 'minmax', which .*MinMaxScaler"):

        class Scaler(LogTransform):
            kind = "minmax"

    with pytest.raises(PluginError, match=r"kind must be a str, got 3"):

        class Numbered(LogTransform):
            kind = 3  # type: ignore[assignment]


def test_an_intermediate_class_without_a_kind_is_allowed(registry):
    class Unfitted(Transform):
        """What transforms without fitted parameters share; declares no kind."""

        def fit(self, train):
            return self

        def state_dict(self):
            return {"kind": self.kind}

        @classmethod
        def from_state_dict(cls, state):
            return cls()

    class Negate(Unfitted):
        kind = "negate"

        def transform(self, values):
            return -values

        def inverse_transform(self, values, columns=slice(None)):
            return -values

    assert Unfitted not in registry.values()
    assert isinstance(from_state(Negate().fit(np.ones(2)).state_dict()), Negate)


def test_a_plugin_state_that_does_not_rebuild_is_an_invalid_parameter(registry):
    class Shift(LogTransform):
        kind = "shift"

        @classmethod
        def from_state_dict(cls, state):
            return state["offset"]

    with pytest.raises(
        InvalidParameterError,
        match=r"shift state \{'kind': 'shift'\} does not rebuild the "
        r"transform: KeyError: 'offset'",
    ):
        from_state({"kind": "shift"})


def test_window_inputs_are_the_inputs_of_make_windows():
    features = np.random.default_rng(0).normal(size=(30, 3))
    windows = make_windows(features, features[:, 0], sequence_length=5, horizon=2)
    x = window_inputs(features, windows.target_rows - 2, length=5)
    np.testing.assert_array_equal(x, windows.x)
    assert x.flags.c_contiguous
    np.testing.assert_array_equal(x[0], features[0:5])

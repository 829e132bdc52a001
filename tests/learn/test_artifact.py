"""ModelArtifact: a directory that predicts again exactly; fingerprints; clear errors."""

import json

import numpy as np
import pytest

from azuraforge.core import Tensor, manual_seed, nn, no_grad
from azuraforge.errors import NotFoundError, SchemaMismatchError
from azuraforge.learn import TrainingSummary
from azuraforge.learn.artifact import ModelArtifact, fingerprint
from azuraforge.learn.timeseries import StandardScaler


def _predict(artifact, raw):
    scaled = artifact.preprocessing["features"].transform(raw).astype(np.float32)
    with no_grad():
        out = artifact.model(Tensor(scaled)).numpy()
    return artifact.preprocessing["target"].inverse_transform(out)


def test_reload_predicts_exactly_as_before(tmp_path):
    manual_seed(0)
    raw = np.random.default_rng(0).normal(size=(50, 3)) * 10 + 5
    artifact = ModelArtifact(
        model=nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)),
        preprocessing={
            "features": StandardScaler().fit(raw[:30]),
            "target": StandardScaler().fit(raw[:30, :1]),
        },
        features=["a", "b", "c"],
        config={"hidden": 8, "blend": None},
        chosen_settings={"blend": 0.75},
        metrics={"MAE": {"model": np.float32(1.5), "persistence": 2.0}},
        data_fingerprint=fingerprint(raw[:30]),
        seed=0,
        pipeline="test",
        training=TrainingSummary("cancelled", 2, 9),
    )
    artifact.model.eval()
    before = _predict(artifact, raw)
    restored = ModelArtifact.load(artifact.save(tmp_path / "run"))
    np.testing.assert_array_equal(_predict(restored, raw), before)
    assert restored.training == artifact.training
    assert restored.config == artifact.config and restored.chosen_settings == {"blend": 0.75}
    assert restored.features == ["a", "b", "c"] and restored.seed == 0
    assert restored.metrics["MAE"]["model"] == 1.5
    assert restored.data_fingerprint == fingerprint(raw[:30])
    meta = json.loads((tmp_path / "run" / "artifact.json").read_text())
    assert meta["package_version"] and "git_commit" in meta


def test_fingerprint_changes_with_data_dtype_and_shape():
    data = np.arange(6.0)
    prints = {
        fingerprint(data),
        fingerprint(data + 1),
        fingerprint(data.astype(np.float32)),
        fingerprint(data.reshape(2, 3)),
    }
    assert len(prints) == 4


def test_missing_or_damaged_artifacts_are_explained(tmp_path):
    with pytest.raises(NotFoundError, match=r"needs artifact\.json and model\.npz"):
        ModelArtifact.load(tmp_path)
    ModelArtifact(model=nn.Linear(1, 1)).save(tmp_path / "a")
    (tmp_path / "a" / "artifact.json").write_text("{damaged")
    with pytest.raises(SchemaMismatchError, match="damaged"):
        ModelArtifact.load(tmp_path / "a")


def _saved_artifact(tmp_path):
    """A small saved artifact with fitted preprocessing; returns its artifact.json."""
    scaler = StandardScaler().fit(np.array([[1.0], [3.0]]))
    directory = ModelArtifact(model=nn.Linear(1, 1), preprocessing={"features": scaler}).save(
        tmp_path / "run"
    )
    return directory / "artifact.json"


def _rewrite(meta_path, change):
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(change(meta)))


def _without(key):
    return lambda meta: {k: v for k, v in meta.items() if k != key}


def _with(key, value):
    return lambda meta: {**meta, key: value}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda meta: [1, 2], "it holds a JSON array, expected an object of artifact fields"),
        (_without("preprocessing"), "key 'preprocessing' is missing"),
        (_without("features"), "key 'features' is missing"),
        (_with("format_version", "2"), 'key \'format_version\' is "2" (a string), expected an '),
        (_with("format_version", None), "key 'format_version' is null, expected an integer"),
        (_with("seed", True), "key 'seed' is true (a boolean), expected an integer or null"),
        (_with("features", "a,b"), "key 'features' is \"a,b\" (a string), expected a list of"),
        (_with("features", ["a", 2]), "key 'features' holds 2 (a number), expected a list of"),
        (_with("preprocessing", []), "key 'preprocessing' is [] (an array), expected an object"),
        (_with("training", 3), "key 'training' is 3 (a number), expected an object"),
        (
            _with("chosen_settings", {"blend": [0.5]}),
            "key 'chosen_settings' holds [0.5] (an array), expected an",
        ),
        (
            _with("training", {"status": "done"}),
            'key \'training\' is {"status": "done"} (an object), expected an object like',
        ),
    ],
    ids=["array", "no preprocessing", "no features", "version text", "version null",
         "seed bool", "features text", "feature number", "preprocessing array", "training",
         "chosen text", "training fields"],
)  # fmt: skip
def test_a_malformed_artifact_json_names_the_file_and_the_key(tmp_path, change, problem):
    meta_path = _saved_artifact(tmp_path)
    _rewrite(meta_path, change)
    with pytest.raises(SchemaMismatchError) as caught:
        ModelArtifact.load(meta_path.parent)
    assert str(caught.value).startswith(f"{meta_path} is damaged: {problem}")
    assert str(caught.value).endswith("restore the file, or run the pipeline again")


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ([1, 2], "a transform state is a dict with a string 'kind'"),
        ({"mean": [2.0]}, "a transform state is a dict with a string 'kind'"),
        ({"kind": "cubic"}, "no transform kind 'cubic'"),
        ({"kind": "standard", "mean": [2.0]}, "standard state: 'std' must be"),
        ({"kind": "standard", "mean": "abc", "std": [1.0]}, "standard state: 'mean' must be"),
        ({"kind": "minmax", "low": [0.0], "span": [0.0]}, "minmax state: 'span' must be > 0"),
    ],
)
def test_a_bad_transform_state_names_the_file_and_the_transform(tmp_path, state, problem):
    meta_path = _saved_artifact(tmp_path)
    _rewrite(meta_path, lambda meta: {**meta, "preprocessing": {"features": state}})
    with pytest.raises(SchemaMismatchError) as caught:
        ModelArtifact.load(meta_path.parent)
    message = str(caught.value)
    assert message.startswith(f"{meta_path} is damaged: key 'preprocessing', transform 'features'")
    assert problem in message


def test_an_artifact_from_before_training_was_recorded_still_loads(tmp_path):
    meta_path = _saved_artifact(tmp_path)
    _rewrite(meta_path, _without("training"))
    assert ModelArtifact.load(meta_path.parent).training is None

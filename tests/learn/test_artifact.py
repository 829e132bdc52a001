"""ModelArtifact: a directory that predicts again exactly; fingerprints; clear errors."""

import json

import numpy as np
import pytest

from azuraforge.core import Tensor, manual_seed, nn, no_grad
from azuraforge.errors import NotFoundError, SchemaMismatchError
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
        config={"hidden": 8},
        metrics={"MAE": {"model": np.float32(1.5), "persistence": 2.0}},
        data_fingerprint=fingerprint(raw[:30]),
        seed=0,
        pipeline="test",
        training={"status": "cancelled", "epochs_completed": 2, "epochs_planned": 9},
    )
    artifact.model.eval()
    before = _predict(artifact, raw)
    restored = ModelArtifact.load(artifact.save(tmp_path / "run"))
    np.testing.assert_array_equal(_predict(restored, raw), before)
    assert restored.training == artifact.training
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

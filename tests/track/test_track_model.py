"""``run.log_model``: a model a tracked script trained itself is kept in the run's files as a
pipeline run keeps its own, so that the run is registered as a model version and served,
through a server and in the embedded store; what is not a model of ours is refused."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from azuraforge import track
from azuraforge.client import Client
from azuraforge.core import Tensor, manual_seed, nn, no_grad, optim
from azuraforge.errors import InvalidParameterError
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.timeseries import StandardScaler
from azuraforge.platform.blobs import BlobCache, open_blobs
from azuraforge.platform.services.registry import load_version, register_version
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.track.conftest import FAST, Api


def trained_digits() -> tuple[ModelArtifact, np.ndarray, np.ndarray]:
    """A digit classifier of one linear layer trained here in a few steps on 64 made-up
    images (digit 1 when the top half is brighter, else 0), served by ``digit-classifier``;
    the images and what it predicts for them."""
    manual_seed(0)
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28)).astype(np.uint8)
    labels = (images[:, :14].mean(axis=(1, 2)) > images[:, 14:].mean(axis=(1, 2))).astype(int)
    mean, std = float(images.mean()), float(images.std())
    pixels = Tensor(((images - mean) / std)[:, None].astype(np.float32))
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    optimizer, loss = optim.Adam(model.parameters(), lr=0.01), nn.CrossEntropyLoss()
    for _ in range(10):
        optimizer.zero_grad()
        loss(model(pixels), Tensor(labels)).backward()
        optimizer.step()
    model.eval()
    with no_grad():
        predicted = model(pixels).numpy().argmax(axis=1)
    scaler = StandardScaler.from_state_dict({"kind": "standard", "mean": [mean], "std": [std]})
    accuracy = float((predicted == labels).mean())
    artifact = ModelArtifact(
        model, preprocessing={"pixels": scaler}, features=["pixels 28x28"],
        metrics={"Accuracy": {"model": accuracy}}, pipeline="digit-classifier",
    )  # fmt: skip
    return artifact, images, predicted


def rows(images: np.ndarray) -> list[dict[str, Any]]:
    """Images as the rows a served digit classifier reads: 784 grey levels each."""
    return [{f"p{i}": int(v) for i, v in enumerate(image.ravel())} for image in images]


def test_a_logged_model_is_registered_and_served(api: Api) -> None:
    artifact, images, predicted = trained_digits()
    with api.serve():
        with track.start_run(name="own-digits", experiment="my-digits", url=api.url,
                             token=api.token, **FAST) as run:  # fmt: skip
            run.log_metrics({"loss": 0.5}, step=0)
            run.log_model(artifact)
            for weights in artifact.model.parameters():  # trained on after the call: what
                weights.data[...] = 0.0  # was logged stays as it was
        with Client(api.url, token=api.token) as client:
            version = client.models.register("own-digits", run.id)  # type: ignore[arg-type]
            answer = client.models.predict("own-digits/1", rows(images[:8]))
    record = api.store.get_experiment(run.id)  # type: ignore[arg-type]
    assert (record.pipeline, record.result["artifact_dir"]) == ("my-digits", "model")
    assert record.result["metrics"] == artifact.metrics  # the run's test scores
    assert sorted(a.path for a in api.store.list_artifacts(record.id)) == [
        "model/artifact.json", "model/model.npz",
    ]  # fmt: skip
    assert (version["version"], version["pipeline"]) == (1, "digit-classifier")
    assert answer["predictions"]["digit"] == predicted[:8].tolist()


def test_without_a_server_a_logged_model_is_registered_from_the_embedded_store(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(sqlite_template, tmp_path / "embedded.db")
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", f"sqlite:///{tmp_path / 'embedded.db'}")
    monkeypatch.setenv("AZURAFORGE_API_URL", "http://127.0.0.1:9")  # no token for it
    artifact, images, predicted = trained_digits()
    with track.start_run(name="offline-digits", **FAST) as run:
        run.log_model(artifact, "models/best")
    settings = Settings()
    store, blobs = Store(settings.database_url), open_blobs(settings)
    try:
        store.create_model("offline")
        version = register_version(store, blobs, "offline", "offline-digits")
        loaded = load_version(BlobCache(blobs, tmp_path / "cache"), version)
    finally:
        store.close()
    assert version.pipeline == "digit-classifier"
    assert version.metrics == artifact.metrics
    scaler = loaded.preprocessing["pixels"]
    assert isinstance(scaler, StandardScaler)
    mean, std = scaler.fitted_column(0)
    with no_grad():
        again = loaded.model(Tensor(((images - mean) / std)[:, None].astype(np.float32)))
    assert again.numpy().argmax(axis=1).tolist() == predicted.tolist()


def test_what_is_not_a_model_of_ours_is_refused_naming_what_is() -> None:
    artifact, _, _ = trained_digits()
    with track.start_run(url="http://127.0.0.1:9", token="af_none", end_timeout=0) as run:
        with pytest.raises(TypeError, match=r"takes an azuraforge\.learn\.artifact\.ModelArti"
                                            r"fact .*; got azuraforge\.core\.nn"):  # fmt: skip
            run.log_model(artifact.model)
        with pytest.raises(TypeError, match=r"got builtins\.dict"):
            run.log_model({"weights": [1.0]})
        with pytest.raises(InvalidParameterError, match="not a folder inside the run's files"):
            run.log_model(artifact, "../elsewhere")
        artifact.pipeline = ""
        with pytest.raises(InvalidParameterError, match="names no pipeline to serve it"):
            run.log_model(artifact)

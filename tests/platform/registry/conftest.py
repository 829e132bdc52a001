"""Fixtures of the registry tests: tiny real weather models (trained once per session on the
real Beijing data), completed runs of them in a test store, an API over that store, and rows
of the real file to predict from."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from azuraforge.apps import RunResult, get_pipeline
from azuraforge.learn import LocalContext
from azuraforge.learn.datasets import fetch
from azuraforge.learn.datasets.fetching import MIRROR_VARIABLE
from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.run_files import keep_folder
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentRecord, Store
from azuraforge.platform.store.states import COMPLETED
from tests.platform.fixtures import admin_headers

API = "/api/v1"
WEATHER = "weather-forecaster"
TINY = {"max_rows": 600, "epochs": 1, "hidden_size": 4, "sequence_length": 8}
"""A weather model trained in about a second (the two models differ by their seed)."""
SEQUENCE = TINY["sequence_length"]


@dataclass(frozen=True)
class Trained:
    """A finished run's folder (its artifact in ``artifact/``) and its config."""

    folder: Path
    config: dict[str, Any]
    result: RunResult


@pytest.fixture(scope="session")
def mirror(shared_data: list[Path]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MIRROR_VARIABLE, os.pathsep.join(str(f) for f in shared_data))
        yield


@pytest.fixture(scope="session")
def trained(mirror: None, tmp_path_factory: pytest.TempPathFactory) -> list[Trained]:
    """Two tiny weather models, seeds 0 and 1, each trained for real."""
    models = []
    for seed in (0, 1):
        pipeline = get_pipeline(WEATHER)
        config = pipeline.make_config({**TINY, "seed": seed})
        folder = tmp_path_factory.mktemp(f"weather-seed{seed}")
        result = pipeline().run(config, LocalContext(output_dir=folder))
        models.append(Trained(folder, config.model_dump(mode="json"), result))
    return models


@pytest.fixture(scope="session")
def beijing_rows(mirror: None) -> list[dict[str, Any]]:
    """The real Beijing file's rows 1000 to 1099 as objects, numbers as JSON numbers."""
    path = fetch("beijing-hourly")["beijing_hourly_2010_2014.csv"]
    with path.open() as handle:
        rows = list(csv.DictReader(handle))[1000:1100]
    return [{key: _json_value(value) for key, value in row.items()} for row in rows]


def _json_value(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def completed_run(
    store: Store, settings: Settings, model: Trained, name: str, project: str = DEFAULT_PROJECT
) -> ExperimentRecord:
    """A completed run of ``model`` in ``project``: its folder kept in the settings' blob
    store, recorded through the lease protocol, as a worker keeps and records one."""
    record = store.create_experiment(WEATHER, model.config, name=name, project=project)
    keep_folder(open_blobs(settings), model.folder, record.id)
    lease = store.claim(record.id, "test-worker", settings.lease_ttl)
    assert lease is not None
    store.finish(
        lease, COMPLETED, result={"metrics": model.result.metrics, "artifact_dir": "artifact"}
    )
    return store.get_experiment(record.id)


REGISTRY_TABLES = ("alias_moves", "model_aliases", "model_versions", "registered_models")


@pytest.fixture(autouse=True)
def _empty_registry(request: pytest.FixtureRequest) -> None:
    """The shared PostgreSQL database of the session keeps registry rows between tests (the
    shared fixture empties the run tables only): empty them too."""
    if "database_url" not in request.fixturenames:
        return
    url: str = request.getfixturevalue("database_url")
    if url.startswith("postgresql"):
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as connection:
            connection.execute(
                text(f"TRUNCATE {', '.join(REGISTRY_TABLES)} RESTART IDENTITY CASCADE")
            )
        engine.dispose()


@pytest.fixture
def runs(store: Store, settings: Settings, trained: list[Trained]) -> list[ExperimentRecord]:
    """Completed runs ``run-0`` and ``run-1`` of the two tiny models."""
    return [completed_run(store, settings, model, f"run-{i}") for i, model in enumerate(trained)]


@pytest.fixture
def api(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store), headers=admin_headers(store)) as client:
        yield client


def call(api: TestClient, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
    """The JSON answer of ``method path``, asserting its status."""
    response = api.request(method, f"{API}{path}", **kwargs)
    assert response.status_code == expected, response.text
    return None if response.status_code == 204 else response.json()


def registered(api: TestClient, runs: list[ExperimentRecord], name: str = "weather") -> None:
    """Model ``name`` with versions 1 and 2 (from ``run-0`` and ``run-1``)."""
    call(api, "POST", "/models", 201, json={"name": name, "description": "tiny"})
    for run in runs:
        call(api, "POST", f"/models/{name}/versions", 201, json={"experiment": run.name})

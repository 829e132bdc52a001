"""Migration 0022_blob_keys on SQLite and PostgreSQL: rows' paths become keys (a run's folder
goes, a version's folder below home/models becomes its models/ key, a prediction job made
before names its inputs by key), and back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text

from azuraforge.platform.store import Store, make_engine
from azuraforge.platform.store import engine as engines

pytestmark = pytest.mark.on_both_databases
BEFORE = "0021_run_credentials"


def _rows(url: str, sql: str, **values: Any) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), values)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _migrate(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        if revision == "head":
            engines.upgrade(engine)
        else:
            engines.downgrade(engine, revision)
    finally:
        engine.dispose()


def test_paths_become_keys_and_back(database_url: str) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}"  # the PostgreSQL database keeps other tests' models
    store = Store(database_url)
    try:
        run = store.create_experiment("sleeper", {})
        job = store.create_experiment("weather", {"inputs": "x"}, kind="prediction")
        store.create_model(model)
        version = store.create_version(
            model, pipeline="weather", artifact_path=f"{model}/3f2a9c1d0e4b",
            artifact_digest="0" * 64, source_experiment_id=run.id,
            source_experiment_name=run.name, metrics={}, config={}, data_fingerprint="",
            description="", created_by="test",
        )  # fmt: skip
    finally:
        store.close()
    _migrate(database_url, BEFORE)
    _rows(database_url, "UPDATE experiments SET output_dir = :folder WHERE id = :id",
          folder="/srv/af/runs/prediction-3f2a", id=job.id)  # fmt: skip
    _rows(database_url, "UPDATE experiments SET config = :config WHERE id = :id",
          config='{"inputs": "inputs.csv"}', id=job.id)  # fmt: skip

    _migrate(database_url, "head")
    store = Store(database_url)
    try:
        assert store.get_experiment(job.id).config["inputs"] == f"runs/{job.id}/inputs.csv"
        kept = store.get_version(model, version.version).artifact_path
        assert kept == f"models/{model}/3f2a9c1d0e4b"
        assert not hasattr(store.get_experiment(run.id), "output_dir")
    finally:
        store.close()

    _migrate(database_url, BEFORE)
    jobs = _rows(database_url, "SELECT id, output_dir, config FROM experiments ORDER BY id")
    assert [(id_, folder) for id_, folder, _ in jobs] == [(run.id, None), (job.id, None)]
    assert '"inputs": "inputs.csv"' in str(jobs[1][2]).replace("'", '"')  # runs/<id>/ holds it
    paths = _rows(database_url, "SELECT artifact_path FROM model_versions WHERE id = :id",
                  id=version.id)  # fmt: skip
    assert paths == [(f"{model}/3f2a9c1d0e4b",)]
    _migrate(database_url, "head")  # the shared PostgreSQL database is left at head

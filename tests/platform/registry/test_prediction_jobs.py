"""Prediction jobs on real workers (local worker processes, and Celery workers on the real
Redis), SQLite and PostgreSQL: a job completes with the sync endpoint's predictions, from
rows or from a file of the data folder; a cancelled one ends cancelled within 2 s and its
worker takes the next job at once."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from azuraforge.apps import get_pipeline
from azuraforge.learn import LocalContext
from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.celery_transport import CeleryTransport
from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.jobs.run_files import keep_folder
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.platform.store.states import CANCELLED, COMPLETED
from azuraforge.testing import WorkerProcesses
from tests.helpers import write_pipeline_plugin
from tests.platform.fixtures import admin_headers, short_settings
from tests.platform.jobs.test_transports import CELERY_WORKER, empty_redis, redis_url
from tests.platform.registry.conftest import call, completed_run, registered

__all__ = ["redis_url"]  # the Celery tests' Redis database fixture, used here too
pytestmark = pytest.mark.slow

SLOW = """
import time
from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.core import nn
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.datasets import read_csv


class SlowConfig(PipelineConfig):
    scale: float = 2.0


class SlowPredictor(Pipeline[SlowConfig]):
    name = "slow-predictor"
    description = "Scales column x; its predict first sleeps as long as column sleep says."
    Config = SlowConfig

    def run(self, config, ctx):
        artifact = ModelArtifact(model=nn.Linear(1, 1), config=config.model_dump(),
                                 pipeline=self.name)
        directory = artifact.save(ctx.output_dir / "artifact")
        return RunResult(metrics={"MAE": {"model": 1.0, "persistence": 2.0}},
                         artifact_dir=directory)

    def predict(self, artifact, inputs):
        table = read_csv(inputs)
        time.sleep(float(table.numbers("sleep").max()))
        return {"y": table.numbers("x") * artifact.config["scale"]}
"""


@pytest.fixture(scope="session")
def slow_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A third-party pipeline that only defines ``predict`` (a file): served unchanged."""
    root = tmp_path_factory.mktemp("slow-dist")
    return write_pipeline_plugin(
        root, "slow_plugin", SLOW, {"slow-predictor": "slow_plugin:SlowPredictor"}
    )


@pytest.fixture(params=["local", "celery"])
def job_settings(
    request: pytest.FixtureRequest,
    database_url: str,
    tmp_path: Path,
    slow_plugin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    monkeypatch.syspath_prepend(str(slow_plugin))
    paths = filter(None, [str(slow_plugin), os.environ.get("PYTHONPATH")])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    if request.param == "local":
        return short_settings(database_url, tmp_path / "home")
    broker = request.getfixturevalue("redis_url")
    return short_settings(database_url, tmp_path / "home", transport="celery", broker_url=broker)


@pytest.fixture
def workers(job_settings: Settings, tmp_path: Path) -> Iterator[WorkerProcesses]:
    """One worker slot: a cancelled job must free it for the next."""
    env = settings_environment(job_settings)
    if job_settings.transport == "local":
        command = [sys.executable, "-m", "azuraforge.platform.jobs.worker"]
    else:
        command = [sys.executable, "-c", CELERY_WORKER.replace("concurrency=2", "concurrency=1")]
    processes = WorkerProcesses(command, env, slots=1, log_dir=tmp_path / "logs")
    processes.start(1)
    yield processes
    processes.stop()
    if job_settings.transport == "celery":
        empty_redis(job_settings.broker_url)


@pytest.fixture
def job_api(job_settings: Settings) -> Iterator[tuple[TestClient, Store]]:
    store = Store(job_settings.database_url)
    app = create_app(job_settings, store=store)
    with TestClient(app, headers=admin_headers(store)) as client:
        yield client, store
    if isinstance(app.state.transport, CeleryTransport):
        app.state.transport.close()
    store.close()


def wait_job(
    api: TestClient, path: str, statuses: set[str], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = call(api, "GET", path)
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}, wanted {statuses}: {job}"
        time.sleep(0.05)


@pytest.fixture
def recorded(
    job_api: tuple[TestClient, Store], job_settings: Settings, trained
) -> list[ExperimentRecord]:
    """The weather runs ``run-0`` and ``run-1`` and the slow predictor's ``slow-run``,
    completed. Requested before ``workers``: a local worker polling the store would claim a
    run between its creation and the test's own claim."""
    _, store = job_api
    runs = [
        completed_run(store, job_settings, model, f"run-{i}") for i, model in enumerate(trained)
    ]
    slow = get_pipeline("slow-predictor")
    folder = job_settings.home / "slow-run"
    result = slow().run(slow.make_config({}), LocalContext(output_dir=folder))
    assert result.artifact_dir is not None
    slow_run = store.create_experiment("slow-predictor", {"scale": 2.0}, name="slow-run")
    keep_folder(open_blobs(job_settings), folder, slow_run.id)
    lease = store.claim(slow_run.id, "test", 10)
    assert lease is not None
    store.finish(lease, COMPLETED, result={"metrics": {}, "artifact_dir": "artifact"})
    return runs


def test_prediction_jobs_complete_and_cancel(
    job_api: tuple[TestClient, Store],
    job_settings: Settings,
    recorded: list[ExperimentRecord],
    workers: WorkerProcesses,
    beijing_rows,
):
    api, _ = job_api
    registered(api, recorded)
    call(api, "PUT", "/models/weather/aliases/champion", json={"version": 2})
    rows = beijing_rows[:40]
    job = call(api, "POST", "/models/weather@champion/predictions", 202, json={"rows": rows})
    assert (job["status"], job["version"], job["reference"]) == ("queued", 2, "weather@champion")
    done = wait_job(api, f"/models/weather@champion/predictions/{job['id']}", {COMPLETED})
    sync = call(api, "POST", "/models/weather/2/predict", json={"rows": rows})
    assert done["predictions"] == sync["predictions"] and done["rows"] == sync["rows"]
    assert done["download"] == f"/api/v1/runs/{job['id']}/artifacts/predictions.csv"
    assert api.get(done["download"]).status_code == 200
    # From a file of the data folder, with a horizon; a bounded answer says how many in all.
    job_settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (job_settings.data_dir / "hours.csv").open("w") as handle:
        handle.write(",".join(rows[0]) + "\n")
        handle.writelines(",".join(str(v) for v in row.values()) + "\n" for row in rows)
    by_file = call(
        api,
        "POST",
        "/models/weather/1/predictions",
        202,
        json={"inputs": "hours.csv", "horizon": 1},
    )
    shown = wait_job(api, f"/models/weather/predictions/{by_file['id']}?limit=1", {COMPLETED})
    next_hour = call(api, "POST", "/models/weather/1/predict", json={"rows": rows, "horizon": 1})
    assert shown["predictions"] == next_hour["predictions"] and shown["rows"] == 1
    # Prediction jobs stay out of the experiments listing.
    listed = call(api, "GET", "/runs")["data"]
    assert {row["name"] for row in listed} == {"run-0", "run-1", "slow-run"}

    # A slow job, cancelled while running, ends cancelled within 2 s and frees the worker.
    call(api, "POST", "/models", 201, json={"name": "slow"})
    call(api, "POST", "/models/slow/versions", 201, json={"experiment": "slow-run"})
    sleepy = call(
        api, "POST", "/models/slow/predictions", 202, json={"rows": [{"x": 1, "sleep": 60}]}
    )
    path = f"/models/slow/predictions/{sleepy['id']}"
    wait_job(api, path, {"running"})
    time.sleep(0.3)  # the job is in its predict
    asked = time.monotonic()
    call(api, "POST", f"{path}/cancel", 202)
    ended = wait_job(api, path, {CANCELLED, COMPLETED, "failed"}, timeout=5)
    assert ended["status"] == CANCELLED and time.monotonic() - asked < 2.0
    quick = call(
        api, "POST", "/models/slow/predictions", 202, json={"rows": [{"x": 1.5, "sleep": 0}]}
    )
    started = time.monotonic()
    done = wait_job(api, f"/models/slow/predictions/{quick['id']}", {COMPLETED}, timeout=10)
    assert done["predictions"] == {"y": [3.0]} and time.monotonic() - started < 5
    other = call(api, "GET", f"/models/weather/predictions/{quick['id']}", 404)
    assert f"model 'weather' has no prediction job {quick['id']}" in other["error"]["message"]

"""Fixtures of the study tests: a pipeline with a known objective, and a study service."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.storages._rdb import models as optuna_models
from sqlalchemy import delete

from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.services.studies import StudyService
from azuraforge.platform.store import Store
from azuraforge.platform.store.models import TuningStudy
from tests.helpers import write_pipeline_plugin

QUADRATIC = """
import os
import random
import time

from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.learn import TrainingSummary
from pydantic import Field


class QuadraticConfig(PipelineConfig):
    x: float = Field(0.5, ge=-10, le=10, description="The searched value.")
    shape: str = Field("bowl", description="A categorical setting (it changes nothing).")
    steps: int = Field(3, ge=1, description="Steps to run.")
    sleep: float = Field(0.0, ge=0, description="Seconds per step.")
    jitter: bool = Field(False, description="Add noise below 0.001 to each value.")
    fail: bool = Field(False, description="Raise at the first step.")
    crash_at: float | None = Field(None, description="Kill its own process when x is this.")
    log_pid: bool = Field(False, description="Log its process id as metric pid, at step 0.")


class Quadratic(Pipeline[QuadraticConfig]):
    name = "quadratic"
    description = "val_loss = (x - 0.3)^2 + 0.1 / step: the best x is 0.3."
    Config = QuadraticConfig

    def run(self, config, ctx):
        if config.log_pid:
            ctx.log_metrics({"pid": os.getpid()}, step=0)
        if config.x == config.crash_at:
            os._exit(7)
        done = 0
        for step in range(1, config.steps + 1):
            if ctx.should_stop():
                break
            if config.fail:
                raise RuntimeError("asked to fail")
            time.sleep(config.sleep)
            noise = random.random() * 1e-3 if config.jitter else 0.0
            value = (config.x - 0.3) ** 2 + 0.1 / step + noise
            ctx.log_metrics({"loss": value, "val_loss": value}, step=step)
            ctx.progress(step, config.steps)
            done = step
        status = "completed" if done == config.steps else "cancelled"
        return RunResult(metrics={}, training=TrainingSummary(status, done, config.steps))
"""


def objective(x: float, steps: int) -> float:
    """The best val_loss of a quadratic run: its last step's."""
    return (x - 0.3) ** 2 + 0.1 / steps


@pytest.fixture(scope="session")
def quadratic_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding distribution ``quadratic_plugin`` (pipeline ``quadratic``)."""
    root = tmp_path_factory.mktemp("quadratic-dist")
    return write_pipeline_plugin(
        root, "quadratic_plugin", QUADRATIC, {"quadratic": "quadratic_plugin:Quadratic"}
    )


@pytest.fixture
def quadratic(quadratic_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The quadratic pipeline, importable here and in worker processes (PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(quadratic_path))
    paths = filter(None, [str(quadratic_path), os.environ.get("PYTHONPATH")])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return quadratic_path


@pytest.fixture
def no_studies(store: Store) -> Iterator[Store]:
    """The test's store without studies. The session's PostgreSQL database is shared (its
    emptying truncates the runs only): studies are deleted first, and Optuna's tables dropped
    at the end, so the schema the other tests compare with the models is the store's alone."""
    with store.engine.begin() as connection:
        connection.execute(delete(TuningStudy))
    yield store
    if store.dialect == "postgresql":
        with store.engine.begin() as connection:
            connection.execute(delete(TuningStudy))
        optuna_models.BaseModel.metadata.drop_all(store.engine)


@pytest.fixture
def studies(no_studies: Store, quadratic: Path) -> Iterator[StudyService]:
    """A study service on the test's store; local workers (the store is the queue)."""
    service = StudyService(no_studies, LocalTransport())
    yield service
    service.close()

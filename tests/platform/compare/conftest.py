"""Runs made directly through the store (lease API) with any status and metrics, a study and
a second project to compare them in, and an API over the test's store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update

from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.models import Experiment, Project, TuningStudy
from azuraforge.platform.store.states import LOST, QUEUED, RUNNING, TRIAL
from tests.platform.fixtures import admin_headers

Curves = Mapping[str, Sequence[float]]
"""Each metric's values at steps 1, 2, 3..."""


@dataclass
class Runs:
    """Makes runs in a store as a worker would leave them: claimed under a lease, metrics
    logged through ``log_metrics``, ended with ``finish`` (or reaped as ``lost``)."""

    store: Store

    def make(
        self,
        config: Mapping[str, Any],
        status: str = "completed",
        curves: Curves | None = None,
        *,
        batch_id: str | None = None,
        project: str = "default",
    ) -> int:
        record = self.store.create_experiment(
            "sleeper", config, batch_id=batch_id, project=project
        )
        if status == QUEUED:
            return record.id
        lease = self.store.claim(record.id, "test-worker", ttl=60)
        assert lease is not None
        points = [
            (key, step, value, time.time())
            for key, values in (curves or {}).items()
            for step, value in enumerate(values, start=1)
        ]
        self.store.log_metrics(lease, points)
        if status == LOST:
            self.store.reap_expired(now=time.time() + 120)
        elif status != RUNNING:
            self.store.finish(lease, status, error="boom" if status == "failed" else None)
        return record.id

    def study(self, project: str = "default") -> int:
        """A study row (its trials are runs made with :meth:`make`, then :meth:`trial`)."""
        now, name = time.time(), f"study-{uuid.uuid4().hex[:8]}"
        with self.store.engine.begin() as connection:
            project_id = connection.scalar(select(Project.id).where(Project.name == project))
            return int(
                connection.execute(
                    insert(TuningStudy)
                    .values(
                        project_id=project_id, name=name, optuna_name=name,
                        pipeline="sleeper", base_config={}, space={}, objective="val_loss",
                        direction="minimize", sampler="tpe", pruner="median", n_trials=8,
                        parallelism=2, trials_created=0, status="running", created_at=now,
                    )
                    .returning(TuningStudy.id)
                ).scalar_one()
            )  # fmt: skip

    def trial(self, experiment_id: int, study_id: int, number: int) -> None:
        """Make run ``experiment_id`` trial ``number`` of study ``study_id``."""
        with self.store.engine.begin() as connection:
            connection.execute(
                update(Experiment)
                .where(Experiment.id == experiment_id)
                .values(kind=TRIAL, study_id=study_id, trial_number=number)
            )

    def project(self, name: str) -> None:
        """Add project ``name`` (once)."""
        with self.store.engine.begin() as connection:
            if connection.scalar(select(Project.id).where(Project.name == name)) is None:
                # explicit id: the default project's row (id 1) did not move PostgreSQL's
                # sequence
                top = connection.scalar(select(func.max(Project.id))) or 0
                connection.execute(
                    insert(Project).values(id=top + 1, name=name, created_at=time.time())
                )


@pytest.fixture
def runs(store: Store) -> Runs:
    return Runs(store)


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, store=store), headers=admin_headers(store)
    ) as test_client:
        yield test_client

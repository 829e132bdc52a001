"""Many finished runs in a store at once, for load tests and benchmarks of listings.

Rows go straight into the store's own tables in bulk (about 100,000 runs a minute on
SQLite), with what ``list_experiments`` filters and sorts by: name, pipeline, status, times,
flattened params, one point and one summary per metric.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select

from azuraforge.platform.store import DEFAULT_PROJECT, Store
from azuraforge.platform.store.experiments import flatten
from azuraforge.platform.store.models import (
    Experiment,
    MetricPoint,
    MetricSummary,
    Param,
    Project,
)
from azuraforge.platform.store.states import RUN

CHUNK = 5_000


@dataclass(frozen=True)
class FinishedRun:
    """A run to insert: its last metric values were logged at ``step``."""

    name: str
    config: Mapping[str, Any]
    metrics: Mapping[str, float]
    pipeline: str = "forecaster"
    status: str = "completed"
    step: int = 0
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_runs(store: Store, runs: Sequence[FinishedRun]) -> None:
    """Insert ``runs`` into ``store`` (at the head schema) in one transaction, created one
    second apart ending now, in order; on PostgreSQL the tables are analysed afterwards, as
    autovacuum would within a minute."""
    now = time.time() - len(runs)
    with store.engine.begin() as connection:
        project_id = connection.scalar(select(Project.id).where(Project.name == DEFAULT_PROJECT))
        ids = _insert_experiments(connection, project_id, runs, now)
        for part in chunks(runs):
            _insert_params(connection, part, ids)
            _insert_metrics(connection, project_id, part, ids, now)
    if store.dialect == "postgresql":
        # Autocommit: statistics written inside a transaction that is rolled back are lost.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")


def _insert_experiments(
    connection: Connection, project_id: int | None, runs: Sequence[FinishedRun], now: float
) -> dict[str, int]:
    """Insert the runs' rows, created one second apart from ``now``; their ids by name."""
    before = connection.scalar(select(func.max(Experiment.id))) or 0
    for part in chunks(list(enumerate(runs))):
        connection.execute(
            insert(Experiment),
            [_experiment_row(project_id, run, now + i) for i, run in part],
        )
    inserted = select(Experiment.name, Experiment.id).where(Experiment.id > before)
    return {name: i for name, i in connection.execute(inserted)}  # not older runs' names


def _insert_params(
    connection: Connection, runs: Sequence[FinishedRun], ids: Mapping[str, int]
) -> None:
    """Insert the runs' flattened params."""
    connection.execute(
        insert(Param),
        [{"experiment_id": ids[r.name], "key": k, "value": v}
         for r in runs for k, v in flatten(dict(r.config)).items()],
    )  # fmt: skip


def _insert_metrics(
    connection: Connection, project_id: int | None, runs: Sequence[FinishedRun],
    ids: Mapping[str, int], now: float,
) -> None:  # fmt: skip
    """Insert one point and one summary per metric of each run."""
    points = [(ids[r.name], r.step, k, v) for r in runs for k, v in r.metrics.items()]
    kinds = {ids[r.name]: r.extra.get("kind", RUN) for r in runs}
    if not points:
        return
    connection.execute(
        insert(MetricPoint),
        [{"experiment_id": i, "key": k, "step": s, "value": v, "time": now}
         for i, s, k, v in points],
    )  # fmt: skip
    connection.execute(
        insert(MetricSummary),
        [{"project_id": project_id, "experiment_id": i, "kind": kinds[i], "key": k,
          "last": v, "min": v, "max": v, "step": s, "count": 1} for i, s, k, v in points],
    )  # fmt: skip


def _experiment_row(project_id: int | None, run: FinishedRun, created: float) -> dict[str, Any]:
    return {
        "project_id": project_id, "name": run.name, "pipeline": run.pipeline,
        "config": dict(run.config), "status": run.status, "progress": 1.0,
        "progress_message": "", "created_at": created, "started_at": created,
        "finished_at": created + 0.5, "worker": "seeded", "lease_epoch": 1,
        "heartbeat_at": created, "requeue_lost": False, "attempts": 1, "error": run.error,
        **run.extra,
    }  # fmt: skip

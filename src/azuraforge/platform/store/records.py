"""What the store hands back: frozen snapshots, never live ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExperimentRecord:
    """One experiment (run) as stored when it was read."""

    id: int
    project: str
    name: str
    pipeline: str
    config: dict[str, Any]
    status: str
    progress: float
    progress_message: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    worker: str | None
    lease_owner: str | None
    lease_epoch: int
    lease_expires_at: float | None
    heartbeat_at: float | None
    cancel_requested_at: float | None
    error: str | None
    batch_id: str | None
    seed: int | None
    requeue_lost: bool
    attempts: int
    result: dict[str, Any] | None
    output_dir: str | None
    kind: str = "run"
    """``run``, ``trial`` (of study ``study_id``, Optuna's ``trial_number``) or ``prediction``."""
    study_id: int | None = None
    trial_number: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    """The last value of each metric (from the summary table)."""


@dataclass(frozen=True)
class Lease:
    """A worker's claim on a running experiment; ``epoch`` is the fencing token."""

    experiment_id: int
    owner: str
    epoch: int


@dataclass(frozen=True)
class MetricSummaryRecord:
    """The last, lowest and highest value of a metric, the step of the last and the count."""

    key: str
    last: float
    min: float
    max: float
    step: int
    count: int


@dataclass(frozen=True)
class EventRecord:
    """A stored event of kind ``status``, ``progress``, ``metrics``, ``log`` or ``artifact``."""

    id: int
    project_id: int
    experiment_id: int | None
    kind: str
    payload: dict[str, Any]
    created_at: float
    tx: int = 0
    """The writing transaction's id on PostgreSQL (0 on SQLite): with ``id``, the event's
    :attr:`position` in commit order across runs."""

    @property
    def position(self) -> tuple[int, int]:
        """``(tx, id)``: where a stream over every run resumes after this event."""
        return (self.tx, self.id)


@dataclass(frozen=True)
class ArtifactRecord:
    """A file or folder a run produced, by its path inside the run's folder."""

    path: str
    size: int
    is_dir: bool
    created_at: float


@dataclass(frozen=True)
class Page:
    """One page of a listing: the items, how many match in all, and the page's place."""

    items: list[ExperimentRecord]
    total: int
    offset: int
    limit: int
    total_exact: bool = True
    """False when more runs match than were counted (``total`` is then a lower bound)."""

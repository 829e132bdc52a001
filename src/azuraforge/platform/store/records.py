"""What the store hands back: frozen snapshots, never live ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azuraforge.platform.store.states import FINISHED_STATES

OPTUNA_FINISHED = frozenset({"complete", "pruned", "fail"})
"""Optuna's states of a trial that ended, in lower case."""


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
    kind: str = "run"
    """``run``, ``trial`` (of study ``study_id``, Optuna's ``trial_number``) or ``prediction``."""
    study_id: int | None = None
    trial_number: int | None = None
    not_before: float | None = None
    """Not claimed before this time (the backoff after a crash)."""
    restarts: int = 0
    """How often the kernel restarted the job."""
    restart_history: list[dict[str, Any]] | None = None
    """The newest restarts, oldest first: ``at``, ``reason``, ``detail``, ``worker``."""
    submitter: str | None = None
    """The user who asked for the job; None when not known."""
    context: dict[str, str] | None = None
    """What the job carries from where it was asked (a trace's context); ``{}``: nothing."""
    notes: str | None = None
    """What the run's people wrote about it; None until written."""
    metrics: dict[str, float] = field(default_factory=dict)
    """The last value of each metric (from the summary table)."""
    scores: dict[str, float] = field(default_factory=dict)
    """The numbers of its result by dotted path (``metrics.MAE.model``), by name; read by
    a run's reads, listings and comparisons (``store/scores.py``), not a worker's claim."""
    tags: dict[str, str] = field(default_factory=dict)
    """The run's tags, keys in order."""
    mlflow_experiment: str | None = None
    """The name of its MLflow experiment, for a run made through MLflow's API; else None."""

    @property
    def group(self) -> str:
        """What the run list groups it by: its MLflow experiment's name, else its pipeline."""
        return self.mlflow_experiment or self.pipeline


@dataclass(frozen=True)
class Lease:
    """A worker's claim on a running experiment; ``epoch`` is the fencing token."""

    experiment_id: int
    owner: str
    epoch: int


@dataclass(frozen=True)
class RunCredentialRecord:
    """The run a credential writes (an external run, which no worker executes), as stored
    when it was read: its project, who made it, its status, when it is lost without a word
    (``expires_at``: None once it ended), how long a write keeps it alive, and whether it is
    running but silent past that limit when read (``silent``: judged by the database's
    clock)."""

    experiment_id: int
    project: str
    submitter: str | None
    status: str
    expires_at: float | None
    idle_limit: float
    silent: bool = False


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


@dataclass(frozen=True)
class StudyRecord:
    """A hyper-parameter study as stored when it was read: what it searches (``space``, in
    the request's form) over which ``base_config``, for which ``objective``, and how far it
    got. Its trials are runs of kind ``trial``; Optuna keeps its side under ``optuna_name``."""

    id: int
    project: str
    name: str
    optuna_name: str
    pipeline: str
    base_config: dict[str, Any]
    space: dict[str, Any]
    objective: str
    direction: str
    sampler: str
    pruner: str
    n_trials: int
    parallelism: int
    seed: int | None
    trials_created: int
    status: str
    error: str | None
    cancel_requested_at: float | None
    created_at: float
    finished_at: float | None
    submitter: str | None = None
    """The user who asked for the study (its trials carry it)."""


@dataclass(frozen=True)
class TrialRunRecord:
    """What a study needs of one of its trial runs: the run, its Optuna trial number, how it
    stands, its result (``objective``: the best value of the study's objective) and error."""

    id: int
    number: int
    status: str
    result: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class OpenTrials:
    """What a study's advance reads: how many trials Optuna created, those it has not
    finished (``(trial_id, number, state)`` by number, the state as Optuna names it), and
    their runs by trial number."""

    created: int
    trials: list[tuple[int, int, str]]
    runs: dict[int, TrialRunRecord]


@dataclass(frozen=True)
class TrialRow:
    """One trial of a study as its pages list it: Optuna's trial (its id, number, state in
    lower case and objective value) and the run that trains it, if any."""

    trial_id: int
    number: int
    state: str
    """Optuna's: ``running``, ``complete``, ``pruned``, ``fail`` or ``waiting``."""
    value: float | None
    run_id: int | None
    run_status: str | None
    started_at: float | None
    finished_at: float | None

    @property
    def status(self) -> str:
        """The run's status (queued, running, completed, pruned, failed...), or Optuna's
        state for a trial without a run."""
        return self.run_status or self.state

    @property
    def ended(self) -> bool:
        """Whether the trial ended: its run ended (any way), or, for a trial without a run,
        Optuna finished it (complete, pruned, fail). The one definition of a study's
        ``trials_finished`` (its listing, its summary, its page's progress): a trial whose
        run was deleted, or that failed before its run was queued (a study cancelled then),
        took its place in the budget all the same. Optuna finishes a trial that has a run
        only once the run ended, so Optuna's state counts whenever it says finished."""
        if self.run_status is not None:
            return self.run_status in FINISHED_STATES
        return self.state in OPTUNA_FINISHED


@dataclass(frozen=True)
class ModelRecord:
    """A registered model: its latest version number (``None`` before the first) and where
    each of its aliases points (alias → version number)."""

    id: int
    project: str
    name: str
    description: str
    tags: dict[str, Any]
    created_at: float
    updated_at: float
    latest_version: int | None
    aliases: dict[str, int]


@dataclass(frozen=True)
class ModelVersionRecord:
    """One immutable version of a registered model: its copy of a run's artifact (a folder
    relative to ``$AZURAFORGE_HOME/models``, with the SHA-256 of its files), and the run's
    pipeline, metrics, config and data fingerprint."""

    id: int
    model_id: int
    model: str
    version: int
    pipeline: str
    source_experiment_id: int | None
    source_experiment_name: str
    artifact_path: str
    artifact_digest: str
    metrics: dict[str, Any]
    config: dict[str, Any]
    data_fingerprint: str
    description: str
    created_by: str
    created_at: float
    aliases: list[str] = field(default_factory=list)
    """The aliases pointing to this version when it was read."""


@dataclass(frozen=True)
class AliasMoveRecord:
    """One move of an alias: from which version to which (``None``: the alias did not exist,
    or was removed), who moved it, when and why, and whether it was a rollback."""

    id: int
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str
    reason: str
    rollback: bool
    created_at: float

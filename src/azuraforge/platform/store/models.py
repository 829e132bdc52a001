"""The store's tables (SQLAlchemy 2 declarative models).

Times are seconds since the epoch (UTC) as floats: cheap to compare in SQL on every backend,
and the lease protocol compares them on each heartbeat. Migrations never import this
module; they copy the shapes they need (``migrations/versions``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Base of every table of the store."""


class Project(Base):
    """A namespace every other row belongs to; ``default`` always exists."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class User(Base):
    """Someone who may sign in: a name, a password's argon2 hash, whether they administer
    the server; ``disabled_at`` once disabled (their tokens are refused from then on)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[float] = mapped_column(Float)
    disabled_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    sessions_after: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Sessions signed before this are refused (set by signing out)."""


class ProjectMember(Base):
    """A user's role in a project: ``viewer``, ``editor`` or ``admin``."""

    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[float] = mapped_column(Float)


class ApiToken(Base):
    """A credential for the CLI and scripts, or a one-time login link: a user's, scoped to a
    project and a role. Only its ``prefix`` (to find it) and the SHA-256 of its secret are
    kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    kind: Mapped[str] = mapped_column(String(10), server_default="api")
    """``api`` (sent as a bearer token) or ``link`` (a one-time login link)."""


class AuditEntry(Base):
    """A write someone made: who (a user, or how they acted: ``cli``), when, in which
    project, what (``token.create``, ``login.failed``...), on what, from where."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_project_at", "project", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(100))
    project: Mapped[str | None] = mapped_column(String(100), nullable=True)
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(100))


class LoginFailure(Base):
    """Failed sign-ins of one name from one address: how many in a row, the last one's time,
    and until when that name is refused from that address."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_last_at", "last_at"),)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    address: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[float] = mapped_column(Float)
    held_until: Mapped[float] = mapped_column(Float)


class ServerIdentity(Base):
    """The server's own id: one row (``slot`` 1), made at its first start, and the name its
    sessions are for (their cookie's and their audience), set once at the first session."""

    __tablename__ = "server_identity"
    __table_args__ = (CheckConstraint("slot = 1", name="ck_server_identity_one_row"),)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    server_id: Mapped[str] = mapped_column(String(32))
    session_name: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ServerKey(Base):
    """One of the server's secret keys: the newest ``generation`` of a ``purpose`` (session,
    webhook) signs, the older ones kept still verify until they are dropped."""

    __tablename__ = "server_keys"
    purpose: Mapped[str] = mapped_column(String(20), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(200))
    made_at: Mapped[float] = mapped_column(Float)


class Experiment(Base):
    """One run of a pipeline with one config, and the lease of the worker running it."""

    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_experiments_project_name"),
        Index("ix_experiments_project_status_id", "project_id", "status", "id"),
        Index("ix_experiments_project_pipeline_id", "project_id", "pipeline", "id"),
        Index("ix_experiments_project_batch", "project_id", "batch_id"),
        Index("ix_experiments_status_lease", "status", "lease_expires_at"),
        # Listing newest first or by a time walks these (sorting every run took 45 ms at
        # 100,000 on SQLite).
        Index("ix_experiments_project_id", "project_id", "id", "kind"),  # counts: kind too
        Index("ix_experiments_project_created", "project_id", "created_at", "id"),
        Index("ix_experiments_project_started", "project_id", "started_at", "id"),
        Index("ix_experiments_project_finished", "project_id", "finished_at", "id"),
        Index("ix_experiments_study_trial", "study_id", "trial_number"),
        # Ids are never reused after a delete (SQLite would reuse the highest): an id names
        # one run's folder and links for good.
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    pipeline: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_message: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    heartbeat_at: Mapped[float | None] = mapped_column(Float)
    cancel_requested_at: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[str | None] = mapped_column(String(40))
    seed: Mapped[int | None] = mapped_column(Integer)
    requeue_lost: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(20), default="run", server_default="run")
    """``run`` (a pipeline's training run), ``trial`` (a run of a study) or ``prediction``
    (an asynchronous prediction job): every kind of job goes through the same leases."""
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("tuning_studies.id", ondelete="CASCADE")
    )
    trial_number: Mapped[int | None] = mapped_column(Integer)
    """The Optuna trial number of a trial run."""
    not_before: Mapped[float | None] = mapped_column(Float)
    """A queued job is not claimed before this time (the backoff after its process crashed)."""
    restarts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How often the kernel restarted the job (memory limit, schedule, crash, lost worker)."""
    restart_history: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """The newest restarts (when, why, on which worker), oldest first, at most
    ``RESTART_HISTORY`` of them."""
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """What a long job saved to resume from (``StoreContext.save_checkpoint``), written in
    the transaction of the metrics logged before it."""
    submitter: Mapped[str | None] = mapped_column(String(100))
    """The user who asked for the job (a study's trials and a stream's retrains: who asked
    for the study or the stream); None when nobody known asked (``azuraforge run``)."""
    context: Mapped[dict[str, str] | None] = mapped_column(JSON, server_default="{}")
    """What the job carries from where it was asked to where it runs (a trace's context);
    empty by default."""
    notes: Mapped[str | None] = mapped_column(Text)
    """What the run's people wrote about it (any run's, whatever its status), at most
    ``MAX_NOTES`` characters (``store/experiments.py``); None until written."""


class RunCredential(Base):
    """What writes a run that no worker executes (an external run: a user's own code, an
    MLflow client, ``azuraforge run``'s recording): the holder of the credential whose secret's
    SHA-256 is ``secret_hash`` (None: the project's API tokens alone), each write keeping the
    run alive ``idle_limit`` seconds more (its row's ``lease_expires_at``: the reaper ends it
    ``lost`` past that without a word)."""

    __tablename__ = "run_credentials"
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    idle_limit: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)


class RunBatch(Base):
    """A batch an external run's writer sent with its id (``batch_id``), written once: the
    primary key makes a batch sent again write nothing (rows kept while the run runs)."""

    __tablename__ = "run_batches"
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    written_at: Mapped[float] = mapped_column(Float)


class Param(Base):
    """One setting of an experiment's config, flattened (``a.b``) for filtering."""

    __tablename__ = "params"
    __table_args__ = (Index("ix_params_key_value", "key", "value"),)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))


class MetricPoint(Base):
    """One logged value of one metric at one step."""

    __tablename__ = "metric_points"
    __table_args__ = (
        Index("ix_metric_points_experiment_key_step", "experiment_id", "key", "step"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    value: Mapped[float] = mapped_column(Float)
    time: Mapped[float] = mapped_column(Float)


class StreamOutcome(Base):
    """One scored prediction of a stream: the event it was made at (its index) and that
    event's time, the model, its probability that the price goes up, whether it did, and the
    prediction's log-loss."""

    __tablename__ = "stream_outcomes"
    __table_args__ = (Index("ix_stream_outcomes_experiment_event", "experiment_id", "event"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    event: Mapped[int] = mapped_column(Integer)
    time: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(100))
    probability: Mapped[float] = mapped_column(Float)
    up: Mapped[bool] = mapped_column(Boolean)
    loss: Mapped[float] = mapped_column(Float)
    gain: Mapped[float | None] = mapped_column(Float, nullable=True)
    """The price's relative change over the horizon (rows of streams older than it: none)."""


class StreamChange(Base):
    """One step of a stream's loop, its lineage: a drift, a candidate opened, promoted,
    ended or rolled back (``kind``), at an event (its index and time), about a model and the
    champion it was compared with (``other``), with the test's ``evidence``, by ``actor``
    for ``reason`` (and the trigger that asked for it, if one did)."""

    __tablename__ = "stream_changes"
    __table_args__ = (Index("ix_stream_changes_experiment_event", "experiment_id", "event"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    event: Mapped[int] = mapped_column(Integer)
    time: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(100))
    other: Mapped[str | None] = mapped_column(String(100), nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    trigger_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    snapshots: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """A promotion's two models as they stood, for the registry (then cleared)."""
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The registry version the stream's ``champion`` alias was moved to for it."""
    run: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The run that trained a candidate out of the stream (a ``retrain``'s, a candidate's)."""


class StreamTrigger(Base):
    """A manual trigger of a stream (``retrain``, ``promote``, ``rollback``, ``checkpoint``),
    asked by ``actor`` for ``reason``: ``pending`` until the stream takes it at an event
    boundary, then ``done`` or ``refused`` (``message`` says why), at ``event``."""

    __tablename__ = "stream_triggers"
    __table_args__ = (Index("ix_stream_triggers_experiment_status", "experiment_id", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    learner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))
    event: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[float] = mapped_column(Float)
    answered_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class StreamAlert(Base):
    """An alert of a stream's rule (``rule``: ``accuracy_below``, ``drift``, ``worker_lost``,
    ``restart_loop``, ``lag_above``): ``pending`` while its condition holds for less than the
    stream's ``alert_for``, then ``firing``, then ``resolved`` once it no longer holds; its
    last ``value`` while it held against its ``bound`` and a message saying what it saw
    then, and once resolved the value it was resolved at (``resolved_value``)."""

    __tablename__ = "stream_alerts"
    __table_args__ = (Index("ix_stream_alerts_experiment_state", "experiment_id", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    bound: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[float] = mapped_column(Float)
    fired_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_value: Mapped[float | None] = mapped_column(Float, nullable=True)


class AlertDelivery(Base):
    """One post of an alert's change (``firing`` or ``resolved``) to a webhook: tried until
    it is answered 2xx, ``next_at`` the next try (``None``: given up), ``attempts`` so far."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_due", "delivered_at", "next_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("stream_alerts.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(500))
    event: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer)
    next_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500))


class MetricSummary(Base):
    """The last, lowest and highest value of one metric of one run: what lists sort by."""

    __tablename__ = "metric_summaries"
    __table_args__ = (
        Index(
            "ix_metric_summaries_project_key_last",
            *("project_id", "key", "last", "experiment_id", "kind"),
        ),
    )
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(Integer)
    """The run's project, copied here so a metric filter, sort and count walk one index."""
    kind: Mapped[str] = mapped_column(String(20))
    """The run's kind (listings keep some), copied here for the same reason."""
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    last: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    step: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    count: Mapped[int] = mapped_column(Integer)


class RunScore(Base):
    """One number of a finished run's result, by its dotted path (``metrics.MAE.model``):
    what lists show, sort and filter by as a score (``store/scores.py``)."""

    __tablename__ = "run_scores"
    __table_args__ = (
        Index(
            "ix_run_scores_project_name_value",
            *("project_id", "name", "value", "experiment_id", "kind"),
        ),
    )
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    """The run's project, copied here so a score filter, sort and count walk one index."""
    kind: Mapped[str] = mapped_column(String(20))
    """The run's kind (listings keep some), copied here for the same reason."""
    value: Mapped[float] = mapped_column(Float)


class Event(Base):
    """A status change, progress report, metric batch or log line, in the order written."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_experiment_id", "experiment_id", "id"),
        Index("ix_events_project_id", "project_id", "id"),
        Index("ix_events_tx", "tx", "id"),
        # Listeners resume after the last id they saw: a deleted run's ids are never reused.
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # PostgreSQL: the writing transaction's id. Ids of events from different runs may commit
    # out of order; transaction ids below the oldest running one are final (see
    # MetricStore.list_committed_events). SQLite commits one writer at a time: always 0.
    tx: Mapped[int] = mapped_column(BigInteger, server_default="0")
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)


class Artifact(Base):
    """A file or folder a run produced, by its path inside the run's folder."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("experiment_id", "path", name="uq_artifacts_path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger)
    is_dir: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)


class RegisteredModel(Base):
    """A named model of the registry; its versions and aliases hang off it."""

    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_registered_models_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The highest version number given: numbers are never given twice, even after a delete."""
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ModelVersion(Base):
    """One immutable version of a registered model: a copy of a completed run's artifact."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_versions_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    pipeline: Mapped[str] = mapped_column(String(100))
    source_experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL")
    )
    source_experiment_name: Mapped[str] = mapped_column(String(200))
    artifact_path: Mapped[str] = mapped_column(String(1000))
    """The version's own copy of the artifact, relative to ``$AZURAFORGE_HOME/models``."""
    artifact_digest: Mapped[str] = mapped_column(String(64))
    """SHA-256 over the copied files: a changed file is detected when the version loads."""
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)


class ModelAlias(Base):
    """Where an alias (``champion``, ``challenger``...) of a model points now."""

    __tablename__ = "model_aliases"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    updated_at: Mapped[float] = mapped_column(Float)


class AliasMove(Base):
    """One move of an alias: who, when, from which version to which, and why."""

    __tablename__ = "alias_moves"
    __table_args__ = (Index("ix_alias_moves_model_alias_id", "model_id", "alias", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(100))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    """``None`` when the alias was removed."""
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    rollback: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)


class TuningStudy(Base):
    """A hyper-parameter study: what it searches and how; its trials are runs (``kind``
    ``trial``) and Optuna keeps its own record in its tables of the same database."""

    __tablename__ = "tuning_studies"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_tuning_studies_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    optuna_name: Mapped[str] = mapped_column(String(200), unique=True)
    pipeline: Mapped[str] = mapped_column(String(100))
    base_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    objective: Mapped[str] = mapped_column(String(200))
    direction: Mapped[str] = mapped_column(String(10))
    sampler: Mapped[str] = mapped_column(String(20))
    pruner: Mapped[str] = mapped_column(String(20))
    n_trials: Mapped[int] = mapped_column(Integer)
    parallelism: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer)
    trials_created: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested_at: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    submitter: Mapped[str | None] = mapped_column(String(100))
    """The user who asked for the study: its trials' submitter."""


class Duty(Base):
    """A duty that must run on one process of the store at a time (the reaper, the streams'
    keeper), and its lease: the process holding it (``holder``) until ``expires_at`` (by the
    database's clock), and the ``epoch``, raised at each new holder."""

    __tablename__ = "duties"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)
    renewed_at: Mapped[float] = mapped_column(Float)


class RunTag(Base):
    """One tag of a run: a key and its value (MLflow's run tags; the run list filters on
    them)."""

    __tablename__ = "run_tags"
    __table_args__ = (Index("ix_run_tags_key", "key"),)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MlflowExperiment(Base):
    """An MLflow experiment: a named grouping of one project's runs made through MLflow's
    API, with its lifecycle (``active`` or ``deleted``). The project's default one
    (``is_default``: MLflow's experiment ``"0"``) is made when first asked for."""

    __tablename__ = "mlflow_experiments"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_mlflow_experiments_project_name"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    is_default: Mapped[bool] = mapped_column(Boolean)
    lifecycle: Mapped[str] = mapped_column(String(20))
    artifact_location: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class MlflowRun(Base):
    """The MLflow experiment a run made through MLflow's API belongs to."""

    __tablename__ = "mlflow_runs"
    __table_args__ = (Index("ix_mlflow_runs_experiment", "mlflow_experiment_id"),)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    mlflow_experiment_id: Mapped[int] = mapped_column(
        ForeignKey("mlflow_experiments.id", ondelete="CASCADE")
    )
    lifecycle: Mapped[str] = mapped_column(String(20), server_default="active")
    """MLflow's lifecycle: ``active``, or ``deleted`` (hidden from MLflow's searches, kept)."""
    deleted_at: Mapped[float | None] = mapped_column(Float)
    user_id: Mapped[str | None] = mapped_column(String(250))
    """The ``user_id`` MLflow's client sent when it made the run."""


class MetricNan(Base):
    """A NaN value an MLflow client logged for a metric at a step: kept beside the points,
    which a curve draws (only finite values are), and given back by MLflow's metric
    history."""

    __tablename__ = "metric_nans"
    __table_args__ = (Index("ix_metric_nans_experiment_key", "experiment_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    time: Mapped[float] = mapped_column(Float)


class ChatConversation(Base):
    """A user's conversation with the assistant in a project."""

    __tablename__ = "chat_conversations"
    __table_args__ = (
        Index("ix_chat_conversations_project_user", "project_id", "user_name", "updated_at"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ChatTurn(Base):
    """One message of a conversation and the assistant's answer: who answered (intent,
    expert, adapter, backend, why), how fast, and the user's verdict on it."""

    __tablename__ = "chat_turns"
    __table_args__ = (
        Index("ix_chat_turns_conversation", "conversation_id", "id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("chat_conversations.id", ondelete="CASCADE")
    )
    message: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(100))
    expert: Mapped[str] = mapped_column(String(100))
    adapter: Mapped[str | None] = mapped_column(String(200), nullable=True)
    backend: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    first_token_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_in: Mapped[int] = mapped_column(Integer)
    tokens_out: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True)
    correction: Mapped[str | None] = mapped_column(Text, nullable=True)
    cached: Mapped[bool] = mapped_column(Boolean)
    """Whether the answer came from the response cache."""
    recalled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many of the user's memories the message was given."""
    check_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    """What the guardian found running the answer's code (none: not checked)."""
    check_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class AssistExample(Base):
    """A failure of the assistant made a training example: the prompt, the wrong answer and
    why it was wrong (a user's verdict, a correction, the guardian's check), the right output
    once someone gave it, and its review (``candidate``, ``approved``, ``rejected``). One row
    per expert and prompt of a project: the same failure again is counted (``seen``), not
    kept twice."""

    __tablename__ = "assist_examples"
    __table_args__ = (
        UniqueConstraint("project_id", "expert", "prompt_key", name="uq_assist_examples_prompt"),
        Index("ix_assist_examples_project_status", "project_id", "status", "id"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    expert: Mapped[str] = mapped_column(String(100))
    intent: Mapped[str] = mapped_column(String(100))
    prompt: Mapped[str] = mapped_column(Text)
    prompt_key: Mapped[str] = mapped_column(String(64))
    """The SHA-256 of the prompt with its whitespace collapsed: how duplicates are found."""
    wrong_output: Mapped[str] = mapped_column(Text)
    why: Mapped[str] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The right output: a user's correction, or a reviewer's."""
    tests: Mapped[str | None] = mapped_column(Text, nullable=True)
    """Python assert lines a reviewer gave: the example's check."""
    status: Mapped[str] = mapped_column(String(20))
    turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_turns.id", ondelete="SET NULL"), nullable=True
    )
    """The turn it came from (the latest, when it was seen again)."""
    seen: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reviewed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    fine_tune: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The fine-tune run that last used it."""
    role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    """What that run did with it: ``trained`` or ``held out`` (its evaluation)."""
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class BackendPerformance(Base):
    """What the backend selector knows of a candidate (a backend, or one with an adapter
    version) on a task type in a project (the seed's ``model_performance_metrics``)."""

    __tablename__ = "backend_performance"
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    task: Mapped[str] = mapped_column(String(100), primary_key=True)
    candidate: Mapped[str] = mapped_column(String(300), primary_key=True)
    successes: Mapped[float] = mapped_column(Float)
    failures: Mapped[float] = mapped_column(Float)
    answers: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    first_token_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[float] = mapped_column(Float)


class ChatCacheEntry(Base):
    """A deterministic answer kept for the same request (:func:`~azuraforge.assist.cache.
    cache_key`) in a project, until ``expires_at``."""

    __tablename__ = "chat_cache"
    __table_args__ = (Index("ix_chat_cache_project_created", "project_id", "created_at"),)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[str] = mapped_column(Text)
    tokens_out: Mapped[int] = mapped_column(Integer)
    generated_ms: Mapped[float] = mapped_column(Float)
    hits: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class ChatCacheStats(Base):
    """A project's response cache: answers served from it, answers kept, the time saved."""

    __tablename__ = "chat_cache_stats"
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    hits: Mapped[int] = mapped_column(Integer)
    misses: Mapped[int] = mapped_column(Integer)
    saved_ms: Mapped[float] = mapped_column(Float)


class MlflowLoggedModel(Base):
    """An MLflow logged model (MLflow 3's ``/logged-models``): made within a run
    (``experiment_id``), its files among that run's in ``models/<id>/``; its ``status``
    (MLflow's ``LOGGED_MODEL_PENDING``, ``_READY``, ``_UPLOAD_FAILED``) and lifecycle."""

    __tablename__ = "mlflow_logged_models"
    __table_args__ = (
        Index("ix_mlflow_logged_models_project", "project_id", "created_at"),
        Index("ix_mlflow_logged_models_run", "experiment_id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    mlflow_experiment_id: Mapped[int] = mapped_column(
        ForeignKey("mlflow_experiments.id", ondelete="CASCADE")
    )
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    model_type: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(30))
    status_message: Mapped[str | None] = mapped_column(Text)
    lifecycle: Mapped[str] = mapped_column(String(20))
    creator: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class MlflowLoggedModelValue(Base):
    """A param (``kind`` ``param``) or a tag (``tag``) of an MLflow logged model."""

    __tablename__ = "mlflow_logged_model_values"
    model_id: Mapped[str] = mapped_column(
        ForeignKey("mlflow_logged_models.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MlflowLoggedModelMetric(Base):
    """A metric value a run logged for an MLflow logged model (``value`` NULL: NaN;
    ``timestamp`` in milliseconds, as MLflow's)."""

    __tablename__ = "mlflow_logged_model_metrics"
    __table_args__ = (
        Index("ix_mlflow_logged_model_metrics_model", "model_id", "key"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(
        ForeignKey("mlflow_logged_models.id", ondelete="CASCADE")
    )
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float | None] = mapped_column(Float)
    timestamp: Mapped[int] = mapped_column(BigId)
    step: Mapped[int] = mapped_column(BigId)
    dataset_name: Mapped[str | None] = mapped_column(String(500))
    dataset_digest: Mapped[str | None] = mapped_column(String(36))


class MlflowDataset(Base):
    """A dataset an MLflow client logged as a run's input: one MLflow experiment's, by name
    and digest, with MLflow's source, schema and profile as sent."""

    __tablename__ = "mlflow_datasets"
    __table_args__ = (
        UniqueConstraint(
            "mlflow_experiment_id", "name", "digest", name="uq_mlflow_datasets_name_digest"
        ),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mlflow_experiment_id: Mapped[int] = mapped_column(
        ForeignKey("mlflow_experiments.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(36))
    source_type: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(Text)
    schema: Mapped[str | None] = mapped_column(Text)
    profile: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class MlflowRunInput(Base):
    """A dataset a run used, with its input tags (``mlflow.data.context``: ``train``...)."""

    __tablename__ = "mlflow_run_inputs"
    __table_args__ = (Index("ix_mlflow_run_inputs_dataset", "dataset_id"),)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("mlflow_datasets.id", ondelete="CASCADE"), primary_key=True
    )
    tags: Mapped[dict[str, str]] = mapped_column(JSON)


class MlflowRunModel(Base):
    """A logged model a run took as an input (``direction`` ``input``) or made (``output``,
    at ``step``)."""

    __tablename__ = "mlflow_run_models"
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(
        ForeignKey("mlflow_logged_models.id", ondelete="CASCADE"), primary_key=True
    )
    direction: Mapped[str] = mapped_column(String(10), primary_key=True)
    step: Mapped[int] = mapped_column(BigId)


class ProjectSetting(Base):
    """A setting of a project its admins set: a value (JSON text) by name
    (:mod:`~azuraforge.platform.services.project_settings` names them and their defaults)."""

    __tablename__ = "project_settings"
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersionMlflow(Base):
    """What MLflow's registry keeps of a model version beyond ours: the source its files were
    copied from, the logged model it was made from (``m-...``, or empty), its tags, and when
    its description or tags last changed (none: a version made on the dashboard, untouched)."""

    __tablename__ = "model_version_mlflow"
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(1000))
    model_id: Mapped[str] = mapped_column(String(64))
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


class MlflowExperimentTag(Base):
    """A tag of an MLflow experiment (``set_experiment_tag``)."""

    __tablename__ = "mlflow_experiment_tags"
    mlflow_experiment_id: Mapped[int] = mapped_column(
        ForeignKey("mlflow_experiments.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(String(5000))


class StoredDataFile(Base):
    """A project's data file as the blob store keeps it: its name pointing at the SHA-256 of
    its bytes (kept under ``data/<project>/sha256/<digest>/<name>``), with what the CSV reader
    found in them when it was stored (:mod:`~azuraforge.platform.services.data_files`)."""

    __tablename__ = "data_files"
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(500), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    modified: Mapped[float] = mapped_column(Float)
    columns: Mapped[list[str]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(BigInteger)
    delimiter: Mapped[str | None] = mapped_column(String(10), nullable=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)


class ServerSettingsVersion(Base):
    """A version of the server's live settings (``PATCH /api/v1/server/settings``): every
    override in force after the change (JSON by setting name), the settings the change named,
    who made it and when (the database's clock). The newest version is what every API process
    runs (:mod:`~azuraforge.platform.services.server_settings`)."""

    __tablename__ = "server_settings"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed: Mapped[list[str]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[float] = mapped_column(Float)

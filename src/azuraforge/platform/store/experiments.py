"""Experiments: create, read, list, cancel and delete (the list's filters, order and pages are
:mod:`.experiment_query`)."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Row,
    Text,
    bindparam,
    cast,
    delete,
    insert,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.store.base import DEFAULT_PROJECT, StoreBase
from azuraforge.platform.store.experiment_query import (
    COUNT_LIMIT,
    ExperimentQuery,
    matching_page,
    metric_keys,
)
from azuraforge.platform.store.models import (
    Experiment,
    MetricSummary,
    MlflowExperiment,
    MlflowRun,
    Param,
    Project,
    RunCredential,
    RunScore,
    RunTag,
)
from azuraforge.platform.store.records import ExperimentRecord, Page
from azuraforge.platform.store.scores import Ranked
from azuraforge.platform.store.states import (
    CANCELLED,
    FINISHED_STATES,
    QUEUED,
    RUN,
    RUNNING,
)

MAX_RUN_NAME = 200
"""The longest name the store keeps (a submission's is shorter: its batch adds ``-1000``)."""
MAX_NOTES = 10_000
"""The longest notes of a run (characters)."""


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as ``{"a.b": "value"}``, values as JSON text (strings bare).

    >>> flatten({"epochs": 3, "model": {"hidden": 32}, "csv": "a.csv"})
    {'epochs': '3', 'model.hidden': '32', 'csv': 'a.csv'}
    """
    flat: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return flat


def _new_record(config: Mapping[str, Any], context: Mapping[str, str] | None,
                **fields: Any) -> ExperimentRecord:  # fmt: skip
    """A run as :meth:`ExperimentStore.create_experiment` stores it (``fields``: its
    project, name, pipeline, status, batch, kind and study, submitter), before its id."""
    seed = config.get("seed")
    return ExperimentRecord(
        id=0, config=json.loads(json.dumps(dict(config))),  # as a read returns it
        progress=0.0, progress_message="", created_at=time.time(),
        started_at=None, finished_at=None, worker=None, lease_owner=None, lease_epoch=0,
        lease_expires_at=None, heartbeat_at=None, cancel_requested_at=None, error=None,
        seed=seed if isinstance(seed, int) else None, attempts=0, result=None,
        context=dict(context or {}), **fields,
    )  # fmt: skip


def _insert_credential(
    connection: Connection, run_id: int, secret_hash: str | None, idle_limit: float,
    run: ExperimentRecord,
) -> None:  # fmt: skip
    """Store the credential of the external run ``run`` (its id ``run_id``): the hash of the
    secret that writes it (None: the project's API tokens alone) and its idle limit."""
    credential = {"secret_hash": secret_hash, "idle_limit": idle_limit,
                  "created_at": run.created_at}  # fmt: skip
    connection.execute(insert(RunCredential).values(experiment_id=run_id, **credential))


def _insert_run(
    connection: Connection,
    project_id: int,
    values: Mapping[str, Any],
    returned: Mapping[str, Any],
    project: str,
) -> Row[Any]:
    """Insert the run's row; its id and the ``returned`` columns (set by the database).

    Raises
    ------
    ConflictError
        If its name is taken in the project.
    """
    try:  # the transaction ends with the error: no savepoint to roll back to
        return connection.execute(
            insert(Experiment)
            .values(project_id=project_id, **values)
            .returning(Experiment.id, *(getattr(Experiment, key) for key in returned))
        ).one()
    except IntegrityError:
        raise ConflictError(
            f"an experiment named {values['name']!r} already exists in project {project!r}; "
            "choose another name or delete that one"
        ) from None


def _write_params(connection: Connection, experiment_id: int, config: Mapping[str, Any]) -> None:
    """The run's config, flattened, as its params (keys and values cut to their columns)."""
    params = [
        {"experiment_id": experiment_id, "key": k[:200], "value": v[:500]}
        for k, v in flatten(config).items()
    ]
    if params:
        connection.execute(insert(Param), params)


class ExperimentStore(StoreBase):
    """Experiments of the store. Returned records are snapshots; what a finished run wrote
    never changes (its name and notes may: :meth:`edit_experiment`; deletion removes it).
    Every method is safe to call from several threads and processes at once."""

    def create_experiment(
        self,
        pipeline: str,
        config: Mapping[str, Any],
        *,
        name: str | None = None,
        project: str = DEFAULT_PROJECT,
        batch_id: str | None = None,
        requeue_lost: bool = False,
        status: str = QUEUED,
        kind: str = RUN,
        study_id: int | None = None,
        trial_number: int | None = None,
        submitter: str | None = None,
        context: Mapping[str, str] | None = None,
        idle_limit: float | None = None,
        credential_hash: str | None = None,
    ) -> ExperimentRecord:
        """Store a new run of ``pipeline`` with a validated ``config``, queued by default (its
        files are the blob store's ``runs/<id>/``, whoever runs it); a study's trial is
        ``kind="trial"`` with its ``study_id`` and Optuna ``trial_number``;
        ``submitter`` is the user who asked, ``context`` what the job carries to its worker.
        Only :func:`~azuraforge.platform.jobs.queueing.enqueue` calls it (a test checks), so
        every job is queued one way.

        With an ``idle_limit`` (seconds), the run is one that no worker executes (an external
        run): it is stored running, written by the holder of the credential whose secret's
        SHA-256 is ``credential_hash`` (None: the project's API tokens alone) through
        :meth:`~azuraforge.platform.store.external.ExternalRunStore.write_external`, each
        write keeping it alive ``idle_limit`` seconds more.

        Raises
        ------
        ConflictError
            If ``name`` is taken in the project (a deleted run's name is free again).
        InvalidParameterError
            For an ``idle_limit`` that is not a number of seconds above 0.
        """
        name = name or f"{pipeline}-{uuid.uuid4().hex[:8]}"
        started = _started_outside(idle_limit, self.clock) if idle_limit is not None else {}
        new = _new_record(
            project=project, name=name, pipeline=pipeline, config=config,
            status=RUNNING if started else status, batch_id=batch_id,
            requeue_lost=requeue_lost, kind=kind, study_id=study_id, trial_number=trial_number,
            submitter=submitter, context=context,
        )  # fmt: skip
        # None left to the database: a JSON column would store it as the text 'null'.
        values = {c.key: getattr(new, c.key) for c in RECORD_COLUMNS if c.key != "id"}
        values = {key: value for key, value in values.items() if value is not None}
        with self._begin() as connection:
            project_id = self.project_id(connection, project)
            made = _insert_run(connection, project_id, {**values, **started}, started, project)
            _write_params(connection, made.id, config)
            if idle_limit is not None:
                _insert_credential(connection, made.id, credential_hash, idle_limit, new)
            self._event(connection, project_id, made.id, "status", {"status": new.status})
        return replace(new, id=made.id, **{key: made._mapping[key] for key in started})

    def get_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord:
        """The experiment with this id (in ``project``, when given).

        Raises
        ------
        NotFoundError
            ``experiment 42 not found in sqlite:///…``.
        """
        found = self.find_experiment(experiment_id, project=project)
        if found is None:
            raise self.not_found(f"experiment {experiment_id}", project)
        return found

    def find_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord | None:
        """The experiment with this id, or ``None``."""
        query = select_records().where(Experiment.id == experiment_id)
        if project is not None:
            query = query.where(Project.name == project)
        with self._read() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            return records_of(connection, [row], scored=True)[0]

    def list_experiments(self, query: ExperimentQuery | None = None) -> Page:
        """One page of experiments matching ``query`` (light rows: no curves)."""
        query = (query or ExperimentQuery()).checked()
        with self._read() as connection:
            project_id = self.project_id(connection, query.project)
            ids, total = matching_page(connection, project_id, query)
            rows = connection.execute(_ROWS_OF_IDS, {"ids": ids}).all()
            by_id = {row.id: row for row in rows}
            found = [by_id[i] for i in ids if i in by_id]
            items = records_of(connection, found, scored=True)
        return Page(
            items=items,
            total=min(total, COUNT_LIMIT),
            offset=query.offset,
            limit=query.limit,
            total_exact=total <= COUNT_LIMIT,
        )

    def list_score_names(self, project: str = DEFAULT_PROJECT) -> list[str]:
        """The names of the scores the project's runs have (``score:<name>`` sorts by one),
        in order; one index seek per name, however many runs have each."""
        with self._read() as connection:
            project_id = self.project_id(connection, project)
            return Ranked.of("score:", "names").names(connection, project_id, None)

    def list_metric_keys(self, project: str = DEFAULT_PROJECT) -> list[str]:
        """The metrics the project's runs logged, in order (the keys ``metric:<key>`` sorts
        by). One index seek per key, however many runs logged each."""
        with self._read() as connection:
            return metric_keys(connection, self.project_id(connection, project))

    def request_cancel(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord:
        """Cancel a run: a queued run is cancelled at once; a running one is asked to stop
        (its worker sees the request within a poll interval and ends it as ``cancelled``).

        Raises
        ------
        ConflictError
            If the run already finished.
        """
        record = self.get_experiment(experiment_id, project=project)
        if record.status in FINISHED_STATES:
            raise ConflictError(
                f"experiment {experiment_id} already ended as {record.status}; nothing to cancel"
            )
        now = time.time()
        with self._begin() as connection:
            dequeued = connection.execute(
                update(Experiment)
                .where(Experiment.id == experiment_id, Experiment.status == QUEUED)
                .values(status=CANCELLED, finished_at=now, cancel_requested_at=now)
            ).rowcount
            if dequeued:
                payload = {"status": CANCELLED, "reason": "cancelled while queued"}
                self._event(
                    connection,
                    self.project_of(connection, experiment_id),
                    experiment_id,
                    "status",
                    payload,
                )
            else:
                connection.execute(
                    update(Experiment)
                    .where(
                        Experiment.id == experiment_id, Experiment.cancel_requested_at.is_(None)
                    )
                    .values(cancel_requested_at=now)
                )
        return self.get_experiment(experiment_id)

    def delete_experiment(
        self, experiment_id: int, *, project: str | None = None
    ) -> ExperimentRecord:
        """Delete a finished or queued run with its metrics, events and artifact rows (the
        caller removes its files). Its name can be used again.

        Raises
        ------
        ConflictError
            If the run is running: cancel it first.
        """
        record = self.get_experiment(experiment_id, project=project)
        with self._begin() as connection:
            removed = connection.execute(
                delete(Experiment).where(
                    Experiment.id == experiment_id,
                    Experiment.status.in_(FINISHED_STATES | {QUEUED}),
                )
            ).rowcount
        if not removed:
            raise ConflictError(
                f"experiment {experiment_id} is running; cancel it first "
                f"(azuraforge experiments cancel {experiment_id})"
            )
        return record

    def edit_experiment(
        self,
        experiment_id: int,
        *,
        name: str | None = None,
        notes: str | None = None,
        project: str | None = None,
    ) -> ExperimentRecord:
        """Rename run ``experiment_id`` to ``name`` and/or set its ``notes`` (``""`` clears
        them), whatever its status: what its people say of a run, not what it wrote. An
        ``edited`` event with the fields changed tells those who follow the run.

        Raises
        ------
        InvalidParameterError
            For neither field given, a name of no character or over :data:`MAX_RUN_NAME`,
            or notes over :data:`MAX_NOTES` characters; nothing is changed.
        ConflictError
            If another run of the project has ``name``.
        """
        changes = _checked_edit(name, notes)
        record = self.get_experiment(experiment_id, project=project)
        with self._begin() as connection:
            try:  # the transaction ends with the error: no savepoint to roll back to
                edited = connection.execute(
                    update(Experiment)
                    .where(Experiment.id == experiment_id)
                    .values(**changes)
                    .returning(Experiment.project_id)
                ).all()
            except IntegrityError:
                raise ConflictError(
                    f"an experiment named {name!r} already exists in project "
                    f"{record.project!r}; choose another name"
                ) from None
            if not edited:  # deleted meanwhile
                raise self.not_found(f"experiment {experiment_id}", project)
            self._event(connection, edited[0][0], experiment_id, "edited", changes)
        return replace(record, **changes)


def _checked_edit(name: str | None, notes: str | None) -> dict[str, Any]:
    """The columns an edit sets (notes ``""`` as None).

    Raises
    ------
    InvalidParameterError
        As :meth:`ExperimentStore.edit_experiment` says.
    """
    if name is None and notes is None:
        raise InvalidParameterError("an edit of a run gives its new name, its notes, or both")
    if name is not None and not 1 <= len(name) <= MAX_RUN_NAME:
        raise InvalidParameterError(
            f"a run's name has 1 to {MAX_RUN_NAME} characters, got {len(name)}"
        )
    if notes is not None and len(notes) > MAX_NOTES:
        raise InvalidParameterError(
            f"a run's notes have at most {MAX_NOTES:,} characters, got {len(notes):,}"
        )
    changes: dict[str, Any] = {} if name is None else {"name": name}
    return changes if notes is None else {**changes, "notes": notes or None}


def _started_outside(idle_limit: float, now: Any) -> dict[str, Any]:
    """The times of a run no worker executes, as it is stored: running from ``now`` (the
    database's clock), alive for ``idle_limit`` seconds unless written.

    Raises
    ------
    InvalidParameterError
        For an ``idle_limit`` that is not a number of seconds above 0.
    """
    if not (isinstance(idle_limit, int | float) and math.isfinite(idle_limit) and idle_limit > 0):
        raise InvalidParameterError(
            f"idle_limit must be a number of seconds above 0, got {idle_limit!r}"
        )
    return {"started_at": now, "heartbeat_at": now, "lease_expires_at": now + idle_limit}


# The checkpoint is read by the job that resumes from it (Store.load_checkpoint), not listed.
RECORD_COLUMNS = [
    c for c in Experiment.__mapper__.columns if c.key not in ("project_id", "checkpoint")
]
"""The columns of a run's record (the project's name aside)."""
RECORD_KEYS = [c.key for c in RECORD_COLUMNS]


def select_records() -> Any:
    """The SELECT of experiment rows that :func:`records_of` reads: every column of the run
    and its project's name. Add ``where`` and ``order_by``; the other store modules that
    return runs (comparisons, prediction jobs) read them through these two functions."""
    return select(*RECORD_COLUMNS, Project.name.label("project_name")).join(
        Project, Project.id == Experiment.project_id
    )


_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
"""The run ids a statement built once reads (``execute(statement, {"ids": [...]})``)."""
_ROWS_OF_IDS = select_records().where(Experiment.id.in_(_IDS))
"""The rows of runs by id (the store's statement cache keys a statement built once faster
than one built anew with its ids, whose 50 values were coerced one by one)."""


def records_of(
    connection: Connection, rows: Sequence[Row[Any]], *, scored: bool = False
) -> list[ExperimentRecord]:
    """The records of ``rows`` (of :func:`select_records`), in their order, each with the
    last value of its metrics, its tags and MLflow experiment, and (``scored``) its scores,
    all read in one more query on ``connection``."""
    ids = [row.id for row in rows]
    # Read before the records are made: a record copied to add them cost 10 µs a run.
    beside = _Beside.read(connection, ids, scored=scored)
    return [
        _record(row, row.project_name, beside.metrics[row.id], beside.tags[row.id],
                beside.groups.get(row.id), beside.scores.get(row.id, {}))
        for row in rows
    ]  # fmt: skip


def _beside_runs(*, scored: bool) -> Any:
    """The rows :class:`_Beside` reads, of four tables in one statement (a page of 50 took
    1.2 ms in four, 0.4 in one): each row a run's id, what it is (``metric``, ``tag``,
    ``group`` or ``score``), its key, and its value as a number or a text."""
    no_number, no_text = cast(null(), Float), cast(null(), Text)
    parts = [
        select(MetricSummary.experiment_id.label("run"), literal_column("'metric'").label("kind"),
               MetricSummary.key.label("key"), MetricSummary.last.label("number"),
               no_text.label("text")).where(MetricSummary.experiment_id.in_(_IDS)),
        select(RunTag.experiment_id, literal_column("'tag'"), RunTag.key, no_number,
               RunTag.value).where(RunTag.experiment_id.in_(_IDS)),
        select(MlflowRun.experiment_id, literal_column("'group'"), MlflowExperiment.name,
               no_number, no_text)
        .join(MlflowExperiment, MlflowExperiment.id == MlflowRun.mlflow_experiment_id)
        .where(MlflowRun.experiment_id.in_(_IDS)),
    ]  # fmt: skip
    if scored:
        parts.append(
            select(RunScore.experiment_id, literal_column("'score'"), RunScore.name,
                   RunScore.value, no_text).where(RunScore.experiment_id.in_(_IDS))
        )  # fmt: skip
    return union_all(*parts).order_by("run", "kind", "key")


_BESIDE_RUNS = {scored: _beside_runs(scored=scored) for scored in (False, True)}


@dataclass(frozen=True)
class _Beside:
    """What a run's record carries from other tables, by run id: the last value of each
    metric, its tags and scores (keys in order), its MLflow experiment's name (runs made
    through MLflow only)."""

    metrics: dict[int, dict[str, float]]
    tags: dict[int, dict[str, str]]
    groups: dict[int, str]
    scores: dict[int, dict[str, float]]

    @classmethod
    def read(cls, connection: Connection, ids: list[int], *, scored: bool) -> _Beside:
        """Those of the runs ``ids`` (their scores only when ``scored``), in one query."""
        beside = cls({i: {} for i in ids}, {i: {} for i in ids}, {}, {i: {} for i in ids})
        if not ids:
            return beside
        found = connection.execute(_BESIDE_RUNS[scored], {"ids": ids}).all()
        for run, kind, key, number, text in found:
            if kind == "metric":
                beside.metrics[run][key] = number
            elif kind == "tag":
                beside.tags[run][key] = text
            elif kind == "score":
                beside.scores[run][key] = number
            else:
                beside.groups[run] = key
        return beside


def claimed_record(connection: Connection, row: Row[Any], project: str) -> ExperimentRecord:
    """The record of a run from the row its claim returned (the columns of
    :func:`select_records` but the project's name, ``project``), with its metrics (a run
    claimed again has some) and tags, read in one query."""
    beside = _Beside.read(connection, [row.id], scored=False)
    return _record(row, project, beside.metrics[row.id], beside.tags[row.id])


def _record(
    row: Row[Any],
    project: str,
    metrics: dict[str, float],
    tags: dict[str, str],
    mlflow_experiment: str | None = None,
    scores: dict[str, float] | None = None,
) -> ExperimentRecord:
    # NOTE: by position (a row's first columns are RECORD_COLUMNS, then the project's name or
    # id): Row._mapping is made anew at each use, and reading 29 fields through it took
    # 4.5 ms of a page of 50, 0.2 so.
    fields = dict(zip(RECORD_KEYS, row[: len(RECORD_KEYS)], strict=True))
    return ExperimentRecord(
        project=project, metrics=metrics, tags=tags, mlflow_experiment=mlflow_experiment,
        scores=scores or {}, **fields,
    )  # fmt: skip

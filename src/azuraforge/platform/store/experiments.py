"""Experiments: create, read, list (filter, sort, page), cancel and delete."""

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
    Row,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.store.base import DEFAULT_PROJECT, StoreBase
from azuraforge.platform.store.groups import in_group, read_mlflow_experiments
from azuraforge.platform.store.models import (
    Experiment,
    MetricSummary,
    Param,
    Project,
    RunCredential,
    RunTag,
)
from azuraforge.platform.store.records import ExperimentRecord, Page
from azuraforge.platform.store.scores import RANKED, Ranked, ScoreFilter, read_scores
from azuraforge.platform.store.states import (
    ALL_STATES,
    CANCELLED,
    FINISHED_STATES,
    QUEUED,
    RUN,
    RUNNING,
)
from azuraforge.platform.store.tags import read_tags

SORTABLE = (
    "id",
    "name",
    "pipeline",
    "status",
    "progress",
    "created_at",
    "started_at",
    "finished_at",
)
NOT_NULL = frozenset({"id", "name", "pipeline", "status", "progress", "created_at"})
"""Sortable columns every run has a value in."""
MAX_RUN_NAME = 200
"""The longest name the store keeps (a submission's is shorter: its batch adds ``-1000``)."""
MAX_NOTES = 10_000
"""The longest notes of a run (characters)."""
MAX_PAGE = 500
COUNT_LIMIT = 10_000
"""Listings count matching runs exactly up to this many; past it ``total_exact`` is False."""


class QueryError(InvalidParameterError):
    """A listing that cannot be made as asked; ``field`` names the request parameter at fault
    (``status``, ``sort``, ``metric``...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ExperimentQuery:
    """What :meth:`ExperimentStore.list_experiments` selects, in which order, which page.

    ``sort`` is a column of :data:`SORTABLE` or ``metric:<key>`` (by the metric's last value;
    runs without it come last). ``metric`` with ``metric_min``/``metric_max`` keeps runs whose
    last value of that metric lies in the range. ``kinds`` keeps jobs of those kinds (none:
    every kind); the store names no kind: the run list asks for those its kinds list as runs
    (:func:`~azuraforge.platform.jobs.kinds.listed_kinds`).
    """

    project: str = DEFAULT_PROJECT
    statuses: Sequence[str] = ()
    kinds: Sequence[str] = ()
    pipeline: str | None = None
    batch_id: str | None = None
    text: str | None = None
    metric: str | None = None
    metric_min: float | None = None
    metric_max: float | None = None
    tags: Sequence[tuple[str, str]] = ()
    """Keep runs with each of these tags ``(key, value)``."""
    group: str | None = None
    """Keep runs of this group: an MLflow experiment's name, or a pipeline (``groups.py``)."""
    scores: Sequence[ScoreFilter] = ()
    """Keep runs whose values pass each of these filters (scores, or metrics' last values);
    ``sort`` may also be ``score:<name>`` (runs without the score come last)."""
    sort: str = "id"
    descending: bool = True
    offset: int = 0
    limit: int = 50

    def checked(self) -> ExperimentQuery:
        """Raise :class:`QueryError` naming the first bad field (:class:`InvalidParameterError`
        for a kind or a page out of bounds: no request names those)."""
        if isinstance(self.kinds, str) or not all(isinstance(k, str) and k for k in self.kinds):
            raise InvalidParameterError(f"kinds must be names of job kinds, got {self.kinds!r}")
        unknown = sorted(set(self.statuses) - ALL_STATES)
        if unknown:
            raise QueryError(
                "status",
                f"status {unknown[0]!r} is not a run status; statuses: "
                f"{', '.join(sorted(ALL_STATES))}",
            )
        _check_sort(self.sort)
        if (self.metric_min is not None or self.metric_max is not None) and not self.metric:
            raise QueryError("metric", "metric_min/metric_max need metric=<key> to filter on")
        check_page(self.offset, self.limit)
        return self

    @property
    def filters(self) -> list[ScoreFilter]:
        """Every filter on a value: ``metric``'s range, then :attr:`scores`."""
        key = f"metric:{self.metric}"
        low = [] if self.metric_min is None else [ScoreFilter(key, ">=", self.metric_min)]
        high = [] if self.metric_max is None else [ScoreFilter(key, "<=", self.metric_max)]
        return [*low, *high, *self.scores]


def _check_sort(sort: str) -> None:
    """Raise :class:`QueryError` unless runs can be sorted by ``sort``: a field of
    :data:`SORTABLE`, ``metric:<key>`` or ``score:<name>``."""
    if sort not in SORTABLE and not (sort.startswith(RANKED) and sort.partition(":")[2]):
        raise QueryError(
            "sort",
            f"cannot sort by {sort!r}; sort by {', '.join(SORTABLE)}, metric:<key> "
            "or score:<name>",
        )


def check_page(offset: int, limit: int) -> None:
    """Raise :class:`InvalidParameterError` for a page out of bounds: ``limit`` from 1 to
    :data:`MAX_PAGE`, ``offset`` 0 or more."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidParameterError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise InvalidParameterError(f"offset must be 0 or more, got {offset}")


SHOWN_METRICS = 20
"""Most metrics an unknown sort key's message names."""


def metric_keys(connection: Connection, project_id: int, limit: int | None = None) -> list[str]:
    """The metrics logged in the project, in order: a walk of the summaries' (project, key,
    last) index from key to next key, not over every run's row."""
    return Ranked.of("metric:", "summary").names(connection, project_id, limit)


def _check_known(connection: Connection, project_id: int, key: str, field: str) -> None:
    """Raise :class:`QueryError` on ``field`` when no run of the project has a value of
    ``key`` (``metric:<key>``, ``score:<name>``): sorting by it would order nothing, a filter
    on it keep nothing, silently."""
    rows = Ranked.of(key, "known")
    if rows.known(connection, project_id):
        return
    source, _, name = key.partition(":")
    known = rows.names(connection, project_id, SHOWN_METRICS + 1)
    shown = ", ".join(f"{source}:{k}" for k in known[:SHOWN_METRICS])
    shown += "..." if len(known) > SHOWN_METRICS else ""
    what = f"logged a metric {name!r}" if source == "metric" else f"has a score {name!r}"
    if field == "sort":
        choices = f"sort by {', '.join(SORTABLE)}{', ' + shown if shown else ''}"
        raise QueryError(field, f"cannot sort by {key!r}: no run {what}; {choices}")
    raise QueryError(
        field, f"cannot filter on {name!r}: no run {what}; {source}s: {shown or 'none yet'}"
    )


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
            return with_scores(connection, records_of(connection, [row]))[0]

    def list_experiments(self, query: ExperimentQuery | None = None) -> Page:
        """One page of experiments matching ``query`` (light rows: no curves)."""
        query = (query or ExperimentQuery()).checked()
        with self._read() as connection:
            project_id = self.project_id(connection, query.project)
            if query.sort.startswith(RANKED):
                _check_known(connection, project_id, query.sort, "sort")
            for key in dict.fromkeys(f.key for f in query.scores):
                _check_known(connection, project_id, key, "score")
            matching = _matching(project_id, query)
            ids = _page_ids(connection, project_id, matching, query)
            counted = matching.selection.limit(COUNT_LIMIT + 1).subquery()
            total = int(connection.scalar(select(func.count()).select_from(counted)) or 0)
            rows = connection.execute(select_records().where(Experiment.id.in_(ids))).all()
            by_id = {row.id: row for row in rows}
            found = [by_id[i] for i in ids if i in by_id]
            items = with_scores(connection, records_of(connection, found))
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


def with_scores(connection: Connection, records: list[ExperimentRecord]) -> list[ExperimentRecord]:
    """``records`` with their scores, read in one query on ``connection``."""
    scores = read_scores(connection, [record.id for record in records])
    return [replace(record, scores=scores[record.id]) for record in records]


@dataclass(frozen=True)
class _Matching:
    """The ids of the runs a query matches: the statement, its id column, the rows of a
    metric or score it starts from (``lead``: those it filters on first, or sorts by), and
    whether it reads the experiments table."""

    selection: Any
    id: Any
    lead: Ranked | None
    reads_experiments: bool


def _page_ids(
    connection: Connection, project_id: int, matching: _Matching, query: ExperimentQuery
) -> list[int]:
    """The ids of the requested page, in order."""
    if not query.sort.startswith(RANKED) or matching.lead is not None:
        page = _sorted(matching, query).offset(query.offset).limit(query.limit)
        return list(connection.scalars(page))
    # Sorting by a metric or score without filtering on values: the runs that have it come
    # first, in the order of its (project, key, value) index, then those without it (NULLS
    # LAST). Joining every run to its value to sort them read the whole table.
    wanted = query.offset + query.limit
    having = _matching(project_id, query, by=query.sort)
    ranked = list(connection.scalars(_sorted(having, query).limit(wanted)))
    page = ranked[query.offset :]
    if len(ranked) == wanted:
        return page
    has_value = Ranked.of(query.sort, "lacking").present(Experiment.id)
    lacking = matching.selection.where(~has_value).order_by(
        Experiment.id.desc() if query.descending else Experiment.id.asc()
    )
    skip = max(0, query.offset - len(ranked))
    return page + list(connection.scalars(lacking.offset(skip).limit(query.limit - len(page))))


def _run_conditions(query: ExperimentQuery) -> list[Any]:
    """The query's conditions on the experiments table's own columns and on runs' tags."""
    conditions: list[Any] = []
    if query.statuses:
        conditions.append(Experiment.status.in_(query.statuses))
    if query.pipeline:
        conditions.append(Experiment.pipeline == query.pipeline)
    if query.batch_id:
        conditions.append(Experiment.batch_id == query.batch_id)
    if query.group:
        conditions.append(in_group(query.group))
    if query.text:
        # autoescape: the text is matched literally (``lr_0.1``, ``100%``), not as a pattern.
        text = query.text.lower()
        conditions.append(
            or_(
                func.lower(Experiment.name).contains(text, autoescape=True),
                func.lower(Experiment.pipeline).contains(text, autoescape=True),
            )
        )
    conditions += [
        exists().where(RunTag.experiment_id == Experiment.id, RunTag.key == key,
                       RunTag.value == value)
        for key, value in query.tags
    ]  # fmt: skip
    return conditions


def _matching(project_id: int, query: ExperimentQuery, *, by: str | None = None) -> _Matching:
    """Ids first, rows later: sorting and counting walk indexes, never whole rows. A filter
    on values (or ``by``: the runs that have a value of that ``metric:``/``score:`` key at
    all) starts from the (project, key, value, run, kind) index of the first filter's metric
    or score, checks the others' by run, and reads the experiments table only for filters
    other than the kind."""
    conditions = _run_conditions(query)
    filters = query.filters
    lead_key = by or (filters[0].key if filters else None)
    if lead_key is None:
        kinds = [Experiment.kind.in_(query.kinds)] if query.kinds else []
        selection = select(Experiment.id).where(
            Experiment.project_id == project_id, *kinds, *conditions
        )
        return _Matching(selection, Experiment.id, None, True)
    lead = Ranked.of(lead_key, "lead")
    selection = lead.runs(project_id, query.kinds).where(
        *(f.applied(lead.value) for f in filters if f.key == lead_key)
    )
    selection = _checked_by_run(selection, lead, [f for f in filters if f.key != lead_key])
    if conditions:
        selection = selection.join(Experiment, Experiment.id == lead.id)
        selection = selection.where(*conditions)
    return _Matching(selection, lead.id, lead, bool(conditions))


def _checked_by_run(selection: Any, lead: Ranked, filters: list[ScoreFilter]) -> Any:
    """``selection`` of the ``lead`` index's runs, kept to those that pass ``filters`` (on
    other keys than the lead's), each key's filters checked by run."""
    by_key: dict[str, list[ScoreFilter]] = {}
    for f in filters:
        by_key.setdefault(f.key, []).append(f)
    for n, (key, kept) in enumerate(by_key.items()):
        selection = selection.where(Ranked.of(key, f"filter_{n}").present(lead.id, *kept))
    return selection


def _sorted(matching: _Matching, query: ExperimentQuery) -> Any:
    selection = matching.selection
    tie = matching.id.desc() if query.descending else matching.id.asc()
    if query.sort == "id":
        return selection.order_by(tie)
    if matching.lead is not None and query.sort == matching.lead.key:
        column, nullable = matching.lead.value, False  # the index that filters also sorts
    elif query.sort.startswith(RANKED):
        rows = Ranked.of(query.sort, "sort_rows")
        selection = selection.outerjoin(
            rows.table, and_(rows.id == matching.id, rows.key_column == rows.name)
        )
        column, nullable = rows.value, True  # runs lacking the value
    else:
        if not matching.reads_experiments:
            selection = selection.join(Experiment, Experiment.id == matching.id)
        column, nullable = getattr(Experiment, query.sort), query.sort not in NOT_NULL
    ordered = column.desc() if query.descending else column.asc()
    # NULLS LAST only where a value can be missing: it keeps the database off the index.
    return selection.order_by(ordered.nulls_last() if nullable else ordered, tie)


def records_of(connection: Connection, rows: Sequence[Row[Any]]) -> list[ExperimentRecord]:
    """The records of ``rows`` (of :func:`select_records`), in their order, each with the
    last value of its metrics, read in one more query on ``connection``."""
    ids = [row.id for row in rows]
    metrics, tags = _last_metrics(connection, ids), read_tags(connection, ids)
    groups = read_mlflow_experiments(connection, ids)
    return [
        _record(row, row.project_name, metrics[row.id], tags[row.id], groups.get(row.id))
        for row in rows
    ]


def claimed_record(connection: Connection, row: Row[Any], project: str) -> ExperimentRecord:
    """The record of a run from the row its claim returned (the columns of
    :func:`select_records` but the project's name, ``project``). A run claimed for the first
    time has no metrics (only a lease holder writes them): they are read for a run claimed
    again only."""
    metrics = _last_metrics(connection, [row.id])[row.id] if row.attempts > 1 else {}
    return _record(row, project, metrics, read_tags(connection, [row.id])[row.id])


def _last_metrics(connection: Connection, ids: list[int]) -> dict[int, dict[str, float]]:
    """The last value of each metric of each run, by run id (one query)."""
    metrics: dict[int, dict[str, float]] = {i: {} for i in ids}
    if ids:
        found = connection.execute(
            select(MetricSummary.experiment_id, MetricSummary.key, MetricSummary.last).where(
                MetricSummary.experiment_id.in_(ids)
            )
        )
        for experiment_id, key, last in found:
            metrics[experiment_id][key] = last
    return metrics


def _record(
    row: Row[Any],
    project: str,
    metrics: dict[str, float],
    tags: dict[str, str],
    mlflow_experiment: str | None = None,
) -> ExperimentRecord:
    # NOTE: by position (a row's first columns are RECORD_COLUMNS, then the project's name or
    # id): Row._mapping is made anew at each use, and reading 29 fields through it took
    # 4.5 ms of a page of 50, 0.2 so.
    fields = dict(zip(RECORD_KEYS, row[: len(RECORD_KEYS)], strict=True))
    return ExperimentRecord(
        project=project, metrics=metrics, tags=tags, mlflow_experiment=mlflow_experiment, **fields
    )

"""What MLflow clients keep beside AzuraForge's runs: MLflow's experiments (a named grouping
of one project's runs, never across projects; the project's default one, MLflow's ``"0"``,
made when first asked for), which of them each run made through MLflow belongs to, the
runs' params (immutable, as MLflow's), the NaN values MLflow logs (beside the points: a curve
draws finite values alone), and the search of runs by MLflow's filter
(:class:`RunCondition`, :class:`RunOrder`; the parser is the service's).

A run made through MLflow is an external run
(:mod:`~azuraforge.platform.store.external`): its metrics and params are written while it
runs and has had word within its idle limit; its tags at any time (:mod:`.tags`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import Boolean

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError, shorten
from azuraforge.platform.store.experiments import records_of, select_records
from azuraforge.platform.store.external import ExternalRunStore
from azuraforge.platform.store.metrics import JobWrites, Point, check_metric_name, write_buffered
from azuraforge.platform.store.models import (
    Experiment,
    MetricNan,
    MetricPoint,
    MetricSummary,
    MlflowDataset,
    MlflowExperiment,
    MlflowExperimentTag,
    MlflowRun,
    MlflowRunInput,
    Param,
    Project,
    RunTag,
)
from azuraforge.platform.store.records import ExperimentRecord
from azuraforge.platform.store.tags import check_key_value, check_tag, write_tags

DEFAULT_NAME = "Default"
"""The name of a project's default MLflow experiment (``"0"``), as MLflow's."""
ACTIVE, DELETED = "active", "deleted"
MAX_PARAM_KEY, MAX_PARAM_VALUE = 250, 6000
"""The longest param key and value (characters), as MLflow's."""
ARTIFACTS = "mlflow-artifacts:/"
"""Where MLflow clients send a run's files: this server's artifact proxy."""
DATASET_CONTEXT = "mlflow.data.context"
"""The input tag a filter's ``datasets.context`` compares."""
NaNPoint = tuple[str, int, float]
"""(key, step, time) of a NaN value an MLflow client logged."""


@dataclass(frozen=True)
class MlflowExperimentRecord:
    """An MLflow experiment as stored: ``public_id`` is the id MLflow clients know (``"0"``
    for the project's default)."""

    id: int
    public_id: str
    name: str
    lifecycle: str
    artifact_location: str
    created_at: float
    updated_at: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MlflowRunRecord:
    """A run made through MLflow's API, its MLflow experiment, and the latest ``(value,
    step, time)`` of each of its metrics (the value at its highest step, NaN if that was)."""

    run: ExperimentRecord
    experiment: MlflowExperimentRecord
    latest: dict[str, tuple[float, int, float]]
    lifecycle: str = "active"
    """MLflow's lifecycle of the run: ``active`` or ``deleted`` (kept, restorable)."""
    user_id: str | None = None
    """The ``user_id`` MLflow's client sent making it (``None`` for a run made before it
    was kept)."""


@dataclass(frozen=True)
class RunCondition:
    """One comparison of an MLflow run filter: ``entity`` is ``metric`` (its last value),
    ``param``, ``tag``, ``dataset`` (``name``, ``digest``, ``context`` of an input) or
    ``attribute`` (``status``: this store's statuses; ``start_time``,
    ``end_time``: seconds; ``run_id``: run ids), ``op`` one of ``= != > >= < <= LIKE ILIKE
    IN NOT IN``; ``value`` a number, a text, or a tuple of them for ``IN``. A run lacking the
    metric, param or tag compared never matches, as in MLflow."""

    entity: str
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class RunOrder:
    """One key of an MLflow run ordering (``entity`` as in :class:`RunCondition`; runs
    without a value come last either way, as in MLflow)."""

    entity: str
    key: str
    ascending: bool


MAX_EXPERIMENT_TAG_VALUE = 5000
"""The longest value of an experiment's tag (characters), as MLflow's."""
EXPERIMENT_COLUMNS = {"name": MlflowExperiment.name, "experiment_id": MlflowExperiment.id,
                      "creation_time": MlflowExperiment.created_at,
                      "last_update_time": MlflowExperiment.updated_at}  # fmt: skip
"""The attributes of an experiment its search filters and orders by (times in seconds)."""


def check_param(key: str, value: str) -> None:
    """Raise :class:`InvalidParameterError` unless ``key`` (1 to :data:`MAX_PARAM_KEY`
    characters) and ``value`` (at most :data:`MAX_PARAM_VALUE`) fit."""
    check_key_value("param", key, value, MAX_PARAM_KEY, MAX_PARAM_VALUE)


class MlflowStore(ExternalRunStore):
    """MLflow's experiments, runs' params and NaN values, and the search of runs. Safe from
    any number of threads and processes."""

    def get_mlflow_experiment(self, mlflow_id: int, *, project: str) -> MlflowExperimentRecord:
        """The project's MLflow experiment ``mlflow_id`` (0: its default, made if new),
        whatever its lifecycle, with its tags.

        Raises
        ------
        NotFoundError
            For an id of no experiment of the project (MLflow's words).
        """
        with self._begin() as connection:
            row = self._experiment_row(connection, mlflow_id, project)
            return _experiments(connection, [row])[0]

    def _experiment_row(self, connection: Connection, mlflow_id: int, project: str) -> Any:
        project_id = self._with_default(connection, project)
        condition = (
            MlflowExperiment.is_default.is_(True)
            if mlflow_id == 0
            else MlflowExperiment.id == mlflow_id
        )
        row = connection.execute(
            select(MlflowExperiment).where(MlflowExperiment.project_id == project_id, condition)
        ).first()
        if row is None:
            raise NotFoundError(f"No Experiment with id={mlflow_id} exists")
        return row

    def find_mlflow_experiment(self, name: str, *, project: str) -> MlflowExperimentRecord | None:
        """The project's MLflow experiment named ``name`` (active or deleted), or ``None``."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            row = connection.execute(
                select(MlflowExperiment).where(
                    MlflowExperiment.project_id == project_id, MlflowExperiment.name == name
                )
            ).first()
            return None if row is None else _experiments(connection, [row])[0]

    def create_mlflow_experiment(
        self,
        name: str,
        *,
        project: str,
        artifact_location: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> MlflowExperimentRecord:
        """A new MLflow experiment ``name`` in the project, active, with ``tags``; its
        ``artifact_location`` is ``mlflow-artifacts:/<its id>`` unless given (checked by
        the caller: one of the server's own).

        Raises
        ------
        ConflictError
            When the project has an experiment of that name, deleted or not (MLflow's are
            unique).
        InvalidParameterError
            For a name of no character or over 500, a tag that does not fit.
        """
        _check_experiment_name(name)
        for key, value in (tags or {}).items():
            check_experiment_tag(key, value)
        now = time.time()
        try:
            with self._begin() as connection:
                project_id = self._with_default(connection, project)
                new_id = connection.execute(
                    insert(MlflowExperiment)
                    .values(project_id=project_id, name=name, is_default=False, lifecycle=ACTIVE,
                            artifact_location=artifact_location, created_at=now, updated_at=now)
                    .returning(MlflowExperiment.id)
                ).scalar_one()  # fmt: skip
                if not artifact_location:
                    connection.execute(
                        update(MlflowExperiment)
                        .where(MlflowExperiment.id == new_id)
                        .values(artifact_location=f"{ARTIFACTS}{new_id}")
                    )
                _write_experiment_tags(connection, new_id, tags or {})
        except IntegrityError:
            raise ConflictError(f"Experiment(name={name}) already exists.") from None
        return self.get_mlflow_experiment(new_id, project=project)

    def rename_mlflow_experiment(self, mlflow_id: int, name: str, *, project: str) -> None:
        """Rename the project's active MLflow experiment ``mlflow_id``.

        Raises
        ------
        NotFoundError
            For no such experiment.
        ConflictError
            When another experiment of the project has the name.
        InvalidParameterError
            For a deleted experiment, a name of no character or over 500.
        """
        _check_experiment_name(name)
        try:
            with self._begin() as connection:
                row = self._experiment_row(connection, mlflow_id, project)
                if row.lifecycle != ACTIVE:
                    raise InvalidParameterError("Cannot rename a non-active experiment.")
                connection.execute(
                    update(MlflowExperiment)
                    .where(MlflowExperiment.id == row.id)
                    .values(name=name, updated_at=time.time())
                )
        except IntegrityError:
            raise ConflictError(f"Experiment(name={name}) already exists.") from None

    def set_mlflow_experiment_lifecycle(
        self, mlflow_id: int, lifecycle: str, *, project: str
    ) -> None:
        """Delete (``lifecycle`` :data:`DELETED`) the project's active MLflow experiment
        ``mlflow_id``, or restore (:data:`ACTIVE`) a deleted one, with all of its runs, as
        MLflow does: their data is kept either way.

        Raises
        ------
        NotFoundError
            For no experiment of that id in the other lifecycle (MLflow's words).
        """
        now = time.time()
        with self._begin() as connection:
            row = self._experiment_row(connection, mlflow_id, project)
            if row.lifecycle == lifecycle:
                raise NotFoundError(f"No Experiment with id={mlflow_id} exists")
            connection.execute(
                update(MlflowExperiment)
                .where(MlflowExperiment.id == row.id)
                .values(lifecycle=lifecycle, updated_at=now)
            )
            connection.execute(
                update(MlflowRun)
                .where(MlflowRun.mlflow_experiment_id == row.id)
                .values(lifecycle=lifecycle, deleted_at=now if lifecycle == DELETED else None)
            )

    def set_mlflow_experiment_tag(
        self, mlflow_id: int, key: str, value: str | None, *, project: str
    ) -> None:
        """Set (``value``) or delete (``None``) a tag of the project's active MLflow
        experiment ``mlflow_id``.

        Raises
        ------
        NotFoundError
            For no such experiment, or no such tag to delete (MLflow's words).
        InvalidParameterError
            For a deleted experiment, a tag that does not fit.
        """
        if value is not None:
            check_experiment_tag(key, value)
        with self._begin() as connection:
            row = self._experiment_row(connection, mlflow_id, project)
            if row.lifecycle != ACTIVE:
                raise InvalidParameterError(
                    f"The experiment {mlflow_id} must be in the 'active' state. "
                    f"Current state is {row.lifecycle}."
                )
            if value is not None:
                _write_experiment_tags(connection, row.id, {key: value})
                return
            gone = connection.execute(
                delete(MlflowExperimentTag).where(
                    MlflowExperimentTag.mlflow_experiment_id == row.id,
                    MlflowExperimentTag.key == key,
                )
            ).rowcount
            if not gone:
                raise NotFoundError(f"No tag with name: {key} in experiment with id {mlflow_id}")

    def list_mlflow_experiments(
        self,
        *,
        project: str,
        lifecycles: Sequence[str] = (ACTIVE,),
        conditions: Sequence[RunCondition] = (),
        orders: Sequence[RunOrder] = (),
        offset: int = 0,
        limit: int = 1000,
    ) -> list[MlflowExperimentRecord]:
        """The project's MLflow experiments in ``lifecycles`` that meet every condition
        (``attribute`` ones on :data:`EXPERIMENT_COLUMNS`, ``tag`` ones; ``IS NULL`` and
        ``IS NOT NULL`` on a tag), in ``orders`` (attributes; by default newest first),
        then by id, from ``offset``, at most ``limit``."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            query = select(MlflowExperiment).where(
                MlflowExperiment.project_id == project_id,
                MlflowExperiment.lifecycle.in_(list(lifecycles)),
                *(_experiment_condition(c) for c in conditions),
            )
            default = [RunOrder("attribute", "creation_time", False)]
            for order in orders or default:
                column = _experiment_column(order.key)
                query = query.order_by(column.asc() if order.ascending else column.desc())
            rows = connection.execute(
                query.order_by(MlflowExperiment.id).offset(offset).limit(limit)
            ).all()
            return _experiments(connection, rows)

    def attach_mlflow_run(
        self,
        experiment_id: int,
        mlflow_id: int,
        tags: Mapping[str, str],
        *,
        user_id: str | None = None,
        started_at: float | None = None,
    ) -> MlflowExperimentRecord:
        """Put the run ``experiment_id`` (just made, an external run) in the MLflow
        experiment ``mlflow_id`` of its project (0: the default) with ``tags``, the
        ``user_id`` its MLflow client sent, and its start time as the client said
        (``started_at``, seconds; the server's clock when ``None``); that experiment.

        Raises
        ------
        NotFoundError
            For an MLflow experiment of no such id in the run's project.
        InvalidParameterError
            For a tag that does not fit (nothing is written), or a deleted experiment.
        """
        for key, value in tags.items():
            check_tag(key, value)
        with self._read() as connection:
            project = connection.scalar(
                select(Project.name)
                .join(Experiment, Experiment.project_id == Project.id)
                .where(Experiment.id == experiment_id)
            )
        if project is None:
            raise self.not_found(f"experiment {experiment_id}")
        found = self.get_mlflow_experiment(mlflow_id, project=project)
        if found.lifecycle != ACTIVE:
            raise InvalidParameterError(
                f"The experiment {found.public_id} must be in the 'active' state. "
                f"Current state is {found.lifecycle}."
            )
        with self._begin() as connection:
            connection.execute(
                insert(MlflowRun).values(
                    experiment_id=experiment_id, mlflow_experiment_id=found.id,
                    lifecycle=ACTIVE, user_id=user_id,
                )
            )  # fmt: skip
            if started_at is not None:
                connection.execute(
                    update(Experiment)
                    .where(Experiment.id == experiment_id)
                    .values(started_at=started_at)
                )
            write_tags(connection, experiment_id, tags)
        return found

    def set_mlflow_run_end(self, experiment_id: int, finished_at: float) -> None:
        """Set the end time of the ended run made through MLflow ``experiment_id`` to the
        one its client sent (``finished_at``, seconds); nothing for a run still running."""
        made = select(MlflowRun.experiment_id).where(MlflowRun.experiment_id == experiment_id)
        with self._begin() as connection:
            connection.execute(
                update(Experiment)
                .where(Experiment.id.in_(made), Experiment.finished_at.is_not(None))
                .values(finished_at=finished_at)
            )

    def set_mlflow_run_lifecycle(self, experiment_id: int, lifecycle: str) -> None:
        """Delete (``lifecycle`` :data:`DELETED`) the run made through MLflow
        ``experiment_id``, or restore it (:data:`ACTIVE`): a deleted run is hidden from
        MLflow's searches of active runs and takes no writes; its data is kept (AzuraForge's
        own delete of the run removes it for good).

        Raises
        ------
        NotFoundError
            For no such run, or one not made through MLflow's API.
        """
        with self._begin() as connection:
            changed = connection.execute(
                update(MlflowRun)
                .where(MlflowRun.experiment_id == experiment_id)
                .values(lifecycle=lifecycle, deleted_at=time.time() if lifecycle == DELETED
                        else None)
            ).rowcount  # fmt: skip
        if not changed:
            raise NotFoundError(f"Run with id={experiment_id} not found")

    def get_mlflow_run(self, experiment_id: int) -> MlflowRunRecord:
        """The run ``experiment_id`` made through MLflow's API, its MLflow experiment and
        the latest value of each of its metrics.

        Raises
        ------
        NotFoundError
            For no such run, or one not made through MLflow's API.
        """
        with self._read() as connection:
            row = connection.execute(
                select(MlflowExperiment, MlflowRun.lifecycle.label("run_lifecycle"),
                       MlflowRun.user_id)
                .join(MlflowRun, MlflowRun.mlflow_experiment_id == MlflowExperiment.id)
                .where(MlflowRun.experiment_id == experiment_id)
            ).first()  # fmt: skip
            found = connection.execute(
                select_records().where(Experiment.id == experiment_id)
            ).first()
            if row is None or found is None:
                raise NotFoundError(f"Run with id={experiment_id} not found")
            record = records_of(connection, [found])[0]
            return MlflowRunRecord(
                record, _experiments(connection, [row])[0],
                _latest(connection, [record.id])[record.id], row.run_lifecycle, row.user_id,
            )  # fmt: skip

    def write_mlflow(
        self,
        experiment_id: int,
        *,
        points: Sequence[Point] = (),
        nans: Sequence[NaNPoint] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> None:
        """Write an MLflow client's ``points`` (finite), ``nans`` (NaN values), ``params``
        and ``tags`` for its run ``experiment_id`` (of ``project``, when given: checked in
        the same query as the run) in one transaction. Metrics and params
        need the run running and alive (each such write keeps it alive its idle limit
        more); tags alone are set on any run.

        A point the run holds already (the same key, step, time and value) is not written
        again, as ``mlflow server`` keeps it once (its metrics' primary key): MLflow's client
        sends a point with no id of its own, and retries a request whose answer was lost.

        Raises
        ------
        NotFoundError
            For no such run (in ``project``), or one not made through MLflow's API.
        ConflictError
            If the run ended or is silent past its idle limit (for metrics and params).
        InvalidParameterError
            For a name or value that does not fit, a param logged before with another
            value (MLflow's params are immutable), or a deleted run; nothing is written.
        """
        params, tags = dict(params or {}), dict(tags or {})
        _check_mlflow_writes(points, nans, params, tags)
        with self._begin() as connection:
            made = _RUN_LIFECYCLE if project is None else _PROJECT_RUN_LIFECYCLE
            lifecycle = connection.scalar(made, {"run": experiment_id, "project": project})
            check_run_active(experiment_id, lifecycle)
            if points or nans or params:
                project_id, _ = self._alive(connection, experiment_id, None, {})
                _write_logged(connection, project_id, experiment_id, points, nans, params)
            write_tags(connection, experiment_id, tags)

    def mlflow_metric_history(
        self, experiment_id: int, key: str, *, offset: int = 0, limit: int | None = None
    ) -> list[tuple[int, float, float]]:
        """The ``(step, value, time)`` values the run logged for metric ``key`` (NaN ones
        too), by step then time, from ``offset``, at most ``limit``."""
        points = select(MetricPoint.step, MetricPoint.value, MetricPoint.time).where(
            MetricPoint.experiment_id == experiment_id, MetricPoint.key == key
        )
        nans = select(MetricNan.step, null().label("value"), MetricNan.time).where(
            MetricNan.experiment_id == experiment_id, MetricNan.key == key
        )
        both = union_all(points, nans).subquery()
        query = select(both.c.step, both.c.value, both.c.time).order_by(both.c.step, both.c.time)
        with self._read() as connection:
            rows = connection.execute(query.offset(offset).limit(limit)).all()
        return [(int(s), math.nan if v is None else float(v), float(t)) for s, v, t in rows]

    def search_mlflow_runs(
        self,
        mlflow_ids: Sequence[int],
        conditions: Sequence[RunCondition] = (),
        orders: Sequence[RunOrder] = (),
        *,
        project: str,
        lifecycles: Sequence[str] = (ACTIVE,),
        offset: int = 0,
        limit: int = 1000,
    ) -> list[MlflowRunRecord]:
        """The runs made through MLflow, in ``lifecycles``, in the project's MLflow
        experiments ``mlflow_ids`` (0: the default) that meet every condition, in ``orders``
        (then latest started first, then by id, as MLflow's), from ``offset``, at most
        ``limit``; each with its MLflow experiment and latest metrics."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            groups = _groups(connection, project_id, mlflow_ids)
            if not groups:
                return []
            query = select(MlflowRun.experiment_id).where(
                MlflowRun.mlflow_experiment_id.in_(list(groups)),
                MlflowRun.lifecycle.in_(list(lifecycles)),
            )
            query = query.join(Experiment, Experiment.id == MlflowRun.experiment_id)
            query = query.where(*(_condition(c) for c in conditions))
            query = _in_order(query, orders)
            ids = list(connection.scalars(query.offset(offset).limit(limit)))
            rows = connection.execute(select_records().where(Experiment.id.in_(ids))).all()
            by_id = {row.id: row for row in rows}
            records = records_of(connection, [by_id[i] for i in ids if i in by_id])
            runs = {
                row.experiment_id: row
                for row in connection.execute(
                    select(MlflowRun).where(MlflowRun.experiment_id.in_(ids))
                )
            }
            latest = _latest(connection, ids)
        return [MlflowRunRecord(record, groups[runs[record.id].mlflow_experiment_id],
                                latest[record.id], runs[record.id].lifecycle,
                                runs[record.id].user_id)
                for record in records]  # fmt: skip

    def _with_default(self, connection: Connection, project: str) -> int:
        """The project's id, its default MLflow experiment made if it has none."""
        project_id = self.project_id(connection, project)
        made: set[int] = self.__dict__.setdefault("_mlflow_defaults", set())
        if project_id in made:
            return project_id
        has = connection.scalar(
            select(MlflowExperiment.id).where(
                MlflowExperiment.project_id == project_id, MlflowExperiment.is_default.is_(True)
            )
        )
        if has is None:
            now = time.time()
            # A concurrent request may make it first: its unique name refuses this one's,
            # and the transaction (whose caller reads it next) is retried by none: insert
            # only where no row of the project has the name yet, in one statement.
            row = select(
                literal(project_id),
                literal(DEFAULT_NAME),
                literal(True),
                literal(ACTIVE),
                literal(f"{ARTIFACTS}0"),
                literal(now),
                literal(now),
            )
            row = row.where(~exists().where(MlflowExperiment.project_id == project_id,
                                            MlflowExperiment.name == DEFAULT_NAME))  # fmt: skip
            connection.execute(
                insert(MlflowExperiment).from_select(
                    ["project_id", "name", "is_default", "lifecycle", "artifact_location",
                     "created_at", "updated_at"], row)
            )  # fmt: skip
        made.add(project_id)
        return project_id


def check_run_active(experiment_id: int, lifecycle: str | None) -> None:
    """Raise unless the run made through MLflow (of MLflow ``lifecycle``, ``None`` for no
    such run) is active, in MLflow's words.

    Raises
    ------
    NotFoundError
        For no such run.
    InvalidParameterError
        For a deleted run.
    """
    if lifecycle is None:
        raise NotFoundError(f"Run with id={experiment_id} not found")
    if lifecycle != ACTIVE:
        raise InvalidParameterError(
            f"The run {experiment_id} must be in the 'active' state. Current state is {lifecycle}."
        )


def check_experiment_tag(key: str, value: str) -> None:
    """Raise :class:`InvalidParameterError` unless an experiment's tag fits (a key of 1 to
    250 characters, a value of at most :data:`MAX_EXPERIMENT_TAG_VALUE`)."""
    check_key_value("tag", key, value, MAX_PARAM_KEY, MAX_EXPERIMENT_TAG_VALUE)


def _check_experiment_name(name: str) -> None:
    if not 1 <= len(name) <= 500:
        raise InvalidParameterError(
            f"Invalid experiment name: {name[:60]!r}: an experiment's name has 1 to 500 "
            f"characters, got {len(name)}"
        )


def _write_experiment_tags(
    connection: Connection, mlflow_id: int, tags: Mapping[str, str]
) -> None:
    """Set ``tags`` of the MLflow experiment (row id ``mlflow_id``), replacing those set."""
    if not tags:
        return
    connection.execute(
        delete(MlflowExperimentTag).where(
            MlflowExperimentTag.mlflow_experiment_id == mlflow_id,
            MlflowExperimentTag.key.in_(list(tags)),
        )
    )
    connection.execute(
        insert(MlflowExperimentTag),
        [{"mlflow_experiment_id": mlflow_id, "key": k, "value": v} for k, v in tags.items()],
    )


def _groups(
    connection: Connection, project_id: int, mlflow_ids: Sequence[int]
) -> dict[int, MlflowExperimentRecord]:
    """The project's MLflow experiments ``mlflow_ids`` (0: its default), by id."""
    wanted = [MlflowExperiment.id.in_([i for i in mlflow_ids if i != 0])]
    if 0 in mlflow_ids:
        wanted.append(MlflowExperiment.is_default.is_(True))
    rows = connection.execute(
        select(MlflowExperiment).where(MlflowExperiment.project_id == project_id, or_(*wanted))
    ).all()
    return {group.id: group for group in _experiments(connection, rows)}


def _in_order(query: Any, orders: Sequence[RunOrder]) -> Any:
    """``query`` of MLflow runs in ``orders`` (a run lacking a value after those that have
    it), then latest started first, then by id, as MLflow's."""
    for n, order in enumerate(orders):
        query, column = _ordered(query, order, n)
        ordered = column.asc() if order.ascending else column.desc()
        query = query.order_by(case((column.is_(None), 1), else_=0), ordered)
    return query.order_by(Experiment.started_at.desc(), Experiment.id)


def _experiments(connection: Connection, rows: Sequence[Any]) -> list[MlflowExperimentRecord]:
    """The records of MLflow experiment ``rows``, with their tags."""
    tags: dict[int, dict[str, str]] = {row.id: {} for row in rows}
    if rows:
        found = connection.execute(
            select(MlflowExperimentTag).where(
                MlflowExperimentTag.mlflow_experiment_id.in_(list(tags))
            ).order_by(MlflowExperimentTag.key)
        )  # fmt: skip
        for tag in found:
            tags[tag.mlflow_experiment_id][tag.key] = tag.value
    return [
        MlflowExperimentRecord(row.id, "0" if row.is_default else str(row.id), row.name,
                               row.lifecycle, row.artifact_location, row.created_at,
                               row.updated_at, tags[row.id])
        for row in rows
    ]  # fmt: skip


def _experiment_column(key: str) -> Any:
    """The column of an experiment's attribute (``experiment_id``: 0 for the default)."""
    if key == "experiment_id":
        return case((MlflowExperiment.is_default.is_(True), 0), else_=MlflowExperiment.id)
    return EXPERIMENT_COLUMNS[key]


def _experiment_condition(condition: RunCondition) -> Any:
    """The SQL of one condition of an experiment search."""
    if condition.entity == "attribute":
        return _compare(_experiment_column(condition.key), condition.op, condition.value)
    tag = exists().where(
        MlflowExperimentTag.mlflow_experiment_id == MlflowExperiment.id,
        MlflowExperimentTag.key == condition.key,
    )
    if condition.op == "IS NULL":
        return ~tag
    if condition.op == "IS NOT NULL":
        return tag
    return tag.where(_compare(MlflowExperimentTag.value, condition.op, condition.value))


def _latest(
    connection: Connection, ids: Sequence[int]
) -> dict[int, dict[str, tuple[float, int, float]]]:
    """The latest ``(value, step, time)`` of each metric of each run of ``ids``: the value
    at its highest step (the summaries'), the time of that step's last point; NaN where a NaN
    was logged at a higher step (or alone)."""
    latest: dict[int, dict[str, tuple[float, int, float]]] = {i: {} for i in ids}
    if not ids:
        return latest
    summary = MetricSummary
    at_step = (
        select(summary.experiment_id, summary.key, summary.last, summary.step,
               func.max(MetricPoint.time))
        .join(MetricPoint, and_(MetricPoint.experiment_id == summary.experiment_id,
                                MetricPoint.key == summary.key, MetricPoint.step == summary.step))
        .where(summary.experiment_id.in_(list(ids)))
        .group_by(summary.experiment_id, summary.key, summary.last, summary.step)
    )  # fmt: skip
    for run, key, value, step, when in connection.execute(at_step):
        latest[run][key] = (float(value), int(step), float(when))
    nans = (
        select(MetricNan.experiment_id, MetricNan.key, func.max(MetricNan.step),
               func.max(MetricNan.time))
        .where(MetricNan.experiment_id.in_(list(ids)))
        .group_by(MetricNan.experiment_id, MetricNan.key)
    )  # fmt: skip
    for run, key, step, when in connection.execute(nans):
        if key not in latest[run] or step > latest[run][key][1]:
            latest[run][key] = (math.nan, int(step), float(when))
    return latest


def _check_mlflow_writes(
    points: Sequence[Point], nans: Sequence[NaNPoint], params: Mapping[str, str],
    tags: Mapping[str, str],
) -> None:  # fmt: skip
    """Refuse a name or value of an MLflow client's writes that does not fit."""
    JobWrites(points=points).check()
    for key, _, _ in nans:
        check_metric_name(key)
    for key, value in params.items():
        check_param(key, value)
    for key, value in tags.items():
        check_tag(key, value)


def _write_logged(
    connection: Connection, project_id: int, experiment_id: int, points: Sequence[Point],
    nans: Sequence[NaNPoint], params: Mapping[str, str],
) -> None:  # fmt: skip
    """Write an MLflow client's metric points (finite, then NaN: those the run holds
    already left out) and ``params`` for its live run ``experiment_id``."""
    points, nans = _not_stored(connection, experiment_id, points, nans)
    write_buffered(connection, project_id, experiment_id, JobWrites(points=points))
    if nans:
        rows = [{"experiment_id": experiment_id, "key": key, "step": step,
                 "time": when} for key, step, when in nans]  # fmt: skip
        connection.execute(insert(MetricNan), rows)
    if params:
        _write_params(connection, experiment_id, params)


def _write_params(connection: Connection, experiment_id: int, params: Mapping[str, str]) -> None:
    """Add ``params`` to the run's config (its params), refusing a change of one logged."""
    config = dict(
        connection.scalar(select(Experiment.config).where(Experiment.id == experiment_id)) or {}
    )
    new = {}
    for key, value in params.items():
        if key in config and config[key] != value:
            raise InvalidParameterError(
                f"param {key!r} of run {experiment_id} was logged as "
                f"{shorten(str(config[key]), 60, quoted=True)}; a param's value does not "
                f"change (as in MLflow), so {shorten(value, 60, quoted=True)} is refused"
            )
        if key not in config:
            new[key] = value
    if not new:
        return
    connection.execute(
        update(Experiment).where(Experiment.id == experiment_id).values(config={**config, **new})
    )
    rows = [{"experiment_id": experiment_id, "key": k[:200], "value": v[:500]}
            for k, v in new.items()]  # fmt: skip
    connection.execute(insert(Param), rows)


def _condition(condition: RunCondition) -> Any:
    """The SQL of one :class:`RunCondition` on a query of ``Experiment`` rows."""
    key, op, value = condition.key, condition.op, condition.value
    if condition.entity == "metric":
        summary = MetricSummary
        return exists().where(summary.experiment_id == Experiment.id, summary.key == key,
                              _compare(summary.last, op, value))  # fmt: skip
    if condition.entity == "param":
        return exists().where(Param.experiment_id == Experiment.id, Param.key == key[:200],
                              _compare(Param.value, op, _cut(value)))  # fmt: skip
    if condition.entity == "tag":
        return exists().where(RunTag.experiment_id == Experiment.id, RunTag.key == key,
                              _compare(RunTag.value, op, value))  # fmt: skip
    if condition.entity == "dataset":
        compared = {"name": MlflowDataset.name, "digest": MlflowDataset.digest}.get(key)
        if compared is None:  # context: the input's tag
            compared = MlflowRunInput.tags[DATASET_CONTEXT].as_string()
        return exists().where(MlflowRunInput.experiment_id == Experiment.id,
                              MlflowDataset.id == MlflowRunInput.dataset_id,
                              _compare(compared, op, value))  # fmt: skip
    column = {"status": Experiment.status, "start_time": Experiment.started_at,
              "end_time": Experiment.finished_at, "run_id": Experiment.id}[key]  # fmt: skip
    return _compare(column, op, value)


def _cut(value: Any) -> Any:
    """A param's value as the params table keeps it (500 characters)."""
    if isinstance(value, tuple):
        return tuple(_cut(v) for v in value)
    return value[:500] if isinstance(value, str) else value


def _compare(column: Any, op: str, value: Any) -> Any:
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    if op == "LIKE":
        return _CaseSensitiveLike(column, value)
    if op == "ILIKE":
        return func.lower(column).like(func.lower(literal(value)))
    return {"=": column == value, "!=": column != value, ">": column > value,
            ">=": column >= value, "<": column < value, "<=": column <= value}[op]  # fmt: skip


class _CaseSensitiveLike(ColumnElement[bool]):
    """``column LIKE pattern``, case-sensitive as MLflow's is on every database: SQLite's
    LIKE ignores case, so there it is the ``GLOB`` of the same pattern."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, column: Any, pattern: str) -> None:
        self.column, self.pattern = column, pattern


@compiles(_CaseSensitiveLike)
def _like(element: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column.like(element.pattern), **kw))


@compiles(_CaseSensitiveLike, "sqlite")
def _glob(element: _CaseSensitiveLike, compiler: Any, **kw: Any) -> str:
    pattern = element.column.op("GLOB")(literal(glob_pattern(element.pattern)))
    return str(compiler.process(pattern, **kw))


def glob_pattern(pattern: str) -> str:
    """The GLOB pattern matching what the LIKE ``pattern`` matches, case and all.

    >>> glob_pattern("a%b_[c]*?")
    'a*b?[[]c][*][?]'
    """
    special = {"%": "*", "_": "?", "[": "[[]", "*": "[*]", "?": "[?]"}
    return "".join(special.get(char, char) for char in pattern)


def _ordered(query: Any, order: RunOrder, n: int) -> tuple[Any, Any]:
    """``query`` joined to what ``order`` sorts by, and that column."""
    if order.entity == "attribute":
        column = {"start_time": Experiment.started_at, "end_time": Experiment.finished_at,
                  "status": Experiment.status, "run_id": Experiment.id,
                  "created": Experiment.created_at}[order.key]  # fmt: skip
        return query, column
    if order.entity == "metric":
        rows = aliased(MetricSummary, name=f"order_{n}")
        on = and_(rows.experiment_id == Experiment.id, rows.key == order.key)
        return query.outerjoin(rows, on), rows.last
    if order.entity == "param":
        params = aliased(Param, name=f"order_{n}")
        on = and_(params.experiment_id == Experiment.id, params.key == order.key[:200])
        return query.outerjoin(params, on), params.value
    tags = aliased(RunTag, name=f"order_{n}")
    on = and_(tags.experiment_id == Experiment.id, tags.key == order.key)
    return query.outerjoin(tags, on), tags.value


_Item = TypeVar("_Item", bound=tuple[Any, ...])


def _held(*columns: Any) -> Select[Any]:
    """The rows (``columns``: key and step first) a run (``run``) holds of keys ``keys``
    from step ``low`` to ``high`` (bound at execution)."""
    key, step = columns[:2]
    return select(*columns).where(
        key.table.c.experiment_id == bindparam("run"),
        key.in_(bindparam("keys", expanding=True)),
        step.between(bindparam("low"), bindparam("high")),
    )


# NOTE: statements built once, their values bound at execution: building them per request
# cost more than SQLite's work for a thousand points (benchmarks/mlflow_server.py).
_HELD_POINTS = _held(MetricPoint.key, MetricPoint.step, MetricPoint.value, MetricPoint.time)
_HELD_NANS = _held(MetricNan.key, MetricNan.step, MetricNan.time)
_RUN_LIFECYCLE = select(MlflowRun.lifecycle).where(MlflowRun.experiment_id == bindparam("run"))
_PROJECT_RUN_LIFECYCLE = (
    _RUN_LIFECYCLE.join(Experiment).join(Project).where(Project.name == bindparam("project"))
)


def _not_stored(
    connection: Connection, experiment_id: int, points: Sequence[Point], nans: Sequence[NaNPoint]
) -> tuple[list[Point], list[NaNPoint]]:
    """The ``points`` and ``nans`` the run does not hold yet, each once."""
    return (
        _unheld(connection, experiment_id, points, _HELD_POINTS),
        _unheld(connection, experiment_id, nans, _HELD_NANS),
    )


def _unheld(
    connection: Connection, experiment_id: int, items: Sequence[_Item], held_rows: Select[Any]
) -> list[_Item]:
    """The ``items`` (key and step first, then the other values ``held_rows`` selects) whose
    row the run does not hold, in order, each once: one query over the keys and the range of
    steps they name."""
    if not items:
        return []
    steps = [item[1] for item in items]
    bounds = {"run": experiment_id, "keys": list({item[0] for item in items}),
              "low": min(steps), "high": max(steps)}  # fmt: skip
    held = {tuple(row) for row in connection.execute(held_rows, bounds)}
    kept = []
    for item in items:
        if item not in held:
            held.add(item)
            kept.append(item)
    return kept

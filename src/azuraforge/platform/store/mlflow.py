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
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    and_,
    case,
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
from sqlalchemy.orm import aliased

from azuraforge.errors import ConflictError, InvalidParameterError, shorten
from azuraforge.platform.store.experiments import records_of, select_records
from azuraforge.platform.store.external import ExternalRunStore
from azuraforge.platform.store.metrics import JobWrites, Point, check_metric_name, write_buffered
from azuraforge.platform.store.models import (
    Experiment,
    MetricNan,
    MetricPoint,
    MetricSummary,
    MlflowExperiment,
    MlflowRun,
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


@dataclass(frozen=True)
class MlflowRunRecord:
    """A run made through MLflow's API, its MLflow experiment, and the latest ``(value,
    step, time)`` of each of its metrics (the value at its highest step, NaN if that was)."""

    run: ExperimentRecord
    experiment: MlflowExperimentRecord
    latest: dict[str, tuple[float, int, float]]


@dataclass(frozen=True)
class RunCondition:
    """One comparison of an MLflow run filter: ``entity`` is ``metric`` (its last value),
    ``param``, ``tag`` or ``attribute`` (``status``: this store's statuses; ``start_time``,
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


def check_param(key: str, value: str) -> None:
    """Raise :class:`InvalidParameterError` unless ``key`` (1 to :data:`MAX_PARAM_KEY`
    characters) and ``value`` (at most :data:`MAX_PARAM_VALUE`) fit."""
    check_key_value("param", key, value, MAX_PARAM_KEY, MAX_PARAM_VALUE)


class MlflowStore(ExternalRunStore):
    """MLflow's experiments, runs' params and NaN values, and the search of runs. Safe from
    any number of threads and processes."""

    def get_mlflow_experiment(self, mlflow_id: int, *, project: str) -> MlflowExperimentRecord:
        """The project's MLflow experiment ``mlflow_id`` (0: its default, made if new).

        Raises
        ------
        NotFoundError
            For an id of no experiment of the project.
        """
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            condition = (
                MlflowExperiment.is_default.is_(True)
                if mlflow_id == 0
                else MlflowExperiment.id == mlflow_id
            )
            row = connection.execute(
                select(MlflowExperiment).where(
                    MlflowExperiment.project_id == project_id, condition
                )
            ).first()
        if row is None:
            raise self.not_found(f"MLflow experiment {mlflow_id}", project)
        return _experiment(row)

    def find_mlflow_experiment(self, name: str, *, project: str) -> MlflowExperimentRecord | None:
        """The project's MLflow experiment named ``name``, or ``None``."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            row = connection.execute(
                select(MlflowExperiment).where(
                    MlflowExperiment.project_id == project_id, MlflowExperiment.name == name
                )
            ).first()
        return None if row is None else _experiment(row)

    def create_mlflow_experiment(self, name: str, *, project: str) -> MlflowExperimentRecord:
        """A new MLflow experiment ``name`` in the project, active.

        Raises
        ------
        ConflictError
            When the project has an experiment of that name (MLflow's are unique).
        InvalidParameterError
            For a name of no character or over 500.
        """
        if not 1 <= len(name) <= 500:
            raise InvalidParameterError(
                f"an experiment's name has 1 to 500 characters, got {len(name)}"
            )
        now = time.time()
        try:
            with self._begin() as connection:
                project_id = self._with_default(connection, project)
                new_id = connection.execute(
                    insert(MlflowExperiment)
                    .values(project_id=project_id, name=name, is_default=False, lifecycle=ACTIVE,
                            artifact_location="", created_at=now, updated_at=now)
                    .returning(MlflowExperiment.id)
                ).scalar_one()  # fmt: skip
                connection.execute(
                    update(MlflowExperiment)
                    .where(MlflowExperiment.id == new_id)
                    .values(artifact_location=f"{ARTIFACTS}{new_id}")
                )
        except IntegrityError:
            raise ConflictError(
                f"an MLflow experiment named {name!r} already exists in project {project!r}"
            ) from None
        return MlflowExperimentRecord(new_id, str(new_id), name, ACTIVE, f"{ARTIFACTS}{new_id}",
                                      now, now)  # fmt: skip

    def list_mlflow_experiments(
        self,
        *,
        project: str,
        lifecycles: Sequence[str] = (ACTIVE,),
        name: str | None = None,
        name_like: str | None = None,
        offset: int = 0,
        limit: int = 1000,
    ) -> list[MlflowExperimentRecord]:
        """The project's MLflow experiments in ``lifecycles`` (named ``name``, or like the
        SQL pattern ``name_like``, when given), newest first, from ``offset``, at most
        ``limit``."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            query = select(MlflowExperiment).where(
                MlflowExperiment.project_id == project_id,
                MlflowExperiment.lifecycle.in_(list(lifecycles)),
            )
            if name is not None:
                query = query.where(MlflowExperiment.name == name)
            if name_like is not None:
                query = query.where(MlflowExperiment.name.like(name_like))
            rows = connection.execute(
                query.order_by(MlflowExperiment.created_at.desc(), MlflowExperiment.id.desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return [_experiment(row) for row in rows]

    def attach_mlflow_run(
        self, experiment_id: int, mlflow_id: int, tags: Mapping[str, str]
    ) -> MlflowExperimentRecord:
        """Put the run ``experiment_id`` (just made, an external run) in the MLflow
        experiment ``mlflow_id`` of its project (0: the default) with ``tags``; that
        experiment.

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
                f"MLflow experiment {found.public_id} is {found.lifecycle}: it takes no new runs"
            )
        with self._begin() as connection:
            connection.execute(
                insert(MlflowRun).values(
                    experiment_id=experiment_id, mlflow_experiment_id=found.id
                )
            )
            write_tags(connection, experiment_id, tags)
        return found

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
                select(MlflowExperiment)
                .join(MlflowRun, MlflowRun.mlflow_experiment_id == MlflowExperiment.id)
                .where(MlflowRun.experiment_id == experiment_id)
            ).first()
            found = connection.execute(
                select_records().where(Experiment.id == experiment_id)
            ).first()
            if row is None or found is None:
                raise self.not_found(f"MLflow run {experiment_id}")
            record = records_of(connection, [found])[0]
            return MlflowRunRecord(
                record, _experiment(row), _latest(connection, [record.id])[record.id]
            )

    def write_mlflow(
        self,
        experiment_id: int,
        *,
        points: Sequence[Point] = (),
        nans: Sequence[NaNPoint] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Write an MLflow client's ``points`` (finite), ``nans`` (NaN values), ``params``
        and ``tags`` for its run ``experiment_id`` in one transaction. Metrics and params
        need the run running and alive (each such write keeps it alive its idle limit
        more); tags alone are set on any run.

        A point the run holds already (the same key, step, time and value) is not written
        again, as ``mlflow server`` keeps it once (its metrics' primary key): MLflow's client
        sends a point with no id of its own, and retries a request whose answer was lost.

        Raises
        ------
        NotFoundError
            For no such run, or one not made through MLflow's API.
        ConflictError
            If the run ended or is silent past its idle limit (for metrics and params).
        InvalidParameterError
            For a name or value that does not fit, or a param logged before with another
            value (MLflow's params are immutable); nothing is written.
        """
        params, tags = dict(params or {}), dict(tags or {})
        writes = JobWrites(points=points)
        writes.check()
        for key, _, _ in nans:
            check_metric_name(key)
        for key, value in params.items():
            check_param(key, value)
        for key, value in tags.items():
            check_tag(key, value)
        with self._begin() as connection:
            made = select(MlflowRun.experiment_id).where(MlflowRun.experiment_id == experiment_id)
            if connection.scalar(made) is None:
                raise self.not_found(f"MLflow run {experiment_id}")
            if points or nans or params:
                project_id, _ = self._alive(connection, experiment_id, None, {})
                points, nans = _not_stored(connection, experiment_id, points, nans)
                write_buffered(connection, project_id, experiment_id, JobWrites(points=points))
                if nans:
                    rows = [{"experiment_id": experiment_id, "key": key, "step": step,
                             "time": when} for key, step, when in nans]  # fmt: skip
                    connection.execute(insert(MetricNan), rows)
                if params:
                    _write_params(connection, experiment_id, params)
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
        offset: int = 0,
        limit: int = 1000,
    ) -> list[MlflowRunRecord]:
        """The runs made through MLflow in the project's MLflow experiments ``mlflow_ids``
        (0: the default) that meet every condition, in ``orders`` (then newest first), from
        ``offset``, at most ``limit``; each with its MLflow experiment and latest metrics."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            wanted = [MlflowExperiment.id.in_([i for i in mlflow_ids if i != 0])]
            if 0 in mlflow_ids:
                wanted.append(MlflowExperiment.is_default.is_(True))
            groups = {
                row.id: _experiment(row)
                for row in connection.execute(
                    select(MlflowExperiment).where(
                        MlflowExperiment.project_id == project_id, or_(*wanted)
                    )
                )
            }
            if not groups:
                return []
            query = select(MlflowRun.experiment_id).where(
                MlflowRun.mlflow_experiment_id.in_(list(groups))
            )
            query = query.join(Experiment, Experiment.id == MlflowRun.experiment_id)
            query = query.where(*(_condition(c) for c in conditions))
            for n, order in enumerate(orders):
                query, column = _ordered(query, order, n)
                ordered = column.asc() if order.ascending else column.desc()
                query = query.order_by(case((column.is_(None), 1), else_=0), ordered)
            query = query.order_by(Experiment.started_at.desc(), Experiment.id.desc())
            ids = list(connection.scalars(query.offset(offset).limit(limit)))
            rows = connection.execute(select_records().where(Experiment.id.in_(ids))).all()
            by_id = {row.id: row for row in rows}
            records = records_of(connection, [by_id[i] for i in ids if i in by_id])
            group_of = dict(
                connection.execute(
                    select(MlflowRun.experiment_id, MlflowRun.mlflow_experiment_id).where(
                        MlflowRun.experiment_id.in_(ids)
                    )
                ).all()
            )
            latest = _latest(connection, ids)
        return [MlflowRunRecord(record, groups[group_of[record.id]], latest[record.id])
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


def _experiment(row: Any) -> MlflowExperimentRecord:
    public_id = "0" if row.is_default else str(row.id)
    return MlflowExperimentRecord(
        row.id,
        public_id,
        row.name,
        row.lifecycle,
        row.artifact_location,
        row.created_at,
        row.updated_at,
    )


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
        return column.like(value)
    if op == "ILIKE":
        return func.lower(column).like(func.lower(literal(value)))
    return {"=": column == value, "!=": column != value, ">": column > value,
            ">=": column >= value, "<": column < value, "<=": column <= value}[op]  # fmt: skip


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


def _not_stored(
    connection: Connection, experiment_id: int, points: Sequence[Point], nans: Sequence[NaNPoint]
) -> tuple[list[Point], list[NaNPoint]]:
    """The ``points`` and ``nans`` the run does not hold yet, each once."""
    point_columns = (MetricPoint.key, MetricPoint.step, MetricPoint.value, MetricPoint.time)
    nan_columns = (MetricNan.key, MetricNan.step, MetricNan.time)
    return (
        _unheld(connection, experiment_id, points, point_columns),
        _unheld(connection, experiment_id, nans, nan_columns),
    )


def _unheld(
    connection: Connection, experiment_id: int, items: Sequence[_Item], columns: tuple[Any, ...]
) -> list[_Item]:
    """The ``items`` (key and step first, then ``columns``' other values) whose row the run
    does not hold, in order, each once: one query over the keys and the range of steps they
    name."""
    if not items:
        return []
    key, step = columns[:2]
    steps = [item[1] for item in items]
    rows = connection.execute(
        select(*columns).where(
            key.table.c.experiment_id == experiment_id,
            key.in_({item[0] for item in items}),
            step.between(min(steps), max(steps)),
        )
    )
    held = {tuple(row) for row in rows}
    kept = []
    for item in items:
        if item not in held:
            held.add(item)
            kept.append(item)
    return kept

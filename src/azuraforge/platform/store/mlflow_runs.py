"""The runs made through MLflow's API: which MLflow experiment each is in (:mod:`.mlflow`),
their lifecycle, params (immutable, as MLflow's), the NaN values MLflow logs (beside the
points: a curve draws finite values alone), their latest metrics, and their search by
MLflow's filter (:class:`~.mlflow_search.RunCondition`, :class:`~.mlflow_search.RunOrder`;
the parser is the service's).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    func,
    insert,
    null,
    or_,
    select,
    union_all,
    update,
)

from azuraforge.errors import InvalidParameterError, NotFoundError, shorten
from azuraforge.platform.store.experiments import records_of, select_records
from azuraforge.platform.store.metrics import JobWrites, Point, check_metric_name, write_buffered
from azuraforge.platform.store.mlflow import (
    ACTIVE,
    DELETED,
    MlflowExperimentRecord,
    MlflowRunRecord,
    MlflowStore,
    NaNPoint,
    check_param,
    check_run_active,
    mlflow_experiment_records,
)
from azuraforge.platform.store.mlflow_search import RunCondition, RunOrder, in_order, run_condition
from azuraforge.platform.store.models import (
    Experiment,
    MetricNan,
    MetricPoint,
    MetricSummary,
    MlflowExperiment,
    MlflowRun,
    Param,
    Project,
)
from azuraforge.platform.store.tags import check_tag, write_tags


class MlflowRunStore(MlflowStore):
    """The runs made through MLflow's API: their writes, reads and search. Safe from any
    number of threads and processes."""

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
                record, mlflow_experiment_records(connection, [row])[0],
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
            query = query.where(*(run_condition(c) for c in conditions))
            query = in_order(query, orders)
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
    return {group.id: group for group in mlflow_experiment_records(connection, rows)}


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

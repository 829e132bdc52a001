"""The search of MLflow's runs and experiments as SQL: one filter's conditions
(:class:`RunCondition`) and orders (:class:`RunOrder`), parsed by the service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    and_,
    case,
    exists,
    func,
    literal,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import Boolean

from azuraforge.platform.store.models import (
    Experiment,
    MetricSummary,
    MlflowDataset,
    MlflowExperiment,
    MlflowExperimentTag,
    MlflowRunInput,
    Param,
    RunTag,
)

DATASET_CONTEXT = "mlflow.data.context"
"""The input tag a filter's ``datasets.context`` compares."""


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


EXPERIMENT_COLUMNS = {"name": MlflowExperiment.name, "experiment_id": MlflowExperiment.id,
                      "creation_time": MlflowExperiment.created_at,
                      "last_update_time": MlflowExperiment.updated_at}  # fmt: skip
"""The attributes of an experiment its search filters and orders by (times in seconds)."""


def in_order(query: Any, orders: Sequence[RunOrder]) -> Any:
    """``query`` of MLflow runs in ``orders`` (a run lacking a value after those that have
    it), then latest started first, then by id, as MLflow's."""
    for n, order in enumerate(orders):
        query, column = _ordered(query, order, n)
        ordered = column.asc() if order.ascending else column.desc()
        query = query.order_by(case((column.is_(None), 1), else_=0), ordered)
    return query.order_by(Experiment.started_at.desc(), Experiment.id)


def experiment_column(key: str) -> Any:
    """The column of an experiment's attribute (``experiment_id``: 0 for the default)."""
    if key == "experiment_id":
        return case((MlflowExperiment.is_default.is_(True), 0), else_=MlflowExperiment.id)
    return EXPERIMENT_COLUMNS[key]


def experiment_condition(condition: RunCondition) -> Any:
    """The SQL of one condition of an experiment search."""
    if condition.entity == "attribute":
        return _compare(experiment_column(condition.key), condition.op, condition.value)
    tag = exists().where(
        MlflowExperimentTag.mlflow_experiment_id == MlflowExperiment.id,
        MlflowExperimentTag.key == condition.key,
    )
    if condition.op == "IS NULL":
        return ~tag
    if condition.op == "IS NOT NULL":
        return tag
    return tag.where(_compare(MlflowExperimentTag.value, condition.op, condition.value))


def run_condition(condition: RunCondition) -> Any:
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

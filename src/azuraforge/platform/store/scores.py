"""A run's scores: each number its result holds, one row per dotted path, so that lists
show, sort and filter runs by them (``metrics.MAE.model``, ``training.best_val_loss``).

The rows are written in the transaction that records the result (a run's end, a worker's
or an external writer's) by :func:`write_scores`, the one place that turns a result into
scores; migration ``0026_run_scores`` wrote those of the runs that ended before.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, exists, func, insert, select
from sqlalchemy.orm import aliased

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.store.models import Experiment, MetricSummary, RunScore
from azuraforge.platform.store.result_scores import score_values

OPERATORS = ("<=", ">=", "<", ">", "=")
"""The comparisons a score filter may make, longest first (``<=`` before ``<``)."""
_CONDITION = re.compile(r"^(?P<name>[^<>=]+?)\s*(?P<op><=|>=|<|>|=)\s*(?P<value>[^<>=]+)$")


def write_scores(
    connection: Connection, project_id: int, experiment_id: int, result: Mapping[str, Any] | None
) -> None:
    """Make the run's score rows those of ``result`` (none for ``None``), in the transaction
    of ``connection`` that records it."""
    connection.execute(delete(RunScore).where(RunScore.experiment_id == experiment_id))
    scores = score_values(result)
    if not scores:
        return
    kind = connection.scalar(select(Experiment.kind).where(Experiment.id == experiment_id))
    rows = [
        {"experiment_id": experiment_id, "project_id": project_id, "kind": kind,
         "name": name, "value": value}
        for name, value in scores.items()
    ]  # fmt: skip
    connection.execute(insert(RunScore), rows)


def distinct_keys(
    connection: Connection, key: Any, project: Any, project_id: int, limit: int | None = None
) -> list[str]:
    """The values of column ``key`` among the rows of ``project_id`` (``project``: that
    table's project column), in order: a walk of a (project, key, ...) index from key to
    next key, not over every row (``DISTINCT`` reads them all)."""
    in_project = project == project_id
    keys = select(func.min(key).label("key")).where(in_project).cte(recursive=True)
    after = select(func.min(key)).where(in_project, key > keys.c.key)
    keys = keys.union_all(select(after.scalar_subquery()).where(keys.c.key.is_not(None)))
    found = select(keys.c.key).where(keys.c.key.is_not(None)).limit(limit)
    return list(connection.scalars(found))


@dataclass(frozen=True)
class ScoreFilter:
    """Keep runs whose value of ``key`` compares to ``value`` by ``operator`` (one of
    :data:`OPERATORS`). ``key`` is ``score:<name>`` (a score of the run's result) or
    ``metric:<key>`` (the last value of a logged metric)."""

    key: str
    operator: str
    value: float

    @classmethod
    def parse(cls, text: str) -> ScoreFilter:
        """A filter from its text ``<name><op><number>``: ``metrics.MAE.model<0.5``,
        ``metric:val_loss<=0.1`` (a name without ``metric:`` is a score's).

        Raises
        ------
        InvalidParameterError
            Naming the part that is wrong.
        """
        match = _CONDITION.match(text.strip())
        if match is None:
            raise InvalidParameterError(
                f"score filter {text!r} is not <name><op><number>: op is one of "
                f"{' '.join(OPERATORS)}, as in 'metrics.MAE.model<0.5'"
            )
        name, number = match["name"].strip(), match["value"].strip()
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InvalidParameterError(
                f"score filter {text!r}: {number!r} is not a finite number"
            )
        key = name if name.startswith("metric:") else f"score:{name.removeprefix('score:')}"
        if key.endswith(":"):
            raise InvalidParameterError(f"score filter {text!r} names no score")
        return cls(key, match["op"], value)

    def __str__(self) -> str:
        return f"{self.key.removeprefix('score:')}{self.operator}{self.value:g}"

    def applied(self, column: Any) -> Any:
        """The SQL condition on ``column`` (the value's)."""
        compare = {"<=": column.__le__, ">=": column.__ge__, "<": column.__lt__,
                   ">": column.__gt__, "=": column.__eq__}  # fmt: skip
        return compare[self.operator](self.value)


RANKED = ("metric:", "score:")
"""The prefixes of the keys a list ranks runs by beyond its columns."""


@dataclass(frozen=True)
class Ranked:
    """The rows a list sorts and filters runs by for one ``key``: a metric's summaries (by
    their last value) for ``metric:<name>``, a score's rows for ``score:<name>``; at most one
    row per run, and one (project, key, value, run, kind) index that sorts, filters and
    counts them."""

    key: str
    name: str
    table: Any
    id: Any
    key_column: Any
    value: Any
    project: Any
    kind: Any

    @classmethod
    def of(cls, key: str, alias: str) -> Ranked:
        """The rows of ``key`` (``metric:<name>`` or ``score:<name>``) under the SQL name
        ``alias``."""
        source, _, name = key.partition(":")
        if source == "metric":
            metric = aliased(MetricSummary, name=alias)
            return cls(key, name, metric, metric.experiment_id, metric.key, metric.last,
                       metric.project_id, metric.kind)  # fmt: skip
        score = aliased(RunScore, name=alias)
        return cls(key, name, score, score.experiment_id, score.name, score.value,
                   score.project_id, score.kind)  # fmt: skip

    def runs(self, project_id: int, kinds: Sequence[str] = ()) -> Any:
        """The SELECT of the ids of the project's runs (of ``kinds``: any when empty) that
        have a value."""
        kept = [self.kind.in_(kinds)] if kinds else []
        return select(self.id).where(
            self.project == project_id, self.key_column == self.name, *kept
        )

    def present(self, run_id: Any, *filters: ScoreFilter) -> Any:
        """The condition that run ``run_id`` has a value, passing ``filters``."""
        return exists().where(
            self.id == run_id,
            self.key_column == self.name,
            *(f.applied(self.value) for f in filters),
        )

    def known(self, connection: Connection, project_id: int) -> bool:
        """Whether some run of the project has a value (one index seek)."""
        return connection.scalar(self.runs(project_id).limit(1)) is not None

    def names(self, connection: Connection, project_id: int, limit: int | None) -> list[str]:
        """The names the project's runs have values of for this source, in order."""
        return distinct_keys(connection, self.key_column, self.project, project_id, limit)

"""The run list's query: what :meth:`~.experiments.ExperimentStore.list_experiments` selects
(statuses, kinds, a pipeline, a batch, text, tags, a group, values of metrics and scores), in
which order and which page, as SQL that walks indexes: ids first, rows later."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    exists,
    func,
    or_,
    select,
)

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.groups import in_group
from azuraforge.platform.store.models import (
    Experiment,
    RunTag,
)
from azuraforge.platform.store.scores import RANKED, Ranked, ScoreFilter
from azuraforge.platform.store.states import (
    ALL_STATES,
)

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


def matching_page(
    connection: Connection, project_id: int, query: ExperimentQuery
) -> tuple[list[int], int]:
    """The ids of the runs of the page ``query`` asks for (checked), in order, and how many
    runs it matches (counted up to :data:`COUNT_LIMIT` and one more).

    Raises
    ------
    QueryError
        For a sort or a filter on a metric or score no run of the project has.
    """
    if query.sort.startswith(RANKED):
        _check_known(connection, project_id, query.sort, "sort")
    for key in dict.fromkeys(f.key for f in query.scores):
        _check_known(connection, project_id, key, "score")
    matching = _matching(project_id, query)
    ids = _page_ids(connection, project_id, matching, query)
    return ids, _counted(connection, matching, query, len(ids))


def _counted(
    connection: Connection, matching: _Matching, query: ExperimentQuery, shown: int
) -> int:
    """How many runs ``matching`` keeps, counted up to :data:`COUNT_LIMIT` and one more,
    its page holding ``shown`` of them. A page that ran out says it without a count; past
    the limit, one probe for the run after it says so (counting 10,001 ids took SQLite 1.4
    to 2.4 times as long); under it, a count."""
    if shown < query.limit and (shown or not query.offset):
        return query.offset + shown
    beyond = matching.selection.offset(COUNT_LIMIT).limit(1)
    if connection.scalar(beyond) is not None:
        return COUNT_LIMIT + 1
    counted = matching.selection.limit(COUNT_LIMIT + 1).subquery()
    return int(connection.scalar(select(func.count()).select_from(counted)) or 0)

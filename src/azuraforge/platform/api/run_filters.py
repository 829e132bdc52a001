"""The query of ``GET /runs`` (:mod:`~azuraforge.platform.api.routes.runs`):
which runs, in which order, which page, and as what (JSON or CSV), declared as one
dependency (FastAPI lists each field as a query parameter, as if declared on the route) and
read into the store's :class:`~azuraforge.platform.store.ExperimentQuery`."""

# No ``from __future__ import annotations``: FastAPI reads the dataclass's ``__init__``
# signature, whose annotations must be objects, not strings.
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query
from pydantic import StringConstraints

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.api.deps import comma_separated, invalid_query, status_list
from azuraforge.platform.jobs.kinds import listed_kinds
from azuraforge.platform.store import ExperimentQuery, QueryError
from azuraforge.platform.store.scores import ScoreFilter
from azuraforge.platform.store.states import ALL_STATES

GROUP = (
    "Runs of this group: an MLflow experiment's name (runs made through MLflow), or a "
    "pipeline (any other run; azuraforge.track's experiment=)."
)
SCORE = (
    "<name><op><number>, op one of < <= > >= = (`metrics.MAE.model<0.5`; `metric:<key>` for "
    "a metric's last value); repeat: runs passing each."
)
COLUMNS = (
    "The CSV's columns: fields, metric:<key>, score:<name> or a bare score name; repeat or "
    "comma-separate. Default: the main fields and every score."
)


@dataclass
class RunListQuery:
    """The query parameters of ``GET /runs``, in the order the OpenAPI lists them (a
    dependency, not a query model: the check of repeated single values sees each field)."""

    status_: Annotated[
        list[Annotated[str, status_list(ALL_STATES)]] | None,
        Query(alias="status", description="Repeat or comma-separate (no spaces)."),
    ] = None
    pipeline: Annotated[str | None, Query(max_length=100)] = None
    batch_id: Annotated[str | None, Query(max_length=40)] = None
    group: Annotated[str | None, Query(max_length=500, description=GROUP)] = None
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the name or pipeline.")
    ] = None
    metric: Annotated[str | None, Query(max_length=200, description="Metric to filter on.")] = None
    metric_min: Annotated[float | None, Query(allow_inf_nan=False)] = None
    metric_max: Annotated[float | None, Query(allow_inf_nan=False)] = None
    tag: Annotated[
        list[Annotated[str, StringConstraints(pattern="^[^:]+:", max_length=8300)]] | None,
        Query(description="key:value; repeat for runs with each of several tags."),
    ] = None
    score: Annotated[
        list[Annotated[str, StringConstraints(max_length=300)]] | None,
        Query(description=SCORE),
    ] = None
    sort: Annotated[
        str, Query(max_length=210, description="A column, metric:<key> or score:<name>.")
    ] = "id"
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc"
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0
    limit: Annotated[int, Query(ge=1, le=500)] = 50
    format_: Annotated[
        str | None,
        Query(alias="format", pattern="^(json|csv)$", description="csv: every run as CSV."),
    ] = None
    columns: Annotated[list[str] | None, Query(description=COLUMNS)] = None

    def store_query(self) -> ExperimentQuery:
        """The store's query of these parameters (a ``score`` that does not parse is the 422
        naming ``score``)."""
        return ExperimentQuery(
            statuses=comma_separated(self.status_),
            kinds=listed_kinds(),
            pipeline=self.pipeline,
            batch_id=self.batch_id,
            group=self.group,
            text=self.q,
            metric=self.metric,
            metric_min=self.metric_min,
            metric_max=self.metric_max,
            tags=[(key, value) for key, _, value in (t.partition(":") for t in self.tag or ())],
            scores=self.score_filters(),
            sort=self.sort,
            descending=self.order == "desc",
            offset=self.offset,
            limit=self.limit,
        )

    def score_filters(self) -> list[ScoreFilter]:
        """Each ``score`` parsed (one that does not parse is the 422 naming ``score``)."""
        try:
            return [ScoreFilter.parse(text) for text in self.score or ()]
        except InvalidParameterError as e:
            raise invalid_query(QueryError("score", str(e))) from None

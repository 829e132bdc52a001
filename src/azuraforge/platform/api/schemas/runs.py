"""Bodies of the runs (``/runs``: :mod:`~azuraforge.platform.api.routes.runs`): a run to
queue or to edit, which runs a list keeps (:class:`RunFilter`), a run as lists and its detail
show it (``ExperimentCreate``, ``ExperimentPublic``, ``ExperimentsPublic``...), its curves,
logs and report."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.api.deps import comma_separated, invalid_query, status_list
from azuraforge.platform.api.schemas.common import Page, RequestBody
from azuraforge.platform.jobs.kinds import listed_kinds
from azuraforge.platform.services.validation import MAX_NAME
from azuraforge.platform.store import (
    ArtifactRecord,
    ExperimentQuery,
    ExperimentRecord,
    MetricSummaryRecord,
    QueryError,
)
from azuraforge.platform.store.experiments import MAX_NOTES
from azuraforge.platform.store.result_scores import finite_number
from azuraforge.platform.store.scores import ScoreFilter
from azuraforge.platform.store.states import ALL_STATES, RESTART_HISTORY


class ExperimentCreate(RequestBody):
    """A run to queue: a pipeline, its settings, optionally a grid of value lists (a batch)."""

    pipeline: str = Field(..., max_length=100, description="Pipeline name (GET /pipelines).")
    config: dict[str, Any] = Field(
        default_factory=dict, description="Settings; defaults fill the rest."
    )
    grid: dict[str, list[Any]] | None = Field(
        None, description="Value lists per setting: one run per combination, sharing a batch id."
    )
    name: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_NAME,
        description="Unique in the project; a grid's runs are named name-1, name-2...",
    )


class ExperimentEdit(RequestBody):
    """A run's new name, its notes, or both: any run's, whatever its status."""

    # Absent, not null, when not changed: the schema says so (a string, one field at least).
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    name: str = Field(
        None,  # type: ignore[assignment]
        min_length=1,
        max_length=MAX_NAME,
        description="Unique in the project.",
    )
    notes: str = Field(
        None,  # type: ignore[assignment]
        max_length=MAX_NOTES,
        description="What you say of the run, as plain text; an empty text clears them.",
    )

    @model_validator(mode="after")
    def _changes_something(self) -> ExperimentEdit:
        if not self.model_fields_set:
            raise ValueError("give the run's new name, its notes, or both")
        return self


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


class RunFilter(BaseModel):
    """Which runs a list keeps. Its fields are named as :meth:`azuraforge.client.runs.Runs.list`
    and ``azuraforge runs list`` name them (a test keeps the three alike); the query
    parameters of ``GET /runs`` are their aliases (``batch_id``, ``q``, ``metric_min``,
    ``metric_max``, ``score``)."""

    status: list[Annotated[str, status_list(ALL_STATES)]] | None = Field(
        None, description="Repeat or comma-separate (no spaces)."
    )
    pipeline: str | None = Field(None, max_length=100)
    batch: str | None = Field(None, alias="batch_id", max_length=40)
    group: str | None = Field(None, max_length=500, description=GROUP)
    search: str | None = Field(
        None, alias="q", max_length=200, description="Text in the name or pipeline."
    )
    metric: str | None = Field(None, max_length=200, description="Metric to filter on.")
    minimum: float | None = Field(None, alias="metric_min", allow_inf_nan=False)
    maximum: float | None = Field(None, alias="metric_max", allow_inf_nan=False)
    tag: list[Annotated[str, StringConstraints(pattern="^[^:]+:", max_length=8300)]] | None = (
        Field(None, description="key:value; repeat for runs with each of several tags.")
    )
    where: list[Annotated[str, StringConstraints(max_length=300)]] | None = Field(
        None, alias="score", description=SCORE
    )


class RunListQuery(RunFilter):
    """The query of ``GET /runs`` (a query model: FastAPI lists each field as a query
    parameter, in this order): which runs, in which order, which page, and as what (JSON or
    CSV)."""

    sort: str = Field("id", max_length=210, description="A column, metric:<key> or score:<name>.")
    order: str = Field("desc", pattern="^(asc|desc)$")
    offset: int = Field(0, ge=0, le=10_000_000)
    limit: int = Field(50, ge=1, le=500)
    format_: str | None = Field(
        None, alias="format", pattern="^(json|csv)$", description="csv: every run as CSV."
    )
    columns: list[str] | None = Field(None, description=COLUMNS)

    def store_query(self) -> ExperimentQuery:
        """The store's query of these parameters (a ``score`` that does not parse is the 422
        naming ``score``)."""
        return ExperimentQuery(
            statuses=comma_separated(self.status),
            kinds=listed_kinds(),
            pipeline=self.pipeline,
            batch_id=self.batch,
            group=self.group,
            text=self.search,
            metric=self.metric,
            metric_min=self.minimum,
            metric_max=self.maximum,
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
            return [ScoreFilter.parse(text) for text in self.where or ()]
        except InvalidParameterError as e:
            raise invalid_query(QueryError("score", str(e))) from None


SCORES = "score_values"
"""The field of :class:`ExperimentPublic` that holds its record's ``scores``."""


class ExperimentPublic(BaseModel):
    """A run as lists show it: no curves, no config."""

    id: int
    name: str
    pipeline: str
    kind: str = Field(
        description="run, trial, retrain (a stream's candidate as a run), or external (a run "
        "written from outside: your own code, azuraforge run)."
    )
    status: str
    progress: float
    progress_message: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    worker: str | None
    batch_id: str | None
    error: str | None
    metrics: dict[str, float] = Field(description="Last value of each metric logged.")
    score_values: dict[str, float] = Field(
        default_factory=dict,
        description="The numbers of the run's result by dotted path (`metrics.MAE.model`): "
        "what `sort=score:<name>` sorts by and `score=<name><op><number>` filters on.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="The run's tags.")
    group: str = Field(
        "",
        description="What the run list groups it by (`group=`): its MLflow experiment's name "
        "for a run made through MLflow, else its pipeline.",
    )

    @classmethod
    def of(cls, record: ExperimentRecord) -> ExperimentPublic:
        fields = {name: getattr(record, name) for name in cls.model_fields if name != SCORES}
        return cls(**fields, score_values=record.scores)


class ScoreNamesPublic(BaseModel):
    """The scores the project's runs have."""

    names: list[str] = Field(description="In order; `score:<name>` sorts by one.")


class ExperimentsPublic(Page[ExperimentPublic]):
    """A page of runs and how many match in all."""

    total_exact: bool = Field(
        True, description="False when over 10,000 runs match: `total` is then a lower bound."
    )


class MetricSummaryPublic(BaseModel):
    last: float
    min: float
    max: float
    step: int
    count: int

    @classmethod
    def of(cls, record: MetricSummaryRecord) -> MetricSummaryPublic:
        return cls(
            last=record.last, min=record.min, max=record.max, step=record.step, count=record.count
        )


class ArtifactPublic(BaseModel):
    path: str
    size: int
    is_dir: bool
    created_at: float

    @classmethod
    def of(cls, record: ArtifactRecord) -> ArtifactPublic:
        return cls(
            path=record.path, size=record.size, is_dir=record.is_dir, created_at=record.created_at
        )


class LeasePublic(BaseModel):
    owner: str | None
    epoch: int
    expires_at: float | None
    heartbeat_at: float | None


class RestartPublic(BaseModel):
    """One restart of a long job by the kernel."""

    at: float
    reason: str = Field(
        description="memory (over its limit), schedule (its restart_every), crash (its process "
        "died or failed), lost (its worker stopped renewing the lease), shutdown (its worker "
        "was stopped)"
    )
    detail: str = Field("", description="What happened, in words.")
    worker: str | None = Field(None, description="The worker it ran on.")
    uptime: float | None = Field(None, description="Seconds it had run in that process.")


class ExperimentDetail(ExperimentPublic):
    """A run whole: config, lease, summaries, test scores beside their baselines, files."""

    project: str
    config: dict[str, Any]
    seed: int | None
    attempts: int
    restarts: int = Field(description="How often the kernel restarted the job.")
    restart_history: list[RestartPublic] = Field(
        description=f"Its newest restarts (at most {RESTART_HISTORY}), oldest first."
    )
    not_before: float | None = Field(
        description="A queued job waits until then to run again (the backoff after a crash)."
    )
    cancel_requested_at: float | None
    lease: LeasePublic
    summaries: dict[str, MetricSummaryPublic]
    scores: dict[str, dict[str, float | None]] = Field(
        description="Test metrics of the finished run: model beside each baseline; null where "
        "the score was not a number (NaN, infinite)."
    )
    result: dict[str, Any] | None
    artifacts: list[ArtifactPublic]
    notes: str = Field("", description="What its people wrote about the run (PATCH).")


def score_table(metrics: Any) -> dict[str, dict[str, float | None]]:
    """A result's ``metrics`` as :attr:`ExperimentDetail.scores` shows them: each score's
    model beside its baselines. A score given as one number (an external run's
    ``{"loss": 0.29}``, an MLflow run's latest values) is the model's; flat names of one
    score, ``MAE.model`` beside ``MAE.persistence`` (as an MLflow script logs them,
    docs/tracking.md), are its model and baselines; what is not a finite number is ``None``;
    a score that is neither a number nor a table is left out.

    >>> score_table({"MAE": {"model": 1.5, "persistence": float("nan")}, "loss": 0.25,
    ...              "notes": "ok"})
    {'MAE': {'model': 1.5, 'persistence': None}, 'loss': {'model': 0.25}}
    >>> score_table({"MAE.model": 1.6, "MAE.persistence": 1.8, "R2.persistence": 0.1})
    {'MAE': {'model': 1.6, 'persistence': 1.8}, 'R2.persistence': {'model': 0.1}}
    """
    if not isinstance(metrics, dict):
        return {}
    scored = {str(name).removesuffix(".model") for name, value in metrics.items()
              if str(name).endswith(".model") and not isinstance(value, dict)}  # fmt: skip
    table: dict[str, dict[str, float | None]] = {}
    for name, value in metrics.items():
        score, _, column = str(name).rpartition(".")
        if isinstance(value, dict):
            table[str(name)] = {str(k): finite_number(v) for k, v in value.items()}
        elif score in scored:
            table.setdefault(score, {})[column] = finite_number(value)
        elif (number := finite_number(value)) is not None:
            table[str(name)] = {"model": number}
    return table


class CurvePublic(BaseModel):
    steps: list[int]
    values: list[float]
    times: list[float]


class MetricsPublic(BaseModel):
    experiment_id: int
    metrics: dict[str, CurvePublic]


class LogLine(BaseModel):
    id: int
    time: float
    level: str
    message: str


class LogsPublic(BaseModel):
    data: list[LogLine]
    next_after: int = Field(description="Pass as `after` to read the lines that follow.")


class ReportPublic(BaseModel):
    experiment_id: int
    path: str = Field(description="The report's path inside the run's files.")
    markdown: str
    html: str = Field(
        description="The Markdown rendered: raw HTML in it escaped, relative images and links "
        "pointed at the run's files."
    )

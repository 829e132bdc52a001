"""``/studies``: hyper-parameter studies on Optuna (create, list, read, cancel).

The request and response bodies of this resource live here beside their routes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from azuraforge.platform.api.access import READ, WRITE, Writer
from azuraforge.platform.api.deps import (
    DataFolderDep,
    StoreDep,
    TransportDep,
    comma_separated,
    invalid_query,
    status_list,
)
from azuraforge.platform.api.list_csv import CsvAsked, csv_of, csv_responses, page_or_csv
from azuraforge.platform.api.schemas import RequestBody, error_responses
from azuraforge.platform.services.studies import StudyDefinition, StudyService
from azuraforge.platform.services.study_views import (
    TRIAL_STATUSES,
    StudyReport,
    StudySummary,
    TrialQuery,
    TrialQueryError,
    TrialSort,
)
from azuraforge.platform.store import StudyRecord
from azuraforge.platform.store.experiments import MAX_PAGE

router = APIRouter(prefix="/studies", tags=["studies"])
ERRORS = error_responses()
StudyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A study's id.")]


class StudyCreate(RequestBody):
    """A study to run: what to search over which base config, for which objective, how."""

    pipeline: str = Field(..., max_length=100, description="Pipeline name (GET /pipelines).")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Base settings every trial shares; defaults fill the rest.",
    )
    space: dict[str, Any] = Field(
        ...,
        min_length=1,
        max_length=100,
        description="Setting -> {type: float|int, low, high, log?, step?} or {type: "
        "categorical, choices: [...]} (a bare list is a categorical's choices).",
    )
    objective: str = Field(
        "val_loss", max_length=200, description="The logged metric to optimise."
    )
    direction: Literal["minimize", "maximize"] = "minimize"
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "hyperband", "none"] = "median"
    n_trials: int = Field(
        20, ge=1, le=10_000, description="Trial budget (a grid: at most its size)."
    )
    parallelism: int = Field(1, ge=1, le=64, description="Trials queued or running at once.")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="Seeds the sampler.")
    name: str | None = Field(
        None, min_length=1, max_length=200, description="Unique in the project."
    )


FINISHED = (
    "Trials that ended: their run ended (any way), or, for a trial without a run, Optuna "
    "finished it (complete, pruned, fail)."
)


class StudyPublic(BaseModel):
    """A study as lists show it."""

    id: int
    name: str
    pipeline: str
    status: str = Field(description="running, completed, cancelled or failed.")
    objective: str
    direction: str
    sampler: str
    pruner: str
    n_trials: int
    parallelism: int
    seed: int | None
    trials_created: int
    created_at: float
    finished_at: float | None
    cancel_requested_at: float | None
    error: str | None

    @classmethod
    def of(cls, record: StudyRecord) -> StudyPublic:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


class StudyListed(StudyPublic):
    """A study as the listing shows it: with how far it got and its best value so far."""

    trials_finished: int = Field(description=FINISHED)
    best_value: float | None = Field(description="The best objective value so far.")


class StudiesPublic(BaseModel):
    data: list[StudyListed]
    total: int
    offset: int
    limit: int


class TrialPublic(BaseModel):
    number: int = Field(description="Optuna's trial number.")
    run_id: int | None = Field(description="The trial's run (GET /experiments/{id}).")
    status: str = Field(description="The run's: queued, running, completed, pruned, failed...")
    optuna_state: str
    params: dict[str, Any]
    value: float | None = Field(description="The best value of the objective over the run.")
    intermediate_values: dict[int, float] = Field(
        description="Objective by step, as reported to Optuna: as it is logged in a study "
        "with a pruner, once the trial ended in one without."
    )
    note: str | None = Field(description="Why a trial failed, when it did.")
    started_at: float | None = Field(None, description="When its run started.")
    finished_at: float | None = Field(None, description="When its run ended.")


class TrialsPublic(BaseModel):
    """A page of a study's trials and how many match the filter."""

    data: list[TrialPublic]
    total: int
    offset: int
    limit: int


class BestTrialPublic(BaseModel):
    number: int
    run_id: int | None
    params: dict[str, Any]
    value: float


class HistoryPoint(BaseModel):
    number: int
    value: float
    best: float = Field(description="The best value of the trials completed so far.")


class StudyDefinedPublic(StudyPublic):
    """A study with its definition and best trial (what its detail and summary share)."""

    project: str
    base_config: dict[str, Any]
    space: dict[str, Any]
    best: BestTrialPublic | None

    @staticmethod
    def fields_of(study: StudyRecord, best: dict[str, Any] | None) -> dict[str, Any]:
        return {
            **StudyPublic.of(study).model_dump(),
            "project": study.project,
            "base_config": study.base_config,
            "space": study.space,
            "best": None if best is None else BestTrialPublic(**best),
        }


class StudyDetail(StudyDefinedPublic):
    """A study whole: its definition, trials, best trial, history and importances."""

    trials: list[TrialPublic]
    history: list[HistoryPoint]
    importances: dict[str, float] | None = Field(description="Optuna's parameter importances.")
    importances_note: str | None = Field(description="Why importances are absent, if they are.")

    @classmethod
    def of_report(cls, report: StudyReport) -> StudyDetail:
        return cls(
            **cls.fields_of(report.study, report.best),
            trials=[TrialPublic(**trial) for trial in report.trials],
            history=[HistoryPoint(**point) for point in report.history],
            importances=report.importances,
            importances_note=report.importances_note,
        )


class StudySummaryPublic(StudyDefinedPublic):
    """A study without its trials: how many are in each status, and the best one."""

    counts: dict[str, int] = Field(
        description="Trials by status: the run's (queued, running, completed, pruned, failed, "
        "cancelled, lost), Optuna's state for a trial without a run."
    )
    trials_finished: int = Field(description=FINISHED)

    @classmethod
    def of_summary(cls, summary: StudySummary) -> StudySummaryPublic:
        return cls(
            **cls.fields_of(summary.study, summary.best),
            counts=summary.counts,
            trials_finished=summary.trials_finished,
        )


class StudyPointsPublic(BaseModel):
    """Every trial by number, as columns of the same length: what the optimisation history
    and parallel-coordinates charts draw."""

    model_config = ConfigDict(from_attributes=True)

    number: list[int]
    run_id: list[int | None]
    status: list[str]
    value: list[float | None] = Field(description="The objective's (pruned: its last value).")
    params: dict[str, list[Any]] = Field(
        description="Each setting of the space: one value per trial (null: not drawn)."
    )


class ImportancesPublic(BaseModel):
    """Optuna's parameter importances, or why there are none."""

    model_config = ConfigDict(from_attributes=True)

    importances: dict[str, float] | None
    note: str | None = Field(description="Why importances are absent, if they are.")
    completed: int = Field(description="Completed trials of the study.")
    sampled: int = Field(
        description="Completed trials they were computed on: a seeded random sample of "
        "1,000 when there are more."
    )


def get_studies(
    request: Request, store: StoreDep, transport: TransportDep, folder: DataFolderDep
) -> StudyService:
    """The app's study service (made on first use on the whole store: it keeps Optuna's
    storage open), bound to the caller's project's view of the store and data folder."""
    service: StudyService | None = getattr(request.app.state, "studies", None)
    if service is None:
        service = StudyService(request.app.state.store, transport)
        service.storage  # opened once, shared by every request's binding  # noqa: B018
        request.app.state.studies = service
    return service.bound_to(store, folder)


StudiesDep = Annotated[StudyService, Depends(get_studies)]


@router.post(
    "",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=StudyDetail,
    responses=ERRORS,
)
def create_study(body: StudyCreate, studies: StudiesDep, who: Writer) -> StudyDetail:
    """Create a study and queue its first trials (up to its parallelism). A bad config or
    search space is a 422 naming each entry's path (``space.lr.low``); nothing is stored
    then."""
    definition = StudyDefinition(
        pipeline=body.pipeline, space=body.space, base_config=body.config,
        objective=body.objective, direction=body.direction, sampler=body.sampler,
        pruner=body.pruner, n_trials=body.n_trials, parallelism=body.parallelism,
        seed=body.seed, name=body.name,
    )  # fmt: skip
    study = studies.create(definition, submitter=who.user)
    return StudyDetail.of_report(studies.report(study.id))


StudiesCsv = csv_of(StudyListed)
"""The CSV parameters of the list of StudyListed."""


@router.get(
    "",
    dependencies=[READ],
    response_model=StudiesPublic,
    responses={**ERRORS, **csv_responses("The studies.")},
)
def list_studies(
    store: StoreDep,
    csv: Annotated[CsvAsked | None, StudiesCsv],
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> StudiesPublic | Response:
    """A page of studies, newest first, each with its trials finished and best value; or
    (``format=csv``, or ``Accept: text/csv``) every study as CSV."""

    def page(offset: int, limit: int) -> tuple[list[StudyListed], int]:
        items, total = store.list_studies(offset=offset, limit=limit)
        progress = store.list_study_progress(items)
        return [
            StudyListed(
                **StudyPublic.of(study).model_dump(),
                trials_finished=progress[study.id][0],
                best_value=progress[study.id][1],
            )
            for study in items
        ], total

    return page_or_csv(page, csv, "studies.csv", StudiesPublic, offset, limit)


@router.get("/{study_id}", dependencies=[READ], response_model=StudyDetail, responses=ERRORS)
def get_study(study_id: StudyId, studies: StudiesDep) -> StudyDetail:
    """A study with its trials (params, state, value, intermediate values), best trial,
    optimisation history and parameter importances."""
    return StudyDetail.of_report(studies.report(study_id))


@router.get(
    "/{study_id}/summary", dependencies=[READ], response_model=StudySummaryPublic, responses=ERRORS
)
def get_study_summary(study_id: StudyId, studies: StudiesDep) -> StudySummaryPublic:
    """A study without its trials: its trials counted by status, and its best trial."""
    return StudySummaryPublic.of_summary(studies.views.summary(study_id))


TrialsCsv = csv_of(TrialPublic)
"""The CSV parameters of the list of TrialPublic."""


@router.get(
    "/{study_id}/trials",
    dependencies=[READ],
    response_model=TrialsPublic,
    responses={**ERRORS, **csv_responses("The study's trials.")},
)
def list_study_trials(
    study_id: StudyId,
    studies: StudiesDep,
    csv: Annotated[CsvAsked | None, TrialsCsv],
    status_: Annotated[
        list[Annotated[str, status_list(TRIAL_STATUSES)]] | None,
        Query(
            alias="status", description="Repeat or comma-separate (no spaces); all when absent."
        ),
    ] = None,
    sort: TrialSort = "number",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> TrialsPublic | Response:
    """A page of the study's trials, filtered by status and sorted by number, value or
    status (trials without a value last either way; ties by number); or (``format=csv``, or
    ``Accept: text/csv``) every trial they keep as CSV, in that order. An unknown status or
    sort is a 422 naming the parameter, as a bad order or page is."""
    query = TrialQuery(statuses=comma_separated(status_), sort=sort, descending=order == "desc")

    def page(offset: int, limit: int) -> tuple[list[TrialPublic], int]:
        try:
            found = studies.views.trials(study_id, replace(query, offset=offset, limit=limit))
        except TrialQueryError as e:
            raise invalid_query(e) from None
        return [TrialPublic(**trial) for trial in found.trials], found.total

    return page_or_csv(page, csv, f"study-{study_id}-trials.csv", TrialsPublic, offset, limit)


@router.get(
    "/{study_id}/points", dependencies=[READ], response_model=StudyPointsPublic, responses=ERRORS
)
def get_study_points(study_id: StudyId, studies: StudiesDep) -> StudyPointsPublic:
    """Every trial as a point of the study's charts, in columns: number, run, status, value
    and each setting's value; no intermediate values."""
    return StudyPointsPublic.model_validate(studies.views.points(study_id))


@router.get(
    "/{study_id}/importances",
    dependencies=[READ],
    response_model=ImportancesPublic,
    responses=ERRORS,
)
def get_study_importances(study_id: StudyId, studies: StudiesDep) -> ImportancesPublic:
    """Optuna's parameter importances over the completed trials (a seeded random sample of
    1,000 when there are more; computed once per number of completed trials)."""
    return ImportancesPublic.model_validate(studies.views.importances(study_id))


@router.post(
    "/{study_id}/cancel",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StudyPublic,
    responses=ERRORS,
)
def cancel_study(study_id: StudyId, studies: StudiesDep) -> StudyPublic:
    """Cancel a study: queued trials are dropped, running ones stop at their next batch; the
    study ends ``cancelled`` once none is left (409 if it already ended)."""
    return StudyPublic.of(studies.cancel(study_id))

"""``/studies``: hyper-parameter studies on Optuna (create, list, read, cancel).

The request and response bodies of this resource live here beside their routes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from azuraforge.platform.api.deps import SettingsDep, StoreDep, TransportDep
from azuraforge.platform.api.schemas import error_responses
from azuraforge.platform.services.studies import StudyDefinition, StudyReport, StudyService
from azuraforge.platform.store import StudyRecord

router = APIRouter(prefix="/studies", tags=["studies"])
ERRORS = error_responses()
StudyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A study's id.")]


class StudyCreate(BaseModel):
    """A study to run: what to search over which base config, for which objective, how."""

    model_config = ConfigDict(extra="forbid")
    pipeline: str = Field(..., max_length=100, description="Pipeline name (GET /pipelines).")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Base settings every trial shares; defaults fill the rest.",
    )
    space: dict[str, Any] = Field(
        ...,
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


class StudiesPublic(BaseModel):
    data: list[StudyPublic]
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
    intermediate_values: dict[int, float] = Field(description="Objective by step, as reported.")
    note: str | None = Field(description="Why a trial failed, when it did.")


class BestTrialPublic(BaseModel):
    number: int
    run_id: int | None
    params: dict[str, Any]
    value: float


class HistoryPoint(BaseModel):
    number: int
    value: float
    best: float = Field(description="The best value of the trials completed so far.")


class StudyDetail(StudyPublic):
    """A study whole: its definition, trials, best trial, history and importances."""

    project: str
    base_config: dict[str, Any]
    space: dict[str, Any]
    trials: list[TrialPublic]
    best: BestTrialPublic | None
    history: list[HistoryPoint]
    importances: dict[str, float] | None = Field(description="Optuna's parameter importances.")
    importances_note: str | None = Field(description="Why importances are absent, if they are.")

    @classmethod
    def of_report(cls, report: StudyReport) -> StudyDetail:
        study = report.study
        return cls(
            **StudyPublic.of(study).model_dump(),
            project=study.project,
            base_config=study.base_config,
            space=study.space,
            trials=[TrialPublic(**trial) for trial in report.trials],
            best=None if report.best is None else BestTrialPublic(**report.best),
            history=[HistoryPoint(**point) for point in report.history],
            importances=report.importances,
            importances_note=report.importances_note,
        )


def get_studies(
    request: Request, store: StoreDep, transport: TransportDep, settings: SettingsDep
) -> StudyService:
    """The app's study service, made on first use (it keeps Optuna's storage open)."""
    service: StudyService | None = getattr(request.app.state, "studies", None)
    if service is None:
        service = StudyService(store, transport, data_folder=settings.data_dir)
        request.app.state.studies = service
    return service


StudiesDep = Annotated[StudyService, Depends(get_studies)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StudyDetail, responses=ERRORS)
def create_study(body: StudyCreate, studies: StudiesDep) -> StudyDetail:
    """Create a study and queue its first trials (up to its parallelism). A bad config or
    search space is a 422 naming each entry's path (``space.lr.low``); nothing is stored
    then."""
    definition = StudyDefinition(
        pipeline=body.pipeline, space=body.space, base_config=body.config,
        objective=body.objective, direction=body.direction, sampler=body.sampler,
        pruner=body.pruner, n_trials=body.n_trials, parallelism=body.parallelism,
        seed=body.seed, name=body.name,
    )  # fmt: skip
    study = studies.create(definition)
    return StudyDetail.of_report(studies.report(study.id))


@router.get("", response_model=StudiesPublic, responses=ERRORS)
def list_studies(
    store: StoreDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> StudiesPublic:
    """A page of studies, newest first."""
    items, total = store.list_studies(offset=offset, limit=limit)
    data = [StudyPublic.of(s) for s in items]
    return StudiesPublic(data=data, total=total, offset=offset, limit=limit)


@router.get("/{study_id}", response_model=StudyDetail, responses=ERRORS)
def get_study(study_id: StudyId, studies: StudiesDep) -> StudyDetail:
    """A study with its trials (params, state, value, intermediate values), best trial,
    optimisation history and parameter importances."""
    return StudyDetail.of_report(studies.report(study_id))


@router.post(
    "/{study_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StudyPublic,
    responses=ERRORS,
)
def cancel_study(study_id: StudyId, studies: StudiesDep) -> StudyPublic:
    """Cancel a study: queued trials are dropped, running ones stop at their next batch; the
    study ends ``cancelled`` once none is left (409 if it already ended)."""
    return StudyPublic.of(studies.cancel(study_id))

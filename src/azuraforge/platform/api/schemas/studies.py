"""Bodies of ``/studies`` (:mod:`~azuraforge.platform.api.routes.studies`): a study to run, a
study as lists, its detail and its summary show it, its trials, its charts' points and its
parameter importances."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from azuraforge.platform.api.schemas.common import Page, RequestBody
from azuraforge.platform.services.study_views import StudyReport, StudySummary
from azuraforge.platform.store import StudyRecord


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


class StudiesPublic(Page[StudyListed]):
    pass


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


class TrialsPublic(Page[TrialPublic]):
    """A page of a study's trials and how many match the filter."""


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

"""``/compare``: several runs side by side (curves, config diff, parallel coordinates)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, WithJsonSchema

from azuraforge.platform.api.access import READ
from azuraforge.platform.api.deps import MAX_EXPERIMENT_ID, StoreDep, invalid_query
from azuraforge.platform.api.schemas import ExperimentPublic, error_responses
from azuraforge.platform.services.compare import (
    DEFAULT_POINTS,
    MAX_KEYS,
    MAX_POINTS,
    MAX_RUNS,
    RUN_IDS,
    Comparison,
    MetricCurves,
    Selection,
    SelectionError,
    compare,
    parse_ids,
)
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.states import COMPLETED

router = APIRouter(prefix="/compare", tags=["compare"])
ERRORS = error_responses(404, 422)


class ComparedRun(ExperimentPublic):
    """A compared run; ``completed`` is false for failed, cancelled, lost, pruned and
    unfinished runs, whose values may be missing."""

    study_id: int | None
    trial_number: int | None
    completed: bool

    @classmethod
    def of(cls, record: ExperimentRecord) -> ComparedRun:
        return cls(
            **ExperimentPublic.of(record).model_dump(),
            study_id=record.study_id,
            trial_number=record.trial_number,
            completed=record.status == COMPLETED,
        )


class RunCurvePublic(BaseModel):
    experiment_id: int
    steps: list[int]
    values: list[float]
    total_points: int = Field(description="Points the run logged, before downsampling.")


class MetricCurvesPublic(BaseModel):
    key: str
    runs: list[RunCurvePublic] = Field(description="Only the runs that logged the metric.")

    @classmethod
    def of(cls, metric: MetricCurves) -> MetricCurvesPublic:
        runs = [
            RunCurvePublic(
                experiment_id=c.experiment_id, steps=c.steps, values=c.values, total_points=c.total
            )
            for c in metric.runs
        ]
        return cls(key=metric.key, runs=runs)


class ConfigDifferencePublic(BaseModel):
    key: str = Field(description="A flattened config key (`model.hidden`).")
    values: list[Any] = Field(description="Its value in each run, in the order of `runs`.")
    missing: list[int] = Field(description="Runs without the key (their value shows null).")


class DimensionPublic(BaseModel):
    key: str
    source: str = Field(
        description="`param` (a varying setting), `metric` (last value) or `score` (a number "
        "of the run's result)."
    )
    numeric: bool = Field(description="False: a categorical axis.")
    values: list[Any] = Field(description="One per run, in the order of `runs`; null: absent.")


class ParallelPublic(BaseModel):
    experiment_ids: list[int]
    statuses: list[str]
    metrics: list[str] = Field(description="The metrics among the dimensions.")
    scores: list[str] = Field(description="The scores among the dimensions.")
    dimensions: list[DimensionPublic]


class ComparisonPublic(BaseModel):
    runs: list[ComparedRun]
    points: int = Field(description="The most points per run and metric.")
    downsampling: str = Field(
        description="`minmax`: first and last point, and the lowest and highest of each of "
        "(points - 2) / 2 equal runs of points between, so every extreme is kept."
    )
    curves: list[MetricCurvesPublic]
    config_diff: list[ConfigDifferencePublic] = Field(
        description="Only the keys whose value differs between runs."
    )
    parallel: ParallelPublic

    @classmethod
    def of(cls, comparison: Comparison) -> ComparisonPublic:
        runs = comparison.runs
        return cls(
            runs=[ComparedRun.of(run) for run in runs],
            points=comparison.points,
            downsampling="minmax",
            curves=[MetricCurvesPublic.of(metric) for metric in comparison.curves],
            config_diff=[
                ConfigDifferencePublic(key=d.key, values=d.values, missing=d.missing)
                for d in comparison.config_diff
            ],
            parallel=ParallelPublic(
                experiment_ids=[run.id for run in runs],
                statuses=[run.status for run in runs],
                metrics=comparison.metrics,
                scores=comparison.scores,
                dimensions=[
                    DimensionPublic(key=d.key, source=d.source, numeric=d.numeric, values=d.values)
                    for d in comparison.dimensions
                ],
            ),
        )


Names = Annotated[
    list[str] | None,
    Query(description=f"Metric names (at most {MAX_KEYS}); repeat or comma-separate."),
]


@router.get("", dependencies=[READ], response_model=ComparisonPublic, responses=ERRORS)
def compare_runs(
    store: StoreDep,
    experiments: Annotated[
        # Declared, and checked by parse_ids: its 422 says which id is wrong.
        list[Annotated[str, WithJsonSchema({"type": "string", "pattern": f"^{RUN_IDS}$"})]] | None,
        Query(description=f"Run ids (at most {MAX_RUNS}); repeat or comma-separate."),
    ] = None,
    batch: Annotated[
        str | None,
        Query(min_length=1, max_length=40, description="A batch id (a grid's runs)."),
    ] = None,
    study: Annotated[
        int | None, Query(ge=1, le=MAX_EXPERIMENT_ID, description="A study id (its trials).")
    ] = None,
    points: Annotated[
        int, Query(ge=2, le=MAX_POINTS, description="Most points per run and metric.")
    ] = DEFAULT_POINTS,
    metrics: Names = None,
    keys: Names = None,
    scores: Annotated[
        list[str] | None,
        Query(description=f"Scores as axes too (at most {MAX_KEYS}); repeat or comma-separate."),
    ] = None,
) -> ComparisonPublic:
    """Compare up to 100 runs named by exactly one of `experiments`, `batch` or `study`:
    each metric's curve per run by step (downsampled, extremes kept), the config keys whose
    values differ, and parallel-coordinates data (varying parameters, then the last value of
    `metrics`, by default those the runs share, then each of `scores`: numbers of the runs'
    results such as `metrics.MAE.model`). Runs of every status are included; a value a run
    lacks is null."""
    try:
        selection = Selection(experiments=parse_ids(experiments or []), batch=batch, study=study)
        comparison = compare(
            store,
            selection,
            points=points,
            metrics=_names(metrics),
            keys=_names(keys),
            scores=_names(scores),
        )
    except SelectionError as e:
        raise invalid_query(e) from None
    return ComparisonPublic.of(comparison)


def _names(values: list[str] | None) -> list[str]:
    return [n.strip() for value in values or [] for n in value.split(",") if n.strip()]

"""The answer of ``/compare`` (:mod:`~azuraforge.platform.api.routes.compare`): the runs
compared, their curves, the settings that differ and the parallel-coordinates data."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from azuraforge.platform.api.schemas.runs import ExperimentPublic
from azuraforge.platform.services.compare import Comparison, MetricCurves
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.states import COMPLETED


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

"""Reads for comparing runs: several runs by id, a study's trial runs, every run's curves."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from azuraforge.platform.store.base import DEFAULT_PROJECT, StoreBase
from azuraforge.platform.store.experiments import records_of, select_records
from azuraforge.platform.store.models import Experiment, MetricPoint, TuningStudy
from azuraforge.platform.store.records import ExperimentRecord
from azuraforge.platform.store.states import PREDICTION

Curve = tuple[list[int], list[float]]
"""The steps and the values of one metric of one run, in step order."""
MAX_RUN_ID = 2**31 - 1
"""Run ids are 32-bit on PostgreSQL."""


class CompareStore(StoreBase):
    """Reads of several runs at once. Returned records are snapshots; safe from several
    threads and processes."""

    def get_experiments(
        self, experiment_ids: Sequence[int], *, project: str = DEFAULT_PROJECT
    ) -> list[ExperimentRecord]:
        """The runs (training runs and trials) with these ids in ``project``, in the order
        of ``experiment_ids``.

        Raises
        ------
        NotFoundError
            Naming every id that is not a run of ``project`` (a prediction job is none, nor
            an id larger than any the store holds).
        """
        wanted = list(dict.fromkeys(experiment_ids))
        storable = [i for i in wanted if i <= MAX_RUN_ID]
        with self._read() as connection:
            project_id = self.project_id(connection, project)
            rows = connection.execute(
                select_records().where(
                    Experiment.id.in_(storable),
                    Experiment.project_id == project_id,
                    Experiment.kind != PREDICTION,
                )
            ).all()
            by_id = {record.id: record for record in records_of(connection, rows, scored=True)}
        missing = [str(i) for i in wanted if i not in by_id]
        if missing:
            runs = "experiment" if len(missing) == 1 else "experiments"
            raise self.not_found(f"{runs} {', '.join(missing)}", project)
        return [by_id[i] for i in wanted]

    def list_study_runs(
        self, study_id: int, *, project: str = DEFAULT_PROJECT, limit: int = 1000
    ) -> list[ExperimentRecord]:
        """At most ``limit`` trial runs of study ``study_id``, by trial number.

        Raises
        ------
        NotFoundError
            If ``project`` has no study with this id.
        """
        with self._read() as connection:
            project_id = self.project_id(connection, project)
            found = connection.scalar(
                select(TuningStudy.id).where(
                    TuningStudy.id == study_id, TuningStudy.project_id == project_id
                )
            )
            if found is None:
                raise self.not_found(f"study {study_id}", project)
            rows = connection.execute(
                select_records()
                .where(Experiment.study_id == study_id)
                .order_by(Experiment.trial_number, Experiment.id)
                .limit(limit)
            ).all()
            return records_of(connection, rows, scored=True)

    def get_curves(
        self, experiment_ids: Sequence[int], keys: Sequence[str] = ()
    ) -> dict[int, dict[str, Curve]]:
        """Every point of each run's metrics (only ``keys`` when given), by run and key."""
        query = select(
            MetricPoint.experiment_id, MetricPoint.key, MetricPoint.step, MetricPoint.value
        ).where(MetricPoint.experiment_id.in_(list(experiment_ids)))
        if keys:
            query = query.where(MetricPoint.key.in_(list(keys)))
        order = (MetricPoint.experiment_id, MetricPoint.key, MetricPoint.step, MetricPoint.id)
        curves: dict[int, dict[str, Curve]] = {i: {} for i in experiment_ids}
        with self._read() as connection:
            for experiment_id, key, step, value in connection.execute(query.order_by(*order)):
                steps, values = curves[experiment_id].setdefault(key, ([], []))
                steps.append(step)
                values.append(value)
        return curves

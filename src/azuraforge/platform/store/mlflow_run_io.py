"""What each run made through MLflow took in (datasets with their input tags, logged models)
and made (logged models), and the datasets of an MLflow experiment's runs; the records are
:mod:`.mlflow_models`'.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, exists, insert, literal, select

from azuraforge.platform.store.mlflow_models import (
    INPUT,
    DatasetIn,
    DatasetSummary,
    MlflowModelStore,
    RunIO,
    in_groups,
)
from azuraforge.platform.store.models import (
    Experiment,
    MlflowDataset,
    MlflowExperiment,
    MlflowRun,
    MlflowRunInput,
    MlflowRunModel,
)


class MlflowRunIOStore(MlflowModelStore):
    """What MLflow's runs took in and made, and the datasets they took. Safe from any number of
    threads and processes."""

    def log_run_models(
        self, experiment_id: int, direction: str, models: Sequence[tuple[str, int]]
    ) -> None:
        """Record logged models ``(id, step)`` of the run's project as the run's inputs
        (``direction`` ``input``) or outputs (``output``); one already recorded is kept."""
        if not models:
            return
        with self._begin() as connection:
            self._project_models(connection, experiment_id, {m for m, _ in models})
            held = set(
                connection.scalars(
                    select(MlflowRunModel.model_id).where(
                        MlflowRunModel.experiment_id == experiment_id,
                        MlflowRunModel.direction == direction,
                    )
                )
            )
            rows = {m: {"experiment_id": experiment_id, "model_id": m, "direction": direction,
                        "step": step} for m, step in models if m not in held}  # fmt: skip
            if rows:
                connection.execute(insert(MlflowRunModel), list(rows.values()))

    def log_run_datasets(self, experiment_id: int, datasets: Sequence[DatasetIn]) -> None:
        """Record ``datasets`` as inputs of the MLflow run ``experiment_id``: each kept once
        per MLflow experiment (by name and digest), once per run (with the input tags it was
        first logged with).

        Raises
        ------
        NotFoundError
            For a run not made through MLflow's API.
        """
        if not datasets:
            return
        with self._begin() as connection:
            mlflow_id = connection.scalar(
                select(MlflowRun.mlflow_experiment_id).where(
                    MlflowRun.experiment_id == experiment_id
                )
            )
            if mlflow_id is None:
                raise self.not_found(f"MLflow run {experiment_id}")
            held = set(
                connection.scalars(
                    select(MlflowRunInput.dataset_id).where(
                        MlflowRunInput.experiment_id == experiment_id
                    )
                )
            )
            for dataset in datasets:
                dataset_id = _dataset_id(connection, mlflow_id, dataset)
                if dataset_id not in held:
                    held.add(dataset_id)
                    connection.execute(
                        insert(MlflowRunInput).values(
                            experiment_id=experiment_id,
                            dataset_id=dataset_id,
                            tags=dict(dataset.tags),
                        )
                    )

    def mlflow_run_io(self, experiment_ids: Sequence[int], *, project: str) -> dict[int, RunIO]:
        """What each run of ``experiment_ids`` took in and made (empty for a run without, or
        not of the project)."""
        found: dict[int, RunIO] = {i: RunIO() for i in experiment_ids}
        if not experiment_ids:
            return found
        with self._read() as connection:
            runs = (
                select(Experiment.id)
                .where(Experiment.id.in_(list(experiment_ids)))
                .where(Experiment.project_id == self.project_id(connection, project))
            )
            datasets = connection.execute(
                select(
                    MlflowRunInput.experiment_id, MlflowRunInput.tags, *MlflowDataset.__table__.c
                )
                .join(MlflowDataset, MlflowDataset.id == MlflowRunInput.dataset_id)
                .where(MlflowRunInput.experiment_id.in_(runs))
                .order_by(MlflowDataset.id)
            ).all()
            models = connection.execute(
                select(*MlflowRunModel.__table__.c)
                .where(MlflowRunModel.experiment_id.in_(runs))
                .order_by(MlflowRunModel.model_id)
            ).all()
        for row in datasets:
            found[row.experiment_id].datasets.append(
                DatasetIn(row.name, row.digest, row.source_type, row.source, row.schema,
                          row.profile, dict(row.tags))
            )  # fmt: skip
        for model in models:
            io = found[model.experiment_id]
            if model.direction == INPUT:
                io.model_inputs.append(model.model_id)
            else:
                io.model_outputs.append((model.model_id, int(model.step)))
        return found

    def search_mlflow_datasets(
        self, mlflow_ids: Sequence[int], *, project: str, limit: int = 1000
    ) -> list[DatasetSummary]:
        """The datasets runs of the project's MLflow experiments ``mlflow_ids`` (0: the
        default) took in, each once per context (its input tag ``mlflow.data.context``), at
        most ``limit``."""
        with self._begin() as connection:
            project_id = self._with_default(connection, project)
            rows = connection.execute(
                select(MlflowExperiment.id, MlflowExperiment.is_default, MlflowDataset.name,
                       MlflowDataset.digest, MlflowRunInput.tags)
                .join(MlflowDataset, MlflowDataset.mlflow_experiment_id == MlflowExperiment.id)
                .join(MlflowRunInput, MlflowRunInput.dataset_id == MlflowDataset.id)
                .where(MlflowExperiment.project_id == project_id, in_groups(mlflow_ids))
                .order_by(MlflowDataset.id)
            ).all()  # fmt: skip
        found: dict[tuple[str, str, str, str | None], None] = {}
        for mlflow_id, is_default, name, digest, tags in rows:
            public = "0" if is_default else str(mlflow_id)
            found.setdefault((public, name, digest, (tags or {}).get("mlflow.data.context")))
        return [DatasetSummary(*key) for key in list(found)[:limit]]


def _dataset_id(connection: Connection, mlflow_id: int, dataset: DatasetIn) -> int:
    """The id of the MLflow experiment's dataset of that name and digest, made if new."""
    where = (
        MlflowDataset.mlflow_experiment_id == mlflow_id,
        MlflowDataset.name == dataset.name,
        MlflowDataset.digest == dataset.digest,
    )
    found = connection.scalar(select(MlflowDataset.id).where(*where))
    if found is None:
        # Inserted only where no row has the name and digest yet, in one statement: a
        # concurrent request of another run may make it first.
        row = select(
            literal(mlflow_id),
            literal(dataset.name),
            literal(dataset.digest),
            literal(dataset.source_type),
            literal(dataset.source),
            literal(dataset.schema),
            literal(dataset.profile),
            literal(time.time()),
        )
        connection.execute(
            insert(MlflowDataset).from_select(
                [
                    "mlflow_experiment_id",
                    "name",
                    "digest",
                    "source_type",
                    "source",
                    "schema",
                    "profile",
                    "created_at",
                ],
                row.where(~exists().where(*where)),
            )
        )
        found = connection.execute(select(MlflowDataset.id).where(*where)).scalar_one()
    return int(found)

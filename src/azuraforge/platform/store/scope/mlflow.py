"""The project's view of the MLflow-compatible surface: MLflow's experiments (groups of runs), its
runs' writes and searches, logged models and datasets (store/mlflow.py, store/mlflow_models.py,
store/external.py). Each method applies its rule (:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from azuraforge.platform.store.interfaces.mlflow import MlflowGroups, MlflowModels
from azuraforge.platform.store.metrics import JobWrites, Point
from azuraforge.platform.store.mlflow import (
    ACTIVE,
    MlflowExperimentRecord,
    MlflowRunRecord,
    NaNPoint,
)
from azuraforge.platform.store.mlflow_models import (
    DatasetIn,
    DatasetRef,
    DatasetSummary,
    LoggedModelRecord,
    ModelCondition,
    ModelMetric,
    ModelOrder,
    RunIO,
)
from azuraforge.platform.store.mlflow_search import RunCondition, RunOrder
from azuraforge.platform.store.scope.base import ScopeBase


class ScopedMlflowGroups(ScopeBase, MlflowGroups):
    """:class:`~azuraforge.platform.store.interfaces.MlflowGroups` kept to the view's project."""

    def get_mlflow_experiment(self, mlflow_id: int, *, project: str) -> MlflowExperimentRecord:
        return self.store.get_mlflow_experiment(mlflow_id, project=self.project)

    def find_mlflow_experiment(self, name: str, *, project: str) -> MlflowExperimentRecord | None:
        return self.store.find_mlflow_experiment(name, project=self.project)

    def create_mlflow_experiment(
        self,
        name: str,
        *,
        project: str,
        artifact_location: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> MlflowExperimentRecord:
        return self.store.create_mlflow_experiment(
            name, project=self.project, artifact_location=artifact_location, tags=tags
        )

    def rename_mlflow_experiment(self, mlflow_id: int, name: str, *, project: str) -> None:
        self.store.rename_mlflow_experiment(mlflow_id, name, project=self.project)

    def set_mlflow_experiment_lifecycle(
        self, mlflow_id: int, lifecycle: str, *, project: str
    ) -> None:
        self.store.set_mlflow_experiment_lifecycle(mlflow_id, lifecycle, project=self.project)

    def set_mlflow_experiment_tag(
        self, mlflow_id: int, key: str, value: str | None, *, project: str
    ) -> None:
        self.store.set_mlflow_experiment_tag(mlflow_id, key, value, project=self.project)

    def list_mlflow_experiments(
        self,
        *,
        project: str,
        lifecycles: Sequence[str] = (ACTIVE,),
        conditions: Sequence[RunCondition] = (),
        orders: Sequence[RunOrder] = (),
        offset: int = 0,
        limit: int = 1000,
    ) -> list[MlflowExperimentRecord]:
        return self.store.list_mlflow_experiments(
            project=self.project,
            lifecycles=lifecycles,
            conditions=conditions,
            orders=orders,
            offset=offset,
            limit=limit,
        )

    def attach_mlflow_run(
        self,
        experiment_id: int,
        mlflow_id: int,
        tags: Mapping[str, str],
        *,
        user_id: str | None = None,
        started_at: float | None = None,
    ) -> MlflowExperimentRecord:
        self.check_run(experiment_id)
        return self.store.attach_mlflow_run(
            experiment_id, mlflow_id, tags, user_id=user_id, started_at=started_at
        )

    def set_mlflow_run_end(self, experiment_id: int, finished_at: float) -> None:
        self.check_run(experiment_id)
        self.store.set_mlflow_run_end(experiment_id, finished_at)

    def set_mlflow_run_lifecycle(self, experiment_id: int, lifecycle: str) -> None:
        self.check_run(experiment_id)
        self.store.set_mlflow_run_lifecycle(experiment_id, lifecycle)

    def get_mlflow_run(self, experiment_id: int) -> MlflowRunRecord:
        self.check_run(experiment_id)
        return self.store.get_mlflow_run(experiment_id)

    def write_mlflow(
        self,
        experiment_id: int,
        *,
        points: Sequence[Point] = (),
        nans: Sequence[NaNPoint] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> None:
        self.store.write_mlflow(
            experiment_id, points=points, nans=nans, params=params, tags=tags, project=self.project
        )

    def mlflow_metric_history(
        self, experiment_id: int, key: str, *, offset: int = 0, limit: int | None = None
    ) -> list[tuple[int, float, float]]:
        self.check_run(experiment_id)
        return self.store.mlflow_metric_history(experiment_id, key, offset=offset, limit=limit)

    def search_mlflow_runs(
        self,
        mlflow_ids: Sequence[int],
        conditions: Sequence[RunCondition] = (),
        orders: Sequence[RunOrder] = (),
        *,
        project: str,
        lifecycles: Sequence[str] = (ACTIVE,),
        offset: int = 0,
        limit: int = 1000,
    ) -> list[MlflowRunRecord]:
        return self.store.search_mlflow_runs(
            mlflow_ids,
            conditions,
            orders,
            project=self.project,
            lifecycles=lifecycles,
            offset=offset,
            limit=limit,
        )

    def write_external(
        self,
        experiment_id: int,
        writes: JobWrites,
        *,
        batch_id: str | None = None,
        now: float | None = None,
    ) -> bool:
        self.check_run(experiment_id)
        return self.store.write_external(experiment_id, writes, batch_id=batch_id, now=now)

    def end_external(
        self,
        experiment_id: int,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        writes: JobWrites | None = None,
    ) -> None:
        self.check_run(experiment_id)
        self.store.end_external(experiment_id, status, error=error, result=result, writes=writes)


class ScopedMlflowModels(ScopeBase, MlflowModels):
    """:class:`~azuraforge.platform.store.interfaces.MlflowModels` kept to the view's project."""

    def create_logged_model(
        self,
        run_id: int,
        mlflow_id: int,
        *,
        project: str,
        name: str | None = None,
        model_type: str | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        creator: str | None = None,
    ) -> LoggedModelRecord:
        return self.store.create_logged_model(
            run_id,
            mlflow_id,
            project=self.project,
            name=name,
            model_type=model_type,
            params=params,
            tags=tags,
            creator=creator,
        )

    def get_logged_model(
        self, model_id: str, *, project: str, allow_deleted: bool = False
    ) -> LoggedModelRecord:
        return self.store.get_logged_model(
            model_id, project=self.project, allow_deleted=allow_deleted
        )

    def finalize_logged_model(
        self, model_id: str, status: str, *, project: str
    ) -> LoggedModelRecord:
        return self.store.finalize_logged_model(model_id, status, project=self.project)

    def delete_logged_model(self, model_id: str, *, project: str) -> None:
        self.store.delete_logged_model(model_id, project=self.project)

    def set_logged_model_values(
        self, model_id: str, kind: str, values: Mapping[str, str], *, project: str
    ) -> None:
        self.store.set_logged_model_values(model_id, kind, values, project=self.project)

    def delete_logged_model_tag(self, model_id: str, key: str, *, project: str) -> None:
        self.store.delete_logged_model_tag(model_id, key, project=self.project)

    def search_logged_models(
        self,
        mlflow_ids: Sequence[int],
        conditions: Sequence[ModelCondition] = (),
        orders: Sequence[ModelOrder] = (),
        *,
        project: str,
        datasets: Sequence[DatasetRef] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> list[LoggedModelRecord]:
        return self.store.search_logged_models(
            mlflow_ids,
            conditions,
            orders,
            project=self.project,
            datasets=datasets,
            offset=offset,
            limit=limit,
        )

    def log_model_metrics(self, experiment_id: int, metrics: Sequence[ModelMetric]) -> None:
        self.check_run(experiment_id)
        self.store.log_model_metrics(experiment_id, metrics)

    def log_run_models(
        self, experiment_id: int, direction: str, models: Sequence[tuple[str, int]]
    ) -> None:
        self.check_run(experiment_id)
        self.store.log_run_models(experiment_id, direction, models)

    def log_run_datasets(self, experiment_id: int, datasets: Sequence[DatasetIn]) -> None:
        self.check_run(experiment_id)
        self.store.log_run_datasets(experiment_id, datasets)

    def mlflow_run_io(self, experiment_ids: Sequence[int], *, project: str) -> dict[int, RunIO]:
        return self.store.mlflow_run_io(experiment_ids, project=self.project)

    def search_mlflow_datasets(
        self, mlflow_ids: Sequence[int], *, project: str, limit: int = 1000
    ) -> list[DatasetSummary]:
        return self.store.search_mlflow_datasets(mlflow_ids, project=self.project, limit=limit)

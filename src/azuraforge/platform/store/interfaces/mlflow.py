"""The MLflow-compatible surface: MLflow's experiments (groups of runs), its runs' writes and
searches, logged models and datasets (store/mlflow.py, store/mlflow_models.py,
store/external.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

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


class MlflowGroups(Protocol):
    """MLflow's experiments (a project's groups of runs), the runs attached to them, their writes,
    histories and searches, and external runs' writes.

    A project's view forces its ``project`` and checks that each run named by id is the
    project's."""

    def get_mlflow_experiment(self, mlflow_id: int, *, project: str) -> MlflowExperimentRecord: ...
    def find_mlflow_experiment(
        self, name: str, *, project: str
    ) -> MlflowExperimentRecord | None: ...
    def create_mlflow_experiment(
        self,
        name: str,
        *,
        project: str,
        artifact_location: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> MlflowExperimentRecord: ...
    def rename_mlflow_experiment(self, mlflow_id: int, name: str, *, project: str) -> None: ...
    def set_mlflow_experiment_lifecycle(
        self, mlflow_id: int, lifecycle: str, *, project: str
    ) -> None: ...
    def set_mlflow_experiment_tag(
        self, mlflow_id: int, key: str, value: str | None, *, project: str
    ) -> None: ...
    def list_mlflow_experiments(
        self,
        *,
        project: str,
        lifecycles: Sequence[str] = (ACTIVE,),
        conditions: Sequence[RunCondition] = (),
        orders: Sequence[RunOrder] = (),
        offset: int = 0,
        limit: int = 1000,
    ) -> list[MlflowExperimentRecord]: ...
    def attach_mlflow_run(
        self,
        experiment_id: int,
        mlflow_id: int,
        tags: Mapping[str, str],
        *,
        user_id: str | None = None,
        started_at: float | None = None,
    ) -> MlflowExperimentRecord: ...
    def set_mlflow_run_end(self, experiment_id: int, finished_at: float) -> None: ...
    def set_mlflow_run_lifecycle(self, experiment_id: int, lifecycle: str) -> None: ...
    def get_mlflow_run(self, experiment_id: int) -> MlflowRunRecord: ...
    def write_mlflow(
        self,
        experiment_id: int,
        *,
        points: Sequence[Point] = (),
        nans: Sequence[NaNPoint] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> None: ...
    def mlflow_metric_history(
        self, experiment_id: int, key: str, *, offset: int = 0, limit: int | None = None
    ) -> list[tuple[int, float, float]]: ...
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
    ) -> list[MlflowRunRecord]: ...
    def write_external(
        self,
        experiment_id: int,
        writes: JobWrites,
        *,
        batch_id: str | None = None,
        now: float | None = None,
    ) -> bool: ...
    def end_external(
        self,
        experiment_id: int,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        writes: JobWrites | None = None,
    ) -> None: ...


class MlflowModels(Protocol):
    """MLflow's logged models, a run's models and datasets.

    A project's view forces its ``project`` and checks that each run named by id is the
    project's."""

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
    ) -> LoggedModelRecord: ...
    def get_logged_model(
        self, model_id: str, *, project: str, allow_deleted: bool = False
    ) -> LoggedModelRecord: ...
    def finalize_logged_model(
        self, model_id: str, status: str, *, project: str
    ) -> LoggedModelRecord: ...
    def delete_logged_model(self, model_id: str, *, project: str) -> None: ...
    def set_logged_model_values(
        self, model_id: str, kind: str, values: Mapping[str, str], *, project: str
    ) -> None: ...
    def delete_logged_model_tag(self, model_id: str, key: str, *, project: str) -> None: ...
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
    ) -> list[LoggedModelRecord]: ...
    def log_model_metrics(self, experiment_id: int, metrics: Sequence[ModelMetric]) -> None: ...
    def log_run_models(
        self, experiment_id: int, direction: str, models: Sequence[tuple[str, int]]
    ) -> None: ...
    def log_run_datasets(self, experiment_id: int, datasets: Sequence[DatasetIn]) -> None: ...
    def mlflow_run_io(
        self, experiment_ids: Sequence[int], *, project: str
    ) -> dict[int, RunIO]: ...
    def search_mlflow_datasets(
        self, mlflow_ids: Sequence[int], *, project: str, limit: int = 1000
    ) -> list[DatasetSummary]: ...

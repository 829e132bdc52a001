"""Request bodies of MLflow 3's logged models, runs' inputs and outputs and experiments'
datasets (:mod:`~azuraforge.platform.api.routes.mlflow_models`), on
:class:`~azuraforge.platform.api.schemas.mlflow.MlflowBody`. Not in the OpenAPI: MLflow's own
reference describes these calls."""

from __future__ import annotations

from pydantic import Field

from azuraforge.platform.api.schemas.mlflow import MlflowBody
from azuraforge.platform.services.mlflow_models import MAX_SEARCH
from azuraforge.platform.store.mlflow_models import DatasetIn

SEARCH_DEFAULT = 100
"""How many logged models a search answers when not told (MLflow's default)."""


class KeyValue(MlflowBody):
    key: str = Field(max_length=250)
    value: str = ""


# -- logged models --------------------------------------------------------------------------


class LoggedModelCreate(MlflowBody):
    experiment_id: str = Field(max_length=20)
    name: str | None = None
    model_type: str | None = Field(None, max_length=500)
    source_run_id: str | None = Field(None, max_length=40)
    params: list[KeyValue] = Field([], max_length=MAX_SEARCH)
    tags: list[KeyValue] = Field([], max_length=MAX_SEARCH)


class ModelFinalize(MlflowBody):
    status: str | int


class ModelTags(MlflowBody):
    tags: list[KeyValue] = Field([], max_length=MAX_SEARCH)


class ModelParams(MlflowBody):
    params: list[KeyValue] = Field([], max_length=MAX_SEARCH)


class OrderBy(MlflowBody):
    field_name: str = Field(max_length=300)
    ascending: bool = True
    dataset_name: str | None = Field(None, max_length=500)
    dataset_digest: str | None = Field(None, max_length=36)


class DatasetRef(MlflowBody):
    dataset_name: str | None = Field(None, max_length=500)
    dataset_digest: str | None = Field(None, max_length=36)


class ModelSearch(MlflowBody):
    experiment_ids: list[str] = Field(min_length=1, max_length=MAX_SEARCH)
    filter: str | None = Field(None, max_length=10_000)
    datasets: list[DatasetRef] = Field([], max_length=100)
    max_results: int = Field(SEARCH_DEFAULT, ge=1, le=MAX_SEARCH)
    order_by: list[OrderBy] = Field([], max_length=20)
    page_token: str | None = Field(None, max_length=200)


# -- runs' inputs and outputs, experiments' datasets ------------------------------------------


class Dataset(MlflowBody):
    name: str = Field(min_length=1, max_length=500)
    digest: str = Field(min_length=1, max_length=36)
    source_type: str = Field(min_length=1, max_length=36)
    source: str = Field(max_length=65_535)
    schema_: str | None = Field(None, alias="schema", max_length=1_048_576)
    profile: str | None = Field(None, max_length=16_384)


class DatasetInput(MlflowBody):
    tags: list[KeyValue] = Field([], max_length=100)
    dataset: Dataset

    def read(self) -> DatasetIn:
        d = self.dataset
        tags = {tag.key: tag.value[:500] for tag in self.tags}
        return DatasetIn(d.name, d.digest, d.source_type, d.source, d.schema_, d.profile, tags)


class ModelRef(MlflowBody):
    model_id: str = Field(max_length=40)
    step: int = 0


class RunInputs(MlflowBody):
    run_id: str = Field(max_length=40)
    datasets: list[DatasetInput] = Field([], max_length=1000)
    models: list[ModelRef] = Field([], max_length=1000)


class RunOutputs(MlflowBody):
    run_id: str = Field(max_length=40)
    models: list[ModelRef] = Field(max_length=1000)


class DatasetSearch(MlflowBody):
    experiment_ids: list[str] = Field([], max_length=MAX_SEARCH)  # more: refused, MLflow's words

"""Request bodies of MLflow's tracking API (:mod:`~azuraforge.platform.api.routes.mlflow`):
experiments, runs, their metrics, params and tags; and :class:`MlflowBody`, the base of
every body of MLflow's client (:mod:`.mlflow_models`, :mod:`.mlflow_registry`).
Not in the OpenAPI: MLflow's own reference describes these calls."""

from __future__ import annotations

from typing import Annotated, NotRequired

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from azuraforge.platform.services.mlflow_api import MAX_RESULTS, experiment_id_of, run_id_of


class MlflowBody(BaseModel):
    """A request of MLflow's client: fields it sends that are not read here are ignored
    (``run_uuid`` beside ``run_id``...). A request made of two bodies names the id's body
    last among its bases: pydantic validates the last base's fields first, so a wrong id is
    the one named, as MLflow names it."""

    model_config = ConfigDict(extra="ignore")


class TagIn(MlflowBody):
    key: str
    value: str = ""


class ParamIn(MlflowBody):
    key: str
    value: str = ""


class Metric(TypedDict):
    """A metric as MLflow's client sends it (other fields ignored): a typed dict, not a model,
    as a batch holds a thousand of them (validated about 5 times faster so)."""

    key: str
    value: float | str
    timestamp: int
    step: NotRequired[int]
    model_id: NotRequired[Annotated[str | None, Field(max_length=64)]]
    dataset_name: NotRequired[Annotated[str | None, Field(max_length=500)]]
    dataset_digest: NotRequired[Annotated[str | None, Field(max_length=36)]]


# -- experiments ----------------------------------------------------------------------------


class ExperimentCreate(MlflowBody):
    name: str
    artifact_location: str = ""
    tags: list[TagIn] = []


class ExperimentRef(MlflowBody):
    experiment_id: str

    @property
    def id(self) -> int:
        return experiment_id_of(self.experiment_id)


class ExperimentRename(ExperimentRef):
    new_name: str


class ExperimentTag(TagIn, ExperimentRef):
    pass


class ExperimentTagDelete(ExperimentRef):
    key: str


class ExperimentSearch(MlflowBody):
    max_results: int = Field(1000, ge=1, le=MAX_RESULTS)
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: str | int = "ACTIVE_ONLY"


# -- runs -----------------------------------------------------------------------------------


class RunCreate(MlflowBody):
    experiment_id: str = "0"
    run_name: str | None = None
    tags: list[TagIn] = []
    user_id: str = Field("", max_length=250)
    start_time: int | None = Field(None, ge=0, le=2**53)


class RunRef(MlflowBody):
    run_id: str | None = None
    run_uuid: str | None = None

    @property
    def id(self) -> int:
        return run_id_of(self.run_id or self.run_uuid)


class RunUpdate(RunRef):
    status: str | None = None
    run_name: str | None = None
    end_time: int | None = Field(None, ge=0, le=2**53)


class RunSearch(MlflowBody):
    experiment_ids: list[str] = []
    filter: str | None = None
    run_view_type: str | int = "ACTIVE_ONLY"
    max_results: int = Field(1000, ge=1, le=MAX_RESULTS)
    order_by: list[str] = []
    page_token: str | None = None


class LogBatch(RunRef):
    metrics: list[Metric] = []
    params: list[ParamIn] = []
    tags: list[TagIn] = []


class RunFields(TypedDict, total=False):
    run_id: str | None
    run_uuid: str | None


class LogMetric(RunFields, Metric):
    """The run's fields first: a wrong id is the one named, as with :class:`MlflowBody`."""


class LogParam(ParamIn, RunRef):
    pass


class SetTag(TagIn, RunRef):
    pass


class DeleteTag(RunRef):
    key: str

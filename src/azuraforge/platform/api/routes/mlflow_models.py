"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models...``), runs' inputs and outputs
(``runs/log-inputs``, ``runs/outputs``) and the datasets of experiments
(``experiments/search-datasets``), so that ``mlflow.<flavor>.log_model`` and autologging
work unchanged (:mod:`~azuraforge.platform.services.mlflow_models`). Reads need a role that
reads, writes one that writes; the caller's project is the only one seen. Errors answer in
MLflow's form. Included before :mod:`.mlflow`, whose catch-all answers 501."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.api.access import READ, TRACK, WRITE, Reader, Writer
from azuraforge.platform.api.deps import MlflowModelsDep
from azuraforge.platform.api.schemas.mlflow_models import (
    DatasetSearch,
    KeyValue,
    LoggedModelCreate,
    ModelFinalize,
    ModelParams,
    ModelSearch,
    ModelTags,
    RunInputs,
    RunOutputs,
)
from azuraforge.platform.services.mlflow_api import (
    experiment_id_of,
    page_offset,
    paged,
    run_id_of,
)
from azuraforge.platform.services.mlflow_models import (
    logged_model_json,
    model_id_of,
    parse_datasets,
    parse_model_filter,
    parse_model_order,
    status_of,
)
from azuraforge.platform.store.mlflow_models import INPUT, OUTPUT, PARAM, TAG

MLFLOW = "/api/2.0/mlflow"
MODELS = f"{MLFLOW}/logged-models"
AJAX = "/ajax-api/2.0/mlflow"
"""Where MLflow's web page makes its calls (``search-datasets`` is one of the page's)."""
router = APIRouter(include_in_schema=False)
Json = dict[str, Any]
MAX_DATASET_EXPERIMENTS = 20
"""The most experiments a ``search-datasets`` request names (MLflow's limit)."""


def _pairs(values: list[KeyValue]) -> dict[str, str]:
    return {pair.key: pair.value for pair in values}


# -- logged models --------------------------------------------------------------------------


@router.post(MODELS, dependencies=[TRACK])
def create_logged_model(body: LoggedModelCreate, store: MlflowModelsDep, who: Writer) -> Json:
    """A new logged model, pending, made within the MLflow run ``source_run_id`` of the
    caller's project: its files go among that run's, in ``models/<model id>/``."""
    if not body.source_run_id:
        raise InvalidParameterError(
            "a logged model is made within a run here (source_run_id): its files are kept "
            "among that run's; log the model inside mlflow.start_run()"
        )
    made = store.create_logged_model(
        run_id_of(body.source_run_id), experiment_id_of(body.experiment_id),
        project=who.project, name=body.name, model_type=body.model_type,
        params=_pairs(body.params), tags=_pairs(body.tags), creator=who.user,
    )  # fmt: skip
    return {"model": logged_model_json(made)}


@router.post(f"{MODELS}/search", dependencies=[READ])
def search_logged_models(body: ModelSearch, store: MlflowModelsDep, who: Reader) -> Json:
    """The caller's project's active logged models of ``experiment_ids`` meeting the filter
    (its metrics on ``datasets`` when given), in ``order_by`` (then newest first), a page at
    a time."""
    datasets = parse_datasets(d.model_dump() for d in body.datasets)
    ids = [experiment_id_of(i) for i in body.experiment_ids]
    conditions = parse_model_filter(body.filter)
    orders = parse_model_order(o.model_dump() for o in body.order_by)
    offset = page_offset(body.page_token)
    found = store.search_logged_models(ids, conditions, orders, project=who.project,
                                       datasets=datasets, offset=offset,
                                       limit=body.max_results + 1)  # fmt: skip
    return paged("models", found, offset, body.max_results,
                 lambda page: [logged_model_json(m) for m in page])  # fmt: skip


@router.get(f"{MODELS}/{{model_id}}", dependencies=[READ])
def get_logged_model(
    model_id: str,
    store: MlflowModelsDep,
    who: Reader,
    allow_deleted: Annotated[bool, Query()] = False,
) -> Json:
    """One logged model of the caller's project (a deleted one if ``allow_deleted``)."""
    found = store.get_logged_model(
        model_id_of(model_id), project=who.project, allow_deleted=allow_deleted
    )
    return {"model": logged_model_json(found)}


@router.patch(f"{MODELS}/{{model_id}}", dependencies=[TRACK])
def finalize_logged_model(
    model_id: str, body: ModelFinalize, store: MlflowModelsDep, who: Writer
) -> Json:
    """Set the model's status (``LOGGED_MODEL_READY`` once its files are uploaded,
    ``LOGGED_MODEL_UPLOAD_FAILED``)."""
    found = store.finalize_logged_model(
        model_id_of(model_id), status_of(body.status), project=who.project
    )
    return {"model": logged_model_json(found)}


@router.delete(f"{MODELS}/{{model_id}}", dependencies=[WRITE])
def delete_logged_model(model_id: str, store: MlflowModelsDep, who: Writer) -> Json:
    """Mark the model deleted: no longer found nor searched (its files stay its run's)."""
    store.delete_logged_model(model_id_of(model_id), project=who.project)
    return {}


@router.patch(f"{MODELS}/{{model_id}}/tags", dependencies=[TRACK])
def set_logged_model_tags(
    model_id: str, body: ModelTags, store: MlflowModelsDep, who: Writer
) -> Json:
    """Set tags of the model (a key's value replaced)."""
    store.set_logged_model_values(model_id_of(model_id), TAG, _pairs(body.tags),
                                  project=who.project)  # fmt: skip
    return {}


@router.delete(f"{MODELS}/{{model_id}}/tags/{{tag_key:path}}", dependencies=[TRACK])
def delete_logged_model_tag(
    model_id: str, tag_key: str, store: MlflowModelsDep, who: Writer
) -> Json:
    """Delete a tag of the model (``RESOURCE_DOES_NOT_EXIST`` when it has none so named)."""
    store.delete_logged_model_tag(model_id_of(model_id), tag_key[:250], project=who.project)
    return {}


@router.post(f"{MODELS}/{{model_id}}/params", dependencies=[TRACK])
def log_logged_model_params(
    model_id: str, body: ModelParams, store: MlflowModelsDep, who: Writer
) -> Json:
    """Log params of the model (a param logged keeps its value)."""
    store.set_logged_model_values(model_id_of(model_id), PARAM, _pairs(body.params),
                                  project=who.project)  # fmt: skip
    return {}


# -- runs' inputs and outputs, experiments' datasets ------------------------------------------


@router.post(f"{MLFLOW}/runs/log-inputs", dependencies=[TRACK])
def log_inputs(body: RunInputs, store: MlflowModelsDep) -> Json:
    """Record datasets (with their input tags) and logged models as the run's inputs."""
    run_id = run_id_of(body.run_id)
    models = [(model_id_of(m.model_id), 0) for m in body.models]
    store.log_run_models(run_id, INPUT, models)
    store.log_run_datasets(run_id, [d.read() for d in body.datasets])
    return {}


@router.post(f"{MLFLOW}/runs/outputs", dependencies=[TRACK])
def log_outputs(body: RunOutputs, store: MlflowModelsDep) -> Json:
    """Record logged models as what the run made (at ``step``)."""
    models = [(model_id_of(m.model_id), m.step) for m in body.models]
    store.log_run_models(run_id_of(body.run_id), OUTPUT, models)
    return {}


@router.post(f"{MLFLOW}/experiments/search-datasets", dependencies=[READ])
@router.post(f"{AJAX}/experiments/search-datasets", dependencies=[READ])
def search_datasets(body: DatasetSearch, store: MlflowModelsDep, who: Reader) -> Json:
    """The datasets the runs of ``experiment_ids`` (1 to 20) took in, once per context."""
    if not body.experiment_ids:
        raise InvalidParameterError(
            "SearchDatasets request must specify at least one experiment_id."
        )
    if len(body.experiment_ids) > MAX_DATASET_EXPERIMENTS:
        raise InvalidParameterError(
            f"SearchDatasets request cannot specify more than {MAX_DATASET_EXPERIMENTS} "
            f"experiment_ids. Received {len(body.experiment_ids)} experiment_ids."
        )
    ids = [experiment_id_of(i) for i in body.experiment_ids]
    found = store.search_mlflow_datasets(ids, project=who.project)
    summaries = []
    for summary in found:
        shown = {"experiment_id": summary.experiment_id, "name": summary.name,
                 "digest": summary.digest}  # fmt: skip
        if summary.context is not None:
            shown["context"] = summary.context
        summaries.append(shown)
    return {"dataset_summaries": summaries}

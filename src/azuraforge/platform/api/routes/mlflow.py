"""MLflow's tracking API (``/api/2.0/mlflow/...``) and artifact proxy
(``/api/2.0/mlflow-artifacts/artifacts/...``), so that an unchanged ``mlflow`` script logs
here with ``MLFLOW_TRACKING_URI`` set to this server and ``MLFLOW_TRACKING_TOKEN`` to a
project's API token (:mod:`~azuraforge.platform.services.mlflow_api`). Reads need a role
that reads, writes one that writes; the caller's project is the only one seen. Errors answer
in MLflow's form (``{"error_code": ..., "message": ...}``); a call not served answers 501
naming it. Not in the OpenAPI: MLflow's own reference describes these calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.platform.api.access import READ, TRACK, WRITE, Reader, Writer
from azuraforge.platform.api.deps import BlobsDep, SettingsDep, StoreDep
from azuraforge.platform.api.streaming import upload_run_file
from azuraforge.platform.services.mlflow_api import (
    MAX_RESULTS,
    AlreadyExistsError,
    MetricIn,
    NotServedError,
    check_batch,
    create_run,
    experiment_id_of,
    experiment_json,
    metric_value,
    number,
    page_offset,
    page_token,
    parse_filter,
    parse_order,
    run_id_of,
    run_info,
    run_json,
    split_points,
    update_run,
)
from azuraforge.platform.services.mlflow_artifacts import (
    file_key,
    list_folder,
    locate,
    writable_run,
)
from azuraforge.platform.store.mlflow import ACTIVE, DELETED, MlflowRunRecord

MLFLOW = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
router = APIRouter(include_in_schema=False)
Json = dict[str, Any]


class MlflowBody(BaseModel):
    """A request of MLflow's client: fields it sends that are not read here are ignored
    (``run_uuid`` beside ``run_id``, a metric's ``model_id``...)."""

    model_config = ConfigDict(extra="ignore")


class TagIn(MlflowBody):
    key: str
    value: str = ""


class ParamIn(MlflowBody):
    key: str
    value: str = ""


class Metric(MlflowBody):
    key: str
    value: float | str
    timestamp: int = 0
    step: int = 0

    def read(self) -> MetricIn:
        return MetricIn(self.key, metric_value(self.value), self.timestamp, self.step)


class ExperimentCreate(MlflowBody):
    name: str = ""
    artifact_location: str = ""


class ExperimentSearch(MlflowBody):
    max_results: int = Field(1000, ge=1, le=MAX_RESULTS)
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = []
    view_type: str | int = "ACTIVE_ONLY"


class RunCreate(MlflowBody):
    experiment_id: str = "0"
    run_name: str | None = None
    tags: list[TagIn] = []


class RunRef(MlflowBody):
    run_id: str | None = None
    run_uuid: str | None = None

    @property
    def id(self) -> int:
        return run_id_of(self.run_id or self.run_uuid)


class RunUpdate(RunRef):
    status: str | None = None
    run_name: str | None = None


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


class LogMetric(RunRef, Metric):
    pass


class LogParam(RunRef, ParamIn):
    pass


class SetTag(RunRef, TagIn):
    pass


class DeleteTag(RunRef):
    key: str


VIEWS = {"ACTIVE_ONLY": (ACTIVE,), "DELETED_ONLY": (DELETED,), "ALL": (ACTIVE, DELETED),
         1: (ACTIVE,), 2: (DELETED,), 3: (ACTIVE, DELETED)}  # fmt: skip
"""MLflow's view types (by name, or proto number) and the lifecycles each shows."""


def _lifecycles(view: str | int) -> tuple[str, ...]:
    if view not in VIEWS:
        raise InvalidParameterError(
            f"view type {view!r} is none of ACTIVE_ONLY, DELETED_ONLY, ALL"
        )
    return VIEWS[view]


# -- experiments ----------------------------------------------------------------------------


@router.get(f"{MLFLOW}/experiments/get-by-name", dependencies=[READ])
def get_experiment_by_name(
    store: StoreDep, who: Reader, experiment_name: Annotated[str, Query(max_length=500)]
) -> Json:
    """The experiment of that name in the caller's project (``RESOURCE_DOES_NOT_EXIST``
    when none: ``mlflow.set_experiment`` then makes it)."""
    found = store.find_mlflow_experiment(experiment_name, project=who.project)
    if found is None:
        raise NotFoundError(f"no MLflow experiment named {experiment_name!r}")
    return {"experiment": experiment_json(found)}


@router.get(f"{MLFLOW}/experiments/get", dependencies=[READ])
def get_experiment(
    store: StoreDep, who: Reader, experiment_id: Annotated[str, Query(max_length=20)]
) -> Json:
    """One experiment of the caller's project (``"0"``: its default)."""
    found = store.get_mlflow_experiment(experiment_id_of(experiment_id), project=who.project)
    return {"experiment": experiment_json(found)}


@router.post(f"{MLFLOW}/experiments/create", dependencies=[WRITE])
def create_experiment(body: ExperimentCreate, store: StoreDep, who: Writer) -> Json:
    """A new experiment in the caller's project; its runs' files go to this server."""
    if body.artifact_location:
        raise InvalidParameterError(
            "artifact_location is not served: an experiment's files go to this server's "
            "artifact proxy (mlflow-artifacts:/), into each run's own files"
        )
    try:
        made = store.create_mlflow_experiment(body.name, project=who.project)
    except ConflictError as e:
        raise AlreadyExistsError(str(e)) from None
    return {"experiment_id": made.public_id}


@router.post(f"{MLFLOW}/experiments/search", dependencies=[READ])
def search_experiments(body: ExperimentSearch, store: StoreDep, who: Reader) -> Json:
    """The caller's project's experiments, newest first, a page at a time; a filter on the
    name alone (``name = 'x'``, ``name LIKE 'x%'``)."""
    by_name = _name_filter(body.filter)
    if body.order_by:
        raise InvalidParameterError("order_by is not served for experiments: newest come first")
    offset = page_offset(body.page_token)
    found = store.list_mlflow_experiments(
        project=who.project, lifecycles=_lifecycles(body.view_type), **by_name,
        offset=offset, limit=body.max_results + 1,
    )  # fmt: skip
    answer: Json = {"experiments": [experiment_json(e) for e in found[: body.max_results]]}
    if len(found) > body.max_results:
        answer["next_page_token"] = page_token(offset + body.max_results)
    return answer


def _name_filter(text: str | None) -> dict[str, str]:
    """An experiment filter on the name as the store's ``name`` (``=``) or ``name_like``
    (``LIKE``, an SQL pattern); ``{}`` for no filter."""
    conditions = parse_filter(_as_attribute(text)) if text and text.strip() else []
    if not conditions:
        return {}
    [first, *more] = conditions
    if more or first.key != "mlflow.runName" or first.op not in ("=", "LIKE"):
        raise InvalidParameterError(
            "an experiment filter is served on the name alone: name = '...' or name LIKE '...'"
        )
    return {"name" if first.op == "=" else "name_like": str(first.value)}


def _as_attribute(text: str) -> str:
    """An experiment filter on ``name`` read as the run filter on ``run_name``."""
    stripped = text.strip()
    for prefix in ("attributes.name", "attribute.name", "name"):
        if stripped.startswith(prefix) and not stripped[len(prefix) :][:1].isalnum():
            return "run_name" + stripped[len(prefix) :]
    raise InvalidParameterError(
        "an experiment filter is served on the name alone: name = '...' or name LIKE '...'"
    )


# -- runs -----------------------------------------------------------------------------------


@router.post(f"{MLFLOW}/runs/create", dependencies=[WRITE])
def create_mlflow_run(
    body: RunCreate, store: StoreDep, settings: SettingsDep, who: Writer
) -> Json:
    """A run in an experiment of the caller's project, running from now: an external run,
    ended ``lost`` after the server's ``run_idle_limit`` without a write."""
    tags = {tag.key: tag.value for tag in body.tags}
    made = create_run(store, experiment_id_of(body.experiment_id), name=body.run_name,
                      tags=tags, project=who.project, submitter=who.user,
                      idle_limit=settings.run_idle_limit)  # fmt: skip
    return {"run": _run(made)}


@router.get(f"{MLFLOW}/runs/get", dependencies=[READ])
def get_run(
    store: StoreDep,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    run_uuid: Annotated[str | None, Query(max_length=40)] = None,
) -> Json:
    """One run made through MLflow, with its latest metrics, params and tags."""
    return {"run": _run(store.get_mlflow_run(run_id_of(run_id or run_uuid)))}


@router.post(f"{MLFLOW}/runs/update", dependencies=[TRACK])
def update_mlflow_run(body: RunUpdate, store: StoreDep) -> Json:
    """Rename the run (``run_name``), or end it (``status``: FINISHED, FAILED, KILLED)."""
    run_id = body.id
    before = store.get_mlflow_run(run_id)  # an MLflow run of the caller's project
    update_run(store, before, body.status, body.run_name)
    found = store.get_mlflow_run(run_id)
    return {"run_info": run_info(found.run, found.experiment)}


@router.post(f"{MLFLOW}/runs/search", dependencies=[READ])
def search_runs(body: RunSearch, store: StoreDep, who: Reader) -> Json:
    """The runs of the caller's project's experiments ``experiment_ids`` that meet the
    filter, in ``order_by`` (then newest first), a page at a time."""
    if _lifecycles(body.run_view_type) == (DELETED,):
        return {"runs": []}  # runs are deleted here, not kept as deleted
    ids = [experiment_id_of(i) for i in body.experiment_ids]
    conditions, orders = parse_filter(body.filter), parse_order(body.order_by)
    offset = page_offset(body.page_token)
    found = store.search_mlflow_runs(ids, conditions, orders, project=who.project,
                                     offset=offset, limit=body.max_results + 1)  # fmt: skip
    answer: Json = {"runs": [_run(r) for r in found[: body.max_results]]}
    if len(found) > body.max_results:
        answer["next_page_token"] = page_token(offset + body.max_results)
    return answer


@router.post(f"{MLFLOW}/runs/log-batch", dependencies=[TRACK])
def log_batch(body: LogBatch, store: StoreDep) -> Json:
    """Write metrics, params and tags of a running run at once (all or nothing)."""
    check_batch(len(body.metrics), len(body.params), len(body.tags))
    points, nans = split_points(m.read() for m in body.metrics)
    store.write_mlflow(body.id, points=points, nans=nans,
                       params={p.key: p.value for p in body.params},
                       tags={t.key: t.value for t in body.tags})  # fmt: skip
    return {}


@router.post(f"{MLFLOW}/runs/log-metric", dependencies=[TRACK])
def log_metric(body: LogMetric, store: StoreDep) -> Json:
    """Write one metric value of a running run."""
    points, nans = split_points([body.read()])
    store.write_mlflow(body.id, points=points, nans=nans)
    return {}


@router.post(f"{MLFLOW}/runs/log-parameter", dependencies=[TRACK])
def log_param(body: LogParam, store: StoreDep) -> Json:
    """Write one param of a running run (a param logged keeps its value)."""
    store.write_mlflow(body.id, params={body.key: body.value})
    return {}


@router.post(f"{MLFLOW}/runs/set-tag", dependencies=[TRACK])
def set_tag(body: SetTag, store: StoreDep) -> Json:
    """Set a tag of a run, whatever its status."""
    store.write_mlflow(body.id, tags={body.key: body.value})
    return {}


@router.post(f"{MLFLOW}/runs/delete-tag", dependencies=[TRACK])
def delete_tag(body: DeleteTag, store: StoreDep) -> Json:
    """Delete a tag of a run (``RESOURCE_DOES_NOT_EXIST`` when it has none so named)."""
    run_id = body.id
    store.get_mlflow_run(run_id)
    store.delete_run_tag(run_id, body.key)
    return {}


@router.get(f"{MLFLOW}/metrics/get-history", dependencies=[READ])
def get_metric_history(
    store: StoreDep,
    metric_key: Annotated[str, Query(max_length=250)],
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    run_uuid: Annotated[str | None, Query(max_length=40)] = None,
    max_results: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    token: Annotated[str | None, Query(alias="page_token", max_length=200)] = None,
) -> Json:
    """Every value the run logged for the metric (NaN ones too), by step, a page of
    ``max_results`` at a time when asked."""
    found = run_id_of(run_id or run_uuid)
    store.get_mlflow_run(found)
    offset = page_offset(token)
    limit = None if max_results is None else max_results + 1
    points = store.mlflow_metric_history(found, metric_key, offset=offset, limit=limit)
    answer: Json = {"metrics": [
        {"key": metric_key, "value": number(value), "timestamp": int(when * 1000), "step": step}
        for step, value, when in points[:max_results]
    ]}  # fmt: skip
    if max_results is not None and len(points) > max_results:
        answer["next_page_token"] = page_token(offset + max_results)
    return answer


@router.post(f"{MLFLOW}/logged-models/search", dependencies=[READ])
def search_logged_models() -> Json:
    """MLflow's logged models of the caller's project: none (making one is not served; a
    model in AzuraForge's format is registered from its run), as MLflow's client asks when
    it lists a run's files."""
    return {"models": []}


@router.api_route(f"{MLFLOW}/{{call:path}}", methods=["GET", "POST", "PATCH", "DELETE", "PUT"],
                  dependencies=[READ])  # fmt: skip
def not_served(call: str, request: Request) -> Json:
    """Every other call of MLflow's API: 501 naming it, never a wrong answer."""
    raise NotServedError(
        f"MLflow's call {request.method} {MLFLOW}/{call} is not served by this server; "
        "docs/tracking.md lists those that are"
    )


def _run(found: MlflowRunRecord) -> Json:
    return run_json(found.run, found.experiment, found.latest)


# -- artifacts ------------------------------------------------------------------------------


@router.put(f"{ARTIFACTS}/{{path:path}}", dependencies=[TRACK], status_code=status.HTTP_200_OK)
async def upload_artifact(path: str, request: Request, store: StoreDep, blobs: BlobsDep) -> Json:
    """Upload a file of a running run (streamed; at most the server's ``max_artifact_bytes``,
    else 413) into its files, where its page lists and serves it; a registry version's files
    are read-only (``PERMISSION_DENIED``)."""
    place = await run_in_threadpool(locate, store, path)
    await upload_run_file(store, blobs, writable_run(place), place.inside, request.stream())
    return {}


@router.get(ARTIFACTS, dependencies=[READ])
def list_artifacts(
    store: StoreDep, blobs: BlobsDep, path: Annotated[str, Query(max_length=1000)] = ""
) -> Json:
    """The files and folders right inside ``path``: a run's (``<experiment>/<run>/artifacts
    /...``, ``.`` its root) or a registry version's (``registry/<model>/<version>/...``)."""
    return {"files": list_folder(store, blobs, locate(store, path))}


@router.get(f"{ARTIFACTS}/{{path:path}}", dependencies=[READ])
def download_artifact(path: str, store: StoreDep, blobs: BlobsDep) -> StreamingResponse:
    """A file of a run or of a registry version, streamed from the blob store."""
    key = file_key(locate(store, path))
    size = blobs.size(key)  # a missing file: 404 before anything is sent
    headers = {"Content-Length": str(size), "X-Content-Type-Options": "nosniff",
               "Content-Disposition": "attachment"}  # fmt: skip
    return StreamingResponse(blobs.iter_chunks(key), media_type="application/octet-stream",
                             headers=headers)  # fmt: skip

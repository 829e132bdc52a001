"""MLflow's tracking API (``/api/2.0/mlflow/...``) and artifact proxy
(``/api/2.0/mlflow-artifacts/artifacts/...``), so that an unchanged ``mlflow`` script logs
here with ``MLFLOW_TRACKING_URI`` set to this server and ``MLFLOW_TRACKING_TOKEN`` to a
project's API token (:mod:`~azuraforge.platform.services.mlflow_api`). Reads need a role
that reads, writes one that writes; the caller's project is the only one seen. Errors answer
in MLflow's form (``{"error_code": ..., "message": ...}``); a call not served answers 501
naming it. Not in the OpenAPI: MLflow's own reference describes these calls."""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.platform.api.access import READ, TRACK, WRITE, Reader, Writer
from azuraforge.platform.api.deps import (
    ArtifactFilesDep,
    ArtifactPlacesDep,
    BlobsDep,
    MlflowGroupsDep,
    MlflowRunsDep,
    MlflowTrackingDep,
    RunsAndMlflowGroupsDep,
    SettingsDep,
)
from azuraforge.platform.api.one_pass_body import read_body
from azuraforge.platform.api.schemas.mlflow import (
    DeleteTag,
    ExperimentCreate,
    ExperimentRef,
    ExperimentRename,
    ExperimentSearch,
    ExperimentTag,
    ExperimentTagDelete,
    LogBatch,
    LogMetric,
    LogParam,
    Metric,
    RunCreate,
    RunRef,
    RunSearch,
    RunUpdate,
    SetTag,
)
from azuraforge.platform.api.streaming import upload_run_file
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.services.mlflow_api import (
    AlreadyExistsError,
    NotServedError,
    check_artifact_location,
    check_batch,
    create_run,
    experiment_id_of,
    experiment_json,
    metric_value,
    number,
    page_offset,
    page_token,
    paged,
    run_id_of,
    run_info,
    run_json,
    split_points,
    update_run,
)
from azuraforge.platform.services.mlflow_artifacts import (
    ArtifactPlace,
    file_key,
    inside_path,
    list_folder,
    locate,
    writable_run,
)
from azuraforge.platform.services.mlflow_filter import (
    parse_experiment_filter,
    parse_experiment_order,
    parse_filter,
    parse_order,
)
from azuraforge.platform.services.mlflow_models import runs_io_json
from azuraforge.platform.store.interfaces import MlflowGroups, MlflowModels, MlflowRuns
from azuraforge.platform.store.mlflow import ACTIVE, DELETED, MlflowRunRecord, check_run_active
from azuraforge.platform.store.mlflow_models import ModelMetric

MLFLOW = "/api/2.0/mlflow"
MLFLOW_APIS = (MLFLOW, "/api/3.0/mlflow", "/api/4.0/mlflow")
"""The prefixes of MLflow's calls (its client's traces and scorers are under 3.0 and 4.0)."""
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
router = APIRouter(include_in_schema=False)
Json = dict[str, Any]


def _for_model(metric: Metric) -> ModelMetric | None:
    """The value as a metric of the logged model it names, if it names one."""
    model_id = metric.get("model_id")
    if not model_id:
        return None
    return ModelMetric(model_id, metric["key"], metric_value(metric["value"]),
                       metric["timestamp"], metric.get("step", 0), metric.get("dataset_name"),
                       metric.get("dataset_digest"))  # fmt: skip


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
    store: MlflowGroupsDep, who: Reader, experiment_name: Annotated[str, Query(max_length=500)]
) -> Json:
    """The experiment of that name in the caller's project, active or deleted
    (``RESOURCE_DOES_NOT_EXIST`` when none: ``mlflow.set_experiment`` then makes it)."""
    found = store.find_mlflow_experiment(experiment_name, project=who.project)
    if found is None:
        raise NotFoundError(f"Could not find experiment with name '{experiment_name}'")
    return {"experiment": experiment_json(found)}


@router.get(f"{MLFLOW}/experiments/get", dependencies=[READ])
def get_experiment(
    store: MlflowGroupsDep, who: Reader, experiment_id: Annotated[str, Query(max_length=20)]
) -> Json:
    """One experiment of the caller's project (``"0"``: its default), active or deleted."""
    found = store.get_mlflow_experiment(experiment_id_of(experiment_id), project=who.project)
    return {"experiment": experiment_json(found)}


@router.post(f"{MLFLOW}/experiments/create", dependencies=[WRITE])
def create_experiment(body: ExperimentCreate, store: MlflowGroupsDep, who: Writer) -> Json:
    """A new experiment in the caller's project, with its tags; its ``artifact_location``
    one of this server's artifact proxy's (:func:`check_artifact_location`)."""
    location = check_artifact_location(body.artifact_location)
    tags = {tag.key: tag.value for tag in body.tags}
    try:
        made = store.create_mlflow_experiment(
            body.name, project=who.project, artifact_location=location, tags=tags
        )
    except ConflictError as e:
        raise AlreadyExistsError(str(e)) from None
    return {"experiment_id": made.public_id}


@router.post(f"{MLFLOW}/experiments/update", dependencies=[WRITE])
def rename_experiment(body: ExperimentRename, store: MlflowGroupsDep, who: Writer) -> Json:
    """Rename an active experiment (names stay unique in the project)."""
    try:
        store.rename_mlflow_experiment(body.id, body.new_name, project=who.project)
    except ConflictError as e:
        raise AlreadyExistsError(str(e)) from None
    return {}


@router.post(f"{MLFLOW}/experiments/delete", dependencies=[WRITE])
def delete_experiment(body: ExperimentRef, store: MlflowGroupsDep, who: Writer) -> Json:
    """Mark an active experiment and its runs deleted: hidden from searches of active ones,
    their data kept, restorable (its name stays taken, as in MLflow)."""
    store.set_mlflow_experiment_lifecycle(body.id, DELETED, project=who.project)
    return {}


@router.post(f"{MLFLOW}/experiments/restore", dependencies=[WRITE])
def restore_experiment(body: ExperimentRef, store: MlflowGroupsDep, who: Writer) -> Json:
    """Restore a deleted experiment with its runs."""
    store.set_mlflow_experiment_lifecycle(body.id, ACTIVE, project=who.project)
    return {}


@router.post(f"{MLFLOW}/experiments/set-experiment-tag", dependencies=[WRITE])
def set_experiment_tag(body: ExperimentTag, store: MlflowGroupsDep, who: Writer) -> Json:
    """Set a tag of an active experiment."""
    store.set_mlflow_experiment_tag(body.id, body.key, body.value, project=who.project)
    return {}


@router.post(f"{MLFLOW}/experiments/delete-experiment-tag", dependencies=[WRITE])
def delete_experiment_tag(body: ExperimentTagDelete, store: MlflowGroupsDep, who: Writer) -> Json:
    """Delete a tag of an active experiment (``RESOURCE_DOES_NOT_EXIST`` when it has none
    so named)."""
    store.set_mlflow_experiment_tag(body.id, body.key, None, project=who.project)
    return {}


@router.post(f"{MLFLOW}/experiments/search", dependencies=[READ])
def search_experiments(body: ExperimentSearch, store: MlflowGroupsDep, who: Reader) -> Json:
    """The caller's project's experiments of the view type that meet MLflow's filter
    (:func:`parse_experiment_filter`), in ``order_by`` (newest first by default), a page at
    a time."""
    conditions = parse_experiment_filter(body.filter)
    orders = parse_experiment_order(body.order_by)
    offset = page_offset(body.page_token)
    found = store.list_mlflow_experiments(
        project=who.project, lifecycles=_lifecycles(body.view_type), conditions=conditions,
        orders=orders, offset=offset, limit=body.max_results + 1,
    )  # fmt: skip
    return paged("experiments", found, offset, body.max_results,
                 lambda page: [experiment_json(e) for e in page])  # fmt: skip


# -- runs -----------------------------------------------------------------------------------


@router.post(f"{MLFLOW}/runs/create", dependencies=[WRITE])
def create_mlflow_run(
    body: RunCreate, store: MlflowTrackingDep, settings: SettingsDep, who: Writer
) -> Json:
    """A run in an active experiment of the caller's project, running from the client's
    ``start_time``: an external run, ended ``lost`` after the server's ``run_idle_limit``
    without a write; its ``user_id`` the client's, its submitter the token's user."""
    tags = {tag.key: tag.value for tag in body.tags}
    made = create_run(store, experiment_id_of(body.experiment_id), name=body.run_name,
                      tags=tags, project=who.project, submitter=who.user,
                      idle_limit=settings.run_idle_limit, user_id=body.user_id,
                      start_time=body.start_time)  # fmt: skip
    return {"run": _runs_json(store, [made], who.project)[0]}


@router.get(f"{MLFLOW}/runs/get", dependencies=[READ])
def get_run(
    store: MlflowRunsDep,
    who: Reader,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    run_uuid: Annotated[str | None, Query(max_length=40)] = None,
) -> Json:
    """One run made through MLflow, active or deleted, with its latest metrics, params and
    tags, its inputs and outputs."""
    found = mlflow_run(store, run_id_of(run_id or run_uuid))
    return {"run": _runs_json(store, [found], who.project)[0]}


@router.post(f"{MLFLOW}/runs/update", dependencies=[TRACK])
def update_mlflow_run(body: RunUpdate, store: RunsAndMlflowGroupsDep) -> Json:
    """Rename an active run (``run_name``), or end it (``status``: FINISHED, FAILED,
    KILLED)."""
    run_id = body.id
    before = mlflow_run(store, run_id)  # an MLflow run of the caller's project
    check_run_active(run_id, before.lifecycle)
    update_run(store, before, body.status, body.run_name, body.end_time)
    return {"run_info": run_info(store.get_mlflow_run(run_id))}


@router.post(f"{MLFLOW}/runs/delete", dependencies=[TRACK])
def delete_mlflow_run(body: RunRef, store: MlflowGroupsDep) -> Json:
    """Mark a run deleted, as MLflow does: hidden from searches of active runs, refusing
    writes, its data kept and restorable (AzuraForge's own delete removes it for good)."""
    run_id = body.id
    mlflow_run(store, run_id)
    store.set_mlflow_run_lifecycle(run_id, DELETED)
    return {}


@router.post(f"{MLFLOW}/runs/restore", dependencies=[TRACK])
def restore_mlflow_run(body: RunRef, store: MlflowGroupsDep) -> Json:
    """Restore a deleted run."""
    run_id = body.id
    mlflow_run(store, run_id)
    store.set_mlflow_run_lifecycle(run_id, ACTIVE)
    return {}


@router.post(f"{MLFLOW}/runs/search", dependencies=[READ])
def search_runs(body: RunSearch, store: MlflowRunsDep, who: Reader) -> Json:
    """The runs of the caller's project's experiments ``experiment_ids`` that meet the
    filter, in ``order_by`` (then newest first), a page at a time."""
    ids = [experiment_id_of(i) for i in body.experiment_ids]
    conditions, orders = parse_filter(body.filter), parse_order(body.order_by)
    offset = page_offset(body.page_token)
    found = store.search_mlflow_runs(ids, conditions, orders, project=who.project,
                                     lifecycles=_lifecycles(body.run_view_type),
                                     offset=offset, limit=body.max_results + 1)  # fmt: skip
    return paged("runs", found, offset, body.max_results,
                 lambda page: _runs_json(store, page, who.project))  # fmt: skip


@router.post(f"{MLFLOW}/runs/log-batch", dependencies=[TRACK])
async def log_batch(request: Request, store: MlflowRunsDep) -> Response:
    """Write metrics, params and tags of a running run at once (all or nothing). Its body
    (up to a thousand metrics) is read in one pass (:func:`read_body`), the writes made in a
    worker thread."""
    body = read_body(LogBatch, await request.body(), request.headers.get("content-type"))
    await run_in_threadpool(_write_batch, store, body)
    return _written()


def _write_batch(store: MlflowRuns, body: LogBatch) -> None:
    check_batch(len(body.metrics), len(body.params), len(body.tags))
    points, nans = split_points(body.metrics)
    with _run_wording(run_id := body.id):
        store.write_mlflow(run_id, points=points, nans=nans,
                           params={p.key: p.value for p in body.params},
                           tags={t.key: t.value for t in body.tags})  # fmt: skip
    _link_to_models(store, run_id, body.metrics)


@router.post(f"{MLFLOW}/runs/log-metric", dependencies=[TRACK])
def log_metric(body: LogMetric, store: MlflowRunsDep) -> Response:
    """Write one metric value of a running run."""
    points, nans = split_points([body])
    with _run_wording(run_id := run_id_of(body.get("run_id") or body.get("run_uuid"))):
        store.write_mlflow(run_id, points=points, nans=nans)
    _link_to_models(store, run_id, [body])
    return _written()


@router.post(f"{MLFLOW}/runs/log-parameter", dependencies=[TRACK])
def log_param(body: LogParam, store: MlflowGroupsDep) -> Json:
    """Write one param of a running run (a param logged keeps its value)."""
    with _run_wording(run_id := body.id):
        store.write_mlflow(run_id, params={body.key: body.value})
    return {}


@router.post(f"{MLFLOW}/runs/set-tag", dependencies=[TRACK])
def set_tag(body: SetTag, store: MlflowGroupsDep) -> Json:
    """Set a tag of an active run, whatever its status."""
    with _run_wording(run_id := body.id):
        store.write_mlflow(run_id, tags={body.key: body.value})
    return {}


@router.post(f"{MLFLOW}/runs/delete-tag", dependencies=[TRACK])
def delete_tag(body: DeleteTag, store: RunsAndMlflowGroupsDep) -> Json:
    """Delete a tag of an active run (``RESOURCE_DOES_NOT_EXIST`` when it has none so
    named)."""
    run_id = body.id
    found = mlflow_run(store, run_id)
    check_run_active(run_id, found.lifecycle)
    if body.key not in found.run.tags:
        raise NotFoundError(f"No tag with name: {body.key} in run with id {run_id}")
    store.delete_run_tag(run_id, body.key)
    return {}


@router.get(f"{MLFLOW}/metrics/get-history", dependencies=[READ])
def get_metric_history(
    store: MlflowGroupsDep,
    metric_key: Annotated[str, Query(max_length=250)],
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    run_uuid: Annotated[str | None, Query(max_length=40)] = None,
    max_results: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    token: Annotated[str | None, Query(alias="page_token", max_length=200)] = None,
) -> Json:
    """Every value the run logged for the metric (NaN ones too), by step, a page of
    ``max_results`` at a time when asked."""
    found = run_id_of(run_id or run_uuid)
    mlflow_run(store, found)
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


@router.get(f"{MLFLOW}/artifacts/list", dependencies=[READ])
def list_run_artifacts(
    store: ArtifactFilesDep,
    blobs: BlobsDep,
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    run_uuid: Annotated[str | None, Query(max_length=40)] = None,
    path: Annotated[str, Query(max_length=1000)] = "",
) -> Json:
    """The files and folders right inside ``path`` of a run's files, paths from their root
    (MLflow's listing by run, beside the artifact proxy's); ``..`` is ``Invalid path``."""
    inside = inside_path(path)
    found = mlflow_run(store, run_id_of(run_id or run_uuid))
    listed = list_folder(store, blobs, ArtifactPlace(inside, run_id=found.run.id))
    files = [{**entry, "path": posixpath.join(inside, entry["path"])} for entry in listed]
    return {"root_uri": run_info(found)["artifact_uri"], "files": files}


@router.get("/api/3.0/mlflow/server-info", dependencies=[READ])
def server_info() -> Json:
    """What MLflow 3's client asks of a server before it logs (its telemetry, artifact
    uploads and workspaces read it): none of MLflow's stores, workspaces, trace archival,
    multipart or presigned transfers here, as MLflow's fields say."""
    return {
        "store_type": None,
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
    }


def not_served(request: Request) -> Json:
    """Every other call of MLflow's API (of its versions 2, 3 and 4: traces, scorers...):
    501 naming it, never a wrong answer."""
    raise NotServedError(
        f"MLflow's call {request.method} {request.url.path} is not served by this server; "
        "docs/tracking.md lists those that are"
    )


for _api in MLFLOW_APIS:
    router.add_api_route(f"{_api}/{{call:path}}", not_served, dependencies=[READ],
                         methods=["GET", "POST", "PATCH", "DELETE", "PUT"])  # fmt: skip


def _written() -> Response:
    """MLflow's answer to a write, ``{}``, sent as it is: a sync route's other results are
    serialized in a worker thread, a second hop per request of each ``log_batch``."""
    return Response(b"{}", media_type="application/json")


def _link_to_models(store: MlflowModels, run_id: int, metrics: Sequence[Metric]) -> None:
    """Link the run's ``metrics`` that name a logged model (``model_id``: ``log_model`` and
    autolog send it) to that model, once written to the run (an unknown model:
    ``RESOURCE_DOES_NOT_EXIST``)."""
    linked = [m for m in map(_for_model, metrics) if m is not None]
    if linked:  # none: no query (the project's check of the run would be one)
        store.log_model_metrics(run_id, linked)


def _runs_json(store: MlflowModels, found: Sequence[MlflowRunRecord], project: str) -> list[Json]:
    """The runs as MLflow's API answers them, each with its inputs and outputs (datasets and
    logged models, read at once)."""
    io = runs_io_json(store, [r.run.id for r in found], project=project)
    return [{**run_json(r), **io.get(r.run.id, {})} for r in found]


def mlflow_run(store: MlflowGroups, run_id: int) -> MlflowRunRecord:
    """The run made through MLflow ``run_id`` of the caller's project, missing in MLflow's
    words."""
    with _run_wording(run_id):
        return store.get_mlflow_run(run_id)


@contextlib.contextmanager
def _run_wording(run_id: int) -> Iterator[None]:
    """A run missing (of no project, or of another) said in MLflow's words."""
    try:
        yield
    except NotFoundError:
        raise NotFoundError(f"Run with id={run_id} not found") from None


# -- artifacts ------------------------------------------------------------------------------


@router.put(f"{ARTIFACTS}/{{path:path}}", dependencies=[TRACK], status_code=status.HTTP_200_OK)
async def upload_artifact(
    path: str, request: Request, store: ArtifactPlacesDep, blobs: BlobsDep
) -> Json:
    """Upload a file of a running run (streamed; at most the server's ``max_artifact_bytes``,
    else 413) into its files, where its page lists and serves it; a registry version's files
    are read-only (``PERMISSION_DENIED``)."""
    place = await run_in_threadpool(locate, store, path)
    await upload_run_file(store, blobs, writable_run(place), place.inside, request.stream())
    return {}


@router.get(ARTIFACTS, dependencies=[READ])
def list_artifacts(
    store: ArtifactFilesDep, blobs: BlobsDep, path: Annotated[str, Query(max_length=1000)] = ""
) -> Json:
    """The files and folders right inside ``path``: a run's (``<experiment>/<run>/artifacts
    /...``, ``.`` its root) or a registry version's (``registry/<model>/<version>/...``)."""
    return {"files": list_folder(store, blobs, locate(store, path))}


@router.get(f"{ARTIFACTS}/{{path:path}}", dependencies=[READ])
def download_artifact(path: str, store: ArtifactPlacesDep, blobs: BlobsDep) -> StreamingResponse:
    """A file of a run or of a registry version, streamed from the blob store."""
    return file_response(blobs, file_key(locate(store, path)))


def file_response(blobs: BlobStore, key: str) -> StreamingResponse:
    """The file ``key`` of the blob store, streamed as an attachment (never shown by a
    browser on this server's origin); a missing one is a 404 before anything is sent."""
    size = blobs.size(key)
    headers = {"Content-Length": str(size), "X-Content-Type-Options": "nosniff",
               "Content-Disposition": "attachment"}  # fmt: skip
    return StreamingResponse(blobs.iter_chunks(key), media_type="application/octet-stream",
                             headers=headers)  # fmt: skip

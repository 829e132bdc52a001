"""The calls of MLflow's own web page (``/ajax-api/2.0/mlflow/...``, ``/get-artifact``), served
as ``mlflow server`` 3.17 serves them, for the tools and tests written against them (MLflow's
client never makes them; AzuraForge's dashboard is the web page here): the metric history of
many runs at once, whole (``metrics/get-history-bulk``) or sampled
(``metrics/get-history-bulk-interval``), a file uploaded into a run's files
(``upload-artifact``, through the artifact proxy's upload: its checks, size limit and blob
store) and one downloaded, a run's (``/get-artifact``) or a registry version's
(``/model-versions/get-artifact``). Reads need a role that reads, the upload one
that tracks; the caller's project's runs are the only ones seen (another project's run has no
values here, as a run of none has none in MLflow). Errors answer in MLflow's form."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.api.access import READ, TRACK
from azuraforge.platform.api.deps import BlobsDep, MlflowGroupsDep, RegistryDep
from azuraforge.platform.api.routes.mlflow import MLFLOW, file_response, mlflow_run
from azuraforge.platform.api.streaming import upload_run_file
from azuraforge.platform.services.mlflow_api import MAX_STEP, number, run_id_of
from azuraforge.platform.services.mlflow_artifacts import (
    ArtifactPlace,
    file_key,
    inside_path,
    version_place,
)
from azuraforge.platform.store.interfaces import MlflowGroups

AJAX = "/ajax-api/2.0/mlflow"
UPLOAD = f"{AJAX}/upload-artifact"
UPLOADS = re.compile(rf"{re.escape(UPLOAD)}$")
"""Where MLflow's web page uploads a run's file (``POST``), up to ``max_artifact_bytes``."""
MAX_RUNS = 100
"""The most runs one bulk history names (MLflow's limit)."""
MAX_HISTORY = 25_000
"""The most values a bulk history answers (MLflow's cap of ``max_results``)."""
MAX_SAMPLED = 2_500
"""The most values a sampled history answers for each run (MLflow's limit)."""
router = APIRouter(include_in_schema=False)
Json = dict[str, Any]
Point = tuple[int, float, float]
"""A logged value as the store gives it: ``(step, value, time in seconds)``."""
Step = Annotated[int | None, Query(ge=-MAX_STEP, le=MAX_STEP)]


@router.get(f"{AJAX}/metrics/get-history-bulk", dependencies=[READ])
def get_metric_history_bulk(
    store: MlflowGroupsDep,
    run_id: Annotated[list[str] | None, Query()] = None,
    metric_key: Annotated[str | None, Query(max_length=250)] = None,
    max_results: Annotated[int | None, Query(ge=1)] = None,
) -> Json:
    """Every value the runs ``run_id`` (1 to 100) logged for ``metric_key``, run by run in
    the order of their ids as text (MLflow's), each run's by time, step and value, at most
    ``max_results`` in all (25,000 at most)."""
    if not run_id:
        raise InvalidParameterError(
            "GetMetricHistoryBulk request must specify at least one run_id."
        )
    if len(run_id) > MAX_RUNS:
        raise InvalidParameterError(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS} run_ids. "
            f"Received {len(run_id)} run_ids."
        )
    if metric_key is None:
        raise InvalidParameterError("GetMetricHistoryBulk request must specify a metric_key.")
    most = min(max_results or MAX_HISTORY, MAX_HISTORY)
    metrics: list[Json] = []
    for run in sorted(set(run_id)):
        points = sorted(_history(store, run, metric_key), key=_by_time)
        metrics += _metrics_json(metric_key, run, points[: most - len(metrics)])
        if len(metrics) == most:
            break
    return {"metrics": metrics}


@router.get(f"{AJAX}/metrics/get-history-bulk-interval", dependencies=[READ])
@router.get(f"{MLFLOW}/metrics/get-history-bulk-interval", dependencies=[READ])
def get_metric_history_bulk_interval(
    store: MlflowGroupsDep,
    run_ids: Annotated[list[str] | None, Query()] = None,
    metric_key: Annotated[str | None, Query(max_length=250)] = None,
    start_step: Step = None,
    end_step: Step = None,
    max_results: Annotated[int | None, Query()] = None,
) -> Json:
    """The values the runs ``run_ids`` (1 to 100) logged for ``metric_key`` at steps from
    ``start_step`` to ``end_step`` (both or neither), run by run in the order named, at most
    ``max_results`` of each (1 to 2,500; 2,500 by default) sampled as MLflow 3.17 samples
    them (:func:`sampled`), by step, time and value. Also under ``/api/2.0/mlflow/``, as
    ``mlflow server`` serves it (a call of its API, which its web page makes)."""
    run_ids, metric_key, most = _bulk_request(run_ids, metric_key, max_results)
    steps = _step_range(start_step, end_step)
    metrics: list[Json] = []
    for run in dict.fromkeys(run_ids):
        points = sorted(
            (p for p in _history(store, run, metric_key) if steps is None or p[0] in steps),
            key=_by_step,
        )
        metrics += _metrics_json(metric_key, run, [points[i] for i in sampled(len(points), most)])
    return {"metrics": metrics}


def _bulk_request(
    run_ids: list[str] | None, metric_key: str | None, max_results: int | None
) -> tuple[list[str], str, int]:
    """A bulk-interval request's runs, metric and most values a run, checked as MLflow
    checks them."""
    if not run_ids:
        raise InvalidParameterError("Missing value for required parameter 'run_ids'.")
    if len(run_ids) > MAX_RUNS:
        raise InvalidParameterError(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    if not metric_key:
        raise InvalidParameterError("Missing value for required parameter 'metric_key'.")
    most = MAX_SAMPLED if max_results is None else max_results
    if not 1 <= most <= MAX_SAMPLED:
        raise InvalidParameterError(f"max_results must be between 1 and {MAX_SAMPLED}.")
    return run_ids, metric_key, most


@router.post(UPLOAD, dependencies=[TRACK])
async def upload_artifact(
    request: Request,
    store: MlflowGroupsDep,
    blobs: BlobsDep,
    run_uuid: Annotated[str | None, Query(max_length=40)] = None,
    path: Annotated[str | None, Query(max_length=1000)] = None,
) -> Json:
    """Upload the request's body as the file ``path`` of the running run ``run_uuid``, as the
    artifact proxy's upload does (streamed, at most the server's ``max_artifact_bytes``, else
    413; the run's page lists and serves it); ``..`` is ``Invalid path``."""
    if not run_uuid:
        raise InvalidParameterError("Request must specify run_uuid.")
    if not path:
        raise InvalidParameterError("Request must specify path.")
    inside = inside_path(path)
    if not inside:  # '.', '/': no file's name
        raise InvalidParameterError("Invalid path")
    chunks = request.stream()
    first = await _first_chunk(chunks)
    if not first:
        raise InvalidParameterError("Request must specify data.")
    found = await run_in_threadpool(mlflow_run, store, run_id_of(run_uuid))
    await upload_run_file(store, blobs, found.run.id, inside, _chained(first, chunks))
    return {}


@router.get("/get-artifact", dependencies=[READ])
def get_artifact(
    store: MlflowGroupsDep,
    blobs: BlobsDep,
    path: Annotated[str, Query(max_length=1000)],
    run_id: Annotated[str | None, Query(max_length=40)] = None,
    run_uuid: Annotated[str | None, Query(max_length=40)] = None,
) -> StreamingResponse:
    """The file ``path`` of a run's files, streamed as an attachment (MLflow's web page's
    download); ``..`` is ``Invalid path``."""
    inside = inside_path(path)
    found = mlflow_run(store, run_id_of(run_id or run_uuid))
    return file_response(blobs, file_key(ArtifactPlace(inside, run_id=found.run.id)))


@router.get("/model-versions/get-artifact", dependencies=[READ])
def get_model_version_artifact(
    store: RegistryDep,
    blobs: BlobsDep,
    path: Annotated[str, Query(max_length=1000)],
    name: Annotated[str, Query(max_length=200)],
    version: Annotated[str, Query(max_length=20)],
) -> StreamingResponse:
    """The file ``path`` of the files of registry version ``name`` ``version``, streamed as
    an attachment (MLflow's web page's download of a model version's file); ``..`` is
    ``Invalid path``, checked before the version is looked up (as MLflow does)."""
    return file_response(blobs, file_key(version_place(store, name, version, path)))


def sampled(count: int, most: int) -> list[int]:
    """The indices of the values kept of ``count`` values in order when at most ``most`` are
    answered, as MLflow 3.17's SQL store keeps them: the values split into ``most`` groups of
    sizes differing by one at most, larger first, the first of each kept, and the very last
    value in place of the last group's.

    >>> sampled(10, 5), sampled(20, 5), sampled(3, 5), sampled(4, 1)
    ([0, 2, 4, 6, 9], [0, 4, 8, 12, 19], [0, 1, 2], [3])
    """
    if count <= most:
        return list(range(count))
    size, larger = divmod(count, most)
    kept = [group * size + min(group, larger) for group in range(most)]
    kept[-1] = count - 1
    return kept


def _step_range(start: int | None, end: int | None) -> range | None:
    """The steps from ``start`` to ``end`` (both or neither: ``None``, every step)."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise InvalidParameterError(
            "If either start step or end step are specified, both must be specified."
        )
    if start > end:
        raise InvalidParameterError(
            "end_step must be greater than start_step. "
            f"Found start_step={start} and end_step={end}."
        )
    return range(start, end + 1)


def _history(store: MlflowGroups, run: str, key: str) -> list[Point]:
    """The values the MLflow run ``run`` (its id as sent) of the caller's project logged
    for ``key``; none for a run it lacks (MLflow answers none for a run of none)."""
    try:
        run_id = run_id_of(run)
        mlflow_run(store, run_id)
    except NotFoundError:
        return []
    return store.mlflow_metric_history(run_id, key)


def _value_order(value: float) -> tuple[bool, float]:
    return math.isnan(value), 0.0 if math.isnan(value) else value


def _by_time(point: Point) -> tuple[float, int, tuple[bool, float]]:
    step, value, when = point
    return when, step, _value_order(value)


def _by_step(point: Point) -> tuple[int, float, tuple[bool, float]]:
    step, value, when = point
    return step, when, _value_order(value)


def _metrics_json(key: str, run: str, points: Iterable[Point]) -> list[Json]:
    """The values as MLflow's web page's calls answer them, each naming its run."""
    return [
        {"key": key, "value": number(value), "timestamp": round(when * 1000), "step": step,
         "run_id": run}
        for step, value, when in points
    ]  # fmt: skip


async def _first_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    """The first bytes of a body (``b""``: an empty one)."""
    async for chunk in chunks:
        if chunk:
            return chunk
    return b""


async def _chained(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk

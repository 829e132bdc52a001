"""Runs written from outside (external runs, :mod:`~azuraforge.platform.services.external_runs`):
``POST /external-runs`` makes one and answers its own credential; the run's writer then sends
batches (``POST /runs/{id}/batch``: points, log lines, files made, progress, under a batch id
that makes a retry safe), heartbeats (``POST /runs/{id}/heartbeat``), uploads its files
(``PUT /runs/{id}/artifacts/{path}``) and ends it (``POST /runs/{id}/end``), with that
credential or a project token that may write: the routes of :data:`run_router`, served as the
other run routes are (:mod:`.runs`). The run is read as any other (``GET /runs/{id}``, its
metrics, logs and files)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, status

from azuraforge.platform.api.access import WRITE, WRITE_RUN, Writer
from azuraforge.platform.api.deps import (
    BlobsDep,
    ExperimentId,
    MlflowGroupsDep,
    RunsDep,
    SettingsDep,
)
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.external import (
    ExternalRunCreate,
    ExternalRunPublic,
    RunBatch,
    RunBatchPublic,
    RunEnd,
)
from azuraforge.platform.api.schemas.runs import ArtifactPublic, ExperimentPublic
from azuraforge.platform.api.streaming import upload_run_file
from azuraforge.platform.services.external_runs import start_external_run
from azuraforge.platform.store import JobWrites

router = APIRouter(tags=["experiments"])
run_router = APIRouter()
"""The writes of one run, under its path (:mod:`.runs`)."""
ERRORS = error_responses()
FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string",
                                                            "format": "binary"}}},
    }
}  # fmt: skip


@router.post(
    "/external-runs",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=ExternalRunPublic,
    responses=ERRORS,
)
def create_external_run(
    body: ExternalRunCreate, store: RunsDep, settings: SettingsDep, who: Writer
) -> ExternalRunPublic:
    """Make a run written from outside (your own code), running from now, and answer its own
    credential, shown once: it writes this run alone. Each batch keeps the run alive
    ``idle_limit`` seconds; past them without one it ends lost."""
    idle_limit = body.idle_limit or settings.run_idle_limit
    record, credential = start_external_run(
        store, body.pipeline, body.params, idle_limit=idle_limit, project=who.project,
        submitter=who.user, name=body.name,
    )  # fmt: skip
    return ExternalRunPublic(
        experiment=ExperimentPublic.of(record),
        credential=credential,
        idle_limit=idle_limit,
        expires_at=record.lease_expires_at,
    )


@run_router.post(
    "/{experiment_id}/batch",
    dependencies=[WRITE_RUN],
    response_model=RunBatchPublic,
    responses=ERRORS,
)
def write_batch(
    experiment_id: ExperimentId, body: RunBatch, store: MlflowGroupsDep
) -> RunBatchPublic:
    """Write a batch of the run's points, log lines, files made and progress in one
    transaction, and keep the run alive its idle limit from now (an empty batch: a
    heartbeat). A batch whose ``batch_id`` the run has written already writes nothing and is
    answered as the first was (a retry is safe). A run that ended (or was lost) takes none:
    409."""
    cancel = store.write_external(experiment_id, body.writes(), batch_id=body.batch_id)
    return RunBatchPublic(cancel_requested=cancel)


@run_router.post(
    "/{experiment_id}/heartbeat",
    dependencies=[WRITE_RUN],
    response_model=RunBatchPublic,
    responses=ERRORS,
)
def heartbeat(experiment_id: ExperimentId, store: MlflowGroupsDep) -> RunBatchPublic:
    """Keep the run alive its idle limit from now, writing nothing (during an epoch longer
    than the idle limit, say); whether someone asked it to stop. A run that ended (or was
    lost) answers 409."""
    return RunBatchPublic(cancel_requested=store.write_external(experiment_id, JobWrites()))


@run_router.put(
    "/{experiment_id}/artifacts/{path:path}",
    dependencies=[WRITE_RUN],
    status_code=status.HTTP_201_CREATED,
    response_model=ArtifactPublic,
    responses=ERRORS,
    openapi_extra=FILE_BODY,
)
async def upload_artifact(
    experiment_id: ExperimentId,
    path: str,
    request: Request,
    store: MlflowGroupsDep,
    blobs: BlobsDep,
) -> ArtifactPublic:
    """Upload a file of the run (the body's bytes, streamed; at most the server's
    ``max_artifact_bytes``, else 413) under ``path`` inside its files, replacing one there;
    it is recorded among the run's files and served as theirs. The run must be running
    (409 before the body is read, else)."""
    size = await upload_run_file(store, blobs, experiment_id, path, request.stream())
    return ArtifactPublic(path=path, size=size, is_dir=False, created_at=time.time())


@run_router.post(
    "/{experiment_id}/end",
    dependencies=[WRITE_RUN],
    response_model=ExperimentPublic,
    responses=ERRORS,
)
def end_run(
    experiment_id: ExperimentId, body: RunEnd, store: MlflowGroupsDep, runs: RunsDep
) -> ExperimentPublic:
    """End the run as its writer says (completed, failed with its error, or cancelled), with
    its result; a run ended already (by its writer, or lost) answers 409."""
    store.end_external(experiment_id, body.status, error=body.error, result=body.result)
    return ExperimentPublic.of(runs.get_experiment(experiment_id))

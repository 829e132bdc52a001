"""``/runs``: submit, list, read, rename and note, follow, cancel and delete runs.

The run routes of this module and of :mod:`.external`, :mod:`.events` and :mod:`.tags` are on
routers without a prefix, each included twice (:mod:`~azuraforge.platform.api.app`): under
:data:`PATH`, and under :data:`DEPRECATED_PATH`, where they were served before, the same
routes marked deprecated in the OpenAPI for one release."""

from __future__ import annotations

import mimetypes
import posixpath
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter

from azuraforge.errors import ConflictError, NotFoundError
from azuraforge.platform.api.access import MANAGE, READ, WRITE, Writer
from azuraforge.platform.api.deps import (
    MAX_EVENT_ID,
    BlobsDep,
    DataFolderDep,
    ExperimentId,
    RunsAndEventsDep,
    RunsAndMetricsDep,
    RunsDep,
    TransportDep,
    comma_separated,
    invalid_query,
)
from azuraforge.platform.api.list_csv import wants_csv
from azuraforge.platform.api.run_table import csv_response
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.runs import (
    ArtifactPublic,
    CurvePublic,
    ExperimentCreate,
    ExperimentDetail,
    ExperimentEdit,
    ExperimentPublic,
    ExperimentsPublic,
    LeasePublic,
    LogLine,
    LogsPublic,
    MetricsPublic,
    MetricSummaryPublic,
    ReportPublic,
    RestartPublic,
    RunListQuery,
    ScoreNamesPublic,
    score_table,
)
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.run_files import files_left_on, run_key, run_prefix, stored_artifacts
from azuraforge.platform.services.experiments import submit
from azuraforge.platform.services.external_runs import EXTERNAL
from azuraforge.platform.services.predictions import delete_inputs
from azuraforge.platform.services.reports import MAX_REPORT_BYTES, render_report
from azuraforge.platform.store import (
    ArtifactRecord,
    ExperimentRecord,
    QueryError,
)
from azuraforge.platform.store.interfaces import Metrics
from azuraforge.platform.store.states import FINISHED_STATES, RUN, TRIAL

PATH = "/runs"
"""Where a run's routes are served: a run is a row of the run list, MLflow's groups of runs
are its experiments (docs/architecture.md, "Vocabulary")."""
DEPRECATED_PATH = "/experiments"
"""Where a run's routes were served before :data:`PATH`: the same routes, deprecated."""
router = APIRouter()
SHOWN_TYPES = frozenset({"text/plain", "text/markdown", "text/csv", "application/json"})
"""Besides raster images, what a run's file may be shown as in a browser tab."""
FILE_HEADERS = {
    # A run's file is the run's, not the dashboard's: sandboxed, never sniffed into HTML.
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'",
    "X-Content-Type-Options": "nosniff",
}
ERRORS = error_responses()
PAGE_JSON = TypeAdapter(ExperimentsPublic)
"""What serializes a page of the run list, as its ``response_model`` does."""
MAX_POINTS = 100_000


@router.post(
    "",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=ExperimentsPublic,
    responses=ERRORS,
)
def create_experiments(
    body: ExperimentCreate,
    store: RunsDep,
    transport: TransportDep,
    folder: DataFolderDep,
    who: Writer,
) -> ExperimentsPublic:
    """Queue one run, or with ``grid`` one run per combination (a batch sharing a batch id).
    An invalid config is 422 naming each field's path; nothing is queued then. A file
    setting names a file in the project's data folder or a registered dataset."""
    records = submit(
        store,
        transport,
        body.pipeline,
        body.config,
        grid=body.grid,
        name=body.name,
        data_folder=folder,
        submitter=who.user,
    )
    data = [ExperimentPublic.of(r) for r in records]
    return ExperimentsPublic(data=data, total=len(data), offset=0, limit=len(data))


@router.get(
    "",
    dependencies=[READ],
    response_model=ExperimentsPublic,
    responses={**ERRORS, 200: {"content": {"text/csv": {}}, "description": "The runs."}},
)
async def list_experiments(
    store: RunsDep,
    filters: Annotated[RunListQuery, Query()],
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ExperimentsPublic | Response:
    """A page of runs, filtered and sorted (by any column, a metric's last value or a score),
    or (``format=csv``, or ``Accept: text/csv``) every run the filters keep as CSV, in the
    same order, streamed. The
    store is read in a worker thread, the page answered from the event loop (a plain ``def``
    route's answer is serialized in a second thread)."""
    query = filters.store_query()
    try:
        if wants_csv(filters.format_, accept):
            columns = comma_separated(filters.columns)
            response: Response = await csv_response(store, query, columns)
            return response
        page = await run_in_threadpool(store.list_experiments, query)
    except QueryError as e:
        raise invalid_query(e) from None
    data = [ExperimentPublic.of(r) for r in page.items]
    listed = ExperimentsPublic(
        data=data,
        total=page.total,
        offset=page.offset,
        limit=page.limit,
        total_exact=page.total_exact,
    )
    # The JSON response_model makes of it (its TypeAdapter's dump_json), without FastAPI
    # validating the page of models again first: 0.4 ms of a page of 50.
    return Response(PAGE_JSON.dump_json(listed, by_alias=True), media_type="application/json")


# Two segments: a path of one (/runs/scores) is also a run's id to PATCH and DELETE.
@router.get(
    "/scores/names", dependencies=[READ], response_model=ScoreNamesPublic, responses=ERRORS
)
def list_score_names(store: RunsDep) -> ScoreNamesPublic:
    """The names of the scores the project's runs have (the numbers of their results, by
    dotted path): the columns a list may show, sort by (``sort=score:<name>``) and filter
    on (``score=<name><op><number>``)."""
    return ScoreNamesPublic(names=store.list_score_names())


@router.get(
    "/{experiment_id}", dependencies=[READ], response_model=ExperimentDetail, responses=ERRORS
)
def get_experiment(
    experiment_id: ExperimentId, store: RunsAndMetricsDep, blobs: BlobsDep
) -> ExperimentDetail:
    """One run whole: config, lease, metric summaries, test scores beside baselines, files
    (those the file store holds: a run whose end could not copy them lists those it did)."""
    record = store.get_experiment(experiment_id)
    return _detail(store, record, blobs)


@router.patch(
    "/{experiment_id}", dependencies=[WRITE], response_model=ExperimentDetail, responses=ERRORS
)
def edit_experiment(
    experiment_id: ExperimentId, body: ExperimentEdit, store: RunsAndMetricsDep, blobs: BlobsDep
) -> ExperimentDetail:
    """Rename a run (``name``: unique in the project, 409 naming a name taken) and/or set its
    ``notes`` (plain text, an empty one clears them), whatever its status; the run whole.
    Those following the run get an ``edited`` event with what changed."""
    record = store.edit_experiment(experiment_id, name=body.name, notes=body.notes)
    return _detail(store, record, blobs)


def _detail(store: Metrics, record: ExperimentRecord, blobs: BlobStore) -> ExperimentDetail:
    light = ExperimentPublic.of(record).model_dump()
    scores = score_table((record.result or {}).get("metrics"))
    return ExperimentDetail(
        **light,
        project=record.project,
        config=record.config,
        seed=record.seed,
        attempts=record.attempts,
        restarts=record.restarts,
        restart_history=[RestartPublic.model_validate(e) for e in record.restart_history or []],
        not_before=record.not_before,
        cancel_requested_at=record.cancel_requested_at,
        lease=LeasePublic(
            owner=record.lease_owner,
            epoch=record.lease_epoch,
            expires_at=record.lease_expires_at,
            heartbeat_at=record.heartbeat_at,
        ),
        summaries={s.key: MetricSummaryPublic.of(s) for s in store.get_summaries(record.id)},
        scores=scores,
        result=record.result,
        artifacts=[ArtifactPublic.of(a) for a in _artifacts(store, record, blobs)],
        notes=record.notes or "",
    )


def _artifacts(store: Metrics, record: ExperimentRecord, blobs: BlobStore) -> list[ArtifactRecord]:
    """The run's files the blob store holds (:func:`stored_artifacts`)."""
    return stored_artifacts(blobs, record.id, record.result, store.list_artifacts(record.id))


@router.get(
    "/{experiment_id}/metrics", dependencies=[READ], response_model=MetricsPublic, responses=ERRORS
)
def get_metrics(
    experiment_id: ExperimentId,
    store: RunsAndMetricsDep,
    keys: Annotated[
        list[str] | None, Query(description="Repeat or comma-separate; all if absent.")
    ] = None,
    max_points: Annotated[int | None, Query(ge=2, le=MAX_POINTS)] = 1000,
) -> MetricsPublic:
    """Each metric's curve, downsampled on the server to at most ``max_points`` points."""
    store.get_experiment(experiment_id)
    wanted = [k.strip() for value in keys or [] for k in value.split(",") if k.strip()]
    curves = store.get_metrics(experiment_id, wanted, max_points)
    metrics = {
        key: CurvePublic(
            steps=[p[0] for p in points],
            values=[p[1] for p in points],
            times=[p[2] for p in points],
        )
        for key, points in curves.items()
    }
    return MetricsPublic(experiment_id=experiment_id, metrics=metrics)


@router.get(
    "/{experiment_id}/logs", dependencies=[READ], response_model=LogsPublic, responses=ERRORS
)
def get_logs(
    experiment_id: ExperimentId,
    store: RunsAndEventsDep,
    after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> LogsPublic:
    """The run's log lines after event id ``after``, oldest first."""
    store.get_experiment(experiment_id)
    events = store.list_events(
        experiment_id=experiment_id, kinds=["log"], after=after, limit=limit
    )
    lines = [
        LogLine(
            id=e.id, time=e.payload["time"], level=e.payload["level"], message=e.payload["message"]
        )
        for e in events
    ]
    return LogsPublic(data=lines, next_after=events[-1].id if events else after)


@router.get(
    "/{experiment_id}/report", dependencies=[READ], response_model=ReportPublic, responses=ERRORS
)
def get_report(experiment_id: ExperimentId, store: RunsDep, blobs: BlobsDep) -> ReportPublic:
    """The run's Markdown report, and as HTML (raw HTML in it escaped; its images and links
    to the run's files pointed at ``/artifacts/...``). A run writes it when it ends: before,
    a 409 says so; a run that ended without one is a 404."""
    record = store.get_experiment(experiment_id)
    path = (record.result or {}).get("report_path")
    if not path and record.kind not in (RUN, TRIAL, EXTERNAL):  # an external run may end with one
        raise NotFoundError(f"run {experiment_id} is a {record.kind} job, which writes no report")
    if not path and record.status not in FINISHED_STATES:
        raise ConflictError(
            f"run {experiment_id} is {record.status} and has no report yet: a run writes it "
            "when it ends"
        )
    if not path:
        raise NotFoundError(
            f"run {experiment_id} has no report: it ended {record.status} before writing one"
        )
    key = run_key(record.id, path)
    if files_left_on(record.result) is not None and not blobs.exists(key):
        raise NotFoundError(
            f"the report of run {experiment_id} is not in the file store yet: the run's end "
            f"could not copy its files, kept on machine {files_left_on(record.result)!r} "
            "until it takes them"
        )
    if blobs.size(key) > MAX_REPORT_BYTES:
        raise ConflictError(
            f"the report of run {experiment_id} is over {MAX_REPORT_BYTES:,} bytes; download "
            f"it instead: /api/v1/runs/{experiment_id}/artifacts/{path}"
        )
    markdown = blobs.get_bytes(key).decode("utf-8", errors="replace")
    files_url = f"/api/v1/runs/{experiment_id}/artifacts/"
    html = render_report(markdown, files_url, posixpath.dirname(path))
    return ReportPublic(experiment_id=experiment_id, path=path, markdown=markdown, html=html)


@router.get(
    "/{experiment_id}/artifacts/{path:path}",
    dependencies=[READ],
    response_class=StreamingResponse,
    responses=ERRORS,
)
def get_artifact(
    experiment_id: ExperimentId, path: str, store: RunsDep, blobs: BlobsDep
) -> StreamingResponse:
    """Download a file of the run (nothing outside its files), streamed from the blob store.
    Images and text are shown in the browser; anything else (a run's HTML, say) is a
    download, and nothing served here runs a script."""
    record = store.get_experiment(experiment_id)
    key = run_key(record.id, path)
    size = blobs.size(key)  # a missing file: 404 before anything is sent
    name = posixpath.basename(key)
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {**FILE_HEADERS, "Content-Length": str(size)}
    if not ((kind.startswith("image/") and kind != "image/svg+xml") or kind in SHOWN_TYPES):
        headers["Content-Disposition"] = f"attachment; filename*=utf-8''{quote(name)}"
    return StreamingResponse(blobs.iter_chunks(key), media_type=kind, headers=headers)


@router.post(
    "/{experiment_id}/cancel",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExperimentPublic,
    responses=ERRORS,
)
def cancel_experiment(
    experiment_id: ExperimentId, store: RunsDep, transport: TransportDep
) -> ExperimentPublic:
    """Cancel: a queued run at once; a running one stops at its next batch (within a second),
    or is stopped by force after the grace period. Metrics so far are kept."""
    record = store.request_cancel(experiment_id)
    transport.cancel(experiment_id)
    return ExperimentPublic.of(record)


@router.delete(
    "/{experiment_id}",
    dependencies=[MANAGE],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
def delete_experiment(experiment_id: ExperimentId, store: RunsDep, blobs: BlobsDep) -> None:
    """Delete a finished or queued run with its metrics, events and files; its name is free
    again. A running run must be cancelled first (409)."""
    record = store.delete_experiment(experiment_id)
    blobs.delete_prefix(run_prefix(record.id))
    delete_inputs(blobs, record)

"""``/streams``: start, list, read and stop streams (continuous learning as supervised jobs).

A stream is a job of the kind ``stream``; its curves, logs and events are those of any job
(``/experiments/{id}/metrics``, ``/logs``, ``/events``).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from azuraforge.errors import ConflictError
from azuraforge.platform.api.access import READ, WRITE, Writer
from azuraforge.platform.api.deps import (
    DataFolderDep,
    RunLeasesDep,
    RunsAndDataFilesDep,
    RunsAndMetricsDep,
    RunsDep,
    SettingsDep,
    TransportDep,
    comma_separated,
    status_list,
)
from azuraforge.platform.api.list_csv import CsvAsked, csv_of, csv_responses, page_or_csv
from azuraforge.platform.api.routes.streams.common import ERRORS, StreamId
from azuraforge.platform.api.schemas.streams import (
    StreamCreate,
    StreamDetail,
    StreamPublic,
    StreamsPublic,
)
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.job import STREAM, find_stream, start_stream
from azuraforge.platform.services.streams.loop import SOURCE_FOUND
from azuraforge.platform.services.streams.readings import pace
from azuraforge.platform.store import ExperimentQuery
from azuraforge.platform.store.states import ALL_STATES, FINISHED_STATES

router = APIRouter(prefix="/streams", tags=["streams"])


@router.get("/schema", dependencies=[READ], responses=ERRORS)
def get_schema() -> dict[str, Any]:
    """The JSON Schema of a stream's config (what POST /streams takes as ``config``)."""
    return StreamConfig.model_json_schema()


@router.post(
    "",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=StreamDetail,
    responses=ERRORS,
)
def create_stream(
    body: StreamCreate,
    store: RunsAndDataFilesDep,
    transport: TransportDep,
    settings: SettingsDep,
    folder: DataFolderDep,
    who: Writer,
) -> StreamDetail:
    """Start a stream: it is queued as a supervised job and runs on a worker until its source
    ends, ``max_events``, or a stop; restarted from its last checkpoint when its worker dies.
    A bad config is 422 naming each field's path; its ``source`` is a registered dataset or a
    file of the project's data folder."""
    record = start_stream(
        store, transport, settings, body.config, name=body.name, data_folder=folder,
        submitter=who.user,
    )  # fmt: skip
    return StreamDetail.of(record)


StreamsCsv = csv_of(StreamPublic)
"""The CSV parameters of the list of StreamPublic."""


@router.get(
    "",
    dependencies=[READ],
    response_model=StreamsPublic,
    responses={**ERRORS, **csv_responses("The streams.")},
)
def list_streams(
    store: RunsAndMetricsDep,
    csv: Annotated[CsvAsked | None, StreamsCsv],
    status_: Annotated[
        list[Annotated[str, status_list(ALL_STATES)]] | None,
        Query(alias="status", description="Repeat or comma-separate (no spaces)."),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> StreamsPublic | Response:
    """A page of streams, newest first; or (``format=csv``, or ``Accept: text/csv``) every
    stream the filter keeps as CSV."""
    query = ExperimentQuery(statuses=comma_separated(status_), kinds=(STREAM,))

    def page(offset: int, limit: int) -> tuple[list[StreamPublic], int]:
        found = store.list_experiments(replace(query, offset=offset, limit=limit))
        now = time.time()
        return [StreamPublic.of(r, pace(store, r, now)) for r in found.items], found.total

    return page_or_csv(page, csv, "streams.csv", StreamsPublic, offset, limit)


@router.get("/{stream_id}", dependencies=[READ], response_model=StreamDetail, responses=ERRORS)
def get_stream(
    stream_id: StreamId, store: RunsAndMetricsDep, leases: RunLeasesDep
) -> StreamDetail:
    """One stream: config, where it runs, how far it got and how it keeps up, its scores, its
    restarts, and what its source found in its rows (``source_report``: skipped rows with
    their lines and reasons, repeated times, gaps, banners, times written several ways)."""
    record = find_stream(store, stream_id)
    found = leases.find_checkpoint_entry(stream_id, SOURCE_FOUND)
    return StreamDetail.of(record, pace(store, record, time.time()), found)


@router.post(
    "/{stream_id}/stop",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StreamPublic,
    responses=ERRORS,
)
def stop_stream(stream_id: StreamId, store: RunsDep, transport: TransportDep) -> StreamPublic:
    """Stop a stream: a queued one at once; a running one at its next event, after its last
    checkpoint; it ends ``cancelled``. A stream that already ended is 409."""
    found = find_stream(store, stream_id)
    if found.status in FINISHED_STATES:
        raise ConflictError(f"stream {stream_id} already ended as {found.status}; nothing to stop")
    record = store.request_cancel(stream_id)
    transport.cancel(stream_id)
    return StreamPublic.of(record)

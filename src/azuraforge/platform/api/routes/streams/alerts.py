"""``/streams/alerts`` and ``/streams/{id}/alerts``: the alerts of the streams' rules (every
stream's, or one stream's)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from azuraforge.platform.api.access import READ
from azuraforge.platform.api.deps import RunsAndStreamsDep, StreamsDep
from azuraforge.platform.api.routes.streams.common import ERRORS, StreamId
from azuraforge.platform.api.schemas.streams import AlertPublic
from azuraforge.platform.services.streams.job import find_stream

router = APIRouter(prefix="/streams", tags=["streams"])


@router.get("/alerts", dependencies=[READ], response_model=list[AlertPublic], responses=ERRORS)
def list_alerts(
    store: StreamsDep,
    state: Annotated[
        list[Literal["pending", "firing", "resolved"]] | None,
        Query(description="Only these states (repeat the parameter)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertPublic]:
    """Every stream's alerts, newest first (``state=firing``: what fires now)."""
    return [AlertPublic.of(a) for a in store.list_alerts(states=state or (), limit=limit)]


@router.get(
    "/{stream_id}/alerts", dependencies=[READ], response_model=list[AlertPublic], responses=ERRORS
)
def get_alerts(stream_id: StreamId, store: RunsAndStreamsDep) -> list[AlertPublic]:
    """The stream's alerts, newest first: each rule's pending, firing and resolved ones."""
    find_stream(store, stream_id)
    return [AlertPublic.of(alert) for alert in store.list_alerts(stream_id)]

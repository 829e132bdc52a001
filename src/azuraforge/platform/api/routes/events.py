"""WebSocket streams: one run's events (history, live, end) and the project's run updates."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from azuraforge.errors import InvalidParameterError, NotFoundError, shorten
from azuraforge.platform.api.access import READ, lapsed
from azuraforge.platform.api.deps import (
    MAX_EVENT_ID,
    EventsDep,
    ExperimentId,
    HubDep,
    RunsAndEventsDep,
)
from azuraforge.platform.api.origins import close_reason
from azuraforge.platform.api.schemas.runs import ExperimentPublic
from azuraforge.platform.events import EventHub
from azuraforge.platform.store import EventRecord, ExperimentRecord, is_unavailable
from azuraforge.platform.store.interfaces import Events, RunsAndEvents
from azuraforge.platform.store.states import FINISHED_STATES

router = APIRouter(tags=["events"])
run_router = APIRouter()
"""One run's stream, under the run's path (:mod:`.runs`)."""
_PAGE = 1000
DELETED = "deleted"
"""The ``end`` status of a stream whose run was deleted while it was followed."""
STORE_PATIENCE = 5.0
"""Seconds a stream's read waits for an unreachable store (a database restarting) before
the socket is closed with code 1013, try again later."""
OUTAGE_REASON = "the store cannot be reached; reconnect in a moment"
RESET_REASON = (
    "event {after} is not one this stream can resume after (its run was deleted, it was "
    "pruned, or it is not this stream's): read what you show again; the stream goes on from now"
)
"""Why a stream could not resume: the ``reason`` of its ``reset`` message."""
_REFUSED = -1
"""What :func:`_resume_point_or_close` returns once it closed the socket (no event id)."""
_log = logging.getLogger(__name__)
_Read = TypeVar("_Read")
_Handler = Callable[..., Awaitable[None]]


def _closed_on_outage(handler: _Handler) -> _Handler:
    """``handler``, closing its socket with 1013 and :data:`OUTAGE_REASON` when the store
    stays unreachable (a traceback in the server's log and a dropped connection, before)."""

    @functools.wraps(handler)
    async def handled(**values: Any) -> None:
        try:
            await handler(**values)
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("an event stream closed: the store cannot be reached: %s", e)
            with contextlib.suppress(RuntimeError):  # the client left meanwhile
                await values["websocket"].close(code=1013, reason=OUTAGE_REASON)

    return handled


async def _read(read: Callable[..., _Read], *args: Any, **kwargs: Any) -> _Read:
    """``read(*args, **kwargs)`` in a thread, tried again each second for up to
    :data:`STORE_PATIENCE` while the store is unreachable (then its error is raised)."""
    deadline = time.monotonic() + STORE_PATIENCE
    while True:
        try:
            return await asyncio.to_thread(read, *args, **kwargs)
        except Exception as e:
            if not is_unavailable(e) or time.monotonic() >= deadline:
                raise
        await asyncio.sleep(1.0)


@run_router.websocket("/{experiment_id}/events", dependencies=[READ])
@_closed_on_outage
async def experiment_events(
    websocket: WebSocket, experiment_id: ExperimentId, store: RunsAndEventsDep, hub: HubDep
) -> None:
    """On connect, one ``history`` message (the run, every metric point so far, its status,
    and ``last_event_id``), then each new event as it is committed (``metrics``,
    ``progress``, ``status``, ``log``, ``artifact``, ``edited``: its new ``name`` and/or
    ``notes``; each with its ``id``), then ``end`` with the final status, then close. A late
    joiner gets the same full curves. An unknown run closes with code 4404; a run deleted
    while followed ends with status ``deleted``.

    With ``?after=<event id>`` (the last ``id`` the client got, or ``last_event_id``), no
    ``history``: each of the run's events after that one, in order, then the live ones (see
    :func:`resume_point`); one the store no longer keeps brings a ``reset`` message, then
    the ``history``."""
    after = await _resume_point_or_close(websocket)
    if after == _REFUSED:
        return
    await websocket.accept()
    try:
        record = await asyncio.to_thread(store.get_experiment, experiment_id)
    except NotFoundError as e:
        await websocket.close(code=4404, reason=close_reason(e.public))
        return
    resumed = await _read(_run_position, store, experiment_id, after)
    async with _client_watch(websocket) as gone:
        if resumed is None:
            cursor, status = await _send_history(websocket, store, record, after)
        else:
            cursor, status = await _send_run_events(websocket, store, experiment_id,
                                                    resumed, record.status)  # fmt: skip
        status = await _follow(websocket, store, hub, experiment_id, (cursor, status), gone)
        if not gone.is_set():
            await websocket.send_json({"type": "end", "status": status})
            await websocket.close()


def _run_position(store: Events, experiment_id: int, after: int | None) -> int | None:
    """Where a run's stream asked to resume after event ``after`` starts: that id if the
    run's event is kept (0: from the first), else ``None`` (no resume point, or a lost one)."""
    if after is None or after == 0:
        return after
    found = store.find_event_position(after, experiment_id=experiment_id)
    return None if found is None else found[1]


async def _send_history(
    websocket: WebSocket, store: Events, record: ExperimentRecord, after: int | None
) -> tuple[int, str]:
    """Send the run's ``history`` (after a ``reset`` when the event ``after`` is no longer
    kept); the id of the last event it holds and the run's status then."""
    if after is not None:
        await websocket.send_json(_reset(after))
    history, cursor, status = await _history(store, record.id)
    await websocket.send_json(
        {"type": "history", "experiment": ExperimentPublic.of(record).model_dump(), **history}
    )
    return cursor, status


async def _follow(
    websocket: WebSocket, store: RunsAndEvents, hub: EventHub, experiment_id: int,
    since: tuple[int, str], gone: asyncio.Event,
) -> str:  # fmt: skip
    """Send the run's events after ``since`` (an event id and the status then) as they
    come, until the run ends or is deleted (looked for once a second while none came) or
    the client goes; its last status."""
    cursor, status = since
    next_look = time.monotonic() + 1.0
    while status not in FINISHED_STATES | {DELETED} and not gone.is_set():
        await hub.wait()
        sent_from = cursor
        cursor, status = await _send_run_events(websocket, store, experiment_id,
                                                cursor, status)  # fmt: skip
        if cursor == sent_from and time.monotonic() >= next_look:  # deleted? (once a second)
            next_look = time.monotonic() + 1.0
            if not await _read(store.find_experiment, experiment_id):
                status = DELETED
    return status


async def _send_run_events(
    websocket: WebSocket, store: Events, experiment_id: int, cursor: int, status: str
) -> tuple[int, str]:
    """Send each of the run's events after id ``cursor``, page by page until none is left;
    the new cursor, and the run's status as the last ``status`` event sent gives it."""
    while True:
        events = await _read(
            store.list_events, experiment_id=experiment_id, after=cursor, limit=_PAGE
        )
        for event in events:
            cursor = event.id
            await websocket.send_json(_message(event))
            if event.kind == "status":
                status = event.payload["status"]
        if len(events) < _PAGE:
            return cursor, status


@contextlib.asynccontextmanager
async def _client_watch(websocket: WebSocket) -> AsyncIterator[asyncio.Event]:
    """An event set once the client goes away (or the server shuts down), or once its
    credential would be refused to a request (the socket is then closed with 4401, within
    the second a request is refused), each watched by a task of its own: a handler waiting
    for a quiet run's next event still notices, and ends."""
    gone = asyncio.Event()

    async def watch() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        gone.set()

    async def refuse() -> None:
        why = await lapsed(websocket)
        gone.set()
        with contextlib.suppress(RuntimeError):  # the client left meanwhile
            await websocket.close(code=4401, reason=close_reason(why.public))

    watchers = [asyncio.create_task(watch()), asyncio.create_task(refuse())]
    try:
        yield gone
    except WebSocketDisconnect:
        gone.set()
    except RuntimeError:
        if not gone.is_set():  # a send after the client left is expected; anything else is not
            raise
    finally:
        for watcher in watchers:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


async def _history(store: Events, experiment_id: int) -> tuple[dict[str, Any], int, str]:
    """Every event of the run so far folded into curves and the latest status and progress."""
    curves: dict[str, dict[str, list[float]]] = {}
    cursor, status, progress = 0, "", None
    while True:
        events = await _read(
            store.list_events, experiment_id=experiment_id, after=cursor, limit=_PAGE
        )
        for event in events:
            cursor = event.id
            if event.kind == "metrics":
                for key, step, value in event.payload["points"]:
                    curve = curves.setdefault(key, {"steps": [], "values": []})
                    curve["steps"].append(step)
                    curve["values"].append(value)
            elif event.kind == "status":
                status = event.payload["status"]
            elif event.kind == "progress":
                progress = event.payload
        if len(events) < _PAGE:
            break
    return (
        {"metrics": curves, "status": status, "progress": progress, "last_event_id": cursor},
        cursor,
        status,
    )


@router.websocket("/events", dependencies=[READ])
@_closed_on_outage
async def project_events(websocket: WebSocket, store: EventsDep, hub: HubDep) -> None:
    """Status and progress of every run of the project as they change (for list pages):
    messages ``{"type": "status" | "progress", "id": ..., "experiment_id": ..., ...}``, from
    the moment of connecting on, in commit order.

    With ``?after=<event id>`` (the ``id`` of the last message the client got), first each
    of the project's events this stream sends that came after that one, in order, exactly
    once, then the live ones, on any API process (see :func:`resume_point`); one the store
    no longer keeps brings a ``reset`` message first, and the stream goes on from the moment
    of connecting."""
    after = await _resume_point_or_close(websocket)
    if after == _REFUSED:
        return
    # The position is taken before the handshake completes: a client that acts as soon as it
    # is connected (submits a run) gets every event of that act, the first one included.
    position = await asyncio.to_thread(store.event_position)
    resumed = await _read(_project_position, store, after)
    await websocket.accept()
    async with _client_watch(websocket) as gone:
        if resumed is not None:
            position = resumed
        elif after is not None:
            await websocket.send_json(_reset(after))
        while not gone.is_set():
            events = await _read(
                store.list_committed_events, position, kinds=["status", "progress"], limit=_PAGE
            )
            for event in events:
                position = event.position
                await websocket.send_json(_message(event))
            if len(events) < _PAGE:
                await hub.wait()


def _project_position(store: Events, after: int | None) -> tuple[int, int] | None:
    """Where the project's stream asked to resume after event ``after`` starts: that event's
    position if the project's event is kept (0: the first), else ``None``."""
    if after is None or after == 0:
        return None if after is None else (0, 0)
    found: tuple[int, int] | None = store.find_event_position(after)
    return found


def resume_point(websocket: WebSocket) -> int | None:
    """The event id a stream's ``?after=`` asks to resume after, ``None`` without one.

    A resumed stream sends each event after that one exactly once, in order, then the live
    ones. Events are rows of the store, so any API process serves the catch-up; the id must
    be an event of the caller's project (of the run, for a run's stream). One the store no
    longer keeps (its run deleted, or a log line the run's log limit dropped), another
    project's, or one never written cannot be placed: the stream's first message is then
    ``{"type": "reset", "after": ..., "reason": ...}``, telling the client to read what it
    shows again, and nothing is skipped silently.

    Raises
    ------
    InvalidParameterError
        ``after`` is not one whole number from 0 to :data:`MAX_EVENT_ID`.
    """
    sent = websocket.query_params.getlist("after")
    if not sent:
        return None
    value = sent[0]
    digits = value.isascii() and value.isdigit() and len(value) <= len(str(MAX_EVENT_ID))
    if len(sent) > 1 or not digits or int(value) > MAX_EVENT_ID:  # no 5,000-digit int()
        raise InvalidParameterError(
            f"after must be one event id, a whole number from 0 to {MAX_EVENT_ID}, got "
            f"{shorten(','.join(sent), 20, quoted=True)}"
        )
    return int(value)


async def _resume_point_or_close(websocket: WebSocket) -> int | None:
    """:func:`resume_point`, or :data:`_REFUSED` once the socket is closed with 4422 (a
    request's 422) and the reason."""
    try:
        return resume_point(websocket)
    except InvalidParameterError as e:
        await websocket.accept()
        await websocket.close(code=4422, reason=close_reason(str(e)))
        return _REFUSED


def _reset(after: int) -> dict[str, Any]:
    return {"type": "reset", "after": after, "reason": RESET_REASON.format(after=after)}


def _message(event: EventRecord) -> dict[str, Any]:
    return {"type": event.kind, "id": event.id, "experiment_id": event.experiment_id,
            "time": event.created_at, **event.payload}  # fmt: skip

"""What routes receive: the store, the settings, the transport, the event hub, ids in the
range the store's columns hold, and only input every database stores alike."""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from starlette.requests import HTTPConnection

from azuraforge.platform.events import EventHub
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store


def get_store(connection: HTTPConnection) -> Store:
    store: Store = connection.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_transport(request: Request) -> Transport:
    transport: Transport = request.app.state.transport
    return transport


def get_hub(connection: HTTPConnection) -> EventHub:
    hub: EventHub = connection.app.state.hub
    return hub


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TransportDep = Annotated[Transport, Depends(get_transport)]
HubDep = Annotated[EventHub, Depends(get_hub)]

MAX_EXPERIMENT_ID = 2**31 - 1
"""Experiment ids are 32-bit on PostgreSQL: a larger id is a 422, not a database error."""
MAX_EVENT_ID = 2**63 - 1
"""Event ids are 64-bit on both databases."""

ExperimentId = Annotated[int, Path(ge=1, le=MAX_EXPERIMENT_ID, description="A run's id.")]


NUL = "\x00"
_SUSPECT = re.compile(rb"\\u0000|NaN|Infinity|[eE]\+?\d{3}|\d{300}")
"""What a JSON body holds when it holds a NUL or a non-finite number (a raw NUL byte is
already invalid JSON; ``1e999`` and 300 digits overflow to infinity): bodies without them
are not parsed a second time."""


async def storable_input(connection: HTTPConnection) -> None:
    """Refuse, for every route at once, input the databases would not store alike: text
    holding a NUL character in a query parameter or anywhere in a JSON body (keys included),
    which PostgreSQL can neither store nor compare and SQLite keeps; and NaN or Infinity in a
    JSON body, which Python's parser reads but JSON (and PostgreSQL's JSON) has no spelling
    for.

    Raises
    ------
    RequestValidationError
        A 422 naming each field, as FastAPI's own checks do (for a WebSocket, its
        ``WebSocketRequestValidationError``).
    """
    problems = [
        _problem(("query", key.replace(NUL, "\\x00")), _NUL_TEXT)
        for key, value in connection.query_params.multi_items()
        if NUL in key or NUL in value
    ]
    if isinstance(connection, Request):
        problems += [
            _problem(("body", *loc), msg) for loc, msg in await _body_problems(connection)
        ]
    if not problems:
        return
    if isinstance(connection, Request):
        raise RequestValidationError(problems)
    raise WebSocketRequestValidationError(problems)


_NUL_TEXT = "text may not contain NUL (\\x00) characters"
_NUL_KEY = "a key may not contain NUL (\\x00) characters"


def _problem(loc: tuple[str | int, ...], msg: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": msg, "input": None}


async def _body_problems(request: Request) -> list[tuple[tuple[str | int, ...], str]]:
    body = await request.body()  # cached: the route reads the same bytes
    content_type = request.headers.get("content-type")
    if content_type is not None and "json" not in content_type:
        return []  # FastAPI reads a body as JSON only when it says so, or says nothing
    if not _SUSPECT.search(body):
        return []
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return []  # the route reports a body it cannot read
    return list(_unstorable(data))


def _unstorable(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """``(path, message)`` for each NUL-holding text or key and each non-finite number.

    >>> [loc for loc, _ in _unstorable({"name": "a" + chr(0), "lr": [0.1, float("nan")]})]
    [('name',), ('lr', 1)]
    """
    # NOTE: a loop, not recursion: a body nested as deep as the JSON parser allows must not
    # exhaust the stack here.
    pending: deque[tuple[tuple[str | int, ...], Any]] = deque([((), data)])
    while pending:
        loc, value = pending.popleft()
        if isinstance(value, str) and NUL in value:
            yield loc, _NUL_TEXT
        elif isinstance(value, float) and not math.isfinite(value):
            shown = "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
            yield loc, f"{shown} is not a JSON number (1e999 reads as Infinity); send a finite one"
        elif isinstance(value, dict):
            if any(NUL in key for key in value):
                yield loc, _NUL_KEY
            pending.extend(((*loc, key), item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend(((*loc, index), item) for index, item in enumerate(value))

"""What routes receive: the store's interface each needs, as the caller's project sees it, the
blob store, the settings, the server's keys, the
transport, the event hub, ids in the range the store's columns hold, only input every database
stores alike, and one value of a query parameter that takes one.

A dependency that reads no file and no database is ``async``: FastAPI runs a plain ``def`` one
in a worker thread, which costs a request about half a millisecond."""

from __future__ import annotations

import json
import math
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, Path, Request, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from pydantic import WithJsonSchema
from pydantic.fields import FieldInfo
from starlette.requests import HTTPConnection

from azuraforge.platform.api.live_settings import settings_of
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.events import EventHub
from azuraforge.platform.jobs.files import DataFolder, data_folder_of
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.chat import ChatSources
from azuraforge.platform.services.keys import ServerKeys
from azuraforge.platform.services.mlflow_artifacts import ArtifactFiles, ArtifactPlaces
from azuraforge.platform.services.mlflow_registry import VersionSources
from azuraforge.platform.services.streams.explain import LearnerSources
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import QueryError, Store
from azuraforge.platform.store.interfaces import (
    Access,
    Chat,
    DataFiles,
    Events,
    Examples,
    MlflowGroups,
    MlflowModels,
    MlflowRuns,
    MlflowTracking,
    ProjectSettings,
    ProjectView,
    Registry,
    RunLeases,
    Runs,
    RunsAndChat,
    RunsAndCompare,
    RunsAndDataFiles,
    RunsAndEvents,
    RunsAndExamples,
    RunsAndLeases,
    RunsAndMetrics,
    RunsAndMlflowGroups,
    RunsAndRegistry,
    RunsAndStreams,
    RunsAndStudies,
    Streams,
    Studies,
)
from azuraforge.platform.store.scope import ProjectStore


async def get_server_store(connection: HTTPConnection) -> Store:
    """The whole store, for the routes about users, tokens and projects (each says who may
    do what it does)."""
    store: Store = connection.app.state.store
    return store


async def get_store(connection: HTTPConnection) -> ProjectView:
    """The store as the caller's project sees it (a
    :class:`~azuraforge.platform.store.scope.ProjectStore`), or the whole store for a route
    anyone may call. One per request, whichever of its interfaces (:data:`RunsDep`...) a
    route's parameters name: FastAPI calls a dependency once a request."""
    store: Store = connection.app.state.store
    identity = getattr(connection.state, "identity", None)
    if identity is None:
        return store
    return ProjectStore(store, identity.project)


async def get_blobs(connection: HTTPConnection) -> BlobStore:
    """The blob store of the platform's files (runs' reports and artifacts...), the same
    for every API server and worker; the caller's project is checked by the store's row that
    names the key."""
    blobs: BlobStore = connection.app.state.blobs
    return blobs


async def get_settings(request: Request) -> Settings:
    """The settings the request is served under: one version of the live settings
    (:func:`~azuraforge.platform.api.live_settings.settings_of`)."""
    return settings_of(request.scope, request.app.state.settings)


async def get_keys(request: Request) -> ServerKeys:
    keys: ServerKeys = request.app.state.keys
    return keys


async def get_data_folder(connection: HTTPConnection) -> DataFolder:
    """The data folder of the caller's project: the only folder whose files its requests
    may name (:func:`~azuraforge.platform.jobs.files.data_folder_of`; no I/O, so on the event
    loop)."""
    settings: Settings = connection.app.state.settings
    project, blobs = connection.state.identity.project, connection.app.state.blobs
    return data_folder_of(settings, project, blobs, connection.app.state.store)


async def get_transport(request: Request) -> Transport:
    transport: Transport = request.app.state.transport
    return transport


async def get_hub(connection: HTTPConnection) -> EventHub:
    hub: EventHub = connection.app.state.hub
    return hub


RunsDep = Annotated[Runs, Depends(get_store)]
RunLeasesDep = Annotated[RunLeases, Depends(get_store)]
RunsAndMetricsDep = Annotated[RunsAndMetrics, Depends(get_store)]
RunsAndDataFilesDep = Annotated[RunsAndDataFiles, Depends(get_store)]
RunsAndEventsDep = Annotated[RunsAndEvents, Depends(get_store)]
RunsAndLeasesDep = Annotated[RunsAndLeases, Depends(get_store)]
RunsAndRegistryDep = Annotated[RunsAndRegistry, Depends(get_store)]
RunsAndCompareDep = Annotated[RunsAndCompare, Depends(get_store)]
RunsAndChatDep = Annotated[RunsAndChat, Depends(get_store)]
RunsAndExamplesDep = Annotated[RunsAndExamples, Depends(get_store)]
RunsAndStreamsDep = Annotated[RunsAndStreams, Depends(get_store)]
RunsAndStudiesDep = Annotated[RunsAndStudies, Depends(get_store)]
EventsDep = Annotated[Events, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_store)]
StudiesDep = Annotated[Studies, Depends(get_store)]
StreamsDep = Annotated[Streams, Depends(get_store)]
ChatDep = Annotated[Chat, Depends(get_store)]
ChatSourcesDep = Annotated[ChatSources, Depends(get_store)]
ExamplesDep = Annotated[Examples, Depends(get_store)]
MlflowGroupsDep = Annotated[MlflowGroups, Depends(get_store)]
MlflowModelsDep = Annotated[MlflowModels, Depends(get_store)]
MlflowRunsDep = Annotated[MlflowRuns, Depends(get_store)]
MlflowTrackingDep = Annotated[MlflowTracking, Depends(get_store)]
RunsAndMlflowGroupsDep = Annotated[RunsAndMlflowGroups, Depends(get_store)]
ArtifactPlacesDep = Annotated[ArtifactPlaces, Depends(get_store)]
ArtifactFilesDep = Annotated[ArtifactFiles, Depends(get_store)]
VersionSourcesDep = Annotated[VersionSources, Depends(get_store)]
AccessDep = Annotated[Access, Depends(get_store)]
DataFilesDep = Annotated[DataFiles, Depends(get_store)]
ProjectSettingsDep = Annotated[ProjectSettings, Depends(get_store)]
LearnerSourcesDep = Annotated[LearnerSources, Depends(get_store)]
ServerStoreDep = Annotated[Store, Depends(get_server_store)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
KeysDep = Annotated[ServerKeys, Depends(get_keys)]
DataFolderDep = Annotated[DataFolder, Depends(get_data_folder)]
TransportDep = Annotated[Transport, Depends(get_transport)]
HubDep = Annotated[EventHub, Depends(get_hub)]

MAX_EXPERIMENT_ID = 2**31 - 1
"""Experiment ids are 32-bit on PostgreSQL: a larger id is a 422, not a database error."""
MAX_EVENT_ID = 2**63 - 1
"""Event ids are 64-bit on both databases."""

ExperimentId = Annotated[int, Path(ge=1, le=MAX_EXPERIMENT_ID, description="A run's id.")]


def status_list(names: Iterable[str]) -> WithJsonSchema:
    """A query value of one or more of ``names``, comma-separated, no spaces or empty items,
    declared as a pattern: :func:`comma_separated` reads it as sent, and the store refuses
    another item naming it (its 422 says which)."""
    one = "|".join(sorted(names))
    return WithJsonSchema({"type": "string", "pattern": f"^(?:{one})(?:,(?:{one}))*$"})


def comma_separated(values: Iterable[str] | None) -> list[str]:
    """The items of repeated, comma-separated query values, as sent: an empty or spaced item
    stays, for the caller's check to refuse as the declared pattern does."""
    return [item for value in values or () for item in value.split(",")]


def invalid_query(error: QueryError) -> RequestValidationError:
    """``error`` as the 422 FastAPI's own checks give, naming its query parameter."""
    problem = {"type": "value_error", "loc": ("query", error.field), "msg": str(error)}
    return RequestValidationError([{**problem, "input": None}])


def invalid_path(parameter: str, error: Exception) -> RequestValidationError:
    """``error`` as the 422 FastAPI's own checks give, naming the path parameter
    ``parameter`` (a file's name that is not one inside its folder)."""
    problem = {"type": "value_error", "loc": ("path", parameter), "msg": str(error)}
    return RequestValidationError([{**problem, "input": None}])


NUL = "\x00"
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789E", b"000000000e")
_LONG_NUMBER = b"0" * 200


def _may_be_unstorable(body: bytes) -> bool:
    """Whether a JSON body may hold a NUL or a non-finite number; bodies that cannot are not
    parsed a second time. A raw NUL byte is already invalid JSON, so a NUL is ``\\u0000``.
    A number reads as infinity only with an exponent of three digits or more (``1e999``,
    ``1E+0400``) or, below ``e100``, at least 210 digits before its point. Bytes
    comparisons, about 10 times faster than one regular expression on a 4 kB body.

    >>> _may_be_unstorable(b'{"rows": [{"year": 2014, "PRES": 1021.5, "cbwd": "NE"}]}')
    False
    >>> [_may_be_unstorable(n) for n in (b"NaN", b"-Infinity", b"1E+309", b"9" * 210 + b"e99")]
    [True, True, True, True]
    """
    if b"\\u0000" in body or b"NaN" in body or b"Infinity" in body:
        return True
    shape = body.translate(_DIGITS_AS_ZEROS, b"+")  # 1E+309 -> 0e000
    return b"e000" in shape or _LONG_NUMBER in shape


async def checked_input(connection: HTTPConnection) -> None:
    """Refuse, for every route at once, input the databases would not store alike: text
    holding a NUL character in a query parameter or anywhere in a JSON body (keys included),
    which PostgreSQL can neither store nor compare and SQLite keeps; and NaN or Infinity in a
    JSON body, which Python's parser reads but JSON (and PostgreSQL's JSON) has no spelling
    for. Refuse too a query parameter the route reads as one value sent more than once
    (``?batch_id=a&batch_id=b``): which one was meant is not for the server to guess.

    Raises
    ------
    RequestValidationError
        A 422 naming each field, as FastAPI's own checks do (for a WebSocket, its
        ``WebSocketRequestValidationError``).
    """
    problems = _query_problems(connection) if connection.scope["query_string"] else []
    if isinstance(connection, Request):
        problems += [
            _problem(("body", *loc), msg) for loc, msg in await _body_problems(connection)
        ]
    if not problems:
        return
    if isinstance(connection, Request):
        raise RequestValidationError(problems)
    raise WebSocketRequestValidationError(problems)


def _query_problems(connection: HTTPConnection) -> list[dict[str, Any]]:
    """A problem for each query parameter holding a NUL, and each sent more than once that
    takes one value."""
    problems = [
        _problem(("query", key.replace(NUL, "\\x00")), _NUL_TEXT)
        for key, value in connection.query_params.multi_items()
        if NUL in key or NUL in value
    ]
    return problems + _repeated_values(connection)


def _repeated_values(connection: HTTPConnection) -> list[dict[str, Any]]:
    """A problem for each query parameter of the matched route that takes one value and was
    sent more than once."""
    sent = Counter(key for key, _ in connection.query_params.multi_items())
    dependant = getattr(connection.scope.get("route"), "dependant", None)
    if dependant is None or all(count == 1 for count in sent.values()):
        return []
    return [
        _problem(("query", field.alias), f"sent {sent[field.alias]} times; it takes one value")
        for field in get_flat_params(dependant)
        if _reads_the_query(field.field_info)
        and sent[field.alias] > 1
        and not _takes_a_list(field.field_info.annotation)
    ]


def _reads_the_query(info: FieldInfo) -> bool:
    """Whether a route's parameter ``info`` is read from the query string: a query parameter,
    or a field of a query model (FastAPI lists those as pydantic's fields, not as its
    ``Query``; no route takes a header or cookie model)."""
    return isinstance(info, params.Query) or not isinstance(info, params.Param)


_SEQUENCES = (list, tuple, set, frozenset, deque, Sequence)


def _takes_a_list(annotation: Any) -> bool:
    """Whether FastAPI reads every value of a query parameter annotated ``annotation``
    (``list[str] | None``, ``Annotated[list[str], ...]``), not one."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _takes_a_list(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_takes_a_list(option) for option in get_args(annotation))
    return (origin or annotation) in _SEQUENCES


_NUL_TEXT = "text may not contain NUL (\\x00) characters"
_NUL_KEY = "a key may not contain NUL (\\x00) characters"


def _problem(loc: tuple[str | int, ...], msg: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": loc, "msg": msg, "input": None}


async def _body_problems(request: Request) -> list[tuple[tuple[str | int, ...], str]]:
    body = await request.body()  # cached: the route reads the same bytes
    content_type = request.headers.get("content-type")
    if content_type is not None and "json" not in content_type:
        return []  # FastAPI reads a body as JSON only when it says so, or says nothing
    if not _may_be_unstorable(body):
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
        problem = _unstorable_value(value)
        if problem is not None:
            yield loc, problem
        if isinstance(value, dict):
            pending.extend(((*loc, key), item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend(((*loc, index), item) for index, item in enumerate(value))


def _unstorable_value(value: Any) -> str | None:
    """Why ``value`` itself cannot be stored (a text or a key holding NUL, a number that is
    not finite), if it cannot; what it holds is looked at apart."""
    if isinstance(value, str) and NUL in value:
        return _NUL_TEXT
    if isinstance(value, float) and not math.isfinite(value):
        shown = "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
        return f"{shown} is not a JSON number (1e999 reads as Infinity); send a finite one"
    if isinstance(value, dict) and any(NUL in key for key in value):
        return _NUL_KEY
    return None

"""Who calls, in which project, and whether they may: every route declares one permission
(a test fails for a route that does not), and the store a route receives sees only the
caller's project (:class:`~azuraforge.platform.store.scope.ProjectStore`).

A credential is an API token (``Authorization: Bearer af_...``), the session cookie the
dashboard signs in with, or a run's own credential (``Bearer afr_...``,
:mod:`~azuraforge.platform.services.external_runs`), which writes its run alone (the
:func:`may_write_run` routes: its metrics, logs, files and end) and is refused everything
else (403). A request may name its project (header :data:`PROJECT_HEADER`): one other than
its credential's is 404, as for a project that does not exist. Without a good credential:
401; with one whose role does not allow the route: 403.

Writes with the session cookie are safe from other sites twice over: the cookie is
``SameSite=Strict`` (a browser does not send it from another site) and
:class:`~azuraforge.platform.api.origins.SameOrigin` refuses a change whose ``Origin`` is not
the server's own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

from fastapi import Depends, FastAPI, WebSocket, WebSocketException, params
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute, APIWebSocketRoute, RouteContext, iter_route_contexts
from starlette.requests import HTTPConnection

from azuraforge.errors import (
    AzuraForgeError,
    CredentialError,
    NotFoundError,
    PermissionDeniedError,
)
from azuraforge.platform.api.origins import close_reason
from azuraforge.platform.hosts import is_loopback_bind
from azuraforge.platform.prometheus import FORWARDING_HEADERS, check_scrape
from azuraforge.platform.services.access import (
    ACTIONS,
    Identity,
    allows,
    authenticate,
    current_role,
    read_claims,
)
from azuraforge.platform.services.external_runs import is_run_credential, run_identity
from azuraforge.platform.services.keys import ServerKeys
from azuraforge.platform.services.refusals import Refusals
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import is_unavailable
from azuraforge.platform.store.interfaces import ProjectView

_log = logging.getLogger(__name__)
SESSION_COOKIE = "azuraforge_session"
"""The start of the session cookie's name; :func:`session_cookie` gives the whole."""
CHECKED_FOR = 1.0
"""Seconds a credential found good is taken as good again without reading the store."""
KEPT_CREDENTIALS = 4096
"""The most credentials an API process remembers as found good."""
PROJECT_HEADER = "AzuraForge-Project"
"""The header naming the project a request is for (the CLI's ``--project``)."""


def caller(connection: HTTPConnection) -> Identity:
    """The identity of the connection's credential, in the project it names.

    Raises
    ------
    CredentialError
        Without a credential, or with one that is not good.
    NotFoundError
        For a project other than the credential's.
    """
    credential, bearer = _credential(connection)
    recent: RecentCredentials = connection.app.state.credentials
    who = recent.get(credential)
    if who is None:
        who = _read(connection, credential, bearer)
    return _in_named_project(connection, who)


async def identified(connection: HTTPConnection) -> Identity:
    """:func:`caller` as a permission asks it, on the event loop: a credential found good in
    the last :data:`CHECKED_FOR` seconds is a look-up (microseconds); only one that must be
    read from the store (a password hash, a database round trip) is read in a worker
    thread (a hop to one costs a request about 0.5 ms; a served model's forecast, 1 ms),
    once for every request of that credential waiting meanwhile (:func:`_read_once`)."""
    credential, bearer = _credential(connection)
    return _in_named_project(connection, await _read_once(connection, credential, bearer))


def _credential(connection: HTTPConnection) -> tuple[str, bool]:
    """The connection's credential, and whether it is an API token (else a session)."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    bearer = scheme.lower() == "bearer" and bool(token)
    credential = (
        token.strip() if bearer else connection.cookies.get(session_cookie(connection.app))
    )
    if not credential:
        raise CredentialError("no credential")
    return credential, bearer


def session_cookie(app: Any) -> str:
    """The name of the session cookie of the server ``app`` is: :data:`SESSION_COOKIE` and
    its :func:`server_id`. A browser sends a host's cookies to every port of it: two servers
    on one host (each with its store) keep a cookie each and do not sign each other out,
    while the API processes of one server, on any machine, and the server on another port or
    behind a proxy, share one."""
    return f"{SESSION_COOKIE}_{server_id(app)}"


def server_id(app: Any) -> str:
    """12 hex digits naming the server ``app`` is, kept in its store
    (:meth:`~azuraforge.platform.services.keys.ServerKeys.server_name`: the same at each of
    its replicas, whatever URL each reaches the store by, and through its keys' rotations).
    Its sessions' claims are for it alone (their audience): two servers sharing keys (set in
    their settings) do not share their users."""
    found: str | None = getattr(app.state, "server_id", None)
    if found is None:
        keys: ServerKeys = app.state.keys
        found = app.state.server_id = keys.server_name()
    return found


def _read(connection: HTTPConnection, credential: str, bearer: bool) -> Identity:
    """Who the credential says the caller is, read from the store and remembered (a run's
    credential is read at each request: each write moves when it expires)."""
    who = _checked(connection, credential, bearer)
    if who.run is None:
        recent: RecentCredentials = connection.app.state.credentials
        recent.put(credential, who)
    return who


def _in_named_project(connection: HTTPConnection, who: Identity) -> Identity:
    named = connection.headers.get(PROJECT_HEADER)
    if named is not None and named != who.project:
        raise NotFoundError(
            f"{who.user}'s credential is for project {who.project!r}, not {named!r}",
            public=f"no project named {named!r}",
        )
    return who


def _checked(connection: HTTPConnection, credential: str, bearer: bool) -> Identity:
    """Who an API token or a session cookie says the caller is, read from the store; a
    refusal's reason, which the caller is never told, goes to the server's refusals."""
    store: ProjectView = connection.app.state.store
    try:
        if bearer and is_run_credential(credential):
            return run_identity(store, credential)
        if bearer:
            return authenticate(store, credential)
        keys: ServerKeys = connection.app.state.keys
        server = server_id(connection.app)
        claimed, signed_at = read_claims(keys, credential, audience=server)
        return claimed._replace(role=current_role(store, claimed, signed_at=signed_at))
    except CredentialError as e:
        refusals: Refusals = connection.app.state.refusals
        kind = "token.refused" if bearer else "session.refused"
        refusals.record(kind, "", client_address(connection), str(e))
        raise


class RecentCredentials:
    """The credentials an API process found good in the last :data:`CHECKED_FOR` seconds
    (by their SHA-256), so that a busy client's requests do not each read the store: a
    revoked or expired token, a signed-out session, a demoted or removed user are refused
    within that time. At most :data:`KEPT_CREDENTIALS`, the oldest forgotten first."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seen: OrderedDict[bytes, tuple[float, Identity]] = OrderedDict()
        self.reads: dict[str, asyncio.Future[Identity]] = {}
        """Reads of the store under way, by credential, that its requests and sockets share
        (one event loop's: an API process's)."""
        self._lock = threading.Lock()

    def get(self, credential: str) -> Identity | None:
        """The identity ``credential`` was found to hold, if that was recent enough."""
        found = self._found(credential)
        if found is None or self.clock() - found[0] > CHECKED_FOR:
            return None
        return found[1]

    def good_for(self, credential: str) -> float:
        """Seconds until ``credential`` must be read from the store again (0: now)."""
        found = self._found(credential)
        return 0.0 if found is None else max(0.0, found[0] + CHECKED_FOR - self.clock())

    def _found(self, credential: str) -> tuple[float, Identity] | None:
        key = hashlib.sha256(credential.encode()).digest()
        with self._lock:
            return self._seen.get(key)

    def put(self, credential: str, who: Identity) -> None:
        """Remember that ``credential`` holds ``who``, as of now."""
        key = hashlib.sha256(credential.encode()).digest()
        with self._lock:
            self._seen[key] = (self.clock(), who)
            self._seen.move_to_end(key)
            while len(self._seen) > KEPT_CREDENTIALS:
                self._seen.popitem(last=False)


async def lapsed(websocket: WebSocket) -> AzuraForgeError:
    """Wait until the credential ``websocket`` connected with would be refused to a request
    (revoked, expired, its session signed out of, its user disabled or no longer a member
    of its project); why. Read again each time this API process's memory of it
    (:class:`RecentCredentials`) lapses, as requests read it, in one read for every socket
    of that credential, which checks no password. A store out of reach is tried again
    :data:`CHECKED_FOR` later."""
    recent: RecentCredentials = websocket.app.state.credentials
    credential, bearer = _credential(websocket)
    while True:
        await asyncio.sleep(recent.good_for(credential) + _PAST_LAPSE)
        try:
            who = _in_named_project(websocket, await _read_once(websocket, credential, bearer))
        except (CredentialError, NotFoundError) as e:
            return e
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("a socket's credential could not be read again: %s", e)
            await asyncio.sleep(CHECKED_FOR)
            continue
        if not allows(who.role, "read"):
            return PermissionDeniedError(f"{who.user} is {who.role} in {who.project} now")


_PAST_LAPSE = 0.01
"""Seconds after a remembered credential lapses when its sockets read it again."""


async def _read_once(connection: HTTPConnection, credential: str, bearer: bool) -> Identity:
    """Who ``credential`` says the caller is: remembered, or read from the store in a thread,
    one read shared by every request and socket asking while it runs (the sockets of a
    credential all ask once its memory lapses: 200 sockets of 10 credentials read 35-42
    times a second each on its own; so do a busy client's requests in flight)."""
    recent: RecentCredentials = connection.app.state.credentials
    who = recent.get(credential)
    if who is not None:
        return who
    reads = recent.reads
    read = reads.get(credential)
    if read is None:
        read = reads[credential] = asyncio.ensure_future(
            run_in_threadpool(_read, connection, credential, bearer)
        )
        read.add_done_callback(lambda done: _forget(reads, credential, done))
    return await asyncio.shield(read)


def _forget(reads: dict[str, Any], credential: str, done: asyncio.Future[Identity]) -> None:
    """Drop a read that ended; its refusal, if no socket waits for it any more, is not an
    error left unseen."""
    reads.pop(credential, None)
    if not done.cancelled():
        done.exception()


async def _allowed(connection: HTTPConnection, action: str, *, run: bool = False) -> Identity:
    """The caller, if allowed ``action`` (``run``: the writes of the run the path names,
    which its own credential may make too)."""
    try:
        who = await identified(connection)
        if who.run is not None:
            _writes_own_run(connection, who, run)
        elif not allows(who.role, action):
            raise PermissionDeniedError(
                f"{who.user} is {who.role} in {who.project}: this needs {ACTIONS[action]} or above"
            )
    except (CredentialError, PermissionDeniedError, NotFoundError) as e:
        if isinstance(connection, WebSocket):
            await _refuse_socket(connection, e)
        raise
    connection.state.identity = who
    # Audited (api.audit): a change; a predict is a read, a run's writes are its tracking.
    connection.state.changes = action != "read" and not run
    return who


async def _refuse_socket(websocket: WebSocket, error: AzuraForgeError) -> NoReturn:
    """Refuse ``websocket`` for ``error``: accepted, then closed with the HTTP status + 4000
    (4401, 4403, 4404) and the error's public message (closed before it is accepted, the
    server answers the handshake HTTP 403 whatever the reason)."""
    code = 4401 if isinstance(error, CredentialError) else 4403
    await websocket.accept()
    raise WebSocketException(
        4404 if isinstance(error, NotFoundError) else code, close_reason(error.public)
    ) from None


def _writes_own_run(connection: HTTPConnection, who: Identity, run: bool) -> None:
    """Refuse a run's credential anything but the writes of its own run."""
    named = connection.path_params.get("experiment_id")
    if not run or named != str(who.run):
        doing = f"write run {named}" if run else "read or change anything but its run"
        raise PermissionDeniedError(
            f"this is the credential of run {who.run}: it writes that run alone (its metrics, "
            f"logs, files and end) and may not {doing}; use an API token for that"
        )


async def may_read(connection: HTTPConnection) -> Identity:
    """The caller, if their role reads the project's data (every role does)."""
    return await _allowed(connection, "read")


async def may_write(connection: HTTPConnection) -> Identity:
    """The caller, if their role submits, cancels, registers, moves aliases and triggers
    (editor and admin)."""
    return await _allowed(connection, "write")


async def may_write_run(connection: HTTPConnection) -> Identity:
    """The caller, if they may write the run the path names (its metrics, logs, files, its
    end): its own credential, or a role that writes (editor and admin: an MLflow client
    sends such a token). Not audited: a run's writes are its tracking, as a worker's are."""
    return await _allowed(connection, "write", run=True)


async def may_track(connection: HTTPConnection) -> Identity:
    """The caller, if their role writes (editor and admin), for an MLflow client's writes of
    its runs (metrics, params, tags, files, the end): their tracking, not audited, as a
    run's own writes are not."""
    who = await _allowed(connection, "write")
    connection.state.changes = False
    return who


async def may_manage(connection: HTTPConnection) -> Identity:
    """The caller, if their role manages the project: members, deletions (admin)."""
    return await _allowed(connection, "manage")


async def may_administer(connection: HTTPConnection) -> Identity:
    """The caller, if a server admin at their admin role: the server's own state (its plugin
    folder's files), which no project's role reaches."""
    who = await _allowed(connection, "read")
    if not await _server_admin(connection):
        error = PermissionDeniedError(f"{who.user} is not a server admin: this needs one")
        if isinstance(connection, WebSocket):
            await _refuse_socket(connection, error)
        raise error
    return who


async def may_scrape(connection: HTTPConnection) -> None:
    """The caller, if they may read the server's metrics: Prometheus with the scrape token,
    or a server admin with their credential, from anywhere; without a credential, a client on
    this machine alone, when no token is set and the server listens on loopback alone
    (:func:`~azuraforge.platform.hosts.is_loopback_bind`: one listening beyond it may be
    reached from a loopback address by anyone, through a proxy or a container's port) and
    the request was not forwarded (:func:`~azuraforge.platform.prometheus.check_scrape`)."""
    settings = connection.app.state.settings
    token = settings.metrics_token
    headers = connection.headers
    try:
        if token is None and not is_loopback_bind(settings.host):
            raise CredentialError(_NEEDS_A_CREDENTIAL, public=_NEEDS_A_CREDENTIAL)
        expected = None if token is None else token.get_secret_value()
        forwarded = bool(settings.trusted_proxies) or any(h in headers for h in FORWARDING_HEADERS)
        client = connection.client.host if connection.client else None
        check_scrape(expected, headers.get("authorization", ""), client, forwarded)
    except (CredentialError, PermissionDeniedError):
        if not await _server_admin(connection):
            raise


_NEEDS_A_CREDENTIAL = (
    "/metrics needs a credential on a server that listens beyond this machine: send the "
    "scrape token (set AZURAFORGE_METRICS_TOKEN, send 'Authorization: Bearer <token>') or a "
    "server admin's credential"
)


async def _server_admin(connection: HTTPConnection) -> bool:
    """Whether the connection carries a server admin's credential at its admin role (a run's
    credential, or a token made for a lower role, is not one)."""
    try:
        who = await identified(connection)
    except (CredentialError, NotFoundError):
        return False
    if who.run is not None or who.role != "admin":
        return False
    store: ProjectView = connection.app.state.store
    user = await run_in_threadpool(store.find_user, who.user)
    return user is not None and user.is_admin


def scrape_rule(settings: Settings) -> str:
    """Who may read ``/metrics`` of a server of ``settings`` (:func:`may_scrape`), in a line
    ``azuraforge serve`` prints at start.

    >>> scrape_rule(Settings(home="/srv/af", host="0.0.0.0"))  # doctest: +ELLIPSIS
    "/metrics: a server admin's credential alone (this server listens beyond this machine; ..."
    """
    if settings.metrics_token is not None:
        return (
            "/metrics: the scrape token (AZURAFORGE_METRICS_TOKEN) or a server admin's credential"
        )
    if not is_loopback_bind(settings.host):
        return (
            "/metrics: a server admin's credential alone (this server listens beyond this "
            "machine; give Prometheus a token: AZURAFORGE_METRICS_TOKEN)"
        )
    return (
        "/metrics: any client on this machine, without a credential (this server listens on "
        "loopback alone), or a server admin's credential"
    )


async def anyone() -> None:
    """No credential needed: the server's health, signing in."""


PERMISSIONS: dict[Any, str] = {may_read: "read", may_write: "write", may_write_run: "write",
                               may_track: "write",
                               may_manage: "manage", may_scrape: "scrape",
                               may_administer: "server admin",
                               anyone: "public"}  # fmt: skip
"""Each permission dependency and the name the route table shows."""

READ: params.Depends = Depends(may_read)
WRITE: params.Depends = Depends(may_write)
WRITE_RUN: params.Depends = Depends(may_write_run)
TRACK: params.Depends = Depends(may_track)
MANAGE: params.Depends = Depends(may_manage)
SCRAPE: params.Depends = Depends(may_scrape)
SERVER_ADMIN: params.Depends = Depends(may_administer)
PUBLIC: params.Depends = Depends(anyone)
Reader = Annotated[Identity, READ]
Writer = Annotated[Identity, WRITE]
Manager = Annotated[Identity, MANAGE]


def client_address(connection: HTTPConnection) -> str:
    """The caller's address as the server sees it (the audit log's "from where")."""
    return connection.client.host if connection.client else "unknown"


def api_routes(app: FastAPI) -> list[RouteContext]:
    """Every API and WebSocket route of ``app`` as it is served: its path with its router's
    prefix, its methods, its dependencies with its router's (FastAPI keeps an included
    router's routes behind one entry of ``app.routes``)."""
    return [
        route for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute | APIWebSocketRoute)
    ]  # fmt: skip


def declared_permission(route: Any) -> str | None:
    """The permission ``route`` (an API or WebSocket route) declares in its
    ``dependencies``, if one: there, it is checked before the route's parameters are
    made (the store among them, scoped to the caller's project)."""
    found = [PERMISSIONS[d.dependency] for d in route.dependencies if d.dependency in PERMISSIONS]
    return found[0] if len(found) == 1 else None

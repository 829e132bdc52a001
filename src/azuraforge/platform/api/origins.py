"""Requests a web page may not make: a page on another origin may not change anything (POST,
PUT, PATCH, DELETE) nor follow the event streams, whatever it asks the user's browser to send,
and no request addressed to a host this server is not known by is answered (DNS rebinding,
see :mod:`azuraforge.platform.hosts`). The dashboard, the CLI and other programs are
unaffected: the dashboard's requests come from the server's own origin and name its host, and
programs send no ``Origin`` header."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from azuraforge.platform.api.openai_errors import send_error
from azuraforge.platform.hosts import LOOPBACK_NAMES, HostPolicy

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SHOWN_HOST_CHARACTERS = 100
"""The most of a refused ``Host`` header a message repeats."""


class KnownHosts:
    """ASGI middleware answering only requests whose ``Host`` header names this server
    (:class:`~azuraforge.platform.hosts.HostPolicy`); others get a 400, or a WebSocket
    accepted then closed with code 4400, naming the host and the setting that would allow
    it."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.policy = HostPolicy(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = _host(scope) if scope["type"] in ("http", "websocket") else None
        if self.policy.allows(host):
            await self.app(scope, receive, send)
            return
        shown = (host or "")[:SHOWN_HOST_CHARACTERS]
        message = (
            f"requests addressed to host {shown!r} are refused: this server answers to "
            f"{', '.join(LOOPBACK_NAMES)}, the address it is bound to and the hosts allowed by "
            "AZURAFORGE_ALLOWED_HOSTS (azuraforge serve --allowed-hosts); add the name there "
            "if this server is reached by it"
        )
        await refuse(scope, receive, send, 400, "HOST_NOT_ALLOWED", message)


class SameOrigin:
    """ASGI middleware refusing cross-origin writes and WebSockets: 403, or a WebSocket
    accepted then closed with code 4403, naming the origin and the setting that would allow
    it."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(origin.rstrip("/").lower() for origin in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watched = scope["type"] == "websocket" or (
            scope["type"] == "http" and scope["method"] in CHANGING
        )
        origin = _header(scope, b"origin") if watched else None
        if origin is None or self._allowed(origin, _header(scope, b"host") or ""):
            await self.app(scope, receive, send)
            return
        message = (
            f"requests from {origin} are refused: only pages of this server may change "
            "things or follow its streams (allow another origin with AZURAFORGE_ALLOWED_ORIGINS)"
        )
        await refuse(scope, receive, send, 403, "FORBIDDEN", message)

    def _allowed(self, origin: str, host: str) -> bool:
        """Whether ``origin`` is this server's (the ``Host`` the request was sent to) or one
        the settings allow.

        >>> SameOrigin(None, ["https://ops.example.org/"])._allowed("http://127.0.0.1:8000",
        ...     "127.0.0.1:8000")
        True
        >>> middleware = SameOrigin(None, ["https://ops.example.org/"])
        >>> middleware._allowed("https://ops.example.org", "af:8000")
        True
        >>> middleware._allowed("https://evil.example", "127.0.0.1:8000")
        False
        >>> middleware._allowed("null", "127.0.0.1:8000")
        False
        """
        if origin.rstrip("/").lower() in self.allowed:
            return True
        return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


async def refuse(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str
) -> None:
    """Answer the request of ``scope`` with ``status`` and the API's error body (OpenAI's on
    its paths), or accept its WebSocket and close it with code ``4000 + status`` and the
    message: a socket closed before it is accepted is answered HTTP 403 by the server,
    whatever the reason, so a client could not tell "sign in again" from "wrong server"."""
    if scope["type"] == "websocket":
        await receive()  # the client's websocket.connect, which comes first
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4000 + status,
                    "reason": close_reason(message)})  # fmt: skip
        return
    await send_error(send, status, code, message, scope["path"])


CLOSE_REASON_BYTES = 123
"""The most bytes a WebSocket close frame's reason holds (RFC 6455: 125, less the code)."""


def close_reason(message: str) -> str:
    """``message`` cut to fit a close frame's reason (:data:`CLOSE_REASON_BYTES` of UTF-8),
    never inside a character: a longer one fails the close itself.

    >>> close_reason("é" * 100) == "é" * 61
    True
    """
    return message.encode()[:CLOSE_REASON_BYTES].decode(errors="ignore")


def _host(scope: Scope) -> str | None:
    """The request's ``Host`` header; two of them read as one list, which no policy allows
    (HTTP refuses a request with two, which no browser sends)."""
    hosts = [value.decode("latin-1") for key, value in scope["headers"] if key == b"host"]
    return ", ".join(hosts) if hosts else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None

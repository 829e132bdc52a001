"""Request limits: headers past :data:`MAX_HEADERS` fields or :data:`MAX_HEADER_BYTES` get
431, a body over ``max_request_bytes`` gets 413 before it is read whole (a file uploaded to
a path of an :class:`Uploads`: over its limit, ``max_artifact_bytes`` for a run's files,
``max_upload_bytes`` for a data file), each as the request's settings version has it (live:
docs/operations.md)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from azuraforge.platform.api.live_settings import settings_of
from azuraforge.platform.api.openai_errors import send_error
from azuraforge.platform.settings import Settings

MAX_HEADERS = 100
"""Most header fields a request may send (Apache's ``LimitRequestFields``)."""
MAX_HEADER_BYTES = 32 * 1024
"""Most bytes of names and values a request's headers may hold in all (a browser's cookies
for one site stay well below it)."""


class HeaderLimit:
    """ASGI middleware refusing requests (and WebSocket handshakes) with over
    :data:`MAX_HEADERS` header fields or :data:`MAX_HEADER_BYTES` of them, with 431."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = _header_problem(scope) if scope["type"] in ("http", "websocket") else None
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009, "reason": problem})
        else:
            await send_error(send, 431, "HEADERS_TOO_LARGE", problem, scope["path"])


def _header_problem(scope: Scope) -> str | None:
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS:
        return f"{len(headers):,} header fields; at most {MAX_HEADERS} are read"
    size = sum(len(name) + len(value) for name, value in headers)
    if size > MAX_HEADER_BYTES:
        return f"headers of {size:,} bytes; at most {MAX_HEADER_BYTES:,} are read"
    return None


@dataclass(frozen=True)
class Uploads:
    """The requests whose bodies are files (``method``, ``PUT`` by default, to a path
    ``paths`` matches: a run's uploaded file), limited by the setting ``setting``."""

    paths: re.Pattern[str]
    setting: str = "max_artifact_bytes"
    method: str = "PUT"

    def take(self, scope: Scope) -> bool:
        """Whether the request ``scope`` uploads a file."""
        return scope["method"] == self.method and self.paths.match(scope["path"]) is not None


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_request_bytes`` (a file to one of
    ``uploads``: over its setting), declared or streamed; the limits are those of the
    settings the request is served under (:func:`settings_of`), else of ``settings``."""

    def __init__(self, app: ASGIApp, settings: Settings, uploads: Sequence[Uploads] = ()) -> None:
        self.app, self.settings, self.uploads = app, settings, uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        setting = "max_request_bytes"
        for uploads in self.uploads:
            if uploads.take(scope):
                setting = uploads.setting
                break
        limit = getattr(settings_of(scope, self.settings), setting)
        await self._limited(scope, receive, send, limit, f"AZURAFORGE_{setting.upper()}")

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, limit: int, setting: str
    ) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, limit, setting)
            return
        seen, over, started, refused = 0, False, False, False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                over = True
                raise _TooLargeError
            return message

        async def answer(message: Message) -> None:
            # NOTE: a route reading the body catches _TooLargeError and answers 400 "There
            # was an error parsing the body" itself: once the body went over, whatever the
            # app answers becomes our 413 (unless its answer had already begun).
            nonlocal started, refused
            if over and not started:
                if not refused:
                    refused = True
                    await _too_large(scope, send, limit, setting)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except _TooLargeError:
            if not (refused or started):
                await _too_large(scope, send, limit, setting)


async def _too_large(scope: Scope, send: Send, limit: int, setting: str) -> None:
    message = f"request body over {limit:,} bytes; send less (limit: {setting})"
    await send_error(send, 413, "TOO_LARGE", message, scope["path"])


class _TooLargeError(Exception):
    pass

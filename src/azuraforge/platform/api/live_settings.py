"""Each request served under one version of the server's live settings
(:class:`~azuraforge.platform.services.server_settings.LiveSettings`): taken once when it
arrives, read by every middleware and route it passes (:func:`settings_of`), and named in the
answer's ``X-AzuraForge-Settings-Version`` header."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from azuraforge.platform.services.server_settings import Applied, LiveSettings
from azuraforge.platform.settings import Settings

HEADER = "X-AzuraForge-Settings-Version"
"""The answer's header naming the settings version it was served under."""
_HEADER = HEADER.lower().encode()
SCOPE_KEY = "azuraforge.settings"
"""Where a request's :class:`Applied` settings are kept in its ASGI scope."""


class SettingsVersion:
    """ASGI middleware giving each request the settings in force when it arrived (one
    reference read), and its answer the header naming their version."""

    def __init__(self, app: ASGIApp, live: LiveSettings) -> None:
        self.app, self.live = app, live

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        applied: Applied = self.live.applied
        scope[SCOPE_KEY] = applied
        version = str(applied.version).encode()

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (_HEADER, version)]
            await send(message)

        await self.app(scope, receive, stamped)


def applied_of(scope: Scope, live: LiveSettings) -> Applied:
    """The settings (and their version) the request of ``scope`` is served under: those
    :class:`SettingsVersion` gave it, else ``live``'s now."""
    applied: Applied | None = scope.get(SCOPE_KEY)
    return live.applied if applied is None else applied


def settings_of(scope: Scope, fallback: Settings) -> Settings:
    """The settings the request of ``scope`` is served under (``fallback`` for one that
    did not pass :class:`SettingsVersion`)."""
    applied: Applied | None = scope.get(SCOPE_KEY)
    return fallback if applied is None else applied.settings

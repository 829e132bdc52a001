"""Request paths read as MLflow's server (werkzeug) reads them: consecutive slashes are one
(``//model-versions/get-artifact`` is ``/model-versions/get-artifact``), so a client that
joins a base address ending in ``/`` to a path starting with one reaches the same route."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

_SLASHES = re.compile(r"//+")
_RAW_SLASHES = re.compile(rb"//+")


class MergedSlashes:
    """ASGI middleware reading each run of slashes in a request's path as one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "//" in scope["path"]:
            raw = scope.get("raw_path")
            scope = {**scope, "path": _SLASHES.sub("/", scope["path"])}
            if raw is not None:
                scope["raw_path"] = _RAW_SLASHES.sub(b"/", raw)
        await self.app(scope, receive, send)

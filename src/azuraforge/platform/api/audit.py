"""The audit log of the API's writes: each change a credential made (a route that needs the
write or manage permission, answered below 400; a prediction is a read) is recorded after
its answer with who, when, in which project, what (the method and the path) and from where.
Sign-ins, sign-outs and what the CLI's ``users``, ``projects`` and ``tokens`` change are
recorded where they happen."""

from __future__ import annotations

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from azuraforge.platform.api.origins import CHANGING
from azuraforge.platform.store.interfaces import ProjectView


class AuditedWrites:
    """ASGI middleware writing :meth:`Store.audit` for each change a credential made."""

    def __init__(self, app: ASGIApp, store: ProjectView) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING:
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, sending)
        state = scope.get("state", {})
        identity = state.get("identity")
        if identity is not None and state.get("changes") and status < 400:
            client = scope.get("client")
            await to_thread.run_sync(
                lambda: self.store.audit(
                    identity.user,
                    scope["method"],
                    scope["path"],
                    project=identity.project,
                    address=client[0] if client else "unknown",
                )
            )

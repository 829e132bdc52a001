"""Streams through the API: online learners the server runs as supervised jobs; start,
list, read, stop, and the triggers (retrain, promote, rollback...) a running one takes at
its next event."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from azuraforge.client.session import Items, Page, Session

TRIGGER_POLL_SECONDS = 0.2
"""How often :meth:`Streams.trigger` reads a trigger back while it waits for its answer."""


class Streams:
    """The streams of the session's project. Objects are the API's JSON (``StreamDetail``,
    ``ChangePublic``, ``TriggerPublic``...), as dicts."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def start(self, config: dict[str, Any], *, name: str | None = None) -> dict[str, Any]:
        """Start a stream with ``config`` (see :meth:`schema`; its ``source`` a dataset or a
        CSV of the project's data folder, or its ``url`` one to poll); the stream, queued.

        Raises
        ------
        InvalidParameterError
            For a config the API refuses, naming each field's path.
        """
        body: dict[str, Any] = {"config": config, **({"name": name} if name else {})}
        return dict(self.session.request("POST", "/streams", json=body))

    def list(
        self, *, status: str | Sequence[str] | None = None, limit: int = 50, offset: int = 0
    ) -> Page:
        """A page of streams, newest first, with their scores and pace (``status``: only
        these, a list or comma-separated)."""
        return self.session.page("/streams", {"status": status, "limit": limit, "offset": offset})

    def each(self, *, status: str | Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every stream (in ``status``), page after page."""
        return self.session.each("/streams", {"status": status})

    def get(self, stream_id: int) -> dict[str, Any]:
        """One stream: its config, worker, progress and pace, scores, restarts, and what its
        source found in its rows."""
        return dict(self.session.request("GET", f"/streams/{stream_id}"))

    def candidates(self, stream_id: int) -> dict[str, Any]:
        """Its champion, its candidate in shadow and its previous champion while rollback is
        armed, with their tests' running state, as of its last checkpoint."""
        return dict(self.session.request("GET", f"/streams/{stream_id}/candidates"))

    def lineage(self, stream_id: int, *, kinds: Sequence[str] | None = None) -> Items:
        """Its changes, oldest first (drifts, candidates, promotions with their evidence,
        rollbacks...; only ``kinds`` when given), each with who asked and why."""
        params = {"kind": list(kinds)} if kinds else None
        return list(self.session.request("GET", f"/streams/{stream_id}/lineage", params=params))

    def stop(self, stream_id: int) -> dict[str, Any]:
        """Stop a stream (a running one at its next event, after its last checkpoint); the
        stream as it stands (``ConflictError`` when it already ended)."""
        return dict(self.session.request("POST", f"/streams/{stream_id}/stop"))

    def triggers(self, stream_id: int) -> Items:
        """Its triggers, oldest first, with their answers."""
        return list(self.session.request("GET", f"/streams/{stream_id}/triggers"))

    def trigger(
        self, stream_id: int, action: str, *, reason: str = "", learner: str | None = None,
        wait: float = 0.0,
    ) -> dict[str, Any]:  # fmt: skip
        """Ask a running stream for ``action`` (retrain, promote, rollback, checkpoint, pause
        or resume; a retrain may name its ``learner``), taken at its next event; wait up to
        ``wait`` seconds for its answer. The trigger: ``status`` ``pending``, ``done`` or
        ``refused`` (``message`` says why)."""
        body = {"action": action, "reason": reason, **({"learner": learner} if learner else {})}
        asked = self.session.request("POST", f"/streams/{stream_id}/triggers", json=body)
        deadline = time.monotonic() + wait
        while True:
            found = self.triggers(stream_id)
            (mine,) = (t for t in found if t["id"] == asked["id"])
            if mine["status"] != "pending" or time.monotonic() >= deadline:
                return dict(mine)
            time.sleep(TRIGGER_POLL_SECONDS)

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of a stream's config: each setting with its default."""
        return dict(self.session.request("GET", "/streams/schema"))

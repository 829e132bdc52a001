"""The assistant through the API: ask (the answer's events as they come), read the caller's
conversations back, give a verdict on an answer, read what the server's backend selector
measured per task type, and list, find and forget what the assistant remembers of the
caller."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from azuraforge.client.session import Session


class Chat:
    """The caller's chat in the session's project. Objects are the API's JSON, as dicts."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def ask(
        self, message: str, *, conversation_id: int | None = None, model: str = "auto",
        max_tokens: int = 256, temperature: float = 0.7,
    ) -> Iterator[tuple[str, dict[str, Any]]]:  # fmt: skip
        """The answer to ``message`` as ``(event, data)`` pairs as they come: ``start`` (the
        conversation, intent, expert, backend and why), a ``piece`` of text each, then
        ``end`` with the stored turn (or ``error``). ``conversation_id`` goes on with one;
        ``model`` names ``auto``, a backend or an expert."""
        body = {"message": message, "conversation_id": conversation_id, "model": model,
                "max_tokens": max_tokens, "temperature": temperature}  # fmt: skip
        pending = ""
        for text in self.session.text("/chat", method="POST", json=body):
            pending += text
            while "\n\n" in pending:
                block, pending = pending.split("\n\n", 1)
                yield _event(block)

    def conversations(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """A page of the caller's conversations, the last spoken in first."""
        page = self.session.page("/chat/conversations", {"limit": limit, "offset": offset})
        return list(page.data)

    def conversation(self, conversation_id: int) -> dict[str, Any]:
        """One of the caller's conversations with its turns."""
        return dict(self.session.request("GET", f"/chat/conversations/{conversation_id}"))

    def feedback(
        self, turn_id: int, verdict: str, correction: str | None = None
    ) -> dict[str, Any]:
        """Keep the caller's ``verdict`` (``good``, ``bad``, ``correction`` with the right
        answer) on one of their answers; the turn."""
        body = {"verdict": verdict, **({"correction": correction} if correction else {})}
        return dict(self.session.request("POST", f"/chat/turns/{turn_id}/feedback", json=body))

    def models(self) -> dict[str, list[str]]:
        """What ``ask``'s ``model`` may name besides ``auto``: the server's ``backends`` and
        ``experts``."""
        found = self.session.request("GET", "/chat/models")
        return {"backends": list(found["backends"]), "experts": list(found["experts"])}

    def performance(self) -> list[dict[str, Any]]:
        """What the backend selector measured per task type and candidate, and which it
        prefers for each task."""
        return [dict(row) for row in self.session.request("GET", "/chat/performance")]

    def memories(self, query: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
        """What the assistant remembers of the caller in the project: the newest first, or
        the nearest to ``query`` by meaning (each with its ``similarity``)."""
        params: dict[str, Any] = {"limit": limit, **({"q": query} if query else {})}
        return list(self.session.request("GET", "/chat/memories", params=params)["data"])

    def forget(self, memory_id: int | None = None) -> int:
        """Forget one of the caller's memories, or (without an id) every one; how many went."""
        if memory_id is None:
            return int(self.session.request("DELETE", "/chat/memories")["deleted"])
        self.session.request("DELETE", f"/chat/memories/{memory_id}")
        return 1

    def examples(
        self, status: str | None = None, *, expert: str | None = None, limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """A page of the project's training examples (its failures), of ``status``
        (``candidate``, ``approved``, ``rejected``) and ``expert`` when given."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        params |= {k: v for k, v in (("status", status), ("expert", expert)) if v}
        return list(self.session.page("/assist/examples", params).data)

    def review(
        self, example_id: int, *, status: str | None = None, output: str | None = None,
        tests: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Edit example ``example_id``'s right ``output`` and ``tests``, and its ``status``
        (``approved``, ``rejected``, ``candidate``); the example."""
        body = {k: v for k, v in (("status", status), ("output", output), ("tests", tests))
                if v is not None}  # fmt: skip
        return dict(self.session.request("PATCH", f"/assist/examples/{example_id}", json=body))

    def fine_tune(self, expert: str, **settings: Any) -> dict[str, Any]:
        """Queue a fine-tune of ``expert`` on its approved examples (``settings``: steps,
        rank, held_out, frozen... as ``POST /assist/fine-tunes`` takes them); its run."""
        body = {"expert": expert, **settings}
        return dict(self.session.request("POST", "/assist/fine-tunes", json=body))


def _event(block: str) -> tuple[str, dict[str, Any]]:
    kind, data = "message", ""
    for line in block.splitlines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data += line.removeprefix("data: ")
    return kind, json.loads(data) if data else {}

"""``azuraforge chat`` logged in to a server: that server's assistant, through
:mod:`azuraforge.client`. Its messages are the caller's conversation on the server, answered
by the backends and experts the server declares; ``/memory`` reads what the server remembers
of the caller (a fact told on the Chat page included), and ``/feedback`` is a verdict on the
server's turn, which the backend selector counts and the Review queue receives.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from azuraforge.assist.orchestrator import check_verdict
from azuraforge.cli.common import UsageError
from azuraforge.client import Client
from azuraforge.errors import AzuraForgeError, NotFoundError

AUTO = "auto"
"""The model that lets the server's router and selector choose (the API's ``auto``)."""
MEMORIES_SHOWN = 20
"""The newest memories ``/memory`` lists."""


class ServerConversation:
    """One conversation with the assistant of the server ``client`` talks to, as the caller
    of its token in its project: what :func:`azuraforge.cli.chat._loop` drives."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.conversation: int | None = None
        """The server's conversation (``None`` until the first answer, and after /clear)."""
        self.turn: dict[str, Any] | None = None
        """The last answer's turn as the server kept it."""
        self.started: dict[str, Any] = {}
        """The last answer's ``start`` event: its intent, expert, backend and confidence."""
        self.model = AUTO
        self.me = client.access.me()
        """Who the server takes the caller for: ``user``, ``project`` and ``role``."""
        models = client.chat.models()
        self.experts: list[str] = list(models["experts"])
        self.backends: list[str] = list(models["backends"])

    @property
    def title(self) -> str:
        """What the greeting names: the server, the caller and the project."""
        return f"{self.client.url}, {self.me['user']} in project {self.me['project']}"

    def reply(self, message: str) -> Iterator[str]:
        """The answer's pieces as the server streams them; its turn is kept when it ends.

        Raises
        ------
        AzuraForgeError
            What the server refused, or that its backend failed midway.
        """
        self.turn, self.started = None, {}
        events = self.client.chat.ask(message, conversation_id=self.conversation, model=self.model)
        for event, data in events:
            if event == "start":
                self.started, self.conversation = data, data["conversation_id"]
            elif event == "piece":
                yield data["text"]
            elif event == "end":
                self.turn = data["turn"]
            elif event == "error":
                raise AzuraForgeError(data["detail"])

    def routed(self) -> str | None:
        """How the last answer was routed, as the local chat shows it, and by which backend."""
        if not self.started:
            return None
        confidence = self.started.get("confidence")
        sure = f" {confidence:.2f}" if confidence is not None else ""
        start = self.started
        return f"({start['intent']}{sure} -> {start['expert']}) on {start['backend']}"

    def clear(self) -> None:
        """Begin a new conversation on the server (the earlier one stays there)."""
        self.conversation, self.turn, self.started = None, None, {}

    def switch(self, choice: str | None) -> str:
        """Answer with ``choice`` (an expert or a backend of the server; ``None``: the
        router's and the selector's choice); what is answered with now.

        Raises
        ------
        NotFoundError
            If the server has no such expert nor backend.
        """
        if choice is not None and choice not in (*self.experts, *self.backends):
            raise NotFoundError(
                f"no expert {choice!r}; experts: {', '.join(self.experts)}; backends: "
                f"{', '.join(self.backends)}"
            )
        self.model = choice or AUTO
        return choice or "chosen by the router"

    def memory(self) -> str:
        """What the server remembers of the caller in the project, the newest first."""
        found = self.client.chat.memories(limit=MEMORIES_SHOWN)
        if not found:
            return "memory: nothing remembered of you in this project yet"
        lines = [f"  #{m['id']} {m['kind']}: {m['text']}" for m in found]
        newest = f"the newest {len(found)}" if len(found) == MEMORIES_SHOWN else "all"
        return "\n".join([f"memory on the server ({newest}, newest first):", *lines])

    def feedback(self, verdict: str, correction: str) -> str:
        """Give the server the caller's ``verdict`` on the last answer; what was done.

        Raises
        ------
        UsageError
            If there is no answer yet.
        InvalidParameterError
            If the verdict is not one there is, or a correction has no text.
        """
        check_verdict(verdict, correction)
        if self.turn is None:
            raise UsageError("no answer yet to give feedback on")
        kept = self.client.chat.feedback(int(self.turn["id"]), verdict, correction or None)
        return f"feedback sent to the server: turn {kept['id']} is {kept['verdict']}"

    def close(self) -> None:
        """Free the client's connections."""
        self.client.close()


__all__ = ["AUTO", "ServerConversation"]

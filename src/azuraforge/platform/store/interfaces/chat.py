"""Chat and memory: conversations, their turns and verdicts, the answers kept, the backends'
performance, and the examples a reviewer approves for the assistant to learn from
(store/chat.py, store/examples.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from azuraforge.assist.cache import Cached, CacheStats
from azuraforge.platform.store.chat import ConversationRecord, TurnRecord, TurnWrite
from azuraforge.platform.store.examples import ExampleRecord, ProposedExample


class Chat(Protocol):
    """A project's conversations with the assistant: their turns, checks and verdicts, the answers
    kept and the backends' performance.

    A project's view forces its ``project`` on each method (each takes one)."""

    def create_conversation(
        self, user: str, title: str, *, project: str
    ) -> ConversationRecord: ...
    def list_conversations(
        self, user: str, *, project: str, limit: int = 50, offset: int = 0
    ) -> tuple[list[ConversationRecord], int]: ...
    def get_conversation(
        self, conversation_id: int, user: str, *, project: str
    ) -> ConversationRecord: ...
    def add_chat_turn(
        self, conversation_id: int, user: str, turn: TurnWrite, *, project: str
    ) -> TurnRecord: ...
    def list_chat_turns(
        self, conversation_id: int, user: str, *, project: str
    ) -> list[TurnRecord]: ...
    def get_chat_turn(self, turn_id: int, user: str, *, project: str) -> TurnRecord: ...
    def turns_between(
        self, since: float, until: float, *, project: str
    ) -> list[tuple[str, TurnRecord]]: ...
    def count_turns_between(self, since: float, until: float, *, project: str) -> int: ...
    def set_turn_check(self, turn_id: int, status: str, message: str, *, project: str) -> None: ...
    def set_turn_verdict(
        self, turn_id: int, user: str, verdict: str, correction: str | None = None, *, project: str
    ) -> TurnRecord: ...
    def list_backend_performance(self, *, project: str) -> list[dict[str, Any]]: ...
    def add_backend_performance(
        self, increments: Iterable[Mapping[str, Any]], *, project: str
    ) -> None: ...
    def take_cached_answer(self, key: str, *, project: str) -> Cached | None: ...
    def keep_answer(
        self, key: str, cached: Cached, *, project: str, ttl: float, max_entries: int
    ) -> None: ...
    def chat_cache_stats(self, *, project: str) -> CacheStats: ...


class Examples(Protocol):
    """The examples proposed from a project's turns, their review, and those approved for the
    assistant's training.

    A project's view forces its ``project`` on each method (each takes one)."""

    def propose_example(self, proposed: ProposedExample, *, project: str) -> ExampleRecord: ...
    def list_examples(
        self,
        *,
        project: str,
        status: str | None = None,
        expert: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[ExampleRecord], int]: ...
    def get_example(self, example_id: int, *, project: str) -> ExampleRecord: ...
    def review_example(
        self,
        example_id: int,
        *,
        reviewer: str,
        status: str | None = None,
        output: str | None = None,
        tests: str | None = None,
        project: str,
    ) -> ExampleRecord: ...
    def approved_examples(self, expert: str, *, project: str) -> list[ExampleRecord]: ...
    def waiting_examples(self, *, project: str) -> dict[str, int]: ...
    def use_examples(self, fine_tune: int, roles: Mapping[int, str], *, project: str) -> None: ...

"""The project's view of chat and memory: conversations, their turns and verdicts, the answers
kept, the backends' performance, and the examples a reviewer approves for the assistant to learn
from (store/chat.py, store/examples.py). Each method applies its rule
(:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from azuraforge.assist.cache import Cached, CacheStats
from azuraforge.platform.store.chat import ConversationRecord, TurnRecord, TurnWrite
from azuraforge.platform.store.examples import ExampleRecord, ProposedExample
from azuraforge.platform.store.interfaces.chat import Chat, Examples
from azuraforge.platform.store.scope.base import ScopeBase


class ScopedChat(ScopeBase, Chat):
    """:class:`~azuraforge.platform.store.interfaces.Chat` kept to the view's project."""

    def create_conversation(self, user: str, title: str, *, project: str) -> ConversationRecord:
        return self.store.create_conversation(user, title, project=self.project)

    def list_conversations(
        self, user: str, *, project: str, limit: int = 50, offset: int = 0
    ) -> tuple[list[ConversationRecord], int]:
        return self.store.list_conversations(
            user, project=self.project, limit=limit, offset=offset
        )

    def get_conversation(
        self, conversation_id: int, user: str, *, project: str
    ) -> ConversationRecord:
        return self.store.get_conversation(conversation_id, user, project=self.project)

    def add_chat_turn(
        self, conversation_id: int, user: str, turn: TurnWrite, *, project: str
    ) -> TurnRecord:
        return self.store.add_chat_turn(conversation_id, user, turn, project=self.project)

    def list_chat_turns(
        self, conversation_id: int, user: str, *, project: str
    ) -> list[TurnRecord]:
        return self.store.list_chat_turns(conversation_id, user, project=self.project)

    def get_chat_turn(self, turn_id: int, user: str, *, project: str) -> TurnRecord:
        return self.store.get_chat_turn(turn_id, user, project=self.project)

    def turns_between(
        self, since: float, until: float, *, project: str
    ) -> list[tuple[str, TurnRecord]]:
        return self.store.turns_between(since, until, project=self.project)

    def count_turns_between(self, since: float, until: float, *, project: str) -> int:
        return self.store.count_turns_between(since, until, project=self.project)

    def set_turn_check(self, turn_id: int, status: str, message: str, *, project: str) -> None:
        self.store.set_turn_check(turn_id, status, message, project=self.project)

    def set_turn_verdict(
        self, turn_id: int, user: str, verdict: str, correction: str | None = None, *, project: str
    ) -> TurnRecord:
        return self.store.set_turn_verdict(
            turn_id, user, verdict, correction, project=self.project
        )

    def list_backend_performance(self, *, project: str) -> list[dict[str, Any]]:
        return self.store.list_backend_performance(project=self.project)

    def add_backend_performance(
        self, increments: Iterable[Mapping[str, Any]], *, project: str
    ) -> None:
        self.store.add_backend_performance(increments, project=self.project)

    def take_cached_answer(self, key: str, *, project: str) -> Cached | None:
        return self.store.take_cached_answer(key, project=self.project)

    def keep_answer(
        self, key: str, cached: Cached, *, project: str, ttl: float, max_entries: int
    ) -> None:
        self.store.keep_answer(key, cached, project=self.project, ttl=ttl, max_entries=max_entries)

    def chat_cache_stats(self, *, project: str) -> CacheStats:
        return self.store.chat_cache_stats(project=self.project)


class ScopedExamples(ScopeBase, Examples):
    """:class:`~azuraforge.platform.store.interfaces.Examples` kept to the view's project."""

    def propose_example(self, proposed: ProposedExample, *, project: str) -> ExampleRecord:
        return self.store.propose_example(proposed, project=self.project)

    def list_examples(
        self,
        *,
        project: str,
        status: str | None = None,
        expert: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[ExampleRecord], int]:
        return self.store.list_examples(
            project=self.project, status=status, expert=expert, limit=limit, offset=offset
        )

    def get_example(self, example_id: int, *, project: str) -> ExampleRecord:
        return self.store.get_example(example_id, project=self.project)

    def review_example(
        self,
        example_id: int,
        *,
        reviewer: str,
        status: str | None = None,
        output: str | None = None,
        tests: str | None = None,
        project: str,
    ) -> ExampleRecord:
        return self.store.review_example(
            example_id,
            reviewer=reviewer,
            status=status,
            output=output,
            tests=tests,
            project=self.project,
        )

    def approved_examples(self, expert: str, *, project: str) -> list[ExampleRecord]:
        return self.store.approved_examples(expert, project=self.project)

    def waiting_examples(self, *, project: str) -> dict[str, int]:
        return self.store.waiting_examples(project=self.project)

    def use_examples(self, fine_tune: int, roles: Mapping[int, str], *, project: str) -> None:
        self.store.use_examples(fine_tune, roles, project=self.project)

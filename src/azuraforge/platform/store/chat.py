"""The assistant's rows: a project's conversations, each a user's own, their turns (the message,
the answer, who answered and why, how fast, the user's verdict) and what the backend selector
measured per task type and candidate (:class:`~azuraforge.platform.store.models.
BackendPerformance`). Another project, or another user of the project, sees none of a
user's conversations: a conversation that is not the caller's is not found, as one that does
not exist."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from azuraforge.assist.backends.selection import AVERAGE_WEIGHT, AVERAGES, COUNTS, Estimate
from azuraforge.assist.cache import Cached, CacheStats
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.models import (
    BackendPerformance,
    ChatCacheEntry,
    ChatCacheStats,
    ChatConversation,
    ChatTurn,
)

MAX_TITLE = 200
"""The longest conversation title (characters)."""
VERDICTS = ("good", "bad", "correction")
"""What a user may say of an answer."""


@dataclass(frozen=True)
class ConversationRecord:
    """A conversation: its id, project, user, title and when it was made and last spoken in."""

    id: int
    project: str
    user: str
    title: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class TurnWrite:
    """A turn as the chat service writes it."""

    message: str
    answer: str
    intent: str
    expert: str
    adapter: str | None
    backend: str
    reason: str
    first_token_ms: float | None
    tokens_per_s: float | None
    tokens_in: int
    tokens_out: int
    error: str | None = None
    cached: bool = False
    """Whether the answer came from the response cache."""
    recalled: int = 0
    """How many of the user's long-term memories the message was given."""


@dataclass(frozen=True)
class TurnRecord(TurnWrite):
    """A stored turn: what :class:`TurnWrite` holds, its id and conversation, the user's
    verdict (``good``, ``bad``, ``correction`` or none) and correction, and when."""

    id: int = 0
    conversation_id: int = 0
    verdict: str | None = None
    correction: str | None = None
    check_status: str | None = None
    """What the guardian found running the answer's code (``None``: not checked)."""
    check_message: str | None = None
    created_at: float = 0.0


MAX_CHECK_MESSAGE = 2_000
"""The longest check message kept (characters)."""

PERFORMANCE_FIELDS = tuple(f.name for f in fields(Estimate))
"""The fields of a performance row: those of the backend selector's estimates."""


class ChatStore(StoreBase):
    """Conversations, turns and the backend selector's measurements. Safe from any number of
    threads and processes."""

    def create_conversation(self, user: str, title: str, *, project: str) -> ConversationRecord:
        """A new conversation of ``user`` in ``project``, titled ``title`` (cut to
        :data:`MAX_TITLE` characters)."""
        now = time.time()
        shown = _title(title)
        with self._begin() as connection:
            row = {"project_id": self.project_id(connection, project), "user_name": user,
                   "title": shown, "created_at": now, "updated_at": now}  # fmt: skip
            made = connection.execute(insert(ChatConversation).values(**row)).inserted_primary_key
            assert made is not None
            return ConversationRecord(int(made[0]), project, user, shown, now, now)

    def list_conversations(
        self, user: str, *, project: str, limit: int = 50, offset: int = 0
    ) -> tuple[list[ConversationRecord], int]:
        """A page of ``user``'s conversations in ``project``, the last spoken in first, and how
        many they have."""
        with self._read() as connection:
            mine = (
                ChatConversation.project_id == self.project_id(connection, project),
                ChatConversation.user_name == user,
            )
            total = connection.scalar(
                select(func.count()).select_from(ChatConversation).where(*mine)
            )
            rows = connection.execute(
                select(ChatConversation.__table__).where(*mine)
                .order_by(ChatConversation.updated_at.desc(), ChatConversation.id.desc())
                .limit(limit).offset(offset)
            ).all()  # fmt: skip
        return [_conversation(row, project) for row in rows], int(total or 0)

    def get_conversation(
        self, conversation_id: int, user: str, *, project: str
    ) -> ConversationRecord:
        """``user``'s conversation ``conversation_id`` in ``project``.

        Raises
        ------
        NotFoundError
            If there is none so numbered that is ``user``'s in ``project``.
        """
        with self._read() as connection:
            return self._conversation(connection, conversation_id, user, project)

    def add_chat_turn(
        self, conversation_id: int, user: str, turn: TurnWrite, *, project: str
    ) -> TurnRecord:
        """Keep ``turn`` in ``user``'s conversation ``conversation_id`` (now its last spoken
        in); the stored turn."""
        now = time.time()
        with self._begin() as connection:
            self._conversation(connection, conversation_id, user, project)
            values = {f.name: getattr(turn, f.name) for f in fields(TurnWrite)}
            made = connection.execute(
                insert(ChatTurn).values(conversation_id=conversation_id, created_at=now, **values)
            ).inserted_primary_key
            assert made is not None
            connection.execute(
                update(ChatConversation)
                .where(ChatConversation.id == conversation_id)
                .values(updated_at=now)
            )
        return TurnRecord(**values, id=int(made[0]), conversation_id=conversation_id,
                          created_at=now)  # fmt: skip

    def list_chat_turns(
        self, conversation_id: int, user: str, *, project: str
    ) -> list[TurnRecord]:
        """The turns of ``user``'s conversation ``conversation_id``, oldest first."""
        with self._read() as connection:
            self._conversation(connection, conversation_id, user, project)
            rows = connection.execute(
                select(ChatTurn.__table__)
                .where(ChatTurn.conversation_id == conversation_id)
                .order_by(ChatTurn.id)
            ).all()
        return [_turn(row) for row in rows]

    def get_chat_turn(self, turn_id: int, user: str, *, project: str) -> TurnRecord:
        """``user``'s turn ``turn_id`` in ``project`` (:class:`NotFoundError` otherwise)."""
        with self._read() as connection:
            return self._turn(connection, turn_id, user, project)

    def turns_between(
        self, since: float, until: float, *, project: str
    ) -> list[tuple[str, TurnRecord]]:
        """Every turn of ``project`` kept in ``[since, until)``, with its user, oldest first
        (the nightly pass's day: a server's task, across the project's users)."""
        with self._read() as connection:
            rows = connection.execute(
                select(ChatConversation.user_name, ChatTurn.__table__)
                .join(ChatConversation, ChatConversation.id == ChatTurn.conversation_id)
                .where(
                    ChatConversation.project_id == self.project_id(connection, project),
                    ChatTurn.created_at >= since,
                    ChatTurn.created_at < until,
                )
                .order_by(ChatTurn.id)
            ).all()
        return [(row.user_name, _turn(row)) for row in rows]

    def count_turns_between(self, since: float, until: float, *, project: str) -> int:
        """How many turns of ``project`` were kept in ``[since, until)``."""
        with self._read() as connection:
            found = connection.scalar(
                select(func.count())
                .select_from(ChatTurn)
                .join(ChatConversation, ChatConversation.id == ChatTurn.conversation_id)
                .where(
                    ChatConversation.project_id == self.project_id(connection, project),
                    ChatTurn.created_at >= since,
                    ChatTurn.created_at < until,
                )
            )
        return int(found or 0)

    def set_turn_check(self, turn_id: int, status: str, message: str, *, project: str) -> None:
        """Keep the guardian's ``status`` and one-line ``message`` on turn ``turn_id`` of
        ``project`` (whoever's it is: the server's own finding)."""
        with self._begin() as connection:
            theirs = select(ChatConversation.id).where(
                ChatConversation.project_id == self.project_id(connection, project)
            )
            connection.execute(
                update(ChatTurn)
                .where(ChatTurn.id == turn_id, ChatTurn.conversation_id.in_(theirs))
                .values(check_status=status, check_message=message[:MAX_CHECK_MESSAGE])
            )

    def set_turn_verdict(
        self, turn_id: int, user: str, verdict: str, correction: str | None = None, *,
        project: str,
    ) -> TurnRecord:  # fmt: skip
        """Keep ``user``'s ``verdict`` on turn ``turn_id`` (a later one replaces it): ``good``,
        ``bad``, or ``correction`` with the right answer.

        Raises
        ------
        InvalidParameterError
            For another verdict, or a correction without its text.
        NotFoundError
            If the turn is not ``user``'s in ``project``.
        """
        if verdict not in VERDICTS:
            raise InvalidParameterError(
                f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}"
            )
        if verdict == "correction" and not (correction or "").strip():
            raise InvalidParameterError("a correction needs the right answer (correction)")
        kept = correction if verdict == "correction" else None
        with self._begin() as connection:
            self._turn(connection, turn_id, user, project)
            connection.execute(
                update(ChatTurn).where(ChatTurn.id == turn_id)
                .values(verdict=verdict, correction=kept)
            )  # fmt: skip
            return self._turn(connection, turn_id, user, project)

    def list_backend_performance(self, *, project: str) -> list[dict[str, Any]]:
        """What the backend selector measured in ``project``: a row per task type and
        candidate (:data:`PERFORMANCE_FIELDS`, and ``updated_at``)."""
        with self._read() as connection:
            rows = connection.execute(
                select(BackendPerformance.__table__)
                .where(BackendPerformance.project_id == self.project_id(connection, project))
                .order_by(BackendPerformance.task, BackendPerformance.candidate)
            )
            return [
                {name: getattr(row, name) for name in (*PERFORMANCE_FIELDS, "updated_at")}
                for row in rows
            ]

    def add_backend_performance(
        self, increments: Iterable[Mapping[str, Any]], *, project: str
    ) -> None:
        """Add what a backend selector learned (rows of :func:`~azuraforge.assist.backends.
        selection.learned`: per task type and candidate, counts to add and measurements to
        fold into the running averages) to ``project``'s measurements, in SQL: selectors in
        several API processes learning at once each count, none overwrites another's."""
        kept = [_increment(row) for row in increments]
        if not kept:
            return
        now = time.time()
        with self._begin() as connection:
            project_id = self.project_id(connection, project)
            new = _upsert(self.dialect)(
                [{**row, "project_id": project_id, "updated_at": now} for row in kept]
            )
            added = {name: getattr(BackendPerformance, name) + new.excluded[name]
                     for name in COUNTS}  # fmt: skip
            folded = {name: _folded(getattr(BackendPerformance, name), new.excluded[name])
                      for name in AVERAGES}  # fmt: skip
            connection.execute(
                new.on_conflict_do_update(
                    index_elements=["project_id", "task", "candidate"],
                    set_={**added, **folded, "updated_at": new.excluded.updated_at},
                )
            )

    def take_cached_answer(self, key: str, *, project: str) -> Cached | None:
        """The answer kept under ``key`` in ``project`` if it has not expired (a hit, counted
        with the time it saves), else ``None``; expiry is judged by the database's clock."""
        now = self.clock
        with self._begin() as connection:
            project_id = self.project_id(connection, project)
            mine = (ChatCacheEntry.project_id == project_id, ChatCacheEntry.key == key)
            row = connection.execute(
                select(ChatCacheEntry.__table__).where(*mine, ChatCacheEntry.expires_at > now)
            ).first()
            if row is None:
                return None
            connection.execute(
                update(ChatCacheEntry).where(*mine).values(hits=ChatCacheEntry.hits + 1)
            )
            self._count(connection, project_id, hits=1, saved_ms=row.generated_ms)
            return Cached(row.answer, row.tokens_out, row.generated_ms)

    def keep_answer(
        self, key: str, cached: Cached, *, project: str, ttl: float, max_entries: int
    ) -> None:
        """Keep ``cached`` under ``key`` in ``project`` for ``ttl`` seconds (a miss, counted);
        the project's expired answers go, and its oldest beyond ``max_entries`` (times by the
        database's clock, so replicas agree on what expired and what is oldest)."""
        now = self.clock
        with self._begin() as connection:
            project_id = self.project_id(connection, project)
            connection.execute(
                delete(ChatCacheEntry).where(
                    ChatCacheEntry.project_id == project_id,
                    (ChatCacheEntry.key == key) | (ChatCacheEntry.expires_at <= now),
                )
            )
            connection.execute(insert(ChatCacheEntry).values(
                project_id=project_id, key=key, answer=cached.answer,
                tokens_out=cached.tokens_out, generated_ms=cached.generated_ms, hits=0,
                created_at=now, expires_at=now + ttl,
            ))  # fmt: skip
            kept = (
                select(ChatCacheEntry.key)
                .where(ChatCacheEntry.project_id == project_id)
                .order_by(ChatCacheEntry.created_at.desc())
                .limit(max_entries)
            )
            connection.execute(
                delete(ChatCacheEntry).where(
                    ChatCacheEntry.project_id == project_id, ChatCacheEntry.key.not_in(kept)
                )
            )
            self._count(connection, project_id, misses=1)

    def chat_cache_stats(self, *, project: str) -> CacheStats:
        """``project``'s response cache: hits, misses, time saved, answers held (and not
        expired)."""
        with self._read() as connection:
            project_id = self.project_id(connection, project)
            row = connection.execute(
                select(ChatCacheStats.__table__).where(ChatCacheStats.project_id == project_id)
            ).first()
            held = connection.scalar(
                select(func.count()).select_from(ChatCacheEntry)
                .where(ChatCacheEntry.project_id == project_id,
                       ChatCacheEntry.expires_at > self.clock)
            )  # fmt: skip
        if row is None:
            return CacheStats(0, 0, 0.0, int(held or 0))
        return CacheStats(row.hits, row.misses, row.saved_ms, int(held or 0))

    def _count(
        self, connection: Connection, project_id: int, *, hits: int = 0, misses: int = 0,
        saved_ms: float = 0.0,
    ) -> None:  # fmt: skip
        added = update(ChatCacheStats).where(ChatCacheStats.project_id == project_id).values(
            hits=ChatCacheStats.hits + hits, misses=ChatCacheStats.misses + misses,
            saved_ms=ChatCacheStats.saved_ms + saved_ms,
        )  # fmt: skip
        if connection.execute(added).rowcount:
            return
        try:
            with connection.begin_nested():  # another process may make the row meanwhile
                connection.execute(insert(ChatCacheStats).values(
                    project_id=project_id, hits=hits, misses=misses, saved_ms=saved_ms
                ))  # fmt: skip
        except IntegrityError:
            connection.execute(added)

    def _conversation(
        self, connection: Connection, conversation_id: int, user: str, project: str
    ) -> ConversationRecord:
        row = connection.execute(
            select(ChatConversation.__table__).where(
                ChatConversation.id == conversation_id,
                ChatConversation.project_id == self.project_id(connection, project),
                ChatConversation.user_name == user,
            )
        ).first()
        if row is None:
            raise self.not_found(f"conversation {conversation_id}", project)
        return _conversation(row, project)

    def _turn(self, connection: Connection, turn_id: int, user: str, project: str) -> TurnRecord:
        row = connection.execute(
            select(ChatTurn.__table__)
            .join(ChatConversation, ChatConversation.id == ChatTurn.conversation_id)
            .where(
                ChatTurn.id == turn_id,
                ChatConversation.project_id == self.project_id(connection, project),
                ChatConversation.user_name == user,
            )
        ).first()
        if row is None:
            raise self.not_found(f"turn {turn_id}", project)
        return _turn(row)


def _title(title: str) -> str:
    line = " ".join(title.split())
    return line if len(line) <= MAX_TITLE else line[: MAX_TITLE - 1] + "…"


def _conversation(row: Any, project: str) -> ConversationRecord:
    return ConversationRecord(row.id, project, row.user_name, row.title, row.created_at,
                              row.updated_at)  # fmt: skip


def _turn(row: Any) -> TurnRecord:
    return TurnRecord(**{f.name: getattr(row, f.name) for f in fields(TurnRecord)})


def _increment(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of :meth:`ChatStore.add_backend_performance` as the table keeps it (whole
    numbers of answers and errors)."""
    kept = {name: row[name] for name in ("task", "candidate", *COUNTS, *AVERAGES)}
    kept.update(answers=int(kept["answers"]), errors=int(kept["errors"]))
    return kept


def _upsert(dialect: str) -> Any:
    """The dialect's INSERT with ON CONFLICT (PostgreSQL's and SQLite's are alike)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(BackendPerformance).values


def _folded(average: Any, measured: Any) -> Any:
    """A running average with ``measured`` folded in as the selector folds it (its first
    measurement, or :data:`AVERAGE_WEIGHT` of the way toward it); unchanged for none."""
    return case(
        (measured.is_(None), average),
        (average.is_(None), measured),
        else_=average + AVERAGE_WEIGHT * (measured - average),
    )

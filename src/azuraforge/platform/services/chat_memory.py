"""The assistant's long-term memory on the platform (:mod:`azuraforge.assist.memory`).

Each message a user sends in a conversation is kept with its embedding, partitioned by
project and user: another project, or another user of the same one, finds none of it. It is
searched only when a message asks about earlier conversations (the router's
``memory_recall`` intent): the nearest neighbours of an unrelated message are noise that a
model would read as context. It lives beside the store unless settings
``assist_memory_url`` name another database: embedded, sqlite-vec in a SQLite file of its own
next to the store's (``azuraforge-memory.db``); on PostgreSQL, pgvector in the store's own
database (whose server must have the extension). Not in the store's SQLite file itself:
sqlite-vec is loaded through pysqlite3 (the standard library's sqlite3 loads no extension
here), and two SQLite libraries in one process must never open one file (their locks do not
see each other: SQLite's "how to corrupt" list; a test of ours read "file is not a
database"). Memory is optional: when it cannot be opened or written the chat answers
without it and the log says why, and the memory's own routes answer 503.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from azuraforge.assist.embeddings import Embedder
from azuraforge.assist.memory import Filter, Hit, Memory, SqliteVecMemory, VectorMemory
from azuraforge.errors import AzuraForgeError, ModelUnavailableError, NotFoundError

_log = logging.getLogger(__name__)
TABLE = "chat_memories"
"""The memory's table on PostgreSQL."""
KIND = "message"
RECALL = 5
"""Memories a recalling message is given at most."""
RECALL_MARGIN = 0.02
"""How far below the nearest memory's similarity another may lie and still be given. E5's
similarities of unrelated sentences sit close together (0.76-0.83 to a question about one's
sister, whose answer scored 0.83), so no absolute floor separates them; the nearest and its
close rivals are what a question about one thing (or two) needs (docs/assist.md)."""
RETRY_SECONDS = 60.0
"""How long a memory that could not be opened stays off before it is tried again."""


class MemoryUnavailableError(ModelUnavailableError):
    """The long-term memory is off, or cannot be opened."""


class ChatMemory:
    """The users' memories of every project, in one :class:`VectorMemory` opened on first
    use (``embedder`` is asked for then)."""

    def __init__(self, url: str, embedder: Callable[[], Embedder]) -> None:
        self.url = url
        self._embedder = embedder
        self._memory: VectorMemory | None = None
        self._closed_until = 0.0
        self._lock = threading.Lock()

    def remember(self, project: str, user: str, text: str, meta: dict[str, Any]) -> None:
        """Keep ``text`` as a memory of ``user`` in ``project`` (a failure is logged)."""
        try:
            self.open().add([text], user=owner(project, user), kind=KIND, meta=meta)
        except AzuraForgeError as e:
            _log.warning("chat memory: a message was not kept: %s", e)

    def recall(
        self, project: str, user: str, query: str, known: Collection[str] = ()
    ) -> list[Hit]:
        """The memories of ``user`` nearest to ``query`` (those within :data:`RECALL_MARGIN`
        of the nearest) that are not ``known`` texts (the conversation already holds them);
        none when the memory fails (logged)."""
        try:
            hits = self.open().search(query, k=RECALL, where=Filter(user=owner(project, user)))
        except AzuraForgeError as e:
            _log.warning("chat memory: nothing recalled: %s", e)
            return []
        hits = [hit for hit in hits if hit.memory.text not in known]
        return [hit for hit in hits if hit.similarity >= hits[0].similarity - RECALL_MARGIN]

    def find(self, project: str, user: str, query: str, limit: int) -> list[Hit]:
        """The memories of ``user`` nearest to ``query``."""
        where = Filter(user=owner(project, user))
        return self.open().search(query, k=limit, where=where)

    def recent(self, project: str, user: str, limit: int) -> list[Memory]:
        """The last ``limit`` memories of ``user``, newest first."""
        return self.open().recent(Filter(user=owner(project, user)), limit)

    def forget(self, project: str, user: str, memory: int) -> None:
        """Delete one memory of ``user``.

        Raises
        ------
        NotFoundError
            If ``user`` has no such memory in ``project``.
        """
        found = self.open().get([memory])
        if not found or found[0].user != owner(project, user):
            raise NotFoundError(f"no memory {memory} of yours in this project")
        self.open().delete([memory])

    def forget_all(self, project: str, user: str) -> int:
        """Delete every memory of ``user`` in ``project``; returns how many went."""
        return self.open().delete(where=Filter(user=owner(project, user)))

    def open(self) -> VectorMemory:
        """The memory, opened on first use.

        Raises
        ------
        MemoryUnavailableError
            If it cannot be opened (it is tried again :data:`RETRY_SECONDS` later).
        """
        with self._lock:
            if self._memory is not None:
                return self._memory
            if time.monotonic() < self._closed_until:
                raise MemoryUnavailableError("the long-term memory is unavailable; see the log")
            try:
                self._memory = _open(self.url, self._embedder())
            except AzuraForgeError as e:
                self._closed_until = time.monotonic() + RETRY_SECONDS
                _log.warning("chat memory: cannot open it: %s", e)
                raise MemoryUnavailableError(
                    "the long-term memory cannot be opened; see the server's log"
                ) from None
            return self._memory

    def close(self) -> None:
        with self._lock:
            if self._memory is not None:
                self._memory.close()
                self._memory = None


def owner(project: str, user: str) -> str:
    """The memory's partition of ``user`` in ``project`` (unambiguous whatever the names).

    >>> owner("default", "ada")
    '["default", "ada"]'
    """
    return json.dumps([project, user])


def memory_url(database_url: str) -> str:
    """Where the memory of a store at ``database_url`` lives by default: its own SQLite file
    beside a SQLite store's (in RAM beside one in RAM), the store's database on PostgreSQL.

    >>> memory_url("sqlite:////srv/af/azuraforge.db")
    'sqlite:////srv/af/azuraforge-memory.db'
    >>> memory_url("postgresql://db.lan/azuraforge")
    'postgresql://db.lan/azuraforge'
    """
    parsed = make_url(database_url)
    if parsed.get_backend_name() != "sqlite":
        return database_url
    if not parsed.database or parsed.database == ":memory:":
        return "sqlite://"
    path = Path(parsed.database)
    return f"sqlite:///{path.with_name(path.stem + '-memory.db')}"


def memory_of(memory: Memory) -> dict[str, Any]:
    """A memory as its owner sees it."""
    return {"id": memory.id, "text": memory.text, "created_at": memory.created,
            "conversation_id": memory.meta.get("conversation")}  # fmt: skip


def _open(url: str, embedder: Embedder) -> VectorMemory:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteVecMemory(parsed.database or ":memory:", embedder)
    from azuraforge.assist.memory.postgres import PgVectorMemory

    return PgVectorMemory(url, embedder, table=TABLE)

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
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from azuraforge.assist.embeddings import Embedder
from azuraforge.assist.memory import Filter, Hit, Memory, SqliteVecMemory, VectorMemory
from azuraforge.errors import ModelUnavailableError, NotFoundError

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
    """The long-term memory is off, or cannot be opened or read now."""


UNAVAILABLE = (
    "the long-term memory cannot be reached now; try again in a minute, or ask the server's "
    "administrator (its log says why)"
)


class ChatMemory:
    """The users' memories of every project, in one :class:`VectorMemory` opened on first
    use (``embedder`` is asked for then). A user's own are reached through :meth:`of` alone,
    so no call can read another partition."""

    def __init__(self, url: str, embedder: Callable[[], Embedder]) -> None:
        self.url = url
        self._embedder = embedder
        self._memory: VectorMemory | None = None
        self._closed_until = 0.0
        self._lock = threading.Lock()

    def of(self, project: str, user: str) -> UserMemory:
        """The memories of ``user`` in ``project``."""
        return UserMemory(self, owner(project, user))

    def open(self) -> VectorMemory:
        """The memory, opened on first use (a connection waits 10 s at most).

        Raises
        ------
        MemoryUnavailableError
            If it cannot be opened (it is tried again :data:`RETRY_SECONDS` later).
        """
        with self._lock:
            if self._memory is not None:
                return self._memory
            if time.monotonic() < self._closed_until:
                raise MemoryUnavailableError(UNAVAILABLE)
            try:
                self._memory = _open(self.url, self._embedder())
            except Exception as e:  # a missing driver, a folder it cannot write, no pgvector
                self._closed_until = time.monotonic() + RETRY_SECONDS
                _log.warning("chat memory: cannot open it: %s: %s", type(e).__name__, e)
                raise MemoryUnavailableError(UNAVAILABLE) from None
            return self._memory

    def close(self) -> None:
        """Close the memory's connections (it opens again on next use)."""
        with self._lock:
            if self._memory is not None:
                self._memory.close()
                self._memory = None


@dataclass(frozen=True)
class UserMemory:
    """One user's memories in one project (their partition of a :class:`ChatMemory`)."""

    memories: ChatMemory
    owner: str

    def remember(self, text: str, meta: dict[str, Any]) -> None:
        """Keep ``text`` (a failure is logged: the chat goes on without it)."""
        try:
            self.memories.open().add([text], user=self.owner, kind=KIND, meta=meta)
        except Exception as e:  # the memory is optional
            _log.warning("chat memory: a message was not kept: %s: %s", type(e).__name__, e)

    def recall(self, query: str, known: Collection[str] = ()) -> list[Hit]:
        """The memories nearest to ``query`` (those within :data:`RECALL_MARGIN` of the
        nearest) that are not ``known`` texts (the conversation already holds them); none
        when the memory fails (logged)."""
        try:
            hits = self.memories.open().search(query, k=RECALL, where=self._mine)
        except Exception as e:  # the memory is optional
            _log.warning("chat memory: nothing recalled: %s: %s", type(e).__name__, e)
            return []
        hits = [hit for hit in hits if hit.memory.text not in known]
        return [hit for hit in hits if hit.similarity >= hits[0].similarity - RECALL_MARGIN]

    def search(self, query: str, limit: int) -> list[Hit]:
        """The memories nearest to ``query``."""
        with _reading("search"):
            return self.memories.open().search(query, k=limit, where=self._mine)

    def recent(self, limit: int) -> list[Memory]:
        """The last ``limit`` memories, newest first."""
        with _reading("list"):
            return self.memories.open().recent(self._mine, limit)

    def forget(self, memory_id: int) -> None:
        """Delete one memory.

        Raises
        ------
        NotFoundError
            If there is no such memory in this partition.
        """
        with _reading("forget"):
            memory = self.memories.open()
            found = memory.read([memory_id])
            if not found or found[0].user != self.owner:
                raise NotFoundError(f"no memory {memory_id} of yours in this project")
            memory.delete([memory_id])

    def forget_all(self) -> int:
        """Delete every memory; returns how many went."""
        with _reading("forget"):
            return self.memories.open().delete(where=self._mine)

    @property
    def _mine(self) -> Filter:
        return Filter(user=self.owner)


@contextmanager
def _reading(action: str) -> Iterator[None]:
    """A failure of the memory as :class:`MemoryUnavailableError` (its message, which may
    name a file or a server, to the log); a missing memory stays a 404."""
    try:
        yield
    except (NotFoundError, MemoryUnavailableError):
        raise
    except Exception as e:
        _log.warning("chat memory: cannot %s: %s: %s", action, type(e).__name__, e)
        raise MemoryUnavailableError(UNAVAILABLE) from None


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
            "kind": memory.meta.get("kind", "message"),
            "conversation_id": memory.meta.get("conversation"),
            "turn_id": memory.meta.get("turn")}  # fmt: skip


def _open(url: str, embedder: Embedder) -> VectorMemory:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteVecMemory(parsed.database or ":memory:", embedder)
    from azuraforge.assist.memory.postgres import PgVectorMemory

    return PgVectorMemory(url, embedder, table=TABLE)

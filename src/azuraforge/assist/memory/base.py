"""What a long-term memory promises, whatever stores it (the storage pattern of the platform).

A :class:`VectorMemory` keeps texts with their embedding and metadata (user, kind, time)
and finds the nearest ones to a query among those its filters allow. Every backend passes
one contract suite (``tests/assist/memory``):

- :meth:`~VectorMemory.search` returns ``k`` hits whenever at least ``k`` stored texts match
  the filters, however far they lie from the query, nearest first;
- ids are unique and never reused; a deleted text is never found (nor read) again;
- :meth:`~VectorMemory.recent` lists the newest first, filtered as a search is;
- embeddings of another embedder (another ``name``) are refused when the memory is opened;
- the methods are safe to call from several threads.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from azuraforge.assist.embeddings import Embedder, passage_rows
from azuraforge.assist.intents import MAX_TEXT_CHARS
from azuraforge.errors import InvalidParameterError, SchemaMismatchError

MAX_K = 4096
"""The most hits a search (or rows a listing) returns: sqlite-vec's own limit on k, which
every backend shares."""


@dataclass(frozen=True)
class Filter:
    """Which stored texts a search or a delete may touch; ``None`` means any.

    ``since`` and ``until`` are Unix seconds, both inclusive.
    """

    user: str | None = None
    kind: str | None = None
    since: float | None = None
    until: float | None = None

    def terms(self) -> list[tuple[str, str, Any]]:
        """Its conditions as ``(field, operator, value)``, the fields those of
        :class:`Memory`, for a backend to write in its own query language.

        >>> Filter(user="ali", since=100).terms()
        [('user', '=', 'ali'), ('created', '>=', 100.0)]
        """
        terms = [("user", "=", self.user), ("kind", "=", self.kind),
                 ("created", ">=", self.since), ("created", "<=", self.until)]  # fmt: skip
        return [
            (name, operator, value if name != "created" else float(value))
            for name, operator, value in terms
            if value is not None
        ]


@dataclass(frozen=True)
class Memory:
    """One stored text with its metadata."""

    id: int
    text: str
    user: str
    kind: str
    created: float
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_row(cls, row: Sequence[Any]) -> Memory:
        """A memory from a row of ``id, user, kind, created, text, meta`` (``meta`` as JSON
        text or as the object a database decoded)."""
        id_, user, kind, created, text, meta = row
        meta = json.loads(meta) if isinstance(meta, str) else dict(meta)
        return cls(int(id_), text, user, kind, float(created), meta)


@dataclass(frozen=True)
class Hit:
    """A search result: the memory and its cosine similarity to the query (1 is identical)."""

    memory: Memory
    similarity: float


class VectorMemory(ABC):
    """Long-term memory of texts, searched by meaning (see the module docstring).

    A backend stores (:meth:`_store`), ranks (:meth:`_nearest`) and counts (:meth:`_counts`);
    the checks of what it is given, the embedding and the shape of :meth:`stats` are here.
    """

    embedder: Embedder

    def add(
        self,
        texts: Sequence[str],
        *,
        user: str,
        kind: str = "note",
        created: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> list[int]:
        """Embed and store ``texts`` (one user, kind and time); returns their new ids."""
        check_texts(texts)
        if not texts:
            return []
        rows = passage_rows(self.embedder, texts)
        stamp = time.time() if created is None else float(created)
        return self._store(texts, rows, user=user, kind=kind, created=stamp, meta=meta or {})

    @abstractmethod
    def _store(
        self, texts: Sequence[str], rows: np.ndarray, *, user: str, kind: str,
        created: float, meta: dict[str, Any],
    ) -> list[int]:  # fmt: skip
        """Store the checked ``texts`` with their embeddings ``rows``; their new ids."""

    def search(self, query: str, k: int = 5, where: Filter | None = None) -> list[Hit]:
        """The ``k`` stored texts nearest to ``query`` among those ``where`` allows."""
        if not 1 <= k <= MAX_K:
            raise InvalidParameterError(f"k must be between 1 and {MAX_K}, got {k}")
        return self._nearest(self.embedder.embed([query])[0], k, where)

    @abstractmethod
    def _nearest(self, vector: np.ndarray, k: int, where: Filter | None) -> list[Hit]:
        """The ``k`` stored texts nearest to the query's embedding ``vector``."""

    @abstractmethod
    def read(self, ids: Sequence[int]) -> list[Memory]:
        """The stored texts among ``ids`` (unknown and deleted ids are left out), by id."""

    @abstractmethod
    def recent(self, where: Filter | None = None, limit: int = 20) -> list[Memory]:
        """The last ``limit`` texts stored among those ``where`` allows, newest first."""

    @abstractmethod
    def delete(self, ids: Sequence[int] = (), where: Filter | None = None) -> int:
        """Forget the given ids, or every text ``where`` matches; returns how many went."""

    def stats(self) -> dict[str, Any]:
        """``count``, ``users`` and ``kinds`` (counts by value), ``embedder`` and ``dim``, and
        where the memory is (:meth:`_place`)."""
        users, kinds = self._counts()
        return {"count": sum(users.values()), "users": users, "kinds": kinds,
                "embedder": self.embedder.name, "dim": self.embedder.dim,
                **self._place()}  # fmt: skip

    @abstractmethod
    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """How many texts each user and each kind has."""

    @abstractmethod
    def _place(self) -> dict[str, str]:
        """Where the memory is, as :meth:`stats` shows it (a file's ``path``, a server's
        ``url`` and ``table``)."""

    def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        """Release the store's connections."""


def embedder_info(embedder: Embedder) -> dict[str, str]:
    """What a memory records of the embedder that wrote it, to refuse another."""
    return {"embedder": embedder.name, "dim": str(embedder.dim)}


def check_embedder(stored: dict[str, str], embedder: Embedder, holder: str, place: str) -> None:
    """Refuse to open ``holder`` (``memory 'a.db'``) whose ``stored`` embedder information
    is another's than ``embedder``'s (none stored: a new memory, accepted); ``place`` is
    what to give this embedder instead (``file``, ``table``).

    Raises
    ------
    SchemaMismatchError
        Naming the embedder and dimension it holds.
    """
    if stored and stored != embedder_info(embedder):
        raise SchemaMismatchError(
            f"{holder} holds {stored.get('embedder')!r} embeddings ({stored.get('dim')} "
            f"dimensions), not {embedder.name!r}; open it with that embedder, or give this "
            f"one another {place}"
        )


def check_limit(limit: int) -> None:
    """Refuse a :meth:`VectorMemory.recent` limit outside 1 to ``MAX_K``."""
    if not 1 <= limit <= MAX_K:
        raise InvalidParameterError(f"limit must be between 1 and {MAX_K}, got {limit}")


def check_texts(texts: Sequence[str]) -> None:
    """Refuse what no memory stores: one string instead of a list, empty or overlong texts."""
    if isinstance(texts, str):
        raise InvalidParameterError("add() takes a list of texts, got one string")
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise InvalidParameterError(f"a memory must be non-empty text, got {text!r:.60}")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidParameterError(
                f"a memory of {len(text):,} characters; at most {MAX_TEXT_CHARS:,}"
            )

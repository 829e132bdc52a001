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

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from azuraforge.assist.intents import MAX_TEXT_CHARS
from azuraforge.errors import InvalidParameterError

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


@dataclass(frozen=True)
class Memory:
    """One stored text with its metadata."""

    id: int
    text: str
    user: str
    kind: str
    created: float
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A search result: the memory and its cosine similarity to the query (1 is identical)."""

    memory: Memory
    similarity: float


class VectorMemory(ABC):
    """Long-term memory of texts, searched by meaning (see the module docstring)."""

    @abstractmethod
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

    @abstractmethod
    def search(self, query: str, k: int = 5, where: Filter | None = None) -> list[Hit]:
        """The ``k`` stored texts nearest to ``query`` among those ``where`` allows."""

    @abstractmethod
    def read(self, ids: Sequence[int]) -> list[Memory]:
        """The stored texts among ``ids`` (unknown and deleted ids are left out), by id."""

    @abstractmethod
    def recent(self, where: Filter | None = None, limit: int = 20) -> list[Memory]:
        """The last ``limit`` texts stored among those ``where`` allows, newest first."""

    @abstractmethod
    def delete(self, ids: Sequence[int] = (), where: Filter | None = None) -> int:
        """Forget the given ids, or every text ``where`` matches; returns how many went."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """``count``, ``users`` and ``kinds`` (counts by value), ``embedder`` and ``dim``."""

    def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        """Release the store's connections."""


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

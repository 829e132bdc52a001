"""What makes two chat requests the same answer, for a response cache: only deterministic
requests (temperature 0) are cached, keyed by the exact messages, the generation settings and
the exact model that answers (the backend's declaration and the adapter's version), so a
changed model or adapter never serves an answer another one gave. Nothing fuzzy: a question
that differs by one character (a negation) is another key, unlike semantic caches that
answered "is X not Y?" with the cached answer to "is X Y?" (GPTCache issue 694)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from azuraforge.assist.backends.base import GenerationSettings, Message


@dataclass(frozen=True)
class Cached:
    """An answer kept: its text, the tokens it wrote, and how long it took to make."""

    answer: str
    tokens_out: int
    generated_ms: float


@dataclass(frozen=True)
class CacheStats:
    """A project's cache: answers served from it, answers made and kept, the time the hits
    saved (the kept answers' making time), and how many answers it holds."""

    hits: int
    misses: int
    saved_ms: float
    entries: int

    @property
    def hit_rate(self) -> float | None:
        """Hits of all cacheable requests (None before any)."""
        asked = self.hits + self.misses
        return self.hits / asked if asked else None


def cacheable(settings: GenerationSettings) -> bool:
    """Whether an answer with ``settings`` may be cached: a deterministic one."""
    return settings.temperature == 0


def cache_key(
    messages: Sequence[Message], settings: GenerationSettings, model: str, adapter: str | None
) -> str:
    """The key of a request: SHA-256 of its exact messages, generation settings, ``model``
    (what answers: a backend's declaration) and ``adapter`` (with its version).

    >>> first = [Message("user", "Is 7 a prime?")]
    >>> negated = [Message("user", "Is 7 not a prime?")]
    >>> settings = GenerationSettings(temperature=0.0)
    >>> cache_key(first, settings, "local", None) == cache_key(negated, settings, "local", None)
    False
    >>> cache_key(first, settings, "local", "python@2") == cache_key(first, settings, "local",
    ...                                                               "python@3")
    False
    """
    canonical = {
        "messages": [[m.role, m.content] for m in messages],
        "settings": [settings.max_tokens, settings.temperature, settings.top_p, settings.seed],
        "model": model,
        "adapter": adapter,
    }
    text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()

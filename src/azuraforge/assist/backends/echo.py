"""A deterministic backend for tests and for trying the chat without a model."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

from azuraforge.assist.backends.base import Backend, Capabilities, GenerationSettings, Message
from azuraforge.errors import NotFoundError


class EchoBackend(Backend):
    """Answers ``[adapter] echo: <the last user message>``, one word per streamed piece (with
    the whitespace before it, so lines and code blocks come back as sent), cut at
    ``max_tokens`` words. A token is a word. Adapters are names (their paths must exist).

    >>> backend = EchoBackend()
    >>> list(backend.stream([Message("user", "merhaba dünya")]))
    ['echo:', ' merhaba', ' dünya']
    """

    name = "echo"
    adapter_format = "gguf"
    capabilities = Capabilities(streaming=True, adapters=True, context_tokens=4096)

    def __init__(self) -> None:
        self._adapters: dict[str, Path] = {}
        self._lock = threading.Lock()

    def _stream(
        self, messages: list[Message], settings: GenerationSettings, adapter: str | None
    ) -> Iterator[str]:
        last = next((m.content for m in reversed(messages) if m.role == "user"), "")
        said = [w if w[0].isspace() else f" {w}" for w in re.findall(r"\s*\S+", last)]
        pieces = ([f"[{adapter}]", " echo:"] if adapter else ["echo:"]) + said
        return iter(pieces[: settings.max_tokens])

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def load_adapter(self, name: str, path: str | Path) -> None:
        if not Path(path).exists():
            raise NotFoundError(f"adapter file {str(path)!r} not found")
        with self._lock:
            self._adapters[name] = Path(path)

    def unload_adapter(self, name: str) -> None:
        with self._lock:
            if name not in self._adapters:
                raise self._no_adapter(name)
            del self._adapters[name]

    def adapters(self) -> list[str]:
        with self._lock:
            return sorted(self._adapters)

"""The plugin file the backends' tests drop in a plugin folder: a backend that shouts the last
user message back in capitals (kind ``shout``), and a class that is not a backend."""

from __future__ import annotations

from pathlib import Path

SHOUT = '''
"""A backend that shouts: the last user message in capitals, one word a piece."""
from azuraforge.assist.backends import Backend, Capabilities


class ShoutBackend(Backend):
    name = "shout"
    capabilities = Capabilities(streaming=True, adapters=False, context_tokens=512)

    def _stream(self, messages, settings, adapter):
        said = next((m.content for m in reversed(messages) if m.role == "user"), "")
        words = said.upper().split()
        yield from (f" {word}" if i else word for i, word in enumerate(words))
        yield "!"

    def count_tokens(self, text):
        return len(text.split())


class NotABackend:
    """Declared as a backend, but it is not one."""


azuraforge_plugins = {"azuraforge.backends": {"shout": ShoutBackend%s}}
'''


def shout_folder(folder: Path, *, odd: bool = False) -> Path:
    """``folder`` (made) holding ``shouting.py``, which declares the backend kind ``shout``
    (and ``odd``, a class that is not a backend, when ``odd``)."""
    folder.mkdir(parents=True, exist_ok=True)
    declared = ', "odd": NotABackend' if odd else ""
    (folder / "shouting.py").write_text(SHOUT % declared)
    return folder

"""The assistant's backends as the server has them: those its settings declare
(``assist_backends``), or, with none declared, :data:`DEFAULT_BACKEND`, which the chat answers
with and a fine-tune trains over.

>>> from azuraforge.platform.settings import Settings
>>> [b.name for b in declared_backends(Settings(database_url="sqlite://"))]
['local']
"""

from __future__ import annotations

from azuraforge.platform.settings import AssistBackend, Settings

DEFAULT_BACKEND = AssistBackend(name="local", kind="llama")
"""The backend when none is declared: the packaged SmolLM2-135M-Instruct through llama.cpp
(both in the ``assist`` extra), loaded at the first message, not at the server's start."""


def declared_backends(settings: Settings) -> list[AssistBackend]:
    """The backends of ``settings``: those declared, else :data:`DEFAULT_BACKEND` alone."""
    return list(settings.assist_backends) or [DEFAULT_BACKEND]

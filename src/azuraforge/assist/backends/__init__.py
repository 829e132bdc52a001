"""Text generators behind one interface (:class:`Backend`): llama.cpp
(:class:`~azuraforge.assist.backends.llama.LlamaCppBackend`, imported from its module so
that llama-cpp-python loads only when used), transformers, an OpenAI-compatible server and the
deterministic :class:`EchoBackend`; each found by its kind in the entry-point group
``azuraforge.backends`` and built from a :class:`BackendSpec`
(:mod:`azuraforge.assist.backends.registry`)."""

from azuraforge.assist.backends.base import (
    Backend,
    BackendSpec,
    Capabilities,
    GenerationSettings,
    Message,
)
from azuraforge.assist.backends.echo import EchoBackend

__all__ = [
    "Backend",
    "BackendSpec",
    "Capabilities",
    "EchoBackend",
    "GenerationSettings",
    "Message",
]

"""Text generators behind one interface (:class:`Backend`): llama.cpp
(:class:`~azuraforge.assist.backends.llama.LlamaCppBackend`, imported from its module so
that llama-cpp-python loads only when used) and the deterministic :class:`EchoBackend`."""

from azuraforge.assist.backends.base import Backend, Capabilities, GenerationSettings, Message
from azuraforge.assist.backends.echo import EchoBackend

__all__ = ["Backend", "Capabilities", "EchoBackend", "GenerationSettings", "Message"]

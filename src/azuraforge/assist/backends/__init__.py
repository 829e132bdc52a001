"""Text generators behind one interface (:class:`Backend`)."""

from azuraforge.assist.backends.base import Backend, Capabilities, GenerationSettings, Message
from azuraforge.assist.backends.echo import EchoBackend

__all__ = ["Backend", "Capabilities", "EchoBackend", "GenerationSettings", "Message"]

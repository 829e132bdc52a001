"""Memory: a long-term vector store (:class:`VectorMemory`, embedded as
:class:`SqliteVecMemory`) and a token-bounded short-term buffer."""

from azuraforge.assist.memory.base import Filter, Hit, Memory, VectorMemory
from azuraforge.assist.memory.buffer import ShortTermBuffer, Turn, fitting, rag_context
from azuraforge.assist.memory.sqlite import SqliteVecMemory

__all__ = [
    "Filter",
    "Hit",
    "Memory",
    "ShortTermBuffer",
    "SqliteVecMemory",
    "Turn",
    "VectorMemory",
    "fitting",
    "rag_context",
]

"""The short-term memory: the latest turns of a conversation, bounded in tokens, and the
context a generation gets from the long-term memory (retrieval-augmented generation)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from azuraforge.assist.memory.base import Hit
from azuraforge.errors import InvalidParameterError

TokenCounter = Callable[[str], int]
"""Counts the tokens of a text, as the base model's tokenizer does."""


@dataclass(frozen=True)
class Turn:
    """One message of the conversation: ``role`` is ``user`` or ``assistant``."""

    role: str
    text: str
    tokens: int


class ShortTermBuffer:
    """The newest turns whose tokens add up to at most ``max_tokens``.

    Adding a turn that overflows the budget drops the oldest turns until at most
    ``trim_to`` tokens remain (the newest turn always stays), and then the assistant turns
    left at the start, so the history begins with the user (as strict chat templates
    demand). A single turn longer than the budget is cut from its start (its end is kept),
    so the buffer never exceeds it.

    Parameters
    ----------
    max_tokens
        The budget, in the base model's tokens.
    count_tokens
        The base model's token counter (a backend's ``count_tokens``).
    trim_to
        What an overflow trims the buffer down to (default ``max_tokens``: drop just enough).
        Less makes the conversation's kept beginning change once every few turns instead of
        at every turn once the budget is full, so a backend that caches the prompt's
        beginning (llama.cpp) need not evaluate the whole history again each turn.

    Examples
    --------
    >>> buffer = ShortTermBuffer(6, count_tokens=lambda text: len(text.split()))
    >>> buffer.add("user", "my name is Ayşe")
    >>> buffer.add("assistant", "hello Ayşe")
    >>> [t.text for t in buffer.turns()], buffer.tokens
    (['my name is Ayşe', 'hello Ayşe'], 6)
    >>> buffer.add("user", "what is mine")
    >>> [t.text for t in buffer.turns()]
    ['what is mine']
    >>> halving = ShortTermBuffer(8, lambda text: len(text.split()), trim_to=4)
    >>> for text in ["one two", "three four", "five six", "seven eight", "nine ten"]:
    ...     halving.add("user", text)
    >>> [t.text for t in halving.turns()]
    ['seven eight', 'nine ten']
    """

    def __init__(
        self, max_tokens: int, count_tokens: TokenCounter, trim_to: int | None = None
    ) -> None:
        if max_tokens < 1:
            raise InvalidParameterError(f"max_tokens must be >= 1, got {max_tokens}")
        if trim_to is not None and not 0 <= trim_to <= max_tokens:
            raise InvalidParameterError(
                f"trim_to must be between 0 and max_tokens ({max_tokens}), got {trim_to}"
            )
        self.max_tokens, self.count_tokens = max_tokens, count_tokens
        self.trim_to = max_tokens if trim_to is None else trim_to
        self._turns: deque[Turn] = deque()
        self.tokens = 0

    def add(self, role: str, text: str) -> None:
        """Append a turn, dropping the oldest turns that no longer fit."""
        if role not in ("user", "assistant"):
            raise InvalidParameterError(f"role must be 'user' or 'assistant', got {role!r}")
        turn = self._fitted(role, text)
        self._turns.append(turn)
        self.tokens += turn.tokens
        if self.tokens > self.max_tokens:
            while len(self._turns) > 1 and (
                self.tokens > self.trim_to or self._turns[0].role == "assistant"
            ):
                self.tokens -= self._turns.popleft().tokens

    def _fitted(self, role: str, text: str) -> Turn:
        tokens = self.count_tokens(text)
        if tokens <= self.max_tokens:
            return Turn(role, text, tokens)
        low, high = 0, len(text)  # the smallest cut whose tail fits
        while low < high:
            middle = (low + high) // 2
            if self.count_tokens(text[middle:]) <= self.max_tokens:
                high = middle
            else:
                low = middle + 1
        return Turn(role, text[low:], self.count_tokens(text[low:]))

    def turns(self) -> list[Turn]:
        """The kept turns, oldest first."""
        return list(self._turns)

    def clear(self) -> None:
        """Forget every turn (the chat's ``/clear``)."""
        self._turns.clear()
        self.tokens = 0


CONTEXT_HEADING = "What you remember about the user:"


def fitting(hits: Sequence[Hit], max_tokens: int, count_tokens: TokenCounter) -> list[Hit]:
    """The hits :func:`rag_context` gives: nearest first, as many as fit in ``max_tokens``
    with the heading; one too long to fit is left out, and the nearer ones after it go on.

    >>> from azuraforge.assist.memory.base import Memory
    >>> hits = [Hit(Memory(1, "a long story " * 9, "u", "fact", 0.0), 0.9),
    ...         Hit(Memory(2, "likes blue", "u", "fact", 0.0), 0.5)]
    >>> [hit.memory.id for hit in fitting(hits, 10, lambda text: len(text.split()))]
    [2]
    """
    used, kept = count_tokens(CONTEXT_HEADING), []
    for hit in hits:
        cost = count_tokens(_line(hit))
        if used + cost <= max_tokens:
            kept.append(hit)
            used += cost
    return kept


def rag_context(hits: Sequence[Hit], max_tokens: int, count_tokens: TokenCounter) -> str:
    """The memories a generation is given (those :func:`fitting` keeps), or ``""``.

    >>> from azuraforge.assist.memory.base import Memory
    >>> hits = [Hit(Memory(1, "sister: Elif", "u", "fact", 0.0), 0.9),
    ...         Hit(Memory(2, "likes blue", "u", "fact", 0.0), 0.5)]
    >>> print(rag_context(hits, 10, lambda text: len(text.split())))
    What you remember about the user:
    - sister: Elif
    """
    kept = fitting(hits, max_tokens, count_tokens)
    return "\n".join([CONTEXT_HEADING, *map(_line, kept)]) if kept else ""


def _line(hit: Hit) -> str:
    return f"- {hit.memory.text}"

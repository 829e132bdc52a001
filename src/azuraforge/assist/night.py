"""What the nightly pass reads in a day's turns: facts a user stated about themselves, and
where the assistant failed, per intent, expert and backend.

A fact is a sentence of a user's message, not a question, in which they speak of
themselves in English or Turkish ("I work at...", "my daughter is...", "Ben ... çalışıyorum",
"Adım..."): the rule is lexical and says so, never a model's guess. A failure is an answer
its user marked bad or corrected, or whose code the guardian found failing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

MAX_FACT = 300
"""The longest sentence kept as a fact (characters); longer ones are not one statement."""
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_ABOUT_ME = re.compile(
    r"\b(i am|i'm|i work|i live|i like|i love|i prefer|i use|i have|i've|i was born|"
    r"my name|my \w+ (is|are|was|were)|benim|adım|ben\b|\w+(ıyorum|iyorum|uyorum|üyorum))",
    re.IGNORECASE,
)
FAILED_CHECKS = ("error", "timeout", "memory")
"""The guardian's findings that are failures (``passed`` is none, ``refused`` ran nothing)."""


def facts_in(message: str) -> list[str]:
    """The sentences of ``message`` in which its writer states something about themselves.

    >>> facts_in("My daughter is named Defne. Can you help? I work at a bank!")
    ['My daughter is named Defne.', 'I work at a bank!']
    >>> facts_in("Ben Ankara'da yaşıyorum. Bugün hava nasıl?")
    ["Ben Ankara'da yaşıyorum."]
    >>> facts_in("Sort a list in Python.")
    []
    """
    found = []
    for sentence in _SENTENCES.split(message):
        line = " ".join(sentence.split())
        if not line or line.endswith("?") or len(line) > MAX_FACT or "```" in line:
            continue
        if _ABOUT_ME.search(line):
            found.append(line)
    return found


class Judged(Protocol):
    """What :func:`failure_patterns` reads of a turn."""

    @property
    def intent(self) -> str: ...
    @property
    def expert(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def adapter(self) -> str | None: ...
    @property
    def verdict(self) -> str | None: ...
    @property
    def check_status(self) -> str | None: ...


@dataclass(frozen=True)
class Pattern:
    """How often one intent's answers by one expert and backend failed."""

    intent: str
    expert: str
    answered_by: str
    """The backend, and the adapter it answered through (``local/python@3``)."""
    answers: int
    bad: int
    corrected: int
    failed_checks: int

    @property
    def failures(self) -> int:
        """Answers that failed in any of the three ways (each answer counted once)."""
        return self.bad + self.corrected + self.failed_checks

    @property
    def failure_rate(self) -> float:
        return self.failures / self.answers if self.answers else 0.0


def failure_patterns(turns: Iterable[Judged]) -> list[Pattern]:
    """Each intent, expert and backend's answers among ``turns`` and their failures, the most
    failing first. An answer both marked and failing its check counts as marked."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for turn in turns:
        by = turn.backend if turn.adapter is None else f"{turn.backend}/{turn.adapter}"
        counts = groups.setdefault((turn.intent, turn.expert, by), [0, 0, 0, 0])
        counts[0] += 1
        if turn.verdict == "bad":
            counts[1] += 1
        elif turn.verdict == "correction":
            counts[2] += 1
        elif turn.check_status in FAILED_CHECKS:
            counts[3] += 1
    patterns = [Pattern(*key, *counts) for key, counts in groups.items()]
    return sorted(patterns, key=lambda p: (-p.failures, -p.failure_rate, p.intent, p.answered_by))

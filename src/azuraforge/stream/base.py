"""What every stream piece shares: the :class:`Event` a source yields, the :class:`Source`
contract, and the :class:`SourceReport` of what a source found wrong in its input and did
about it."""

from __future__ import annotations

import datetime
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

EXAMPLES_KEPT = 3
"""How many example messages a report keeps for each reason."""


@dataclass(frozen=True)
class Event:
    """One observation of a stream: its event time and its named values.

    Attributes
    ----------
    time
        When it happened, in seconds since the Unix epoch (UTC).
    values
        The numbers of the observation by name (``{"close": 20963.0, ...}``), as learners'
        ``x`` dicts take them.
    line
        Where it came from: the line of its file (0 when the source has no lines).
    missing_before
        How many steps of the stream's regular step are missing right before it (a gap in
        the input: 0 almost always). Features and learners can tell a jump from a step.
    """

    time: float
    values: dict[str, float]
    line: int = 0
    missing_before: int = 0

    @property
    def when(self) -> datetime.datetime:
        """:attr:`time` as an aware UTC date-time."""
        return datetime.datetime.fromtimestamp(self.time, tz=datetime.UTC)


@dataclass
class SourceReport:
    """What a source found in its input: rows read, rows skipped and why, order, gaps and
    the fixes it made. Nothing is passed silently: every skipped row is counted by reason,
    with the first few messages kept as examples.

    Attributes
    ----------
    rows
        Data rows read (not counting a header, banner or blank lines).
    events
        Events the source yields.
    skipped
        Rows skipped, by reason (``"unparseable"``, ``"non-positive price"``,
        ``"duplicate"``, ``"out of order"``, ``"wrong width"``).
    examples
        The first :data:`EXAMPLES_KEPT` messages of each reason, naming line and value.
    banner_lines
        Lines above the header that were not part of the table (a title, a web address).
    newest_first
        True when the input ran newest first and was replayed the other way.
    step
        The stream's regular step in seconds (the commonest step between events, the shortest
        of those as common), or None with fewer than two events.
    gaps, missing
        Places where steps are missing, and how many steps they miss in all.
    largest_gap
        The longest time between two events, in seconds (0 with fewer than two).
    fixes
        Values corrected, by what was corrected (``"swapped volumes"``).
    """

    rows: int = 0
    events: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    banner_lines: list[int] = field(default_factory=list)
    newest_first: bool = False
    step: float | None = None
    gaps: int = 0
    missing: int = 0
    largest_gap: float = 0.0
    fixes: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, message: str) -> None:
        """Count one row skipped for ``reason``; keep ``message`` among the first examples."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        kept = self.examples.setdefault(reason, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(message)

    def fix(self, what: str) -> None:
        """Count one value corrected as ``what``."""
        self.fixes[what] = self.fixes.get(what, 0) + 1

    def lines(self) -> list[str]:
        """The report as short readable lines (what a CLI prints before replaying)."""
        shown = [f"{self.events:,} events from {self.rows:,} rows"]
        if self.banner_lines:
            shown.append(f"skipped banner line(s) {', '.join(map(str, self.banner_lines))}")
        if self.newest_first:
            shown.append("the file runs newest first: replayed oldest first")
        for reason, count in self.skipped.items():
            shown.append(f"skipped {count:,} row(s), {reason}: {'; '.join(self.examples[reason])}")
        for what, count in self.fixes.items():
            shown.append(f"fixed {count:,} row(s): {what}")
        if self.gaps:
            shown.append(
                f"{self.gaps:,} gap(s) missing {self.missing:,} step(s) of {self.step:g} s; the "
                f"longest {self.largest_gap:g} s"
            )
        return shown


class Source(ABC):
    """A stream of :class:`Event`, oldest first, with a :class:`SourceReport`.

    Iterating yields the events; a source may be iterated again (a replay starts over).
    ``report`` says what was found in the input so far (for a replay: the whole file, as it
    is read before the first event).
    """

    @abstractmethod
    def __iter__(self) -> Iterator[Event]: ...

    @property
    @abstractmethod
    def report(self) -> SourceReport: ...

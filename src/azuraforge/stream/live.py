"""What live sources share: a report that also says what happened to the input itself (a file
replaced, a poll that failed), and a stop that works from any thread.

A live source follows input as it arrives (:class:`~azuraforge.stream.tail.FileTail` a
growing file, :class:`~azuraforge.stream.polling.HttpPoller` a URL), so its stream has no end
of its own: it ends on :meth:`LiveSource.stop` or on a limit of its own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import EXAMPLES_KEPT, Source, SourceReport


@dataclass
class LiveReport(SourceReport):
    """A :class:`~azuraforge.stream.base.SourceReport` that also counts what happened to
    the input rather than to a row.

    Attributes
    ----------
    incidents
        By kind (``"file replaced"``, ``"file truncated"``, ``"HTTP error"``, ``"timeout"``,
        ``"connection error"``, ``"too large"``, ``"bad response"``): how many times it
        happened; the first :data:`~azuraforge.stream.base.EXAMPLES_KEPT` messages of each
        kind are in ``examples``.

    Examples
    --------
    >>> report = LiveReport()
    >>> report.incident("HTTP error", "poll 2: HTTP 503 Service Unavailable")
    >>> report.lines()
    ['0 events from 0 rows', 'HTTP error (1): poll 2: HTTP 503 Service Unavailable']
    """

    incidents: dict[str, int] = field(default_factory=dict)

    def incident(self, kind: str, message: str) -> None:
        """Count one incident of ``kind``; keep ``message`` among the first examples."""
        self.incidents[kind] = self.incidents.get(kind, 0) + 1
        if len(kept := self.examples.setdefault(kind, [])) < EXAMPLES_KEPT:
            kept.append(message)

    def lines(self) -> list[str]:
        shown = super().lines()
        for kind, count in self.incidents.items():
            shown.append(f"{kind} ({count:,}): {'; '.join(self.examples[kind])}")
        return shown


class LiveSource(Source):
    """A source of events that arrive over time.

    Contract: iterating yields events as they arrive and returns when :meth:`stop` is called
    (from any thread; a source waiting for input wakes at once unless a ``sleep`` was given)
    or a limit of the source is reached. Iterating again resumes where the last iteration
    stopped, and a stopped source stays stopped. :attr:`report` counts everything so far.
    Subclasses store ``clock`` and ``sleep`` (None: wait on the stop) and wait with
    :meth:`_wait`.
    """

    clock: Callable[[], float]
    sleep: Callable[[float], None] | None

    def __init__(self) -> None:
        self._stopped = threading.Event()
        self._report = LiveReport()

    @property
    def report(self) -> LiveReport:
        return self._report

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopped.is_set()

    def stop(self) -> None:
        """End the iteration (at its next event or wait), and any later one."""
        self._stopped.set()

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.sleep is None:
            self._stopped.wait(seconds)
        else:
            self.sleep(seconds)


def check_seconds(owner: str, name: str, value: float | None, *, zero: bool = False) -> None:
    """Refuse a duration that is not a finite number above 0 (or at least 0 with ``zero``).

    Raises
    ------
    InvalidParameterError
        Naming ``owner``, the setting and its value.
    """
    if value is None or (math.isfinite(value) and (value > 0 or (zero and value == 0))):
        return
    expected = "0 or more" if zero else "above 0"
    raise InvalidParameterError(f"{owner}: {name} must be {expected} seconds, got {value!r}")

"""Sources: where a stream's events come from.

:class:`CsvReplay` replays a CSV file oldest first, as fast as possible or in scaled real
time. Real files are untidy, and a replay says what it found instead of passing it on or
stopping halfway: a banner above the header, rows newest first, rows that do not parse, a
price that is not above 0, repeated or out-of-order times, gaps, and (for exchange exports)
the base and quote volumes swapped. Each bad row is skipped and counted in
:attr:`CsvReplay.report` with its line; only a file that cannot be read at all, or leaves no
event, is an error.
"""

from __future__ import annotations

import collections
import csv
import itertools
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from azuraforge.errors import DataFormatError, InvalidParameterError
from azuraforge.learn.datasets.csvfiles import read_records, utf8_text
from azuraforge.stream.base import MOST_SKIPPED, Event, Source, SourceReport
from azuraforge.stream.rows import (
    EventColumns,
    EventOrder,
    RowChecker,
    find_header,
    fits,
    mark_gap,
    newest_first,
    regular_step,
)


class CsvReplay(Source):
    """The rows of a CSV file as :class:`~azuraforge.stream.base.Event`, oldest first.

    The file is read and checked when first iterated (or when :attr:`report` is first read);
    iterating again replays it again.

    Parameters
    ----------
    path
        The CSV file: a header line of names, and above it any banner lines (skipped).
    time_column
        The column of event times: Unix seconds or milliseconds, or ISO dates and date-times
        (UTC unless they name a zone). Default: the first of
        :data:`~azuraforge.stream.rows.TIME_ALIASES` present.
    columns
        The columns to carry in each event's values. Default: every other column whose first
        row holds a number (a ``symbol`` column is left out); such a column that another row
        holds no number in (``NULL``) is left out of every event, and the report says so:
        a value nothing asked for does not make a bad row. Named columns must hold a number
        in every row (a row without one is skipped as unparseable).
    price_column
        A column whose values must be above 0 (a row with 0 or less is skipped), or None.
        Default ``"close"``, when the file has it.
    volume_pair
        ``(base, quote)`` volume columns of an exchange export (``("Volume BTC", "Volume
        USD")``): where ``quote ≈ base x price`` does not hold but the swapped pair does, the
        two are swapped back and counted as a fix. Needs ``price_column``.
    speed
        None: as fast as possible. Otherwise the replay's pace against real time: ``3600``
        replays an hour of event time a second, ``1`` in real time.
    clock, sleep
        The monotonic clock and sleep used for pacing (``time.monotonic``, ``time.sleep``).

    Raises
    ------
    InvalidParameterError
        On iteration, if ``speed`` is not above 0, or ``volume_pair`` comes without a price
        column.
    NotFoundError, DataFormatError
        On iteration, if the file cannot be read, has no header line, lacks a named column,
        or leaves no event.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "prices.csv"
    ...     _ = path.write_text("Exported by an exchange\\n"
    ...                         "date,symbol,close\\n"
    ...                         "2024-01-03,XYZ,11\\n2024-01-02,XYZ,10\\n2024-01-02,XYZ,10\\n"
    ...                         "2024-01-01,XYZ,-1\\n")
    ...     replay = CsvReplay(path)
    ...     events = list(replay)
    >>> [(event.when.date().isoformat(), event.values) for event in events]
    [('2024-01-02', {'close': 10.0}), ('2024-01-03', {'close': 11.0})]
    >>> for line in replay.report.lines():
    ...     print(line)
    2 events from 4 rows, 2024-01-02 00:00 to 2024-01-03 00:00 UTC
    skipped banner line(s) 1
    the file runs newest first: replayed oldest first
    skipped 1 row(s), non-positive price: line 6: close is -1, expected above 0
    skipped 1 row(s), duplicate: line 4: 2024-01-02 00:00:00 repeats the time of line 5
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        time_column: str | None = None,
        columns: Sequence[str] | None = None,
        price_column: str | None = "close",
        volume_pair: tuple[str, str] | None = None,
        speed: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.time_column = time_column
        self.columns = columns
        self.price_column = price_column
        self.volume_pair = volume_pair
        self.speed = speed
        self.clock = clock
        self.sleep = sleep
        self._read: tuple[list[Event], SourceReport] | None = None

    @property
    def report(self) -> SourceReport:
        return self._load()[1]

    def __iter__(self) -> Iterator[Event]:
        events, _ = self._load()
        if self.speed is None:
            yield from events
            return
        start, first = self.clock(), events[0].time
        for event in events:
            wait = start + (event.time - first) / self.speed - self.clock()
            if wait > 0:
                self.sleep(wait)
            yield event

    def _load(self) -> tuple[list[Event], SourceReport]:
        """The file's events and report, read once."""
        if self._read is None:
            self._check_settings()
            reading = _Reading(self)
            self._read = reading.events(), reading.report
        return self._read

    def _check_settings(self) -> None:
        if self.speed is not None and not (math.isfinite(self.speed) and self.speed > 0):
            raise InvalidParameterError(
                f"CsvReplay: speed must be above 0 (3600: an hour a second) or None (as fast "
                f"as possible), got {self.speed!r}"
            )
        self.event_columns().check("CsvReplay")

    def event_columns(self) -> EventColumns:
        """The replay's column settings, as every table source takes them."""
        return EventColumns(self.time_column, self.columns, self.price_column, self.volume_pair)


def header_of(
    path: Path, where: str, time_column: str | None = None, *, needs_rows: bool = False
) -> list[str]:
    """The column names of a CSV file as :class:`CsvReplay` finds its header, from the first
    64 KiB only (a check before a long replay starts); ``where`` names the file in errors.

    Raises
    ------
    DataFormatError
        If the file cannot be read, is not UTF-8 there (as the replay would find), no line
        there reads as a header, or (``needs_rows``: for a replay) no row follows it.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(_HEADER_BYTES)
    except OSError as e:
        raise DataFormatError(f"{where} cannot be read: {e.strerror or e}") from None
    if len(data) == _HEADER_BYTES:  # a cut line is no header, and may end inside a character
        data = data[: data.rfind(b"\n") + 1]
    lines = utf8_text(data, where).splitlines()
    rows = [[field.strip() for field in row] for row in csv.reader(lines) if row]
    header = find_header(rows, where, time_column)
    if needs_rows and header == len(rows) - 1:
        raise DataFormatError(
            f"{where} has a header and no row under it: its replay would leave no event; add "
            "its rows, or follow it (follow=true) to learn from rows as they are written"
        )
    return rows[header]


_HEADER_BYTES = 65536


class _Reading:
    """One pass over a replay's file: rows to checked events, and the report."""

    def __init__(self, replay: CsvReplay) -> None:
        self.replay = replay
        self.path = Path(replay.path)
        self.report = SourceReport()

    def events(self) -> list[Event]:
        rows, lines = read_records(self.path)
        header = find_header(rows, str(self.path), self.replay.time_column)
        self.report.banner_lines = lines[:header]
        names = rows[header]
        rows, lines = rows[header + 1 :], lines[header + 1 :]
        self.report.rows = len(rows)
        first = rows[0] if rows else []
        checker = RowChecker(
            self.replay.event_columns(), names, first, str(self.path), self.report, True
        )
        parsed = [
            event
            for row, line in zip(rows, lines, strict=True)
            if fits(names, row, self.report, line) and (event := checker.event(row, line))
        ]
        parsed = self._without_missing_columns(parsed, len(rows), len(checker.kept))
        events = self._ordered(parsed)
        if not events:
            found = "; ".join(self.report.lines()[1:]) or "the header has no data rows under it"
            raise DataFormatError(f"{self.path}: no event left of {len(rows):,} rows: {found}")
        events = self._with_gaps(events)
        self.report.events = len(events)
        self.report.first, self.report.last = events[0].time, events[-1].time
        return events

    def _without_missing_columns(
        self, events: list[Event], rows: int, carried: int
    ) -> list[Event]:
        """The events without the columns nobody named that more than :data:`MOST_SKIPPED`
        of the rows lack (two exports stacked, one without the column); the rows lacking
        a column fewer rows lack are skipped instead, and so are those lacking any when no
        column would be left."""
        lacking = self.report.left_out
        rare = [c for c, n in lacking.items() if n <= MOST_SKIPPED * rows]
        if len(lacking) == carried:
            rare = list(lacking)
        for column in rare:
            self.report.skipped_instead(column)
        events = [event for event in events if all(c in event.values for c in rare)]
        for event in events:
            for column in self.report.left_out:
                event.values.pop(column, None)
        return events

    def _ordered(self, events: list[Event]) -> list[Event]:
        """Oldest first: reversed when most steps go back in time; then every event not
        after the one before it is skipped (a duplicate time or out of order)."""
        if newest_first([event.time for event in events]):
            events = events[::-1]
            self.report.newest_first = True
        order = EventOrder(self.report)
        return [event for event in events if order.follows(event, f"line {event.line}")]

    def _with_gaps(self, events: list[Event]) -> list[Event]:
        """The events with ``missing_before`` set, and the gaps counted in the report."""
        if len(events) < 2:
            return events
        steps = _steps(events)
        regular = regular_step(collections.Counter(steps))
        self.report.step, self.report.largest_gap = regular, max(steps)
        return [events[0]] + [
            mark_gap(self.report, event, step, regular)
            for event, step in zip(events[1:], steps, strict=True)
        ]


def _steps(events: list[Event]) -> list[float]:
    """Seconds from each event to the next."""
    return [later.time - earlier.time for earlier, later in itertools.pairwise(events)]

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
import datetime
import itertools
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from azuraforge.errors import DataFormatError, InvalidParameterError, shorten
from azuraforge.learn.datasets.csvfiles import column_key, read_records
from azuraforge.stream.base import Event, Source, SourceReport

TIME_ALIASES = ("unix", "timestamp", "time", "datetime", "date")
"""Column names read as the event time when ``time_column`` is not given, in this order."""
MILLISECONDS_FROM = 1e11
"""A Unix time above this is in milliseconds (1e11 seconds is the year 5138)."""
GAP_FACTOR = 1.5
"""A step longer than this many regular steps is a gap."""
SWAP_TOLERANCE = 0.5
"""Volumes are swapped when quote ≈ base x price fails and base ≈ quote x price holds, each
within this relative difference."""


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
        (UTC unless they name a zone). Default: the first of :data:`TIME_ALIASES` present.
    columns
        The columns to carry in each event's values. Default: every other column whose first
        row holds a number (a ``symbol`` column is left out).
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
    2 events from 4 rows
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
        if self.volume_pair is not None and self.price_column is None:
            raise InvalidParameterError(
                "CsvReplay: volume_pair needs price_column (quote volume = base volume x price)"
            )


class _Reading:
    """One pass over a replay's file: rows to checked events, and the report."""

    def __init__(self, replay: CsvReplay) -> None:
        self.replay = replay
        self.path = Path(replay.path)
        self.report = SourceReport()

    def events(self) -> list[Event]:
        rows, lines = read_records(self.path)
        header = self._header(rows, lines)
        names = rows[header]
        rows, lines = rows[header + 1 :], lines[header + 1 :]
        self.report.rows = len(rows)
        time_index = self._time_index(names)
        kept = self._value_indexes(names, time_index, rows)
        self.price = self._price_name(list(kept))
        self.volumes = self._volume_names(list(kept))
        parsed = [
            event
            for row, line in zip(rows, lines, strict=True)
            if (event := self._event(row, line, names, time_index, kept)) is not None
        ]
        events = self._ordered(parsed)
        if not events:
            raise DataFormatError(
                f"{self.path}: no event left of {len(rows):,} rows; "
                + "; ".join(self.report.lines()[1:])
            )
        events = self._with_gaps(events)
        self.report.events = len(events)
        return events

    def _header(self, rows: list[list[str]], lines: list[int]) -> int:
        """The index of the header row: the first of two or more fields none of them a number.
        The rows above it are banner lines."""
        for index, row in enumerate(rows):
            if len(row) > 1 and not any(_number(field) is not None for field in row):
                self.report.banner_lines = lines[:index]
                return index
        raise DataFormatError(
            f"{self.path}: no header line (a line of column names, such as "
            "'time,open,high,low,close'); add one above the rows"
        )

    def _time_index(self, names: list[str]) -> int:
        wanted = (self.replay.time_column,) if self.replay.time_column else TIME_ALIASES
        for alias in wanted:
            for index, name in enumerate(names):
                if column_key(name) == column_key(alias):
                    return index
        named = (
            f"{shorten(wanted[0], quoted=True)} (time_column)"
            if self.replay.time_column
            else f"one of {', '.join(wanted)}"
        )
        raise DataFormatError(
            f"{self.path}: no column {named} for the event times; the columns are "
            f"{', '.join(names)}; name the time column with time_column=NAME"
        )

    def _value_indexes(
        self, names: list[str], time_index: int, rows: list[list[str]]
    ) -> dict[str, int]:
        """The columns carried in events, by name: their indexes."""
        if self.replay.columns is not None:
            found = [self._find(names, name, "columns") for name in self.replay.columns]
            return {name: names.index(name) for name in found}
        first = rows[0] if rows else []
        return {
            name: index
            for index, name in enumerate(names)
            if index != time_index and index < len(first) and _number(first[index]) is not None
        }

    def _event(
        self, row: list[str], line: int, names: list[str], time_index: int, kept: dict[str, int]
    ) -> Event | None:
        """The row as an event, or None (the row skipped and reported)."""
        if len(row) != len(names):
            self.report.skip("wrong width", f"line {line}: {len(row)} fields, {len(names)} named")
            return None
        when = _time(row[time_index])
        if when is None:
            problem = f"time {shorten(row[time_index], quoted=True)} is not a Unix or ISO time"
            self.report.skip("unparseable", f"line {line}: {problem}")
            return None
        values = {}
        for name, index in kept.items():
            value = _number(row[index])
            if value is None:
                problem = f"{name} is {shorten(row[index], quoted=True)}, expected a number"
                self.report.skip("unparseable", f"line {line}: {problem}")
                return None
            values[name] = value
        if self.price is not None and values[self.price] <= 0:
            problem = f"{self.price} is {values[self.price]:g}, expected above 0"
            self.report.skip("non-positive price", f"line {line}: {problem}")
            return None
        if self.volumes is not None:
            self._fix_volumes(values, *self.volumes)
        return Event(when, values, line)

    def _price_name(self, kept: list[str]) -> str | None:
        """The carried column of ``price_column``; None without one (the default ``close``
        may be absent, a named one may not)."""
        wanted = self.replay.price_column
        if wanted is None:
            return None
        if wanted == "close" and self.replay.volume_pair is None:
            return next((name for name in kept if column_key(name) == "close"), None)
        return self._find(kept, wanted, "price_column")

    def _volume_names(self, kept: list[str]) -> tuple[str, str] | None:
        pair = self.replay.volume_pair
        if pair is None:
            return None
        return self._find(kept, pair[0], "volume_pair"), self._find(kept, pair[1], "volume_pair")

    def _find(self, names: list[str], wanted: str, setting: str) -> str:
        """The name among ``names`` that reads as ``wanted`` (case, spaces and underscores
        aside)."""
        for name in names:
            if column_key(name) == column_key(wanted):
                return name
        raise DataFormatError(
            f"{self.path}: no column {wanted!r} (named in {setting}) among {', '.join(names)}"
        )

    def _fix_volumes(self, values: dict[str, float], base: str, quote: str) -> None:
        """Swap a row's volumes back when they read the wrong way round."""
        price = values[self.price or ""]
        if _close(values[quote], values[base] * price) or not _close(
            values[base], values[quote] * price
        ):
            return
        values[base], values[quote] = values[quote], values[base]
        self.report.fix(f"{base} and {quote} swapped")

    def _ordered(self, events: list[Event]) -> list[Event]:
        """Oldest first: reversed when most steps go back in time; then every event not
        after the one before it is skipped (a duplicate time or out of order)."""
        steps = _steps(events)
        if sum(step < 0 for step in steps) > sum(step > 0 for step in steps):
            events = events[::-1]
            self.report.newest_first = True
        ordered: list[Event] = []
        for event in events:
            if ordered and event.time <= ordered[-1].time:
                last = ordered[-1]
                reason = "duplicate" if event.time == last.time else "out of order"
                relation = "repeats the time of" if reason == "duplicate" else "is before"
                self.report.skip(
                    reason, f"line {event.line}: {_shown(event.time)} {relation} line {last.line}"
                )
                continue
            ordered.append(event)
        return ordered

    def _with_gaps(self, events: list[Event]) -> list[Event]:
        """The events with ``missing_before`` set, and the gaps counted in the report."""
        if len(events) < 2:
            return events
        steps = _steps(events)
        counts = collections.Counter(steps)
        regular = min(counts, key=lambda step: (-counts[step], step))  # the commonest, shortest
        self.report.step, self.report.largest_gap = regular, max(steps)
        marked = [events[0]]
        for event, step in zip(events[1:], steps, strict=True):
            missing = round(step / regular) - 1 if step > GAP_FACTOR * regular else 0
            if missing:
                self.report.gaps += 1
                self.report.missing += missing
                event = Event(event.time, event.values, event.line, missing)
            marked.append(event)
        return marked


def _steps(events: list[Event]) -> list[float]:
    """Seconds from each event to the next."""
    return [later.time - earlier.time for earlier, later in itertools.pairwise(events)]


def _number(text: str) -> float | None:
    """The finite number ``text`` reads as, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _time(text: str) -> float | None:
    """Unix seconds of a Unix time (seconds or milliseconds) or an ISO date or date-time."""
    number = _number(text)
    if number is not None:
        return number / 1000 if number > MILLISECONDS_FROM else number
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def _close(value: float, expected: float) -> bool:
    return abs(value - expected) <= SWAP_TOLERANCE * abs(expected)


def _shown(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")

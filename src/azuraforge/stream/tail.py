"""Following a CSV file as rows are appended to it: ``tail -F`` for a stream.

:class:`FileTail` reads the header, then yields an event for each complete line as it is
written; a last line without its newline waits until it is finished. Rows are checked as a
replay checks them (:mod:`azuraforge.stream.rows`): a bad row is skipped and counted, never
raised. A file replaced (log rotation) or truncated is read again from its start, and the
report says so.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from azuraforge.errors import DataFormatError, NotFoundError, shorten
from azuraforge.stream.base import Event, SourceReport
from azuraforge.stream.live import LiveReport, LiveSource, check_seconds
from azuraforge.stream.rows import EventColumns, EventOrder, RowChecker, fits, is_header

CHUNK = 1 << 16
"""Bytes read from the file at a time."""


class FileTail(LiveSource):
    """The rows appended to a growing CSV file, as :class:`~azuraforge.stream.base.Event`.

    The file holds a header line (banner lines above it are skipped), then rows oldest first,
    appended over time. Each complete line becomes an event, or is skipped and counted in
    :attr:`report` as :class:`~azuraforge.stream.sources.CsvReplay` skips it (unparseable,
    non-positive price, wrong width, duplicate time, out of order). Gaps are marked against
    the commonest of the latest steps. When the file is replaced by another (rotation) or
    shrinks, it is read again from its start (with its own header) and the report says so;
    times must still follow the last event. Each line is one row: a quoted field may not span
    lines.

    Parameters
    ----------
    path
        The CSV file. It must exist when iteration starts.
    time_column, columns, price_column, volume_pair
        Which columns make an event, as for :class:`~azuraforge.stream.sources.CsvReplay`.
    poll_interval
        Seconds between looks at the file while nothing new is there.
    from_start
        True: the rows already in the file first, then those appended. False: only the rows
        appended after iteration starts (the header is still read, and new rows must follow
        the time of the last row already there).
    idle_timeout
        End the iteration after this many seconds without a new line (0: read what is
        there, then end); None: follow until :meth:`stop`.
    clock, sleep
        The monotonic clock, and the wait between looks (None: a wait that :meth:`stop`
        interrupts).

    Raises
    ------
    InvalidParameterError
        If ``poll_interval`` is not above 0, ``idle_timeout`` is below 0, or ``volume_pair``
        comes without a price column.
    NotFoundError
        On iteration, if there is no such file.
    DataFormatError
        On iteration, if a row of numbers comes before any header line, or a column named
        in the settings is not in the header.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "prices.csv"
    ...     _ = path.write_text("time,close\\n2024-01-01,10\\n2024-01-02,0\\n2024-01-03,11\\n")
    ...     tail = FileTail(path, idle_timeout=0)
    ...     first = [event.values for event in tail]
    ...     with path.open("a") as file:
    ...         _ = file.write("2024-01-04,12\\n2024-01-05,1")  # the last line is unfinished
    ...     second = [event.values for event in tail]  # iterating again resumes
    >>> first, second
    ([{'close': 10.0}, {'close': 11.0}], [{'close': 12.0}])
    >>> print(*tail.report.lines(), sep="\\n")
    3 events from 4 rows
    skipped 1 row(s), non-positive price: line 3: close is 0, expected above 0
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        time_column: str | None = None,
        columns: Sequence[str] | None = None,
        price_column: str | None = "close",
        volume_pair: tuple[str, str] | None = None,
        poll_interval: float = 1.0,
        from_start: bool = True,
        idle_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.time_column = time_column
        self.columns = columns
        self.price_column = price_column
        self.volume_pair = volume_pair
        self.poll_interval = poll_interval
        self.from_start = from_start
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.sleep = sleep
        self.event_columns().check("FileTail")
        check_seconds("FileTail", "poll_interval", poll_interval)
        check_seconds("FileTail", "idle_timeout", idle_timeout, zero=True)
        self._follower: _Follower | None = None

    def event_columns(self) -> EventColumns:
        """The tail's column settings, as every table source takes them."""
        return EventColumns(self.time_column, self.columns, self.price_column, self.volume_pair)

    def __iter__(self) -> Iterator[Event]:
        follower = self._follower or _Follower(self, self.report)
        follower.open()
        try:
            if self._follower is None:  # the first iteration
                if not self.from_start:
                    follower.skip_existing()
                self._follower = follower
            yield from self._follow(follower)
        finally:
            follower.close()  # open only while iterating

    def _follow(self, follower: _Follower) -> Iterator[Event]:
        idle_since = self.clock()
        while not self._stopped.is_set():
            for event in follower.events():
                yield event
                if self._stopped.is_set():
                    return
            if follower.read_any:
                idle_since = self.clock()  # and look again at once: more may have come
                continue
            if self.idle_timeout is not None and self.clock() - idle_since >= self.idle_timeout:
                return
            self._wait(self.poll_interval)


class _Follower:
    """The followed file: its bytes to lines, its lines to events, across reopenings."""

    def __init__(self, tail: FileTail, report: LiveReport) -> None:
        self.path = Path(tail.path)
        self.settings = tail.event_columns()
        self.report = report
        self.order = EventOrder(report)
        self.handle: io.FileIO | None = None
        self.read_any = False
        self._restart()

    def _restart(self) -> None:
        """Forget the file read so far: the next one opened is read from its start."""
        self.identity: tuple[int, int] | None = None
        self.offset = 0  # bytes read into the buffer
        self.buffer, self.start, self.line = b"", 0, 0
        self.names: list[str] | None = None
        self.checker: RowChecker | None = None

    def open(self) -> None:
        """Open the file where reading stopped, or at its start if it was replaced or
        truncated meanwhile."""
        try:
            handle = open(self.path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as e:
            raise NotFoundError(
                f"{self.path}: no such file to tail; create it (a header line first) or "
                "correct the path"
            ) from e
        stat = os.fstat(handle.fileno())
        if self.identity is not None:
            changed = self._change(stat)
            if changed is not None:
                self.report.incident(*changed)
                self._restart()
        self.identity = (stat.st_dev, stat.st_ino)
        handle.seek(self.offset)
        self.handle = handle

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def events(self) -> Iterator[Event]:
        """An event for each complete line written since the last call."""
        self.read_any = False
        while (raw := self._next_line()) is not None:
            self.read_any = True
            event = self._take(raw)
            if event is not None:
                self.report.events += 1
                yield event

    def skip_existing(self) -> None:
        """Pass over the rows already in the file: read its header, and take its last
        complete row as the event new rows must follow, yielding and counting nothing."""
        while self.names is None and (raw := self._next_line()) is not None:
            self._take(raw)
        last = None
        while (raw := self._next_line()) is not None:
            last = raw, self.line
        if self.names is not None and last is not None:
            self._seed(*last)

    def _seed(self, raw: bytes, line: int) -> None:
        row = _fields(raw, line)
        if self.names is None or row is None or len(row) != len(self.names):
            return
        checker = RowChecker(self.settings, self.names, row, str(self.path), SourceReport())
        event = checker.event(row, line)
        checker.report = self.report  # the rows passed over are not counted
        self.checker = checker
        if event is not None:
            self.order.seed(event, f"line {line}")

    def _next_line(self) -> bytes | None:
        """The next complete line, or None until more is written."""
        while (end := self.buffer.find(b"\n", self.start)) < 0:
            if not self._read_more():
                return None
        raw, self.start = self.buffer[self.start : end], end + 1
        self.line += 1
        return raw

    def _read_more(self) -> bool:
        """Read what was written since; at the end of a replaced or truncated file, go on
        with the new one. False when there is nothing more for now."""
        assert self.handle is not None, "FileTail reads only while iterating"
        chunk = self.handle.read(CHUNK)
        if chunk:
            self.buffer = self.buffer[self.start :] + chunk
            self.start, self.offset = 0, self.offset + len(chunk)
            return True
        try:
            changed = self._change(os.stat(self.path))
        except OSError:
            return False  # moved away, and nothing in its place yet
        if changed is None:
            return False
        if changed[0] == "file replaced" and self.start < len(self.buffer):
            self.buffer += b"\n"  # the old file is complete: its last line needs no newline
            return True
        self.report.incident(*changed)
        self.close()
        self._restart()
        self.open()
        return True

    def _change(self, stat: os.stat_result) -> tuple[str, str] | None:
        """``(kind, message)`` when the file now at the path is another one or shorter than
        what was read of it."""
        if (stat.st_dev, stat.st_ino) != self.identity:
            return "file replaced", (
                f"after line {self.line:,}: {self.path} was replaced; read the new file from "
                "its start"
            )
        if stat.st_size < self.offset:
            return "file truncated", (
                f"after line {self.line:,}: {self.path} shrank to {stat.st_size:,} bytes from "
                f"{self.offset:,}; read it again from its start"
            )
        return None

    def _take(self, raw: bytes) -> Event | None:
        """One line: a banner or the header before the header, then a row to an event."""
        row = _fields(raw, self.line)
        if row is None:
            self._skip_undecodable(raw)
            return None
        if not row or (len(row) == 1 and not row[0]):
            return None  # a blank line
        if self.names is None:
            self._header(row)
            return None
        self.report.rows += 1
        if not fits(self.names, row, self.report, self.line):
            return None
        if self.checker is None:
            self.checker = RowChecker(self.settings, self.names, row, str(self.path), self.report)
        event = self.checker.event(row, self.line)
        return None if event is None else self.order.admit(event, f"line {self.line}")

    def _header(self, row: list[str]) -> None:
        if is_header(row):
            self.names = row
        elif len(row) > 1:
            raise DataFormatError(
                f"{self.path}, line {self.line}: a row of values before any header line; add "
                "a line of column names (such as 'time,open,high,low,close') at the top"
            )
        else:
            self.report.banner_lines.append(self.line)

    def _skip_undecodable(self, raw: bytes) -> None:
        if self.names is not None:
            self.report.rows += 1
        problem = f"not a line of UTF-8 CSV text ({shorten(repr(raw), 40)})"
        self.report.skip("unparseable", f"line {self.line}: {problem}")


def _fields(raw: bytes, line: int) -> list[str] | None:
    """A line's CSV fields, stripped; None if it is not UTF-8 text or not CSV."""
    try:
        text = raw.decode("utf-8").removesuffix("\r")
        row = next(csv.reader([text.removeprefix("\ufeff") if line == 1 else text]), [])
    except (UnicodeDecodeError, csv.Error):
        return None
    return [field.strip() for field in row]

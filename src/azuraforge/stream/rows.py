"""The checks every source of tables shares, so that a replay, a tail and a poller read the
same rows the same way: a row to an :class:`~azuraforge.stream.base.Event` (its time, its
values, a price above 0, volumes the wrong way round) and the order of events (a repeated or
earlier time, gaps). A bad row is skipped and counted in the source's
:class:`~azuraforge.stream.base.SourceReport` with its place, never raised. A third-party
source reading tables can use them too.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from azuraforge.errors import DataFormatError, InvalidParameterError, shorten
from azuraforge.learn.datasets.csvfiles import column_key, quarter_as_month
from azuraforge.stream.base import Event, SourceReport

TIME_ALIASES = ("unix", "timestamp", "time", "datetime", "date")
"""Column names read as the event time when ``time_column`` is not given, in this order."""
_MONTH = re.compile(r"\d{4}-\d{2}")
MILLISECONDS_FROM = 1e11
"""A Unix time above this is in milliseconds (1e11 seconds is the year 5138)."""
GAP_FACTOR = 1.5
"""A step longer than this many regular steps is a gap."""
SWAP_TOLERANCE = 0.5
"""Volumes are swapped when quote ≈ base x price fails and base ≈ quote x price holds, each
within this relative difference."""
STEP_WINDOW = 1_000
"""A live source's regular step is the commonest of this many latest steps."""


@dataclass(frozen=True)
class EventColumns:
    """Which columns of a table make an event: the settings every table source takes.

    Attributes
    ----------
    time_column
        The column of event times: Unix seconds or milliseconds, or ISO dates and date-times
        (UTC unless they name a zone). None: the first of :data:`TIME_ALIASES` present.
    columns
        The columns to carry in each event's values. None: every other column whose first
        row holds a number.
    price_column
        A column whose values must be above 0 (a row with 0 or less is skipped), or None.
        The default ``"close"`` is checked only when the table has it.
    volume_pair
        ``(base, quote)`` volume columns: where ``quote ≈ base x price`` fails but the
        swapped pair holds, the two are swapped back and counted as a fix.
    """

    time_column: str | None = None
    columns: Sequence[str] | None = None
    price_column: str | None = "close"
    volume_pair: tuple[str, str] | None = None

    def check(self, owner: str) -> None:
        """Refuse settings that cannot work together, naming ``owner`` (the source's class).

        Raises
        ------
        InvalidParameterError
            If ``volume_pair`` comes without a price column.
        """
        if self.volume_pair is not None and self.price_column is None:
            raise InvalidParameterError(
                f"{owner}: volume_pair needs price_column (quote volume = base volume x price)"
            )


class RowChecker:
    """One table's rows to checked events.

    Parameters
    ----------
    columns
        Which columns make an event.
    names
        The table's column names (its header, or the keys of its first record); each row
        holds one value per name, in this order.
    first
        The table's first row: without ``columns.columns``, the columns carried are those
        other than the time that hold a number in it.
    where
        Where the table comes from (a path, a URL), for error messages.
    report
        Where skipped rows and fixes are counted.
    whole_table
        True when every row is read before any event is used (a replay): a column carried
        only because its first value was a number, and not the price or a volume, then
        does not make a row with another value there a bad row; the row keeps its other
        values and the column is counted in ``report.left_out``, for the caller to drop from
        every event. False (a live source): such a row is skipped, as any unreadable row.

    Raises
    ------
    DataFormatError
        If the time column, or a column named in ``columns``, is not among ``names``.

    Examples
    --------
    >>> report = SourceReport()
    >>> first = ["2024-01-01", "10"]
    >>> checker = RowChecker(EventColumns(), ["time", "close"], first, "prices.csv", report)
    >>> checker.event(["2024-01-02", 10.5], line=3)
    Event(time=1704153600.0, values={'close': 10.5}, line=3, missing_before=0)
    >>> checker.event(["soon", "11"], line=4) is None
    True
    >>> report.examples
    {'unparseable': ["line 4: time 'soon' is not a Unix or ISO time"]}
    """

    def __init__(
        self,
        columns: EventColumns,
        names: Sequence[str],
        first: Sequence[object],
        where: str,
        report: SourceReport,
        whole_table: bool = False,
    ) -> None:
        self.settings, self.where, self.report = columns, where, report
        self.time = self._time_index(names)
        self.kept = self._kept(names, first)
        self.price = self._price_name()
        self.volumes = self._volume_names()
        needed = {self.price, *(self.volumes or ())}
        guessed = whole_table and self.settings.columns is None
        self.optional = {name for name in self.kept if guessed and name not in needed}

    def event(self, row: Sequence[object], line: int = 0, place: str = "") -> Event | None:
        """The row (one value per name) as an event, or None when it is skipped (and counted
        in the report).

        ``line`` is stored on the event; ``place`` names the row in messages (default
        ``"line {line}"``).
        """
        raw = row[self.time]
        read = read_time(raw)
        if read is None:
            problem = "no time" if raw is None else f"time {_shown(raw)} is not a Unix or ISO time"
            return self._skip("unparseable", problem, line, place)
        when, written = read
        formats = self.report.time_formats
        formats[written] = formats.get(written, 0) + 1
        values = {}
        for name, index in self.kept.items():
            value = read_number(row[index])
            if value is None:
                problem = f"{name} is {_shown(row[index])}, expected a number"
                if name not in self.optional:
                    return self._skip("unparseable", problem, line, place)
                self.report.leave_out(name, f"{place or f'line {line}'}: {problem}")
                continue
            values[name] = value
        if self.price is not None and values[self.price] <= 0:
            problem = f"{self.price} is {values[self.price]:g}, expected above 0"
            return self._skip("non-positive price", problem, line, place)
        if self.volumes is not None:
            self._fix_volumes(values, *self.volumes)
        return Event(when, values, line)

    def _skip(self, reason: str, problem: str, line: int, place: str) -> Event | None:
        """Count the row skipped; None, the event it does not make."""
        self.report.skip(reason, f"{place or f'line {line}'}: {problem}")
        return None

    def _time_index(self, names: Sequence[str]) -> int:
        wanted = (self.settings.time_column,) if self.settings.time_column else TIME_ALIASES
        for alias in wanted:
            for index, name in enumerate(names):
                if column_key(name) == column_key(alias):
                    return index
        named = (
            f"{shorten(wanted[0], quoted=True)} (time_column)"
            if self.settings.time_column
            else f"one of {', '.join(wanted)}"
        )
        raise DataFormatError(
            f"{self.where}: no column {named} for the event times; the columns are "
            f"{', '.join(names)}; name the time column with time_column=NAME (the CLI's "
            "--time-column NAME)"
        )

    def _kept(self, names: Sequence[str], first: Sequence[object]) -> dict[str, int]:
        """The columns carried in events, by name: their indexes. Without ``columns``, those
        whose first value is a number, and the price and volume columns whatever it is."""
        if self.settings.columns is not None:
            found = [self._find(names, name, "columns") for name in self.settings.columns]
            return {name: names.index(name) for name in found}
        named = self._price_and_volume_keys()
        return {
            name: index
            for index, name in enumerate(names)
            if index != self.time
            and (
                column_key(name) in named  # a bad first value is a bad row, not a lost column
                or (index < len(first) and read_number(first[index]) is not None)
            )
        }

    def _price_and_volume_keys(self) -> set[str]:
        """The keys (:func:`column_key`) of the price and volume columns the settings name."""
        return {
            column_key(n)
            for n in (self.settings.price_column, *(self.settings.volume_pair or ()))
            if n
        }

    def _price_name(self) -> str | None:
        """The carried column of ``price_column``; None without one (the default ``close``
        may be absent, a named one may not)."""
        wanted = self.settings.price_column
        if wanted is None:
            return None
        if wanted == "close" and self.settings.volume_pair is None:
            return next((name for name in self.kept if column_key(name) == "close"), None)
        return self._find(list(self.kept), wanted, "price_column")

    def _volume_names(self) -> tuple[str, str] | None:
        pair = self.settings.volume_pair
        if pair is None:
            return None
        kept = list(self.kept)
        return self._find(kept, pair[0], "volume_pair"), self._find(kept, pair[1], "volume_pair")

    def _find(self, names: Sequence[str], wanted: str, setting: str) -> str:
        """The name among ``names`` that reads as ``wanted`` (case, spaces and underscores
        aside)."""
        for name in names:
            if column_key(name) == column_key(wanted):
                return name
        raise DataFormatError(
            f"{self.where}: no column {wanted!r} (named in {setting}) among {', '.join(names)}"
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


def fits(
    names: Sequence[str], row: Sequence[str], report: SourceReport, line: int = 0, place: str = ""
) -> bool:
    """Whether a CSV row has one field per name; if not, it is skipped as ``"wrong width"``
    and counted in ``report`` (``place`` names it, ``"line {line}"`` by default)."""
    if len(row) == len(names):
        return True
    where = place or f"line {line}"
    report.skip("wrong width", f"{where}: {len(row)} fields, {len(names)} named")
    return False


def is_header(row: Sequence[str]) -> bool:
    """Whether a CSV row reads as a header: two or more fields, none of them a number."""
    return len(row) > 1 and not any(read_number(field) is not None for field in row)


def find_header(rows: Sequence[Sequence[str]], where: str, time_column: str | None = None) -> int:
    """The index of the header among ``rows`` (the rows above it are banner lines): the
    first row that reads as a header (:func:`is_header`), names ``time_column`` when one is
    given (case, spaces and underscores aside), has as many fields as most of the
    :data:`HEADER_LOOKAHEAD` rows below it, and stands above a row of data. A banner line is
    told by its shape, whatever its width: ``Created on 12-30-2020,https://…`` above
    ``unix,date,close`` has two fields where the rows below have three, and a banner of as
    many fields stands above the header, not above data.

    Examples
    --------
    >>> rows = [["Created on 12-30-2020", "https://example.com"], ["unix", "date", "close"],
    ...         ["1609286400", "2020-12-30", "28000"]]
    >>> find_header(rows, "prices.csv")
    1

    Raises
    ------
    DataFormatError
        If no row reads as a header (with ``time_column``: none names it).
    """
    candidates = _header_candidates(rows, time_column)
    # Above data (not above another line of names, as a banner above the header is), else
    # the first: a header whose first row holds a bad value ('2024-01-02,x').
    for index in candidates:
        if index + 1 == len(rows) or not is_header(rows[index + 1]):
            return index
    if candidates:
        return candidates[0]
    named = f" naming the time column {time_column!r}" if time_column else ""
    raise DataFormatError(
        f"{where}: no header line{named} (a line of column names, such as "
        "'time,open,high,low,close', above rows of as many fields); add one above the rows"
    )


def _header_candidates(rows: Sequence[Sequence[str]], time_column: str | None) -> list[int]:
    """The indexes of the rows that read as a header, name ``time_column`` when one is given
    and are as wide as most rows below them (see :func:`find_header`)."""
    wanted = None if time_column is None else column_key(time_column)
    return [
        index
        for index, row in enumerate(rows)
        if is_header(row)
        and (wanted is None or wanted in map(column_key, row))
        and _as_wide_as_below(rows, index)
    ]


HEADER_LOOKAHEAD = 10
"""Rows below a header candidate whose commonest width it must have."""


def _as_wide_as_below(rows: Sequence[Sequence[str]], index: int) -> bool:
    below = collections.Counter(len(r) for r in rows[index + 1 : index + 1 + HEADER_LOOKAHEAD])
    return not below or below.most_common(1)[0][0] == len(rows[index])


class EventOrder:
    """Events one at a time, oldest first: an event whose time repeats the last one's is
    skipped as a ``"duplicate"``, one before it as ``"out of order"`` (counted in ``report``);
    :meth:`admit` also marks gaps against the commonest of the latest :data:`STEP_WINDOW`
    steps, as a live source must (a replay knows all its steps and marks gaps itself).

    Examples
    --------
    >>> order = EventOrder(SourceReport())
    >>> for number, time in enumerate([0, 60, 120, 120, 60, 300], start=1):
    ...     event = order.admit(Event(time, {}), f"record {number}")
    ...     if event is not None:
    ...         print(event.time, event.missing_before)
    0 0
    60 0
    120 0
    300 2
    >>> order.report.examples["out of order"]
    ['record 5: 1970-01-01 00:01:00 is before record 3']
    """

    def __init__(self, report: SourceReport, *, window: int = STEP_WINDOW) -> None:
        self.report = report
        self.last: Event | None = None
        self.last_place = ""
        self._steps: collections.deque[float] = collections.deque(maxlen=window)
        self._counts: collections.Counter[float] = collections.Counter()

    def follows(self, event: Event, place: str) -> bool:
        """Whether ``event`` comes after the last event that did (which it then becomes);
        if not, it is counted as skipped. ``place`` names it in messages."""
        last = self.last
        if last is not None and event.time <= last.time:
            reason = "duplicate" if event.time == last.time else "out of order"
            relation = "repeats the time of" if reason == "duplicate" else "is before"
            when = shown_time(event.time)
            self.report.skip(reason, f"{place}: {when} {relation} {self.last_place}")
            return False
        self.seed(event, place)
        return True

    def admit(self, event: Event, place: str) -> Event | None:
        """``event`` with its gap marked if it comes after the last one; None otherwise."""
        last = self.last
        if not self.follows(event, place):
            return None
        if last is None:
            return event
        step = event.time - last.time
        regular = regular_step(self._counts) if self._counts else step
        self._remember(step)
        self.report.step = regular_step(self._counts)
        self.report.largest_gap = max(self.report.largest_gap, step)
        return mark_gap(self.report, event, step, regular)

    def seed(self, event: Event, place: str) -> None:
        """Take ``event`` as the last one without checking or counting it (an event read
        before the source started yielding)."""
        self.last, self.last_place = event, place

    def _remember(self, step: float) -> None:
        if len(self._steps) == self._steps.maxlen:
            oldest = self._steps[0]
            self._counts[oldest] -= 1
            if not self._counts[oldest]:
                del self._counts[oldest]
        self._steps.append(step)
        self._counts[step] += 1


def newest_first(times: Sequence[float]) -> bool:
    """Whether times run newest first: more steps go back than forward."""
    steps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return sum(step < 0 for step in steps) > sum(step > 0 for step in steps)


def regular_step(counts: Mapping[float, int]) -> float:
    """The commonest step, the shortest of those as common."""
    return min(counts, key=lambda step: (-counts[step], step))


def mark_gap(report: SourceReport, event: Event, step: float, regular: float) -> Event:
    """``event`` with ``missing_before`` set when ``step`` (the time since the event before)
    is a gap against the ``regular`` step, and the gap counted in ``report``."""
    missing = round(step / regular) - 1 if step > GAP_FACTOR * regular else 0
    if not missing:
        return event
    report.gaps += 1
    report.missing += missing
    return dataclasses.replace(event, missing_before=missing)


def read_number(value: object) -> float | None:
    """The finite number ``value`` (a number, or text) reads as, or None (``True`` is not a
    number)."""
    if type(value) is not str and (not isinstance(value, int | float) or isinstance(value, bool)):
        return None  # NOTE: text first, by type: the check runs on every field of a replay
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def read_time(value: object) -> tuple[float, str] | None:
    """Unix seconds of a time, and how it was written: a Unix time (``"Unix seconds"``, or
    ``"Unix milliseconds"`` above :data:`MILLISECONDS_FROM`) or ``"ISO"``: a date or
    date-time (UTC unless it names a zone), a month (``2024-01``) or a quarter (``2024-Q1``,
    its first month). None if it is none of these. A bare year (``2024``) reads as a Unix
    time, as any number does.

    >>> read_time(1704067200000), read_time("2024-01-01T01:00+01:00"), read_time("2024-Q1")
    ((1704067200.0, 'Unix milliseconds'), (1704067200.0, 'ISO'), (1704067200.0, 'ISO'))
    """
    number = read_number(value)
    if number is not None:
        if number > MILLISECONDS_FROM:
            return number / 1000, "Unix milliseconds"
        return number, "Unix seconds"
    if not isinstance(value, str):
        return None
    parsed = _iso_time(value)
    if parsed is None:
        month = quarter_as_month(value)
        parsed = _iso_time(month + "-01") if _MONTH.fullmatch(month) else None
    return None if parsed is None else (parsed, "ISO")


def _iso_time(text: str) -> float | None:
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def shown_time(seconds: float) -> str:
    """Unix seconds as a UTC date-time in messages (``2024-01-01 07:00:00``)."""
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _shown(value: object) -> str:
    if value is None:
        return "missing"
    return shorten(value, quoted=True) if isinstance(value, str) else shorten(repr(value))


def _close(value: float, expected: float) -> bool:
    return abs(value - expected) <= SWAP_TOLERANCE * abs(expected)

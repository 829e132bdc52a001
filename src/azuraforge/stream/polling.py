"""Polling a URL for new rows: a price API, a sensor's status page.

:class:`HttpPoller` fetches a URL every ``interval`` seconds with the standard library's
``urllib`` and yields the records it has not seen yet as events, oldest first. A response
may hold JSON (an object, or a list of objects) or CSV text with a header. Rows are checked
as a replay checks them (:mod:`azuraforge.stream.rows`); a failed poll (an HTTP error, a
timeout, a body too large, one that does not parse) is counted in the report and tried again
at the next poll, and only a run of failures in a row ends the stream, with an error that
says what the last one was.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import http.client
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from azuraforge import __version__
from azuraforge.errors import (
    DataFormatError,
    InvalidParameterError,
    SourceUnavailableError,
    shorten,
)
from azuraforge.stream.base import Event
from azuraforge.stream.live import LiveSource, check_seconds
from azuraforge.stream.rows import (
    EventColumns,
    EventOrder,
    RowChecker,
    find_header,
    fits,
    newest_first,
)

MAX_BYTES = 1 << 20
"""The largest response read by default (1 MiB): a larger one is refused, not read."""
SEEN_KEPT = 100_000
"""How many records a poller remembers, to pass over those a later poll repeats."""
FORMATS = ("auto", "json", "csv")
"""What ``parse`` may name; ``"auto"`` goes by the response's content type, then its text."""

Parse = Callable[[bytes], Sequence[Mapping[str, Any]]]
"""A response body to its records (objects of named values), for a format of one's own."""


class _PollError(Exception):
    """A poll that failed, by kind (``"HTTP error"`` ...) and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class HttpPoller(LiveSource):
    """The new records of a URL polled every ``interval`` seconds, as events.

    Each poll fetches the URL (the first at once). The response holds JSON, an object or a
    list of objects (``[{"time": "2024-01-01T00:00", "close": 10.5}, ...]``), or CSV text
    with a header. A record already handled by an earlier poll is passed over without a
    word (an API returns the latest hundred candles each time); the others are checked as
    :class:`~azuraforge.stream.sources.CsvReplay` checks rows, and skipped and counted when
    bad (unparseable, non-positive price, a time repeated or before the last event: a
    revised candle counts as a duplicate). A response that runs newest first is taken
    oldest first. Gaps are marked against the commonest of the latest steps.

    A poll that fails (``"HTTP error"``, ``"timeout"``, ``"connection error"``, ``"too
    large"``, ``"bad response"``) is counted in :attr:`report` and tried again at the next
    poll; ``max_failures`` failures in a row raise :class:`~azuraforge.errors.
    SourceUnavailableError`.

    Parameters
    ----------
    url
        An ``http://`` or ``https://`` URL (redirects elsewhere are refused).
    interval
        Seconds from the start of one poll to the start of the next.
    parse
        ``"json"``, ``"csv"``, ``"auto"`` (by content type, else JSON when the body starts
        with ``{`` or ``[``), or a function from the body's bytes to its records.
    time_column, columns, price_column, volume_pair
        Which fields make an event, as for :class:`~azuraforge.stream.sources.CsvReplay`
        (the columns carried are those holding a number in the first record).
    timeout
        Seconds to wait for the server to connect or send.
    max_bytes
        The largest response read; a larger one is refused and counted as ``"too large"``.
    max_failures
        How many failed polls in a row end the stream with an error.
    max_polls
        End the iteration after this many polls in all; None: poll until :meth:`stop`.
    allow_redirect
        Whether a redirect to a URL may be followed (None: any http or https one); a refused
        redirect is a failed poll.
    clock, sleep
        The monotonic clock, and the wait between polls (None: a wait that :meth:`stop`
        interrupts).

    Raises
    ------
    InvalidParameterError
        If the URL is not http or https, ``parse`` is not a format or a function, or a
        duration or count is not above 0.
    SourceUnavailableError
        On iteration, after ``max_failures`` failed polls in a row.

    Examples
    --------
    Without a server to poll, ``parse`` shows what a body becomes (a poller reads JSON and
    CSV itself; a function is for other formats):

    >>> poller = HttpPoller("https://example.org/prices", parse=lambda body: [
    ...     {"time": t, "close": c} for t, c in json.loads(body)["rows"]])
    >>> poller.parse(b'{"rows": [[1704067200, 42000.5]]}')
    [{'time': 1704067200, 'close': 42000.5}]
    """

    def __init__(
        self,
        url: str,
        *,
        interval: float = 60.0,
        parse: str | Parse = "auto",
        time_column: str | None = None,
        columns: Sequence[str] | None = None,
        price_column: str | None = "close",
        volume_pair: tuple[str, str] | None = None,
        timeout: float = 10.0,
        max_bytes: int = MAX_BYTES,
        max_failures: int = 5,
        max_polls: int | None = None,
        allow_redirect: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.interval = interval
        self.parse = parse
        self.time_column = time_column
        self.columns = columns
        self.price_column = price_column
        self.volume_pair = volume_pair
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_failures = max_failures
        self.max_polls = max_polls
        self.clock = clock
        self.sleep = sleep
        self._check_settings()
        self._opener = urllib.request.build_opener(_HttpOnlyRedirects(allow_redirect))
        self._polls = self._failures = 0
        self._next_poll: float | None = None
        self._pending: collections.deque[Event] = collections.deque()
        self._seen = _Seen(SEEN_KEPT)
        self._order = EventOrder(self.report)
        self._kept: list[str] | None = None

    def event_columns(self) -> EventColumns:
        """The poller's column settings, as every table source takes them."""
        return EventColumns(self.time_column, self.columns, self.price_column, self.volume_pair)

    def __iter__(self) -> Iterator[Event]:
        while not self._stopped.is_set():
            if self._pending:
                yield self._pending.popleft()  # taken before it is given: none lost on a break
                continue
            if self.max_polls is not None and self._polls >= self.max_polls:
                return
            if self._next_poll is not None:
                self._wait(self._next_poll - self.clock())
                if self._stopped.is_set():
                    return
            self._next_poll = self.clock() + self.interval
            self._poll()

    def _check_settings(self) -> None:
        scheme = urllib.parse.urlsplit(self.url).scheme if isinstance(self.url, str) else ""
        if scheme not in ("http", "https"):
            raise InvalidParameterError(
                f"HttpPoller: url must start with http:// or https://, got {self.url!r}"
            )
        if not (callable(self.parse) or self.parse in FORMATS):
            raise InvalidParameterError(
                f"HttpPoller: parse must be one of {', '.join(FORMATS)} or a function from "
                f"bytes to records, got {self.parse!r}"
            )
        check_seconds("HttpPoller", "interval", self.interval)
        check_seconds("HttpPoller", "timeout", self.timeout)
        for name in ("max_bytes", "max_failures", "max_polls"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value > 0):
                raise InvalidParameterError(
                    f"HttpPoller: {name} must be a whole number above 0, got {value!r}"
                )
        self.event_columns().check("HttpPoller")

    def _poll(self) -> None:
        """Fetch the URL once: its new events go to the pending ones, a failure to the
        report (and the error, after too many in a row)."""
        self._polls += 1
        try:
            body, content_type = self._fetch()
            names, items = self._read(body, content_type)
            events = self._events(names, items)
        except _PollError as failure:
            self._failed(failure)
            return
        self._failures = 0
        self._pending.extend(events)

    def _failed(self, failure: _PollError) -> None:
        self._failures += 1
        message = f"poll {self._polls}: {failure}"
        self.report.incident(failure.kind, message)
        if self._failures >= self.max_failures:
            raise SourceUnavailableError(
                f"HttpPoller: {self.url} failed {self._failures} polls in a row (the last, "
                f"{message}); check the URL and the service, or allow more with max_failures"
            ) from failure.__cause__

    def _fetch(self) -> tuple[bytes, str]:
        """The response's body and content type."""
        request = urllib.request.Request(
            self.url, headers={"User-Agent": f"azuraforge/{__version__}", "Accept": _ACCEPT}
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return self._body(response), response.headers.get_content_type()
        except urllib.error.HTTPError as e:
            e.close()
            raise _PollError("HTTP error", f"HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = e.reason if isinstance(e, urllib.error.URLError) else e
            if isinstance(reason, TimeoutError):
                raise _PollError("timeout", f"no answer within {self.timeout:g} s") from e
            raise _PollError("connection error", f"{reason!s} ({type(reason).__name__})") from e

    def _body(self, response: http.client.HTTPResponse) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            size = f"declares {int(declared):,} bytes, more than max_bytes={self.max_bytes:,}"
            raise _PollError("too large", _refused(size))
        body = response.read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            size = f"holds more than max_bytes={self.max_bytes:,} bytes"
            raise _PollError("too large", _refused(size))
        return body

    def _read(self, body: bytes, content_type: str) -> tuple[list[str], list[tuple[str, Any]]]:
        """The response's column names, and each record or row with its place."""
        if callable(self.parse):
            try:
                records = self.parse(body)
            except Exception as e:  # the function is the user's: whatever it raises is told
                raise _PollError("bad response", f"parse raised {e!r}") from e
            return _objects(records, self._polls)
        try:
            if _format(self.parse, body, content_type) == "json":
                return _objects(_json(body), self._polls)
            return _csv(body, self._polls, self.url)
        except ValueError as e:  # the body is not what it should be
            raise _PollError("bad response", str(e)) from e

    def _events(self, names: list[str], items: list[tuple[str, Any]]) -> list[Event]:
        """The new events of one response, oldest first."""
        if not items:
            return []
        fresh = self._fresh(names, items)
        if newest_first([event.time for event, _ in fresh]):
            fresh.reverse()
            self.report.newest_first = True
        admitted = [
            admitted
            for event, place in fresh
            if (admitted := self._order.admit(event, place)) is not None
        ]
        self.report.events += len(admitted)
        return admitted

    def _fresh(self, names: list[str], items: list[tuple[str, Any]]) -> list[tuple[Event, str]]:
        """The events of the rows not seen in an earlier poll, with their places, in the
        response's order (a row that makes no event skipped and counted)."""
        checker = self._checker(names, next((r for _, r in items if isinstance(r, list)), []))
        fresh = []
        for place, row in items:
            if not self._seen.add(hash(repr(row))):
                continue  # handled in an earlier poll
            self.report.rows += 1
            event = self._event(checker, names, row, place)
            if event is not None:
                fresh.append((event, place))
        return fresh

    def _event(self, checker: RowChecker, names: list[str], row: Any, place: str) -> Event | None:
        if isinstance(row, _NotAnObject):
            problem = f"{shorten(json.dumps(row.value))} is not an object of named values"
            self.report.skip("unparseable", f"{place}: {problem}")
            return None
        if not fits(names, row, self.report, place=place):
            return None
        return checker.event(row, place=place)

    def _checker(self, names: list[str], first: Sequence[object]) -> RowChecker:
        """The response's row checker, carrying the columns the first response carried."""
        settings = self.event_columns()
        if settings.columns is None and self._kept is not None:
            settings = dataclasses.replace(settings, columns=self._kept)
        try:
            checker = RowChecker(settings, names, first, self.url, self.report)
        except DataFormatError as e:
            raise _PollError("bad response", str(e)) from e
        self._kept = list(checker.kept)
        return checker


_ACCEPT = "application/json, text/csv;q=0.9, */*;q=0.1"


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http and https URLs only (urllib would follow one to ftp), and
    only those ``allow`` allows when given."""

    def __init__(self, allow: Callable[[str], bool] | None = None) -> None:
        super().__init__()
        self.allow = allow

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(
                newurl, code, f"redirect to {newurl} refused: not http or https", headers, fp
            )
        if self.allow is not None and not self.allow(newurl):
            raise urllib.error.HTTPError(
                newurl, code, f"redirect to {newurl} refused: not an allowed address", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass(frozen=True)
class _NotAnObject:
    """An item of a JSON list that is not an object (a number, a list, null)."""

    value: Any


class _Seen:
    """The latest record fingerprints handled, so a record a later poll repeats is passed
    over; the oldest are forgotten past ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._order: collections.deque[int] = collections.deque()
        self._keys: set[int] = set()

    def add(self, key: int) -> bool:
        """Remember ``key``; False if it was known already."""
        if key in self._keys:
            return False
        if len(self._order) == self.size:
            self._keys.discard(self._order.popleft())
        self._order.append(key)
        self._keys.add(key)
        return True


def _refused(size: str) -> str:
    return f"the response {size}; refused (raise max_bytes if that much is expected)"


def _format(parse: str, body: bytes, content_type: str) -> str:
    if parse != "auto":
        return parse
    if content_type == "application/json" or content_type.endswith("+json"):
        return "json"
    if content_type == "text/csv":
        return "csv"
    return "json" if body.lstrip()[:1] in (b"{", b"[") else "csv"


def _json(body: bytes) -> list[Any]:
    """The records of a JSON body: an object, or a list of them."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as e:  # RecursionError: nested too deep
        raise ValueError(f"not JSON: {e}") from e
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise ValueError(f"JSON {type(value).__name__}, expected an object or a list of objects")


def _objects(records: Sequence[Any], poll: int) -> tuple[list[str], list[tuple[str, Any]]]:
    """Records as rows under the names of all their fields (a field a record lacks is
    None); an item that is not an object is marked so, to be skipped as unparseable."""
    objects = [record for record in records if isinstance(record, Mapping)]
    names = list(dict.fromkeys(name for record in objects for name in record))
    items = [
        (
            f"poll {poll}, record {number}",
            [record.get(name) for name in names]
            if isinstance(record, Mapping)
            else _NotAnObject(record),
        )
        for number, record in enumerate(records, start=1)
    ]
    return names, items


def _csv(body: bytes, poll: int, url: str) -> tuple[list[str], list[tuple[str, Any]]]:
    """The header and rows of a CSV body (banner lines above the header left out)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 text: {e}") from e
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [([f.strip() for f in row], reader.line_num) for row in reader if any(row)]
    except csv.Error as e:
        raise ValueError(f"not CSV, line {reader.line_num}: {e}") from e
    if not rows:
        return [], []
    header = find_header([row for row, _ in rows], url)
    items = [(f"poll {poll}, line {line}", row) for row, line in rows[header + 1 :]]
    return rows[header][0], items

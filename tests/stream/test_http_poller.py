"""HttpPoller against a real HTTP server on 127.0.0.1 whose answer changes between polls.

The poller's wait between polls is a fake that advances a fake clock, so polls follow each
other at once; only the timeout test waits for real (0.3 s).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from azuraforge.errors import InvalidParameterError, SourceUnavailableError
from azuraforge.stream import Event
from azuraforge.stream.polling import HttpPoller
from tests.helpers import stopped_from_another_thread

HOUR = 3600
CSV = "text/csv; charset=utf-8"


@dataclass
class Answer:
    """One response: a status, a content type and a body; ``hang`` answers nothing until the
    test ends, ``length=False`` sends no Content-Length (the body runs to the close)."""

    body: bytes = b"[]"
    status: int = 200
    content_type: str = "application/json"
    hang: bool = False
    length: bool = True
    location: str = ""


def candles(*pairs: tuple[int, float]) -> Answer:
    return Answer(json.dumps([{"time": t, "close": c, "symbol": "X"} for t, c in pairs]).encode())


class Server:
    """Answers each GET with the next of :attr:`answers` (the last one again when they run
    out)."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.requests = 0
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                answer = owner.answers[min(owner.requests, len(owner.answers) - 1)]
                owner.requests += 1
                if answer.hang:
                    owner.release.wait(timeout=10)
                    return
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                if answer.location:
                    self.send_header("Location", answer.location)
                if answer.length:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/prices"
        serve = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        serve.start()  # looking for shutdown every 0.01 s (not 0.5 s) keeps the tests fast

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


class FakeTime:
    """A clock that only the poller's waits move."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def poller(url: str, polls: int, **options) -> tuple[HttpPoller, FakeTime]:
    fake = FakeTime()
    source = HttpPoller(url, max_polls=polls, clock=fake.clock, sleep=fake.sleep, **options)
    return source, fake


def closes(events: list[Event]) -> list[float]:
    return [event.values["close"] for event in events]


def test_only_new_records_are_yielded_as_the_answer_changes(server: Server):
    server.answers = [
        candles((HOUR, 10), (2 * HOUR, 11), (3 * HOUR, 12)),
        candles((2 * HOUR, 11), (3 * HOUR, 12), (4 * HOUR, 13)),  # a window moving on
        candles((7 * HOUR, 15), (6 * HOUR, 14), (4 * HOUR, 13)),  # newest first, after a gap
        candles((6 * HOUR, 14), (7 * HOUR, 15.5), (5 * HOUR, 9)),  # revised, late
    ]
    source, fake = poller(server.url, 4)
    events = list(source)
    assert closes(events) == [10, 11, 12, 13, 14, 15]
    assert [event.missing_before for event in events] == [0, 0, 0, 0, 1, 0]
    assert set(events[0].values) == {"close"} and events[0].line == 0
    assert fake.waits == [60, 60, 60] and server.requests == 4
    report = source.report
    assert report.skipped == {"duplicate": 1, "out of order": 1}
    assert report.examples["duplicate"] == [
        "poll 4, record 2: 1970-01-01 07:00:00 repeats the time of poll 3, record 1"
    ]
    assert report.examples["out of order"] == [
        "poll 4, record 3: 1970-01-01 05:00:00 is before poll 3, record 1"
    ]
    assert (report.rows, report.events, report.newest_first) == (8, 6, True)
    assert (report.step, report.gaps, report.missing) == (HOUR, 1, 1)


def test_csv_answers_and_json_sent_as_plain_text_are_read(server: Server):
    server.answers = [
        Answer(b"Prices of X\ndate,close\n2024-01-01,10\n2024-01-02,x\n", content_type=CSV),
        Answer(b"date,close\n2024-01-02,x\n2024-01-03,11,7\n2024-01-04,12\n", content_type=CSV),
        Answer(b' {"date": "2024-01-05", "close": 13}', content_type="text/plain"),
    ]
    source, _ = poller(server.url, 3)
    assert closes(list(source)) == [10, 12, 13]
    assert source.report.examples["unparseable"] == [
        "poll 1, line 4: close is 'x', expected a number"  # not again in poll 2
    ]
    assert source.report.examples["wrong width"] == ["poll 2, line 3: 3 fields, 2 named"]


def test_failed_polls_are_counted_and_retried(server: Server):
    server.answers = [
        Answer(b"oops", status=500, content_type="text/plain"),
        Answer(b'[{"time": 3600, "close": '),
        Answer(b"[" + b"0," * 600 + b"0]"),
        Answer(b"[" + b"0," * 600 + b"0]", length=False),
        Answer(b"", status=302, location="ftp://example.org/prices"),
        Answer(b'"just text"'),
        candles((HOUR, 10), (2 * HOUR, 11)),
    ]
    source, _ = poller(server.url, 7, max_bytes=1_000, max_failures=7)
    assert closes(list(source)) == [10, 11]
    report = source.report
    assert report.incidents == {"HTTP error": 2, "bad response": 2, "too large": 2}
    assert report.examples["HTTP error"] == [
        "poll 1: HTTP 500 Internal Server Error",
        "poll 5: HTTP 302 redirect to ftp://example.org/prices refused: not http or https",
    ]
    assert report.examples["bad response"][0].startswith("poll 2: not JSON: Expecting value")
    assert report.examples["bad response"][1] == (
        "poll 6: JSON str, expected an object or a list of objects"
    )
    assert report.examples["too large"] == [
        "poll 3: the response declares 1,203 bytes, more than max_bytes=1,000; refused (raise "
        "max_bytes if that much is expected)",
        "poll 4: the response holds more than max_bytes=1,000 bytes; refused (raise "
        "max_bytes if that much is expected)",
    ]
    assert "HTTP error (2): poll 1: HTTP 500" in "\n".join(report.lines())


def test_a_redirect_the_caller_does_not_allow_is_a_failed_poll(server: Server):
    inside = server.url.replace("/prices", "/inside")
    server.answers = [
        Answer(b"", status=302, location="http://169.254.169.254/latest/meta-data"),
        Answer(b"", status=302, location=inside),  # allowed: followed to the same server
        candles((HOUR, 10)),
    ]
    asked: list[str] = []

    def allow(url: str) -> bool:
        asked.append(url)
        return url.startswith(server.url.rsplit("/", 1)[0])

    source, _ = poller(server.url, 2, allow_redirect=allow)
    assert closes(list(source)) == [10]
    assert asked == ["http://169.254.169.254/latest/meta-data", inside]
    assert source.report.examples["HTTP error"] == [
        "poll 1: HTTP 302 redirect to http://169.254.169.254/latest/meta-data refused: not an "
        "allowed address"
    ]


def test_a_server_that_does_not_answer_in_time_is_a_timeout(server: Server):
    server.answers = [Answer(hang=True), candles((HOUR, 10))]
    source, _ = poller(server.url, 1, timeout=0.3)
    start = time.monotonic()
    assert list(source) == []
    assert source.report.examples["timeout"] == ["poll 1: no answer within 0.3 s"]
    assert time.monotonic() - start < 3
    source.max_polls = 2  # the next poll is answered
    assert closes(list(source)) == [10]


def test_failures_in_a_row_end_the_stream_with_the_last_reason(server: Server):
    bad = Answer(b"down", status=503, content_type="text/plain")
    server.answers = [bad, candles((HOUR, 10)), bad, bad, bad]
    source, _ = poller(server.url, None, max_failures=3)
    got: list[Event] = []
    with pytest.raises(SourceUnavailableError, match="failed 3 polls in a row") as error:
        got.extend(source)
    assert closes(got) == [10] and server.requests == 5  # the success reset the count
    assert "(the last, poll 5: HTTP 503 Service Unavailable); check" in str(error.value)


def test_a_refused_connection_is_counted_then_raised():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source, _ = poller(f"http://127.0.0.1:{port}/", None, max_failures=2)
    with pytest.raises(SourceUnavailableError, match=f"127.0.0.1:{port}/ failed 2 polls"):
        list(source)
    assert source.report.incidents == {"connection error": 2}
    assert "ConnectionRefusedError" in source.report.examples["connection error"][0]


def test_records_that_are_not_objects_or_lack_a_value_are_skipped(server: Server):
    server.answers = [Answer(b'[{"time": 3600, "close": 1}, 5, {"time": 7200}, [1, 2]]')]
    source, _ = poller(server.url, 1)
    assert closes(list(source)) == [1]
    assert source.report.examples["unparseable"] == [
        "poll 1, record 2: 5 is not an object of named values",
        "poll 1, record 3: close is missing, expected a number",
        "poll 1, record 4: [1, 2] is not an object of named values",
    ]


def test_json_nested_past_the_recursion_limit_is_a_bad_response(server: Server):
    server.answers = [Answer(b"[" * 100_000)]
    source, _ = poller(server.url, 1)
    assert list(source) == []
    assert source.report.examples["bad response"][0].startswith("poll 1: not JSON: maximum")


def test_a_parse_function_reads_a_format_of_its_own(server: Server):
    server.answers = [
        Answer(b'{"rows": [[3600, 10], [7200, 11]]}'),
        Answer(b'{"error": "rate limited"}'),
    ]

    def rows(body: bytes) -> list[dict]:
        return [{"time": t, "close": c} for t, c in json.loads(body)["rows"]]

    source, _ = poller(server.url, 2, parse=rows)
    assert closes(list(source)) == [10, 11]
    assert source.report.examples["bad response"] == ["poll 2: parse raised KeyError('rows')"]


def test_stop_from_another_thread_ends_the_wait_for_the_next_poll(server: Server):
    server.answers = [candles((HOUR, 10))]
    source = HttpPoller(server.url, interval=60)
    assert closes(stopped_from_another_thread(source)) == [10]
    assert server.requests == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "file:///etc/passwd"}, "url must start with http:// or https://, got 'file"),
        ({"url": "ftp://example.org/x"}, "url must start with http:// or https://"),
        ({"parse": "xml"}, "parse must be one of auto, json, csv or a function"),
        ({"interval": 0}, "interval must be above 0 seconds, got 0"),
        ({"timeout": float("nan")}, "timeout must be above 0 seconds"),
        ({"max_bytes": 0}, "max_bytes must be a whole number above 0, got 0"),
        ({"max_failures": 1.5}, "max_failures must be a whole number above 0, got 1.5"),
        ({"price_column": None, "volume_pair": ("a", "b")}, "volume_pair needs price_column"),
    ],
)
def test_bad_settings_are_refused_at_once(options: dict, message: str):
    settings = {"url": "https://example.org/prices", **options}
    with pytest.raises(InvalidParameterError, match="HttpPoller: ") as error:
        HttpPoller(**settings)
    assert message in str(error.value)

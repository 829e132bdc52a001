"""FileTail on real files that a writer thread appends to, replaces and truncates.

The tail's wait is where the writer takes its turn, and the clock is a counter the waits
advance, so every run reads the same lines at the same moments: nothing sleeps for real.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from azuraforge.errors import DataFormatError, InvalidParameterError, NotFoundError
from azuraforge.stream import Event
from azuraforge.stream.tail import FileTail
from tests.helpers import stopped_from_another_thread

HEADER = "time,close\n"


class Writer(threading.Thread):
    """Changes the file one step at a time on its own thread, each step while the tail
    waits; :meth:`sleep` is the tail's wait and advances :meth:`clock` by its seconds."""

    def __init__(self, steps: list[Callable[[], object]]) -> None:
        super().__init__(daemon=True)
        self.steps = steps
        self.now = 0.0
        self.waits = 0
        self._turn, self._done = threading.Semaphore(0), threading.Semaphore(0)

    def run(self) -> None:
        for step in self.steps:
            self._turn.acquire()
            step()
            self._done.release()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.waits < len(self.steps):
            self.waits += 1
            self._turn.release()
            assert self._done.acquire(timeout=5), "the writer did not finish its step"


def appending(path: Path, text: str) -> Callable[[], object]:
    def append() -> None:
        with path.open("a", encoding="utf-8") as file:
            file.write(text)

    return append


def follow(path: Path, steps: list[Callable[[], object]], **options) -> tuple[FileTail, list]:
    """The tail's events while ``steps`` run, one per wait, until it has been idle 3 s."""
    writer = Writer(steps)
    writer.start()
    tail = FileTail(path, idle_timeout=3, clock=writer.clock, sleep=writer.sleep, **options)
    events = list(tail)
    writer.join(timeout=5)
    assert writer.waits == len(steps) and writer.now == len(steps) + 3
    return tail, events


def closes(events: list[Event]) -> list[float]:
    return [event.values["close"] for event in events]


def test_rows_are_yielded_as_a_writer_appends_them_and_bad_ones_counted(tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_text("Exported by a collector\n" + HEADER + "2024-01-01T00:00,10\n")
    tail, events = follow(
        path,
        [
            appending(path, "2024-01-01T01:00,11\n2024-01-01T02:00,1"),  # the last unfinished
            appending(path, "2\n\n2024-01-01T03:00,abc\n2024-01-01T03:00,0\n"),
            appending(path, "2024-01-01T02:00,12\n2024-01-01T01:30,9\n2024-01-01T04:00\n"),
            appending(path, "2024-01-01T07:00,13\n"),
        ],
    )
    assert closes(events) == [10, 11, 12, 13]
    assert [event.line for event in events] == [3, 4, 5, 12]
    assert [event.missing_before for event in events] == [0, 0, 0, 4]
    report = tail.report
    assert report.skipped == {
        "unparseable": 1, "non-positive price": 1, "duplicate": 1, "out of order": 1,
        "wrong width": 1,
    }  # fmt: skip
    assert report.examples["duplicate"] == [
        "line 9: 2024-01-01 02:00:00 repeats the time of line 5"
    ]
    assert report.examples["out of order"] == ["line 10: 2024-01-01 01:30:00 is before line 5"]
    assert (report.rows, report.events, report.banner_lines) == (9, 4, [1])
    assert (report.step, report.gaps, report.missing, report.largest_gap) == (3600, 1, 4, 18000)


def test_a_replaced_file_is_read_from_its_start_after_the_old_ones_last_line(tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_text(HEADER + "3600,1\n7200,2")  # no newline at the end

    def rotate() -> None:
        fresh = tmp_path / "fresh.csv"
        fresh.write_text("a new banner\n" + HEADER + "3600,9\n10800,3\n")
        os.replace(fresh, path)

    tail, events = follow(path, [rotate, appending(path, "14400,4\n")])
    assert closes(events) == [1, 2, 3, 4]  # 7200 counts although unfinished: that file ended
    assert [event.line for event in events] == [2, 3, 4, 5]  # lines of the new file
    assert tail.report.incidents == {"file replaced": 1}
    assert tail.report.examples["file replaced"] == [
        f"after line 3: {path} was replaced; read the new file from its start"
    ]
    assert tail.report.skipped == {"out of order": 1}  # the new file's 3600 is old news
    assert tail.report.banner_lines == [1]
    assert "file replaced (1): after line 3" in tail.report.lines()[-1]


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_text(HEADER + "3600,1\n7200,2\n10800,3\n")
    rewrite = lambda: path.write_text(HEADER + "14400,4\n")  # noqa: E731 (one line)
    tail, events = follow(path, [rewrite, appending(path, "18000,5\n")])
    assert closes(events) == [1, 2, 3, 4, 5]
    assert tail.report.incidents == {"file truncated": 1}
    assert tail.report.examples["file truncated"] == [
        f"after line 4: {path} shrank to 19 bytes from 33; read it again from its start"
    ]


def test_from_the_end_only_new_rows_are_yielded_and_must_follow_the_last_one(tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_text(HEADER + "3600,1\n7200,2\n")
    steps = [appending(path, "3600,5\n10800,3\n")]
    tail, events = follow(path, steps, from_start=False)
    assert closes(events) == [3]
    assert [event.line for event in events] == [5]
    assert tail.report.examples["out of order"] == ["line 4: 1970-01-01 01:00:00 is before line 3"]
    assert (tail.report.rows, tail.report.events) == (2, 1)


def test_iterating_again_resumes_and_a_partial_line_waits_for_its_end(tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_text(HEADER + "3600,1\n7200,2\n10800,3")
    tail = FileTail(path, idle_timeout=0)
    assert closes(list(tail)) == [1, 2]
    for event in tail:
        pytest.fail(f"nothing new was written, got {event}")
    appending(path, "0\n14400,4\n")()
    iterator = iter(tail)
    assert closes([next(iterator)]) == [30]
    iterator.close()  # the consumer stops early: the next iteration goes on from there
    assert closes(list(tail)) == [4]


def test_stop_from_another_thread_ends_a_tail_waiting_for_rows(tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_text(HEADER + "3600,1\n")
    tail = FileTail(path, poll_interval=60)  # no idle timeout: it would wait a minute a look
    got = stopped_from_another_thread(tail)
    assert closes(got) == [1] and tail.stopped and list(tail) == []


def test_lines_that_are_not_text_or_csv_are_skipped(tmp_path: Path):
    path = tmp_path / "live.csv"
    path.write_bytes(b"\xef\xbb\xbftime,close\r\n3600,1\r\n\xff\xfe,2\n7200,2\n")
    tail = FileTail(path, idle_timeout=0)
    assert closes(list(tail)) == [1, 2]
    assert tail.report.examples["unparseable"] == [
        "line 3: not a line of UTF-8 CSV text (b'\\xff\\xfe,2')"
    ]


def test_a_missing_file_a_missing_header_and_bad_settings_are_clear_errors(tmp_path: Path):
    with pytest.raises(NotFoundError, match=r"absent\.csv: no such file to tail"):
        list(FileTail(tmp_path / "absent.csv"))
    headless = tmp_path / "headless.csv"
    headless.write_text("3600,1\n")
    with pytest.raises(DataFormatError, match="line 1: a row of values before any header"):
        list(FileTail(headless, idle_timeout=0))
    named = tmp_path / "named.csv"
    named.write_text(HEADER + "3600,1\n")
    with pytest.raises(DataFormatError, match="no column 'last' \\(named in price_column\\)"):
        list(FileTail(named, price_column="last", idle_timeout=0))
    with pytest.raises(InvalidParameterError, match="poll_interval must be above 0 seconds"):
        FileTail(named, poll_interval=0)
    with pytest.raises(InvalidParameterError, match="idle_timeout must be 0 or more seconds"):
        FileTail(named, idle_timeout=-1)
    with pytest.raises(InvalidParameterError, match="FileTail: volume_pair needs price_column"):
        FileTail(named, price_column=None, volume_pair=("a", "b"))

"""CsvReplay on the real BTC and S&P 500 files, and on files with every kind of bad row."""

from __future__ import annotations

import datetime
import itertools
import re
import time
from pathlib import Path

import pytest

from azuraforge.errors import DataFormatError, InvalidParameterError, NotFoundError
from azuraforge.learn.datasets import fetch
from azuraforge.stream import CsvReplay, Event
from azuraforge.stream.sources import header_of

HOUR = 3600.0


@pytest.fixture(scope="module")
def btc(real_data) -> Path:
    return fetch("btc-hourly")["Bitstamp_BTCUSD_1h_2018_2022.csv"]


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stream.csv"
    path.write_text(text)
    return path


def test_the_btc_file_replays_oldest_first_with_its_quirks_fixed_and_reported(btc: Path):
    replay = CsvReplay(btc, volume_pair=("Volume BTC", "Volume USD"))
    events = list(replay)
    report = replay.report
    assert len(events) == report.events == report.rows == 37_387
    assert report.banner_lines == [1] and report.newest_first
    assert report.skipped == {} and report.gaps == 0 and report.step == HOUR
    assert report.fixes == {"Volume BTC and Volume USD swapped": 20_143}  # as SOURCE.md says
    assert events[0].when == datetime.datetime(2018, 5, 15, 6, tzinfo=datetime.UTC)
    assert events[-1].when == datetime.datetime(2022, 8, 20, tzinfo=datetime.UTC)
    assert all(b.time - a.time == HOUR for a, b in itertools.pairwise(events))
    assert set(events[0].values) == {"open", "high", "low", "close", "Volume BTC", "Volume USD"}
    for event in events:  # quote volume = base volume x price, within a candle's range
        base, quote = event.values["Volume BTC"], event.values["Volume USD"]
        if base > 0:
            assert 0.5 < quote / (base * event.values["close"]) < 2, event
    oldest = events[0].values  # the last line of the file, swapped back
    assert (oldest["Volume BTC"], oldest["Volume USD"]) == (559.93, 4906603.14)


def test_the_sp500_file_reports_its_closed_days_as_gaps(real_data):
    replay = CsvReplay(fetch("sp500-daily")["GSPC_daily_1927_2023.csv"])
    events = list(replay)
    assert not replay.report.newest_first and replay.report.step == 86_400
    assert replay.report.gaps > 5_000  # weekends and holidays: told, not hidden
    assert sum(event.missing_before for event in events) == replay.report.missing
    monday = next(event for event in events if event.when.date() == datetime.date(2023, 12, 4))
    assert monday.missing_before == 2


BAD_ROWS = """time,symbol,close,volume
2024-01-01T00:00,X,10,5
2024-01-01T01:00,X,11,5
2024-01-01T02:00,X,,5
2024-01-01T03:00,X,abc,5
yesterday,X,12,5
2024-01-01T04:00,X,0,5
2024-01-01T05:00,X,-3,5
2024-01-01T06:00,X,13
2024-01-01T07:00,X,14,5
2024-01-01T07:00,X,14,5
2024-01-01T06:30,X,14,5
2024-01-01T10:00,X,15,5
"""


def test_bad_rows_are_skipped_and_reported_by_reason_and_line(tmp_path: Path):
    replay = CsvReplay(written(tmp_path, BAD_ROWS))
    events = list(replay)
    assert [event.line for event in events] == [2, 3, 10, 13]
    assert [event.values["close"] for event in events] == [10, 11, 14, 15]
    assert [event.missing_before for event in events] == [0, 0, 5, 2]
    report = replay.report
    assert report.skipped == {
        "unparseable": 3, "non-positive price": 2, "wrong width": 1, "duplicate": 1,
        "out of order": 1,
    }  # fmt: skip
    assert report.examples["unparseable"] == [
        "line 4: close is '', expected a number",
        "line 5: close is 'abc', expected a number",
        "line 6: time 'yesterday' is not a Unix or ISO time",
    ]
    assert report.examples["non-positive price"][1] == "line 8: close is -3, expected above 0"
    assert report.examples["wrong width"] == ["line 9: 3 fields, 4 named"]
    assert report.examples["duplicate"] == [
        "line 11: 2024-01-01 07:00:00 repeats the time of line 10"
    ]
    assert report.examples["out of order"] == ["line 12: 2024-01-01 06:30:00 is before line 10"]
    assert (report.rows, report.events, report.gaps, report.missing) == (12, 4, 2, 7)
    lines = report.lines()
    assert lines[0] == "4 events from 12 rows, 2024-01-01 00:00 to 2024-01-01 10:00 UTC"
    assert "2 gap(s) missing 7 step(s) of 3600 s; the longest 21600 s" in lines


def test_a_column_nobody_named_that_some_rows_lack_is_left_out_not_their_rows(tmp_path: Path):
    """Two stacked downloads: the older one has NULL in tradecount (79 % of rows were lost)."""
    older = "".join(f"2020-01-01 {h:02d}:00,{10 + h},5,NULL\n" for h in range(8))
    newer = "".join(f"2020-01-01 {h:02d}:00,{10 + h},5,{h}\n" for h in range(8, 10))
    lines = (older + newer).splitlines()[::-1]  # newest first, as exchanges export
    path = written(tmp_path, "date,close,volume,tradecount\n" + "\n".join(lines) + "\n")
    replay = CsvReplay(path)
    events = list(replay)
    assert len(events) == 10 and all(set(e.values) == {"close", "volume"} for e in events)
    assert replay.report.skipped == {} and replay.report.left_out == {"tradecount": 8}
    assert (
        "column tradecount left out of every event: 8 row(s) hold no number there (line 4: "
        "tradecount is 'NULL', expected a number; line 5: " in "\n".join(replay.report.lines())
    )
    rows = [f"{1_700_000_000 + 60 * i},{10 + i},5,{'NULL' if i == 50 else i}" for i in range(200)]
    other = tmp_path / "scattered.csv"
    other.write_text("unix,close,volume,tradecount\n" + "\n".join(rows) + "\n")
    scattered = CsvReplay(other)
    assert len(list(scattered)) == 199  # one bad value in 200 rows (<= 1 %) is a bad row
    assert scattered.report.skipped == {"unparseable": 1} and scattered.report.left_out == {}
    named = CsvReplay(path, columns=["close", "tradecount"])  # asked for: its rows must hold it
    assert [e.values for e in named] == [
        {"close": 18, "tradecount": 8},
        {"close": 19, "tradecount": 9},
    ]
    assert named.report.skipped == {"unparseable": 8}


def test_unix_milliseconds_zones_and_chosen_columns(tmp_path: Path):
    path = written(tmp_path, "when,price,qty\n1704067200000,1,2\n2024-01-01T02:00+01:00,3,4\n")
    replay = CsvReplay(path, time_column="When", columns=["qty"], price_column=None)
    assert [(event.time, event.values) for event in replay] == [
        (1704067200.0, {"qty": 2.0}),
        (1704070800.0, {"qty": 4.0}),  # 02:00 at +01:00 is 01:00 UTC
    ]


def test_a_replay_starts_over_when_iterated_again(tmp_path: Path):
    replay = CsvReplay(written(tmp_path, BAD_ROWS))
    assert list(replay) == list(replay)
    assert replay.report.events == 4


def test_a_paced_replay_keeps_event_time_scaled_to_real_time(tmp_path: Path):
    path = written(tmp_path, "unix,close\n0,1\n3600,2\n10800,3\n")
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    replay = CsvReplay(path, speed=3600, clock=lambda: now[0], sleep=sleep)
    assert [event.values["close"] for event in replay] == [1, 2, 3]
    assert waits == [1.0, 2.0]  # an hour of event time a second

    start = time.monotonic()
    assert len(list(CsvReplay(path, speed=36_000))) == 3  # the real clock: 0.3 s in all
    assert 0.28 <= time.monotonic() - start < 2


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("1,2\n3,4\n", {}, "no header line"),
        ("day,close\n2024-01-01,1\n", {}, "no column one of unix, timestamp, time"),
        ("time,close\n2024-01-01,1\n", {"columns": ["open"]}, "no column 'open' (named in"),
        ("time,close\n2024-01-01,1\n", {"price_column": "last"}, "no column 'last'"),
        ("time,close\n2024-01-01,0\nsoon,1\n", {}, "no event left of 2 rows"),
        ("time,close\n", {}, "no event left of 0 rows"),
    ],
)
def test_a_file_that_leaves_nothing_to_replay_is_a_clear_error(
    tmp_path: Path, text: str, options: dict, message: str
):
    with pytest.raises(DataFormatError, match=r"stream\.csv") as error:
        list(CsvReplay(written(tmp_path, text), **options))
    assert message in str(error.value)


def test_bad_settings_and_missing_or_binary_files(tmp_path: Path):
    path = written(tmp_path, "time,close\n2024-01-01,1\n")
    for speed in (0, -1, float("nan")):
        with pytest.raises(InvalidParameterError, match="speed must be above 0"):
            list(CsvReplay(path, speed=speed))
    with pytest.raises(InvalidParameterError, match="volume_pair needs price_column"):
        list(CsvReplay(path, price_column=None, volume_pair=("a", "b")))
    with pytest.raises(NotFoundError, match="no such file"):
        list(CsvReplay(tmp_path / "absent.csv"))
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text("time;close\n2024-01-01;1\n")
    with pytest.raises(DataFormatError, match="fields are separated by ';', expected commas"):
        list(CsvReplay(semicolons))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"time,close\n\x00\x01")
    with pytest.raises(DataFormatError, match="not a UTF-8 text CSV"):
        list(CsvReplay(binary))


def test_an_event_reads_its_time_as_utc():
    assert Event(0.0, {}).when == datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("text", "time_column", "banner"),
    [
        ("Created on 12-30-2020,https://www.example.com\nunix,close\n1,10\n2,11\n", None, [1]),
        ("Exported,by,us\nunix,close,volume\n1,10,5\n2,11,5\n", None, [1]),
        ("Prices\nfor,you\nTime,Close\n1,10\n2,11\n", "time", [1, 2]),
        ("unix,close\n1,10\n2,x\n3,11\n", None, []),
    ],
)
def test_a_banner_is_told_from_the_header_by_its_shape(tmp_path: Path, text, time_column, banner):
    """A banner of two fields was taken for the header (docs/stream.md says banners are
    skipped); a time column named is honoured in finding the header."""
    replay = CsvReplay(written(tmp_path, text), time_column=time_column, price_column=None)
    events = list(replay)
    assert replay.report.banner_lines == banner
    assert {k.lower(): v for k, v in events[0].values.items()}["close"] == 10.0


def test_months_and_quarters_are_times_too(tmp_path: Path):
    replay = CsvReplay(written(tmp_path, "date,close\n2024-Q1,1\n2024-05,2\n2024-Q3,3\n"))
    assert [event.time for event in replay] == [1704067200.0, 1714521600.0, 1719792000.0]


def test_header_of_reads_the_names_as_the_replay_finds_them(tmp_path: Path) -> None:
    marked = tmp_path / "excel.csv"
    marked.write_bytes(b"\xef\xbb\xbfclose,time\n1.0,2024-01-01\n")  # Excel's "CSV UTF-8"
    assert header_of(marked, "excel.csv") == ["close", "time"]
    cut = tmp_path / "cut.csv"
    banner = "é\n" * 2 + "a\n" * 32_762  # 65,530 bytes: the header straddles 64 KiB
    cut.write_text(banner + "time,close\n2024-01-01,1.0\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=re.escape("cut.csv")):
        header_of(cut, "cut.csv")  # not ["time", "c"]: a cut line is no header
    with pytest.raises(DataFormatError, match=re.escape("missing.csv cannot be read")):
        header_of(tmp_path / "missing.csv", "missing.csv")


def test_header_of_refuses_what_the_replay_would_refuse(tmp_path: Path) -> None:
    """A header in Latin-1 came back as garbled names (``cl\ufffdture``), and a header with
    no row under it passed, to fail in the stream's worker."""
    latin = tmp_path / "latin.csv"
    latin.write_bytes("date,clôture\n2024-01-01,1.0\n".encode("latin-1"))
    with pytest.raises(
        DataFormatError, match=re.escape("latin.csv is not a UTF-8 text CSV file: line 1 ")
    ):
        header_of(latin, "latin.csv")
    alone = tmp_path / "alone.csv"
    alone.write_text("Exported by an exchange\ntime,close\n\n")
    assert header_of(alone, "alone.csv") == ["time", "close"]  # a followed file may grow
    with pytest.raises(
        DataFormatError, match=re.escape("alone.csv has a header and no row under it")
    ):
        header_of(alone, "alone.csv", needs_rows=True)
    with pytest.raises(DataFormatError, match="no event left of 0 rows"):
        list(CsvReplay(alone))  # what its worker found

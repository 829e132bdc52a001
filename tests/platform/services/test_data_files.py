"""A data file is checked in bounded memory whatever its size: its head by the CSV reader,
the rest streamed (rows counted, widths and encoding checked), with the reader's messages at
the file's own line numbers."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest

from azuraforge.learn.datasets.csvfiles import read_csv
from azuraforge.platform.services.data_files import HEAD_BYTES, describe

ROWS = 60_000
"""Rows of the large file: about 1.5 MB, 23 times the reader's head."""


def large(tmp_path: Path, last: str = "", name: str = "big.csv") -> Path:
    """A ``date;load;temp`` file of :data:`ROWS` rows (separated by ';', as the head shows),
    ending with the line ``last`` when given."""
    lines = [
        f"2024-01-01 {i // 60 % 24:02d}:{i % 60:02d};{i % 997}.5;{i % 31}\n" for i in range(ROWS)
    ]
    path = tmp_path / name
    path.write_bytes(("date;load;temp\n" + "".join(lines) + last).encode())
    assert path.stat().st_size > 20 * HEAD_BYTES
    return path


def test_a_large_file_is_counted_and_hashed_in_bounded_memory(tmp_path: Path) -> None:
    path = large(tmp_path, last="\n\n2024-02-01 00:00;1;2\n")  # blank lines are no rows
    tracemalloc.start()
    try:
        described = describe(path, "big.csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert described.problem is None
    assert (described.columns, described.delimiter) == (("date", "load", "temp"), ";")
    assert described.rows == ROWS + 1 == len(read_csv(path, delimiter="auto"))
    assert described.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # The reader holds the head's rows (lists and strings: 2 MB), never the file's (40 MB).
    assert peak < 4 * 2**20, peak


@pytest.mark.parametrize(
    ("last", "problem"),
    [
        ("2024-02-01 00:00;1\n", f"big.csv, line {ROWS + 2}: 2 fields, expected 3 (date,load,temp)"),  # noqa: E501
        ("2024-02-01 00:00;1;\xff\n".encode("latin-1").decode("utf-8", "surrogateescape"), None),
    ],
)  # fmt: skip
def test_a_problem_past_the_head_is_the_readers_message_at_its_line(
    tmp_path: Path, last: str, problem: str | None
) -> None:
    path = tmp_path / "big.csv"
    body = large(tmp_path).read_bytes() + last.encode("utf-8", "surrogateescape")
    path.write_bytes(body)
    described = describe(path, "big.csv")
    try:  # what the reader says of the whole file, its path as the name
        read_csv(path, delimiter="auto")
    except Exception as e:  # the reader's message is the reference
        expected = str(e).replace(str(path), "big.csv")
    else:
        expected = "(read)"
    assert described.rows == 0 and described.columns == ()
    assert described.problem == (problem or expected), described.problem
    if problem is not None:
        assert problem == expected


def test_a_nul_byte_past_the_head_is_the_readers_message(tmp_path: Path) -> None:
    path = large(tmp_path, last="2024-02-01 00:00;1;\x002\n")
    assert describe(path, "data/big.csv").problem == (
        f"data/big.csv is not a UTF-8 text CSV file: line {ROWS + 2} holds a NUL byte (binary "
        "data); export or save it as CSV with UTF-8 encoding"
    )


def test_a_first_line_longer_than_the_head_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(HEAD_BYTES // 4)) + "\n")
    problem = describe(path, "wide.csv").problem
    assert problem is not None and problem.startswith("wide.csv, line 1: longer than 64 KiB")

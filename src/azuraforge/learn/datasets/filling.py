"""What filling a table's missing values did: :class:`FillReport`, for a run's terminal output,
its report and its artifact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FillReport:
    """How many rows were inserted for missing times and how many values were filled, by
    column, and the longest run filled. Every field is plain JSON (times as ISO text).

    Attributes
    ----------
    inserted_rows
        Rows inserted for missing timestamps (their values are all filled).
    filled
        Values filled, by column, columns without any left out; the inserted rows' values
        count.
    longest_run
        The most values filled in a row in one column (0 when nothing was filled).
    longest_column
        The column of that run, the first such column in the table; ``""`` without one.
    longest_from, longest_to
        The times of the run's first and last rows; ``""`` without one.

    Examples
    --------
    >>> times = np.arange("2024-01-01", "2024-01-07", dtype="datetime64[D]")
    >>> load = np.array([5.0, np.nan, np.nan, 6.0, 7.0, np.nan])
    >>> wind = np.array([1.0, np.nan, 2.0, 2.0, 3.0, 3.0])
    >>> report = FillReport.from_columns(times, {"load": load, "wind": wind}, inserted_rows=1)
    >>> report.filled, report.total
    ({'load': 3, 'wind': 1}, 4)
    >>> print(report.describe())
    missing=fill inserted 1 row for missing times and filled 4 values (load 3, wind 1), at most 2 in a row (load, 2024-01-02 to 2024-01-03).
    """  # noqa: E501

    inserted_rows: int = 0
    filled: dict[str, int] = field(default_factory=dict)
    longest_run: int = 0
    longest_column: str = ""
    longest_from: str = ""
    longest_to: str = ""

    @classmethod
    def from_columns(
        cls, times: np.ndarray, columns: Mapping[str, np.ndarray], inserted_rows: int
    ) -> FillReport:
        """The report of filling ``columns`` (NaN where a value is missing, on the rows at
        ``times``, ``inserted_rows`` of them inserted for missing timestamps)."""
        filled: dict[str, int] = {}
        longest = (0, "", 0)
        for name, values in columns.items():
            missing = np.isnan(values)
            if not missing.any():
                continue
            filled[name] = int(missing.sum())
            starts, lengths = missing_runs(missing)
            run = int(np.argmax(lengths))
            if lengths[run] > longest[0]:
                longest = (int(lengths[run]), name, int(starts[run]))
        length, column, start = longest
        ends = (str(times[start]), str(times[start + length - 1])) if length else ("", "")
        return cls(inserted_rows, filled, length, column, *ends)

    @property
    def total(self) -> int:
        """Values filled in all columns."""
        return sum(self.filled.values())

    def describe(self) -> str:
        """One sentence: rows inserted, values filled by column, the longest run and where."""
        if not self.total:
            return "missing=fill filled nothing: no value or time was missing."
        by_column = ", ".join(f"{name} {count}" for name, count in self.filled.items())
        inserted = ""
        if self.inserted_rows:
            rows = f"{self.inserted_rows} row{'s' * (self.inserted_rows > 1)}"
            inserted = f"inserted {rows} for missing times and "
        return (
            f"missing=fill {inserted}filled {self.total} value{'s' * (self.total > 1)} "
            f"({by_column}), at most "
            f"{self.longest_run} in a row ({self.longest_column}, {self.longest_from} to "
            f"{self.longest_to})."
        )


def missing_runs(missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The start and length of each run of ``True`` in ``missing``.

    >>> missing_runs(np.array([True, False, True, True]))
    (array([0, 2]), array([1, 2]))
    """
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return starts, ends - starts

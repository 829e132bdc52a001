import numpy as np

from azuraforge.learn.datasets import FillReport, missing_runs

HOURS = np.datetime64("2024-03-01T00") + np.arange(8).astype("timedelta64[h]")
NAN = np.nan


def test_counts_by_column_and_the_longest_run_with_its_times():
    columns = {
        "load": np.array([1, NAN, 2, 3, NAN, NAN, NAN, 4]),
        "wind": np.array([1, 2, 3, NAN, NAN, NAN, 5, 6]),  # as long, later in the table
        "rain": np.arange(8.0),
    }
    report = FillReport.from_columns(HOURS, columns, inserted_rows=2)
    assert report == FillReport(2, {"load": 4, "wind": 3}, 3, "load", "2024-03-01T04",
                                "2024-03-01T06")  # fmt: skip
    assert report.total == 7
    assert report.describe() == (
        "missing=fill inserted 2 rows for missing times and filled 7 values (load 4, wind 3), "
        "at most 3 in a row (load, 2024-03-01T04 to 2024-03-01T06)."
    )


def test_a_run_at_the_end_and_no_inserted_rows():
    report = FillReport.from_columns(HOURS, {"y": np.array([*range(7), NAN])}, inserted_rows=0)
    assert (report.longest_run, report.longest_from, report.longest_to) == (
        1, "2024-03-01T07", "2024-03-01T07"
    )  # fmt: skip
    assert report.describe().startswith("missing=fill filled 1 value (y 1), at most 1 in a row")


def test_nothing_to_fill():
    report = FillReport.from_columns(HOURS, {"y": np.arange(8.0)}, inserted_rows=0)
    assert report == FillReport() and report.total == 0
    assert report.describe() == "missing=fill filled nothing: no value or time was missing."


def test_missing_runs():
    starts, lengths = missing_runs(np.array([False, True, True, False, True]))
    assert starts.tolist() == [1, 4] and lengths.tolist() == [2, 1]
    assert missing_runs(np.zeros(3, dtype=bool))[0].size == 0

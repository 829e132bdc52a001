"""SeriesForecaster: frequency, gaps, missing values and calendar, for any source."""

import numpy as np
import pytest

from azuraforge.apps.series import Series, SeriesForecaster
from azuraforge.errors import DataFormatError
from azuraforge.learn import LocalContext
from azuraforge.learn.datasets import FillReport
from azuraforge.learn.forecasting import infer_frequency

DAYS = np.arange("2024-01-01", "2024-03-01", dtype="datetime64[D]").astype("datetime64[s]")


class InMemory(SeriesForecaster):
    """A series handed over as arrays."""

    name = "in-memory"

    def __init__(self, times, values, other=None):
        self.times, self.values = times, values
        self.other = np.zeros(len(times)) if other is None else other

    def read_series(self, config, source=None):
        return Series(self.times, {"y": self.values, "x": self.other}, "y", "day")


def _frame(pipeline, **settings):
    return pipeline.load_frame(pipeline.make_config(settings))


def test_daily_frame_has_dates_weekday_and_yearday():
    frame = _frame(InMemory(DAYS, np.arange(len(DAYS), dtype=float)))
    assert frame.times.dtype == np.dtype("datetime64[D]")
    assert frame.feature_names == [
        "y", "x", "weekday_sin", "weekday_cos", "yearday_sin", "yearday_cos"
    ]  # fmt: skip
    assert frame.observed is None


def test_the_inferred_frequency_is_made_explicit():
    pipeline = InMemory(DAYS, np.arange(len(DAYS), dtype=float))
    config = pipeline.make_config({})
    frame = pipeline.load_frame(config)
    assert config.frequency == "auto"
    assert pipeline.resolved_config(config, frame).frequency == "daily"


def test_fill_carries_the_last_known_value_and_marks_the_target_unobserved():
    values = np.arange(len(DAYS), dtype=float)
    values[[5, 6]] = np.nan
    other = np.ones(len(DAYS))
    other[10] = np.nan
    frame = _frame(InMemory(DAYS, values, other), missing="fill")
    np.testing.assert_array_equal(frame.target[4:8], [4.0, 4.0, 4.0, 7.0])
    assert frame.features[10, 1] == 1.0
    assert np.flatnonzero(~frame.observed).tolist() == [5, 6]


def test_missing_values_are_refused_by_default_and_in_the_first_row_when_filling():
    values = np.arange(len(DAYS), dtype=float)
    values[7] = np.nan
    with pytest.raises(DataFormatError, match=r"row 8, column 'y': a missing value \(1 in"):
        _frame(InMemory(DAYS, values))
    values[0] = np.nan
    with pytest.raises(DataFormatError, match="first row cannot be filled from the past"):
        _frame(InMemory(DAYS, values), missing="fill")


def test_a_gap_names_the_times_around_it():
    days = np.delete(DAYS, 30)
    with pytest.raises(
        DataFormatError, match=r"row 31, column 'day': 2024-02-01T00:00:00 follows"
    ):
        _frame(InMemory(days, np.arange(len(days), dtype=float)), frequency="daily")


def test_monthly_times_keep_their_day():
    months = np.arange("2020-01", "2024-01", dtype="datetime64[M]").astype("datetime64[D]") + 27
    frame = _frame(InMemory(months, np.arange(len(months), dtype=float)))
    assert str(frame.times[0]) == "2020-01-28"
    assert frame.feature_names[2:] == ["month_sin", "month_cos"]


def test_fill_inserts_missing_days_as_missing_values():
    days = np.delete(DAYS, [30, 31])
    values = np.arange(len(days), dtype=float)
    frame = _frame(InMemory(days, values), missing="fill")
    assert len(frame) == len(DAYS) and str(frame.times[30]) == "2024-01-31"
    np.testing.assert_array_equal(frame.target[29:33], [29.0, 29.0, 29.0, 30.0])
    assert np.flatnonzero(~frame.observed).tolist() == [30, 31]


def test_fill_reports_the_rows_inserted_and_the_values_filled():
    days = np.delete(DAYS, [30, 31])
    values, other = np.arange(len(days), dtype=float), np.ones(len(days))
    values[[10, 40]], other[[3, 4, 5, 6]] = np.nan, np.nan
    frame = _frame(InMemory(days, values, other), missing="fill")
    assert frame.fill_report == FillReport(2, {"y": 4, "x": 6}, 4, "x", "2024-01-04",
                                           "2024-01-07")  # fmt: skip
    assert frame.fill_report.describe().startswith(
        "missing=fill inserted 2 rows for missing times and filled 10 values (y 4, x 6)"
    )
    assert _frame(InMemory(DAYS, np.arange(len(DAYS), dtype=float))).fill_report is None


def test_fill_does_not_insert_months_nor_fix_off_grid_times():
    months = np.arange("2020-01", "2024-01", dtype="datetime64[M]").astype("datetime64[D]")
    gappy = np.delete(months, 10)
    with pytest.raises(DataFormatError, match="2020-12-01 follows 2020-10-01"):
        _frame(InMemory(gappy, np.arange(len(gappy), dtype=float)), missing="fill")
    shifted = DAYS.copy()
    shifted[5] += np.timedelta64(3600, "s")
    with pytest.raises(DataFormatError, match="daily rows must be one step apart"):
        _frame(
            InMemory(shifted, np.arange(len(DAYS), dtype=float)), missing="fill", frequency="daily"
        )


def test_rows_at_a_constant_offset_keep_their_times_and_fill_their_gaps():
    noon = np.delete(DAYS + np.timedelta64(12 * 3600, "s"), [20, 21])
    values = np.arange(len(noon), dtype=float)
    frame = _frame(InMemory(noon, values), missing="fill", frequency="daily")
    assert len(frame) == len(DAYS) and str(frame.times[20]) == "2024-01-21T12:00:00"
    assert np.flatnonzero(~frame.observed).tolist() == [20, 21]
    frame = _frame(InMemory(noon[:20], values[:20]))
    assert str(frame.times[-1]) == "2024-01-20T12:00:00"


def test_fill_is_suggested_only_where_it_would_help():
    days = np.delete(DAYS, 30)
    values = np.arange(len(days), dtype=float)
    with pytest.raises(DataFormatError, match="set missing=fill to insert missing hours"):
        _frame(InMemory(days, values))
    months = np.arange("2020-01", "2024-01", dtype="datetime64[M]").astype("datetime64[D]")
    gappy = np.delete(months, 10)
    with pytest.raises(DataFormatError, match="monthly gaps cannot be filled") as refused:
        _frame(InMemory(gappy, np.arange(len(gappy), dtype=float)), missing="fill")
    assert "set missing=fill" not in str(refused.value)
    shifted = DAYS.copy()
    shifted[5] += np.timedelta64(3600, "s")
    with pytest.raises(
        DataFormatError, match=r"whole number of steps after the first row's"
    ) as off:
        _frame(InMemory(shifted, np.arange(len(DAYS), dtype=float)), frequency="daily")
    assert "set missing=fill" not in str(off.value)


def test_fill_refuses_a_longer_stretch_than_max_fill_naming_where():
    days = np.delete(DAYS, np.arange(20, 28))  # 8 days missing after 2024-01-20
    values = np.arange(len(days), dtype=float)
    with pytest.raises(
        DataFormatError,
        match=r"row 21, column 'y': 8 missing values in a row from 2024-01-21T00:00:00 to "
        r"2024-01-28T00:00:00 \(8 of them rows missing from the file.*max_fill=7 in a row",
    ):
        _frame(InMemory(days, values), missing="fill")
    assert len(_frame(InMemory(days, values), missing="fill", max_fill=8)) == len(DAYS)
    blanks = np.arange(len(DAYS), dtype=float)
    blanks[30:33] = np.nan
    with pytest.raises(DataFormatError, match=r"row 31, column 'y': 3 missing .*\(0 of them"):
        _frame(InMemory(DAYS, blanks), missing="fill", max_fill=2)


def test_max_fill_defaults_to_one_season_of_the_frequency():
    hours = np.arange("2024-01-01T00", "2024-01-05T00", dtype="datetime64[h]")
    values = np.arange(len(hours), dtype=float)
    values[10:34] = np.nan  # a whole day: 24 hours, one season
    assert len(_frame(InMemory(hours, values), missing="fill")) == len(hours)
    values[34] = np.nan
    with pytest.raises(DataFormatError, match="25 missing values in a row"):
        _frame(InMemory(hours, values), missing="fill")


def test_the_frequency_is_inferred_once_from_every_row(monkeypatch, tmp_path):
    inferred = []

    def counting(times):
        inferred.append(len(times))
        return infer_frequency(times)

    monkeypatch.setattr("azuraforge.apps.series.infer_frequency", counting)
    pipeline = InMemory(DAYS, np.sin(np.arange(len(DAYS), dtype=float)))
    config = pipeline.make_config({"epochs": 1, "hidden_size": 4, "sequence_length": 7})
    result = pipeline.run(config, LocalContext(output_dir=tmp_path))
    assert inferred == [len(DAYS)]
    assert "Rows are daily" in result.report_path.read_text()

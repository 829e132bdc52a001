"""Frequencies: inferred from timestamps, gaps found, calendar columns per cycle."""

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.learn.forecasting.frequency import (
    FREQUENCIES,
    calendar_columns,
    get_frequency,
    infer_frequency,
    irregular_steps,
)


def _range(start, count, step):
    return np.datetime64(start) + np.arange(count) * step


@pytest.mark.parametrize(
    ("times", "name"),
    [
        (_range("2024-01-01T00", 50, np.timedelta64(1, "h")), "hourly"),
        (_range("2024-01-01", 50, np.timedelta64(1, "D")), "daily"),
        (_range("2024-01-01", 50, np.timedelta64(7, "D")), "weekly"),
        (
            np.arange("2020-01", "2024-01", dtype="datetime64[M]").astype("datetime64[D]"),
            "monthly",
        ),
        (np.arange("2000-01", "2024-01", 3, dtype="datetime64[M]"), "quarterly"),
        (np.arange("1990", "2024", dtype="datetime64[Y]").astype("datetime64[D]"), "yearly"),
    ],
)
def test_each_frequency_is_recognised(times, name):
    assert infer_frequency(times).name == name
    assert irregular_steps(times, get_frequency(name)).size == 0


def test_month_ends_read_as_monthly():
    ends = np.arange("2020-02", "2022-02", dtype="datetime64[M]").astype("datetime64[D]") - 1
    assert infer_frequency(ends).name == "monthly"


def test_daily_timestamps_at_midnight_as_date_times_are_daily():
    times = _range("2024-01-01T00:00:00", 20, np.timedelta64(86400, "s"))
    assert infer_frequency(times).name == "daily"


def test_irregular_timestamps_are_refused_with_the_steps_found():
    minutes = np.cumsum([0, 90, 35, 90, 35, 17]).astype("timedelta64[m]")
    times = np.datetime64("2024-01-01T00:00") + minutes
    with pytest.raises(InvalidParameterError, match=r"most common steps .* 90 minutes"):
        infer_frequency(times)


def test_gaps_and_off_grid_times_are_found():
    hours = _range("2024-01-01T00", 10, np.timedelta64(1, "h")).astype("datetime64[m]")
    gappy = np.delete(hours, [4, 5])
    assert irregular_steps(gappy, get_frequency("hourly")).tolist() == [3]
    shifted = hours.copy()
    shifted[6] += np.timedelta64(30, "m")
    assert irregular_steps(shifted, get_frequency("hourly")).tolist() == [5, 6]


@pytest.mark.parametrize(
    ("start", "step", "name"),
    [("2020-01-01T12:00", np.timedelta64(1, "D"), "daily"),
     ("2020-01-01T00:30", np.timedelta64(1, "h"), "hourly"),
     ("2020-01-06T09:00", np.timedelta64(7, "D"), "weekly")],
)  # fmt: skip
def test_times_at_a_constant_offset_from_the_unit_keep_their_frequency(start, step, name):
    times = _range(start, 30, step).astype("datetime64[m]")
    frequency = infer_frequency(times)
    assert frequency.name == name and frequency.on_grid(times)
    assert irregular_steps(np.delete(times, 10), frequency).tolist() == [9]
    assert frequency.positions(times)[1] - frequency.positions(times)[0] == frequency.step


def test_a_time_off_the_first_rows_offset_is_off_grid():
    times = _range("2020-01-01T12:00", 10, np.timedelta64(1, "D")).astype("datetime64[m]")
    times[4] += np.timedelta64(1, "h")
    daily = get_frequency("daily")
    assert daily.off_grid(times).tolist() == [i == 4 for i in range(10)]
    assert irregular_steps(times, daily).tolist() == [3, 4]


def test_an_unknown_frequency_lists_the_known_ones():
    with pytest.raises(NotFoundError, match="no frequency 'fortnightly'; known: hourly"):
        get_frequency("fortnightly")


def test_too_few_timestamps_are_refused():
    with pytest.raises(InvalidParameterError, match="from 1 timestamp"):
        infer_frequency(np.array(["2024-01-01"], dtype="datetime64[D]"))


def test_hourly_calendar_columns_are_cyclic():
    stamps = np.array(["2023-12-31T23", "2024-01-01T00"], dtype="datetime64[h]")
    columns = calendar_columns(stamps, FREQUENCIES["hourly"].cycles)
    features = np.column_stack(list(columns.values()))
    assert features.shape == (2, 6) and features.dtype == np.float32
    hour_and_year = [0, 1, 4, 5]  # midnight and New Year are neighbours, not opposites
    assert np.abs(features[0, hour_and_year] - features[1, hour_and_year]).max() < 0.3
    monday = calendar_columns(np.array(["2024-01-01T00"], dtype="datetime64[h]"), ("weekday",))
    assert monday["weekday_sin"][0] == pytest.approx(0.0, abs=1e-6)  # Monday is day 0


def test_month_cycle_puts_december_next_to_january():
    months = np.array(["2023-12-01", "2024-01-01", "2024-07-01"], dtype="datetime64[D]")
    columns = calendar_columns(months, ("month",))
    assert list(columns) == ["month_sin", "month_cos"]
    np.testing.assert_allclose(
        columns["month_cos"], [np.cos(2 * np.pi * 11 / 12), 1.0, -1.0], atol=1e-6
    )


def test_an_unknown_cycle_is_refused():
    with pytest.raises(InvalidParameterError, match="unknown calendar cycle 'minute'"):
        calendar_columns(np.array(["2024-01-01"], dtype="datetime64[D]"), ("minute",))

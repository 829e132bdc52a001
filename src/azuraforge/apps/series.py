"""`SeriesForecaster`: a forecaster of one column of a regularly sampled table.

A subclass reads its source into a :class:`Series` (:meth:`SeriesForecaster.read_series`);
this class does the rest for every such source, the ``forecaster`` pipeline's CSV files and
the weather forecaster's Beijing file alike:

- the frequency is the configured one, or inferred from the timestamps (``auto``);
- rows must follow one another at that frequency: a missing timestamp is refused, naming the
  file, the line and the two times around the gap;
- a missing value is refused (``missing="refuse"``, the default) or, with ``missing="fill"``,
  replaced by the last known value of its column (the past only, so nothing leaks from the
  future); a filled-in *target* value is never a training label and never scored;
- with ``missing="fill"``, a missing hour, day or week is also inserted as a row of missing
  values, then filled the same way (monthly and coarser gaps are still refused); a stretch
  of more than ``max_fill`` missing values in a row (default: one season) is refused;
- calendar features fit the frequency (hour, weekday, day of year, month of year);
- the baselines are persistence and the seasonal-naive forecasts of the frequency; one that
  would read before the first row (same day last year on a short series) is left out, and
  the report says so.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

import numpy as np
from pydantic import Field

from azuraforge.apps.forecasting import ForecastConfig, Frame, TimeSeriesPipeline
from azuraforge.errors import DataFormatError
from azuraforge.learn.datasets import CsvTable, FillReport, missing_runs
from azuraforge.learn.forecasting import (
    CLIMATOLOGY,
    CLIMATOLOGY_DAYS,
    CLIMATOLOGY_FREQUENCIES,
    Frequency,
    calendar_columns,
    climatology,
    climatology_forecast,
    climatology_table,
    get_frequency,
    infer_frequency,
    irregular_steps,
    naive_baselines,
    unreachable_seasons,
)

FrequencyName = Literal["auto", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly"]


class SeriesConfig(ForecastConfig):
    """The forecasting settings plus how to read the series' timing and gaps."""

    frequency: FrequencyName = Field(
        "auto", description="Step between rows; auto: inferred from the timestamps."
    )
    missing: Literal["refuse", "fill"] = Field(
        "refuse",
        description="A blank or NA value, or a missing hour, day or week: refuse (an error "
        "naming file, line and column), or fill it with the last known value of its column "
        "(a missing target is never a label nor scored).",
    )
    max_fill: int | None = Field(
        None,
        ge=1,
        description="With missing=fill, the most missing values filled in a row in any "
        "column (rows inserted for a gap included); a longer stretch is refused. None: one "
        "season of the frequency (24 hours, 7 days, 52 weeks, 12 months, 4 quarters, 1 year).",
    )


Locator = Callable[[int, str, str], DataFormatError]
"""Makes the error for a value at (data row from 0, column name, problem)."""


def _located(row: int, column: str, problem: str) -> DataFormatError:
    return DataFormatError(f"row {row + 1}, column {column!r}: {problem}")


@dataclass(frozen=True)
class Series:
    """A table read from a source, before any checks.

    Attributes
    ----------
    times
        ``datetime64``, one per row, strictly increasing.
    columns
        Input name → float values (NaN where missing), the target's own column included
        (first, by convention).
    target
        The name of the target's column in ``columns``.
    time_column
        The name of the times' column in the source, for messages.
    error
        Makes the error for a value at (data row from 0, column name, problem), naming its
        file, line and column, then the problem.
    """

    times: np.ndarray
    columns: dict[str, np.ndarray]
    target: str
    time_column: str = "time"
    error: Locator = field(default=_located)


SeriesConfigT = TypeVar("SeriesConfigT", bound=SeriesConfig)


class SeriesForecaster(TimeSeriesPipeline[SeriesConfigT]):
    """Base of forecasters of a :class:`Series`; subclasses define :meth:`read_series`."""

    Config: ClassVar[type[ForecastConfig]] = SeriesConfig

    @abstractmethod
    def read_series(self, config: SeriesConfigT, source: Path | CsvTable | None = None) -> Series:
        """The table (from ``source``, a raw file of the same shape or such a table already
        read, when given)."""

    def load_frame(self, config: SeriesConfigT, source: Path | CsvTable | None = None) -> Frame:
        series = self.read_series(config, source)
        frequency = _configured_frequency(config, series.times)
        if config.missing == "fill":
            series, file_rows = _without_gaps(series, frequency)
            _check_steps(series, frequency, config.missing)
            columns = _filled(series)
            _check_fill_runs(series, file_rows, _max_fill(config, frequency))
            inserted = len(series.times) - len(file_rows)
            times = _natural(series.times, frequency)
            fill = FillReport.from_columns(times, series.columns, inserted)
        else:
            file_rows, fill = np.arange(len(series.times)), None
            _check_steps(series, frequency, config.missing)
            columns = _complete(series)
        calendar = calendar_columns(series.times, frequency.cycles)
        features = np.column_stack([*columns.values(), *calendar.values()]).astype(np.float64)
        observed = ~np.isnan(series.columns[series.target])
        target = columns[series.target].astype(np.float64)
        return Frame(
            _natural(series.times, frequency), features, [*columns, *calendar], target,
            None if observed.all() else observed,
            inserted_rows=len(series.times) - len(file_rows), frequency=frequency,
            fill_report=fill,
        )  # fmt: skip

    def resolved_config(self, config: SeriesConfigT, frame: Frame) -> SeriesConfigT:
        """``config`` with ``frequency="auto"`` replaced by the frequency :meth:`load_frame`
        determined (from every row, before ``max_rows``), so the report, the baselines and the
        saved artifact read it from ``config``."""
        frequency = frame.frequency or _configured_frequency(config, frame.times)
        return config.model_copy(update={"frequency": frequency.name})

    def baselines(
        self, frame: Frame, rows: np.ndarray, config: SeriesConfigT, train: slice
    ) -> dict[str, np.ndarray]:
        frequency = get_frequency(config.frequency)
        forecasts = naive_baselines(
            frame.target, rows, config.horizon, frequency, reachable_only=True
        )
        observed = _observed_rows(frame, train)
        climate = climatology(frame.times, frame.target, observed, rows, frequency)
        if climate is not None:
            forecasts[CLIMATOLOGY] = climate
        return forecasts

    def baseline_notes(
        self, frame: Frame, rows: np.ndarray, config: SeriesConfigT, train: slice
    ) -> list[str]:
        frequency = get_frequency(config.frequency)
        seasons = ", ".join(name for name, _ in frequency.seasons) or "none"
        unreachable = unreachable_seasons(rows, config.horizon, frequency)
        notes = [f"Rows are {frequency.name}: the seasonal baselines are {seasons}."] + [
            f"The '{name}' baseline is left out: it reads {lag} rows back, and the test part "
            f"starts at row {rows.min()} (more rows or a larger train_fraction bring it in)."
            for name, lag in unreachable.items()
        ]
        if frequency.name in CLIMATOLOGY_FREQUENCIES:
            notes.append(_climatology_note(frame, rows, train, frequency))
        return notes

    def fit_anchors(
        self, frame: Frame, train: slice, config: SeriesConfigT
    ) -> dict[str, np.ndarray]:
        """Climatology, when the training rows cover every time of year the series has
        (the four quarters' months of quarterly rows, every day of daily ones)."""
        rows = _observed_rows(frame, train)
        frequency = get_frequency(config.frequency)
        table = climatology_table(frame.times[rows], frame.target[rows], frequency)
        if table is None or np.isnan(climatology_forecast(table, frame.times, frequency)).any():
            return {}
        return {CLIMATOLOGY: table}

    def fitted_anchor(
        self, name: str, table: np.ndarray, times: np.ndarray, config: SeriesConfigT
    ) -> np.ndarray:
        if name != CLIMATOLOGY:
            return super().fitted_anchor(name, table, times, config)
        return climatology_forecast(table, times, get_frequency(config.frequency))

    def seasons(self, config: SeriesConfigT) -> dict[str, int]:
        if config.frequency == "auto":
            return {}
        return dict(get_frequency(config.frequency).seasons)


def _observed_rows(frame: Frame, part: slice) -> np.ndarray:
    """The indices of ``part`` whose target value was observed, not filled in."""
    rows = np.arange(len(frame))[part]
    return rows if frame.observed is None else rows[frame.observed[rows]]


def _climatology_note(frame: Frame, rows: np.ndarray, train: slice, frequency: Frequency) -> str:
    """What the climatology baseline averages, or why it is left out."""
    observed = _observed_rows(frame, train)
    if climatology(frame.times, frame.target, observed, rows, frequency) is None:
        return (
            f"The '{CLIMATOLOGY}' baseline is left out: the training part does not cover every "
            "time of year of the test part (it needs a year of training rows)."
        )
    span = "month" if frequency.unit == "M" else f"day of the year, ±{CLIMATOLOGY_DAYS} days"
    return f"The '{CLIMATOLOGY}' baseline is the training part's mean value of the same {span}."


def _configured_frequency(config: SeriesConfig, times: np.ndarray) -> Frequency:
    if config.frequency == "auto":
        return infer_frequency(times)
    return get_frequency(config.frequency)


def _natural(times: np.ndarray, frequency: Frequency) -> np.ndarray:
    """Regular times in the frequency's unit (days as dates, not midnights); monthly and
    coarser times keep theirs (a month may be dated by any of its days), and so do times
    offset from the unit (daily rows stamped at 12:00)."""
    if frequency.unit == "M" or frequency.offset(times):
        return times
    return times.astype(f"datetime64[{frequency.unit}]")


def _without_gaps(series: Series, frequency: Frequency) -> tuple[Series, np.ndarray]:
    """``series`` on its full hourly, daily or weekly grid, a row of NaN for each missing
    timestamp, and the grid row of each file row; unchanged when its times are not whole
    steps apart (:func:`_check_steps` then says where). Its ``error`` still takes file rows
    (the grid row of file row ``i`` is ``rows[i]``)."""
    positions = frequency.positions(series.times)
    steps = np.diff(positions)
    unchanged = series, np.arange(len(positions))
    if frequency.unit == "M" or not frequency.on_grid(series.times):
        return unchanged
    if (steps <= 0).any() or (steps % frequency.step).any() or (steps == frequency.step).all():
        return unchanged
    rows = (positions - positions[0]) // frequency.step
    size = int(rows[-1]) + 1
    columns = {name: _spread(values, rows, size) for name, values in series.columns.items()}
    grid = positions[0] + np.arange(size) * frequency.step
    times = grid.astype(f"datetime64[{frequency.unit}]") + frequency.offset(series.times)
    return Series(times, columns, series.target, series.time_column, series.error), rows


def _max_fill(config: SeriesConfig, frequency: Frequency) -> int:
    """``config.max_fill``, or one (shortest) season of the frequency, 1 for yearly rows."""
    if config.max_fill is not None:
        return config.max_fill
    return min((period for _, period in frequency.seasons), default=1)


def _check_fill_runs(series: Series, file_rows: np.ndarray, limit: int) -> None:
    """Refuse the first stretch of more than ``limit`` missing values in a row in any column
    (rows inserted for a gap included), naming the first file row in or after it."""
    for name, values in series.columns.items():
        starts, lengths = missing_runs(np.isnan(values))
        too_long = np.flatnonzero(lengths > limit)
        if not too_long.size:
            continue
        start, length = int(starts[too_long[0]]), int(lengths[too_long[0]])
        inserted = length - int(((file_rows >= start) & (file_rows < start + length)).sum())
        problem = (
            f"{length} missing values in a row from {series.times[start]} to "
            f"{series.times[start + length - 1]} ({inserted} of them rows missing from the "
            f"file, {too_long.size} such stretch(es) in this column); missing=fill fills at "
            f"most max_fill={limit} in a row, so forecasts do not rest on invented values; "
            f"add the missing rows or values, or set max_fill={length} to fill them anyway"
        )
        raise series.error(int(np.searchsorted(file_rows, start)), name, problem)


def _spread(values: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    spread = np.full(size, np.nan)
    spread[rows] = values
    return spread


def _check_steps(series: Series, frequency: Frequency, missing: str) -> None:
    """Refuse missing timestamps, repeats and disorder, at the first place they occur."""
    bad = irregular_steps(series.times, frequency)
    if not bad.size:
        return
    row = int(bad[0])
    before, after = series.times[row], series.times[row + 1]
    problem = (
        f"{after} follows {before}, but {frequency.name} rows must be one step apart "
        f"({bad.size} such place(s)); {_step_advice(series.times, frequency, row, missing)}"
    )
    raise series.error(row + 1, series.time_column, problem)


def _step_advice(times: np.ndarray, frequency: Frequency, row: int, missing: str) -> str:
    """What to do about the irregular step after ``times[row]``: fill is suggested only
    where it would help (a whole number of hourly, daily or weekly steps missing)."""
    if frequency.off_grid(times)[row : row + 2].any():
        return (
            f"every time must lie a whole number of steps after the first row's ({times[0]}); "
            "fix the times, or set the frequency that fits"
        )
    step = int(np.diff(frequency.positions(times[row : row + 2]))[0])
    if step <= 0:
        return "sort the rows by time and remove repeated times"
    if missing == "refuse" and frequency.unit != "M" and step % frequency.step == 0:
        return (
            "set missing=fill to insert missing hours, days or weeks as missing values, add "
            "the missing rows, or set the frequency that fits"
        )
    if frequency.unit == "M":
        return (
            f"{frequency.name} gaps cannot be filled (a month has no single length); add the "
            "missing rows, or set the frequency that fits"
        )
    return "add the missing rows, or set the frequency that fits"


def _complete(series: Series) -> dict[str, np.ndarray]:
    """The columns, refusing the first missing value."""
    for name, values in series.columns.items():
        missing = np.flatnonzero(np.isnan(values))
        if missing.size:
            raise series.error(
                int(missing[0]), name,
                f"a missing value ({missing.size} in this column); set missing=fill to carry "
                "the last known value forward, or leave the column out",
            )  # fmt: skip
    return series.columns


def _filled(series: Series) -> dict[str, np.ndarray]:
    """The columns with each missing value replaced by the last known value before it."""
    filled: dict[str, np.ndarray] = {}
    for name, values in series.columns.items():
        known = ~np.isnan(values)
        if not known[0]:
            raise series.error(
                0, name,
                "a missing value in the first row cannot be filled from the past; drop the "
                "leading rows or fill them in the file",
            )  # fmt: skip
        last_known = np.maximum.accumulate(np.where(known, np.arange(len(values)), 0))
        filled[name] = values[last_known]
    return filled

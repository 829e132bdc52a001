"""`weather-forecaster`: hourly temperature in Beijing with an LSTM, beside persistence and
same-hour-yesterday.

A preset of the series forecaster (:class:`~azuraforge.apps.series.SeriesForecaster`, the
``forecaster`` pipeline's code path) whose loader reads the Beijing file's own columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from azuraforge.apps.series import FrequencyName, Series, SeriesConfig, SeriesForecaster
from azuraforge.errors import DataFormatError
from azuraforge.learn.datasets import BeijingHourly, CsvTable, load_beijing_hourly


class WeatherConfig(SeriesConfig):
    """The series settings with the Beijing file's frequency."""

    frequency: FrequencyName = Field("hourly", description="Step between rows (hourly).")


class WeatherForecaster(SeriesForecaster[WeatherConfig]):
    """Temperature ``horizon`` hours ahead from the last ``sequence_length`` hours of
    temperature, dew point, pressure, wind, snow, rain and the calendar (dataset
    ``beijing-hourly``, 2010-2014)."""

    name = "weather-forecaster"
    description = "LSTM forecast of hourly temperature (Beijing 2010-2014) vs naive baselines."
    Config = WeatherConfig

    def describe_target(self, config: WeatherConfig) -> str:
        return "temperature (°C)"

    def read_series(self, config: WeatherConfig, source: Path | CsvTable | None = None) -> Series:
        data = load_beijing_hourly(source)
        directions = np.eye(len(BeijingHourly.WIND_DIRECTIONS))[data.wind_direction]
        columns = {
            "temperature": data.temperature,
            "dew_point": data.dew_point,
            "pressure": data.pressure,
            "wind_speed_log": np.log1p(data.wind_speed),
            **{f"wind_{d}": directions[:, i] for i, d in enumerate(data.WIND_DIRECTIONS)},
            "snow_hours": data.snow_hours,
            "rain_hours": data.rain_hours,
        }

        def error(row: int, column: str, problem: str) -> DataFormatError:
            if isinstance(source, CsvTable):
                return DataFormatError(f"{source.place(source.lines[row])} ({column}): {problem}")
            # One row per line after the header in this file's format.
            where = source or "beijing-hourly"
            return DataFormatError(f"{where}, line {row + 2} ({column}): {problem}")

        return Series(data.timestamps, columns, "temperature", "year, month, day, hour", error)

"""`weather-forecaster`: hourly temperature in Beijing with an LSTM, beside persistence and
same-hour-yesterday."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from azuraforge.apps.forecasting import ForecastConfig, Frame, TimeSeriesPipeline
from azuraforge.errors import InvalidParameterError
from azuraforge.learn.datasets import BeijingHourly, load_beijing_hourly
from azuraforge.learn.forecasting import get_frequency, naive_baselines
from azuraforge.learn.timeseries import calendar_features

CALENDAR = ["hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "yearday_sin", "yearday_cos"]


class WeatherForecaster(TimeSeriesPipeline[ForecastConfig]):
    """Temperature ``horizon`` hours ahead from the last ``sequence_length`` hours of
    temperature, dew point, pressure, wind, snow, rain and the calendar (dataset
    ``beijing-hourly``, 2010-2014)."""

    name = "weather-forecaster"
    description = "LSTM forecast of hourly temperature (Beijing 2010-2014) vs naive baselines."
    target_name = "temperature (°C)"

    def load_frame(self, config: ForecastConfig, source: Path | None = None) -> Frame:
        data = load_beijing_hourly(source)
        gaps = np.flatnonzero(np.diff(data.timestamps) != np.timedelta64(1, "h"))
        if gaps.size:
            raise InvalidParameterError(
                f"{source or 'beijing-hourly'}: hours must follow one another (a horizon counts "
                f"rows as hours), but {data.timestamps[gaps[0]]} is followed by "
                f"{data.timestamps[gaps[0] + 1]} ({gaps.size} gaps)"
            )
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
        calendar = calendar_features(data.timestamps)
        features = np.column_stack([*columns.values(), calendar]).astype(np.float64)
        return Frame(
            data.timestamps, features, [*columns, *CALENDAR], data.temperature.astype(np.float64)
        )

    def baselines(
        self, frame: Frame, rows: np.ndarray, config: ForecastConfig, train: slice
    ) -> dict[str, np.ndarray]:
        return naive_baselines(frame.target, rows, config.horizon, get_frequency("hourly"))

"""`stock-predictor`: next-day closing price of a stock or index with an LSTM on daily OHLCV,
beside persistence and drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from azuraforge.apps.forecasting import ForecastConfig, Frame, TimeSeriesPipeline
from azuraforge.learn.datasets import CsvTable, fetch, load_ohlcv
from azuraforge.learn.forecasting import drift, mase_row, persistence
from azuraforge.learn.metrics import directional_accuracy, majority_rate

FEATURES = ["log_return", "log_high_low", "log_volume_change"]


class StockConfig(ForecastConfig):
    """Settings of the stock predictor (the forecasting settings plus the data source)."""

    csv: Path | None = Field(
        None,
        description="A CSV of daily prices: date, high, low, close and volume columns (open, "
        "adj close and others ignored), found by name in any order and case; by default the "
        "S&P 500 (sp500-daily).",
    )
    start: str = Field("1950-01-03", description="First date used (the S&P has no volume before).")
    date_column: str | None = Field(
        None, description="The date column of csv, if not Date, Timestamp, Datetime, Time or Day."
    )
    high_column: str | None = Field(None, description="The high column of csv, if not High.")
    low_column: str | None = Field(None, description="The low column of csv, if not Low.")
    close_column: str | None = Field(None, description="The close column of csv, if not Close.")
    volume_column: str | None = Field(None, description="The volume column of csv, if not Volume.")
    sequence_length: int = Field(30, ge=2, description="Past trading days the model reads.")

    def column_names(self) -> dict[str, str]:
        """The column names set, by ``load_ohlcv`` field (``{"close": "Last"}``)."""
        named = {
            "date": self.date_column,
            "high": self.high_column,
            "low": self.low_column,
            "close": self.close_column,
            "volume": self.volume_column,
        }
        return {field: name for field, name in named.items() if name is not None}


class StockPredictor(TimeSeriesPipeline[StockConfig]):
    """Closing price ``horizon`` trading days ahead from the last ``sequence_length`` days of
    returns, daily range and volume change. The model works on log prices."""

    name = "stock-predictor"
    description = "LSTM forecast of the daily close (S&P 500 from 1950 by default) vs naive."
    Config = StockConfig
    log_target = True
    mase_on_target = False

    def describe_target(self, config: StockConfig) -> str:
        return "closing price"

    def load_frame(self, config: StockConfig, source: Path | CsvTable | None = None) -> Frame:
        path = source if source is not None else config.csv
        path = path or fetch("sp500-daily")["GSPC_daily_1927_2023.csv"]
        data = load_ohlcv(
            path,
            start=config.start,
            columns=config.column_names(),
            fix="name the column with the setting {field}_column (--set {field}_column=NAME)",
        )
        volume = np.maximum(data.volume, 1.0)
        features = np.column_stack([
            np.diff(np.log(data.close)),
            np.log(data.high / data.low)[1:],
            np.diff(np.log(volume)),
        ])  # fmt: skip
        # The first day has no previous close: drop it everywhere.
        return Frame(data.dates[1:], features, list(FEATURES), data.close[1:], dropped_rows=1)

    def future_times(self, config: StockConfig, frame: Frame, steps: np.ndarray) -> np.ndarray:
        """The trading days after the last row: weekdays (holidays are not known)."""
        days: np.ndarray = np.busday_offset(frame.times[-1], steps, roll="forward")
        return days

    def baselines(
        self, frame: Frame, rows: np.ndarray, config: StockConfig, train: slice
    ) -> dict[str, np.ndarray]:
        return {
            "persistence": persistence(frame.target, rows, config.horizon),
            "drift": drift(frame.target, rows, config.horizon, train, log=True),
        }

    def extra_metrics(
        self,
        frame: Frame,
        train: slice,
        actual: np.ndarray,
        predicted: np.ndarray,
        baselines: dict[str, np.ndarray],
    ) -> dict[str, dict[str, float]]:
        log_forecasts = {name: np.log(v) for name, v in {"model": predicted, **baselines}.items()}
        return {
            "MASE (log price)": mase_row(
                np.log(actual), log_forecasts, np.log(frame.target[train])
            ),
            # Moves over the horizon, from the last close known when the forecast was made.
            "Directional accuracy": {
                "model": directional_accuracy(
                    actual - baselines["persistence"],
                    predicted - baselines["persistence"],
                    series="return",
                ),
                "majority rate": majority_rate(actual - baselines["persistence"], "return"),
            },
        }

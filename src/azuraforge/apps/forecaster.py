"""`forecaster`: forecast one column of your own CSV file, beside persistence and the
seasonal-naive baselines of its frequency.

Give the file (``csv``), the time column, the target column and, optionally, more input
columns; everything else follows :class:`~azuraforge.apps.series.SeriesForecaster`. Only rows
before the target row feed the model (``horizon`` steps before it, and earlier), so a column
such as a same-day maximum on the target's own row cannot leak it. See docs/forecasting.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from azuraforge.apps.forecasting import VALUE_BOUND, Frame
from azuraforge.apps.series import Locator, Series, SeriesConfig, SeriesForecaster
from azuraforge.errors import DataFormatError
from azuraforge.learn.datasets import (
    DATASETS,
    CsvTable,
    dataset_file,
    read_csv,
)

MISSING_MARKERS = ("", "NA", "N/A", "NaN", "nan", "null")
"""Fields read as a missing value (then refused or filled, as ``missing`` says)."""


class ForecasterConfig(SeriesConfig):
    """Where the series is: a CSV file and its columns, then the forecasting settings."""

    csv: Path = Field(description="The CSV file, or a registered dataset's name (required).")
    time_column: str = Field("date", description="Column of ISO dates or date-times.")
    target: str = Field(description="Column to forecast (required).")
    features: list[str] = Field(
        default_factory=list,
        description="Other columns the model reads (the target's past is always read).",
    )
    delimiter: Literal[",", ";", "tab", "auto"] = Field(
        "auto",
        description="What separates fields: ',', ';', tab, or auto (commas, else the one of ';' "
        "and tab that splits every line evenly); a run saves the one it found.",
    )
    decimal: Literal[".", ",", "auto"] = Field(
        "auto",
        description="Decimal mark: '.', ',' (3,5; dots may separate thousands, 1.234,5), or "
        "auto (',' when a value has a decimal comma and none a point); a run saves the one "
        "it found.",
    )


class CsvForecaster(SeriesForecaster[ForecasterConfig]):
    """The ``target`` column ``horizon`` steps ahead from the last ``sequence_length`` rows of
    the target, the ``features`` columns and calendar features fitting the frequency."""

    name = "forecaster"
    description = "LSTM forecast of a column of any CSV vs persistence and seasonal naive."
    Config = ForecasterConfig

    def read_series(
        self, config: ForecasterConfig, source: Path | CsvTable | None = None
    ) -> Series:
        table = source if isinstance(source, CsvTable) else _read(source or config.csv, config)
        settings = [("time_column", config.time_column), ("target", config.target)]
        settings += [("features", name) for name in config.features]
        time_column, *names = (
            table.find_column(name, fix=_missing_column_fix(setting, name, source))
            for setting, name in settings
        )
        times = table.times(time_column)
        order = table.time_order(times, [time_column])  # a file listed newest first is reversed
        unique = list(dict.fromkeys(names))  # the target may be listed among the features too
        values = table.matrix(unique, missing=MISSING_MARKERS, bound=VALUE_BOUND)[order]
        columns = dict(zip(unique, values.T, strict=True))
        return Series(times[order], columns, names[0], time_column, _locator(table, order))

    def describe_target(self, config: ForecasterConfig) -> str:
        return config.target

    def resolved_config(self, config: ForecasterConfig, frame: Frame) -> ForecasterConfig:
        """The frequency made explicit (:class:`SeriesForecaster`), and ``delimiter`` and
        ``decimal`` too: ``predict`` then reads a file written the way the training file was,
        even one too short or too plain for ``auto`` to tell (``1.234`` reads either way)."""
        config = super().resolved_config(config, frame)
        if "auto" not in (config.delimiter, config.decimal):
            return config
        table = _read(config.csv, config)
        return config.model_copy(update={"delimiter": table.delimiter, "decimal": table.decimal})


def _missing_column_fix(setting: str, name: str, source: Path | CsvTable | None) -> str:
    """What to do when ``name`` is missing: a setting to change when training; when
    predicting (``source`` given) the settings are the model's, so the file must change."""
    if source is not None:
        return f"the model was trained with column {name!r} ({setting}); the file must have it"
    if setting == "time_column":
        return "set time_column=NAME"
    return f"set {setting} to one of them"


def _read(path: Path, config: ForecasterConfig) -> CsvTable:
    """The file ``path`` (or a dataset's), fields and numbers read as ``config`` says."""
    return read_csv(_dataset_file(path), delimiter=config.delimiter, decimal=config.decimal)


def _dataset_file(path: Path) -> Path:
    """The file of the registered dataset named ``path`` (``london-daily``), else ``path``: a
    dataset's name never reads a file of the working folder."""
    return dataset_file(str(path)) if str(path) in DATASETS else path


def _locator(table: CsvTable, order: np.ndarray) -> Locator:
    """Errors about row ``row`` of the series (in time order) name its line in the file."""

    def error(row: int, column: str, problem: str) -> DataFormatError:
        return table.error(int(order[row]), [column], problem)

    return error

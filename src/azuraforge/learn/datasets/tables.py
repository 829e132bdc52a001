"""CSV tables as NumPy arrays: the Beijing hourly weather and daily prices (OHLCV).

Read with :func:`~azuraforge.learn.datasets.csvfiles.read_csv`. A file that does not read as
documented raises :class:`~azuraforge.errors.DataFormatError` naming the file, the line and the
column.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.learn.datasets.csvfiles import CsvTable, read_csv
from azuraforge.learn.datasets.fetching import dataset_file
from azuraforge.learn.datasets.registry import DATASETS

OHLCV_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("Date", "Timestamp", "Datetime", "Time", "Day"),
    "open": ("Open",),
    "high": ("High",),
    "low": ("Low",),
    "close": ("Close",),
    "adj_close": ("Adj Close", "Adjusted Close"),
    "volume": ("Volume",),
}
"""The names :func:`load_ohlcv` looks for, by field, tried in order; names match whatever their
case, spaces, underscores and hyphens (``adj_close`` finds ``Adj Close``)."""
OPTIONAL_OHLCV = ("open", "adj_close")
_OHLCV_VALUES = {
    "open": (True, "an opening price >= 0 (0 where it was not recorded)"),
    "high": (False, "a price > 0"),
    "low": (False, "a price > 0"),
    "close": (False, "a price > 0"),
    "adj_close": (False, "a price > 0"),
    "volume": (True, "a volume >= 0"),
}
"""By field: whether 0 is allowed, and the value expected (for the message)."""
BEIJING_HEADER = (
    "No", "year", "month", "day", "hour", "pm2.5", "DEWP", "TEMP", "PRES", "cbwd", "Iws", "Is",
    "Ir",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class BeijingHourly:
    """The UCI Beijing PM2.5 data set: one row an hour, 2010-01-01 00:00 to 2014-12-31 23:00.

    Every array has one value per hour. Weather columns are float32 in the file's units.

    Attributes
    ----------
    timestamps
        ``datetime64[h]``, local Beijing time, strictly increasing.
    pm25
        PM2.5 concentration (µg/m³); NaN where the file says ``NA``.
    dew_point, temperature
        °C (whole degrees in this file).
    pressure
        hPa.
    wind_direction
        int8 codes into :attr:`WIND_DIRECTIONS` (``cv`` is "calm and variable").
    wind_speed
        *Cumulated* wind speed (m/s) since the wind direction last changed, as in the file.
    snow_hours, rain_hours
        Cumulated hours of snow and of rain.

    Examples
    --------
    ``load_beijing_hourly()`` reads all 43,824 hours; any file with the same columns reads too:

    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "beijing.csv"
    ...     _ = path.write_text(
    ...         "No,year,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,Is,Ir\\n"
    ...         "1,2010,1,1,23,NA,-21,-11,1021,NW,1.79,0,0\\n"
    ...         "2,2010,1,2,0,129,-16,-4,1020,SE,1.79,0,0\\n")
    ...     data = load_beijing_hourly(path)
    >>> data.timestamps
    array(['2010-01-01T23', '2010-01-02T00'], dtype='datetime64[h]')
    >>> data.pm25, data.temperature
    (array([ nan, 129.], dtype=float32), array([-11.,  -4.], dtype=float32))
    >>> [data.WIND_DIRECTIONS[code] for code in data.wind_direction]
    ['NW', 'SE']
    """

    WIND_DIRECTIONS: ClassVar[tuple[str, ...]] = ("NE", "NW", "SE", "cv")

    timestamps: np.ndarray
    pm25: np.ndarray
    dew_point: np.ndarray
    temperature: np.ndarray
    pressure: np.ndarray
    wind_direction: np.ndarray
    wind_speed: np.ndarray
    snow_hours: np.ndarray
    rain_hours: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps)


@dataclass(frozen=True, eq=False)
class OHLCV:
    """Daily prices: one row a trading day, oldest first.

    Attributes
    ----------
    dates
        ``datetime64[D]``, strictly increasing.
    high, low, close, volume
        float64 columns, as in the file; prices above 0, ``high >= low``, volume >= 0.
    open, adj_close
        float64 columns, or None when the file has no such column; opens are >= 0 (the S&P
        500 has 0 where the open was not recorded), adjusted closes above 0.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "prices.csv"
    ...     _ = path.write_text(
    ...         "Date,Open,High,Low,Close,Adj Close,Volume\\n"
    ...         "2024-01-02,10,11,9,10.5,10.5,1000\\n"
    ...         "2024-01-03,10.5,12,10,11.5,11.5,1500\\n")
    ...     prices = load_ohlcv(path, start="2024-01-03")
    >>> prices.dates, prices.close
    (array(['2024-01-03'], dtype='datetime64[D]'), array([11.5]))

    Lower-case names, another order, an extra column, no open nor adjusted close:

    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "prices.csv"
    ...     _ = path.write_text("timestamp,symbol,close,volume,low,high\\n"
    ...                         "2024-01-02,XYZ,10.5,1000,9,11\\n")
    ...     prices = load_ohlcv(path)
    >>> prices.high, prices.open
    (array([11.]), None)
    """

    dates: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    open: np.ndarray | None = None
    adj_close: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.dates)


def load_beijing_hourly(
    path: str | os.PathLike[str] | CsvTable | None = None,
) -> BeijingHourly:
    """Read the Beijing hourly weather CSV (dataset ``beijing-hourly``).

    Parameters
    ----------
    path
        A CSV file with the UCI columns ``year,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,
        Is,Ir``, found by name in any order and case (``No`` and other columns are ignored);
        by default the registered file, fetched with :func:`fetch`. A table already read
        (:func:`~azuraforge.learn.datasets.csvfiles.rows_table`: rows a request sent) is read
        the same way.

    Returns
    -------
    BeijingHourly
        The columns as NumPy arrays.

    Raises
    ------
    DataFormatError
        For a file that is not UTF-8 CSV text, a missing column, a value that is not a number
        (``NA`` is allowed in ``pm2.5`` only), an impossible date or hour, an unknown wind
        direction, or hours out of order or repeated; the message names the file, line and
        column.
    """
    table = _table(dataset_file("beijing-hourly") if path is None else path)
    fix = f"the file needs the columns {','.join(BEIJING_HEADER[1:])}"
    column = {name: table.find_column(name, fix=fix) for name in BEIJING_HEADER[1:]}
    when = [column[name] for name in ("year", "month", "day", "hour")]
    stamps = _hours(table, when)
    table.check_increasing(stamps, when)

    def floats(name: str, missing: str | tuple[str, ...] = ()) -> np.ndarray:
        return table.numbers(column[name], missing=missing).astype(np.float32)

    return BeijingHourly(
        timestamps=stamps,
        pm25=floats("pm2.5", missing="NA"),
        dew_point=floats("DEWP"),
        temperature=floats("TEMP"),
        pressure=floats("PRES"),
        wind_direction=table.categories(column["cbwd"], BeijingHourly.WIND_DIRECTIONS),
        wind_speed=floats("Iws"),
        snow_hours=floats("Is"),
        rain_hours=floats("Ir"),
    )


def load_ohlcv(
    source: str | os.PathLike[str] | CsvTable,
    *,
    start: str | datetime.date | np.datetime64 | None = None,
    columns: Mapping[str, str] | None = None,
    fix: str = "name the column with load_ohlcv(columns={{{field!r}: ...}})",
) -> OHLCV:
    """Read daily prices from a CSV with a date, high, low, close and volume column.

    Columns are found by name, in any order and whatever their case, spaces and underscores
    (:data:`OHLCV_ALIASES`: ``Date``, ``date`` or ``timestamp``; ``Adj Close`` or
    ``adj_close``; ...); other columns are ignored. ``Open`` and ``Adj Close`` may be absent.
    Yahoo's ``Date,Open,High,Low,Close,Adj Close,Volume`` reads as it is. Rows are oldest
    first, or all newest first (they are then reversed).

    Parameters
    ----------
    source
        A dataset name (``sp500-daily``, ``nvda-daily``), fetched with :func:`fetch`, the
        path of a CSV file, or a table already read (rows a request sent).
    start
        If given, drop the days before it. ``start="1950-01-03"`` drops the S&P 500's early
        years, whose volume is 0.
    columns
        The file's name for a field whose name no alias matches, by field:
        ``{"close": "Last", "date": "Session"}``. Fields: the keys of :data:`OHLCV_ALIASES`.
    fix
        What to do when a column is missing, ending that error's message; ``{field}`` is
        replaced by the field's name (a pipeline names its own setting: ``"set
        {field}_column=NAME"``).

    Returns
    -------
    OHLCV
        The columns as NumPy arrays, oldest day first.

    Raises
    ------
    NotFoundError
        If ``source`` is neither a registered dataset nor an existing file.
    DataFormatError
        For a file that is not UTF-8 CSV text, a missing column, a value that is not a finite
        number, a price (high, low, close, adjusted close) that is not above 0, a negative
        open or volume, a high below the low, a date that is not ``YYYY-MM-DD`` (a time of day
        must be midnight), or dates repeated or out of order (neither all oldest first nor all
        newest first); the message names the file, line and column.
    InvalidParameterError
        If ``start`` is not a date, or no day is left from it on; if ``columns`` names an
        unknown field.
    """
    table = _table(source if isinstance(source, CsvTable) else _resolve(source))
    names = _ohlcv_columns(table, columns or {}, fix)
    dates = table.times(names["date"], unit="D")
    order = table.time_order(dates, [names["date"]])  # Nasdaq, CryptoDataDownload: newest first
    values = {field: table.numbers(name) for field, name in names.items() if field != "date"}
    _check_prices(table, names, values)
    dates, values = dates[order], {field: column[order] for field, column in values.items()}
    keep = _from_start(dates, start, table.path)
    return OHLCV(dates[keep], **{field: column[keep] for field, column in values.items()})


def _from_start(
    dates: np.ndarray, start: str | datetime.date | np.datetime64 | None, path: Path
) -> np.ndarray:
    """Which of ``dates`` are on or after ``start`` (all without one), as a boolean mask.

    Raises
    ------
    InvalidParameterError
        When ``start`` is no date, or after the last of ``dates``.
    """
    keep = np.ones(len(dates), dtype=bool) if start is None else dates >= _day(start)
    if not keep.any():
        raise InvalidParameterError(
            f"load_ohlcv: start={start!r} is after the last date {dates[-1]} of {path}"
        )
    return keep


def _ohlcv_columns(table: CsvTable, chosen: Mapping[str, str], fix: str) -> dict[str, str]:
    """The file's column of each OHLCV field (absent optional fields left out)."""
    unknown = sorted(set(chosen) - set(OHLCV_ALIASES))
    if unknown:
        raise InvalidParameterError(
            f"load_ohlcv: columns names unknown fields {', '.join(unknown)}; the fields are "
            f"{', '.join(OHLCV_ALIASES)}"
        )
    names: dict[str, str] = {}
    for field, aliases in OHLCV_ALIASES.items():
        wanted = (chosen[field],) if field in chosen else aliases
        if field not in OPTIONAL_OHLCV or table.has_column(*wanted):
            names[field] = table.find_column(*wanted, fix=fix.format(field=field))
    return names


def _check_prices(
    table: CsvTable, names: Mapping[str, str], values: Mapping[str, np.ndarray]
) -> None:
    for field, column in values.items():
        allows_zero, expected = _OHLCV_VALUES[field]
        bad = column < 0 if allows_zero else column <= 0
        if bad.any():
            row = int(np.argmax(bad))
            text = table.column(names[field])[row]
            problem = f"expected {expected}, got {text!r}; fix or drop the row"
            raise table.error(row, [names[field]], problem)
    below = values["high"] < values["low"]
    if below.any():
        row = int(np.argmax(below))
        high, low = (table.column(names[field])[row] for field in ("high", "low"))
        raise table.error(
            row,
            [names["high"], names["low"]],
            f"the high {high} is below the low {low}; fix the row (are the columns swapped?)",
        )


def _table(source: str | os.PathLike[str] | CsvTable) -> CsvTable:
    return source if isinstance(source, CsvTable) else read_csv(Path(source))


def _resolve(source: str | os.PathLike[str]) -> Path:
    if isinstance(source, str) and source in DATASETS:
        return dataset_file(source)
    path = Path(source)
    if not path.is_file():
        raise NotFoundError(
            f"{str(source)!r} is neither a dataset ({', '.join(DATASETS)}) nor an existing file"
        )
    return path


def _day(start: str | datetime.date | np.datetime64) -> np.ndarray:
    try:
        day = np.array(start, dtype="datetime64[D]")
    except (ValueError, TypeError) as e:
        raise InvalidParameterError(
            f"load_ohlcv: start must be a date such as '1950-01-03', got {start!r}"
        ) from e
    if day.ndim != 0 or np.isnat(day):
        raise InvalidParameterError(
            f"load_ohlcv: start must be one date such as '1950-01-03', got {start!r}"
        )
    return day


def _hours(table: CsvTable, names: Sequence[str]) -> np.ndarray:
    parts = [table.integers(name).tolist() for name in names]
    texts = [f"{y:04d}-{m:02d}-{d:02d}T{h:02d}" for y, m, d, h in zip(*parts, strict=True)]
    return table.parse_times(texts, names, unit="h")

"""CSV tables as NumPy arrays: the Beijing hourly weather and Yahoo-format daily prices.

Parsed with the standard ``csv`` module and NumPy. A file that does not read as documented
raises :class:`~azuraforge.errors.DataFormatError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import datetime
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from azuraforge.errors import DataFormatError, InvalidParameterError, NotFoundError
from azuraforge.learn.datasets.fetching import fetch
from azuraforge.learn.datasets.registry import DATASETS, get_dataset

OHLCV_HEADER = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")
BEIJING_HEADER = (
    "No", "year", "month", "day", "hour", "pm2.5", "DEWP", "TEMP", "PRES", "cbwd", "Iws", "Is",
    "Ir",
)  # fmt: skip
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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
    """Daily prices from a Yahoo-format CSV: one row a trading day, oldest first.

    Attributes
    ----------
    dates
        ``datetime64[D]``, strictly increasing.
    open, high, low, close, adj_close, volume
        float64 columns, as in the file.
    """

    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.dates)


def load_beijing_hourly(path: str | os.PathLike[str] | None = None) -> BeijingHourly:
    """Read the Beijing hourly weather CSV (dataset ``beijing-hourly``).

    Parameters
    ----------
    path
        A file with the UCI columns ``No,year,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,
        Is,Ir``; by default the registered file, fetched with :func:`fetch`.

    Returns
    -------
    BeijingHourly
        The columns as NumPy arrays.

    Raises
    ------
    DataFormatError
        For a wrong header, a value that is not a number (``NA`` is allowed in ``pm2.5``
        only), an impossible date or hour, an unknown wind direction, or hours out of order or
        repeated; the message names the file, line and column.

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
    table = _read_table(_fetched("beijing-hourly") if path is None else Path(path), BEIJING_HEADER)
    stamps = _hours(table)
    _check_increasing(table, stamps, ("year", "month", "day", "hour"))

    def floats(name: str, missing: str | None = None) -> np.ndarray:
        return table.numbers(name, missing).astype(np.float32)

    return BeijingHourly(
        timestamps=stamps,
        pm25=floats("pm2.5", missing="NA"),
        dew_point=floats("DEWP"),
        temperature=floats("TEMP"),
        pressure=floats("PRES"),
        wind_direction=table.categories("cbwd", BeijingHourly.WIND_DIRECTIONS),
        wind_speed=floats("Iws"),
        snow_hours=floats("Is"),
        rain_hours=floats("Ir"),
    )


def load_ohlcv(
    source: str | os.PathLike[str],
    *,
    start: str | datetime.date | np.datetime64 | None = None,
) -> OHLCV:
    """Read daily prices from a Yahoo-format CSV: ``Date,Open,High,Low,Close,Adj Close,Volume``.

    Parameters
    ----------
    source
        A dataset name (``sp500-daily``, ``nvda-daily``), fetched with :func:`fetch`, or the
        path of any CSV in this format.
    start
        If given, drop the days before it. ``start="1950-01-03"`` drops the S&P 500's early
        years, whose volume is 0.

    Returns
    -------
    OHLCV
        The columns as NumPy arrays, oldest day first.

    Raises
    ------
    NotFoundError
        If ``source`` is neither a registered dataset nor an existing file.
    DataFormatError
        For a wrong header, a value that is not a finite number, a date that is not
        ``YYYY-MM-DD``, or dates out of order or repeated; the message names the file, line
        and column.
    InvalidParameterError
        If ``start`` is not a date, or no day is left from it on.

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
    """
    table = _read_table(_resolve(source), OHLCV_HEADER)
    dates = _days(table)
    _check_increasing(table, dates, ("Date",))
    columns = [table.numbers(name) for name in OHLCV_HEADER[1:]]
    keep = np.ones(len(dates), dtype=bool) if start is None else dates >= _day(start)
    if not keep.any():
        raise InvalidParameterError(
            f"load_ohlcv: start={start!r} is after the last date {dates[-1]} of {table.path}"
        )
    return OHLCV(dates[keep], *(column[keep] for column in columns))


def _fetched(dataset: str) -> Path:
    spec = get_dataset(dataset)
    return fetch(spec)[spec.files[0].name]


def _resolve(source: str | os.PathLike[str]) -> Path:
    if isinstance(source, str) and source in DATASETS:
        return _fetched(source)
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


@dataclass(frozen=True)
class _Table:
    path: Path
    header: tuple[str, ...]
    rows: list[list[str]]
    lines: list[int]  # the line number of each row in the file (the header is line 1)

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [row[index] for row in self.rows]

    def error(self, row: int, names: Sequence[str], problem: str) -> DataFormatError:
        first, last = (self.header.index(name) + 1 for name in (names[0], names[-1]))
        where = f"column {first}" if first == last else f"columns {first}-{last}"
        quoted = ", ".join(repr(name) for name in names)
        return DataFormatError(
            f"{self.path}, line {self.lines[row]}, {where} ({quoted}): {problem}"
        )

    def numbers(self, name: str, missing: str | None = None) -> np.ndarray:
        """A float64 column; ``missing`` reads as NaN, everything else must be finite."""
        raw = self.column(name)
        texts = raw if missing is None else ["nan" if v == missing else v for v in raw]
        try:
            values = np.array(texts, dtype=np.float64)
        except ValueError:
            values = np.array([_float_or_nan(v) for v in texts])
        bad = ~np.isfinite(values)
        if missing is not None:
            bad &= np.array([v != missing for v in raw])
        if bad.any():
            row = int(np.argmax(bad))
            raise self.error(row, [name], f"expected a number, got {raw[row]!r}")
        return values

    def integers(self, name: str) -> np.ndarray:
        values = self.numbers(name)
        fractional = values != np.round(values)
        if fractional.any():
            row = int(np.argmax(fractional))
            problem = f"expected a whole number, got {self.column(name)[row]!r}"
            raise self.error(row, [name], problem)
        return values.astype(np.int64)

    def categories(self, name: str, known: tuple[str, ...]) -> np.ndarray:
        codes = {label: code for code, label in enumerate(known)}
        raw = [v.strip() for v in self.column(name)]
        unknown = [i for i, v in enumerate(raw) if v not in codes]
        if unknown:
            problem = f"expected one of {', '.join(known)}, got {raw[unknown[0]]!r}"
            raise self.error(unknown[0], [name], problem)
        return np.array([codes[v] for v in raw], dtype=np.int8)


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _read_table(path: Path, header: Sequence[str]) -> _Table:
    rows: list[list[str]] = []
    lines: list[int] = []
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        try:
            _check_header(path, [name.strip() for name in next(reader, [])], header)
            for row in reader:
                if row:  # skip blank lines
                    _check_width(path, reader.line_num, row, header)
                    rows.append(row)
                    lines.append(reader.line_num)
        except csv.Error as e:
            raise DataFormatError(f"{path}, line {reader.line_num}: {e}") from e
        except UnicodeDecodeError as e:  # decoded in blocks: the line number is not known
            bad = e.object[e.start : e.end].hex(" ")
            raise DataFormatError(
                f"{path}: not UTF-8 text (bytes {bad}: {e.reason}); save the file as UTF-8"
            ) from e
    if not rows:
        raise DataFormatError(f"{path}: no data rows after the header")
    return _Table(path, tuple(header), rows, lines)


def _check_width(path: Path, line: int, row: list[str], header: Sequence[str]) -> None:
    if len(row) != len(header):
        raise DataFormatError(
            f"{path}, line {line}: {len(row)} fields, expected {len(header)} ({','.join(header)})"
        )


def _check_header(path: Path, found: list[str], header: Sequence[str]) -> None:
    if found == list(header):
        return
    pairs = zip(found, header, strict=False)
    column = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(found), len(header)))
    got = repr(found[column]) if column < len(found) else "nothing"
    wanted = repr(header[column]) if column < len(header) else "nothing"
    raise DataFormatError(
        f"{path}, line 1, column {column + 1}: header has {got}, expected {wanted}; "
        f"the header must be {','.join(header)}"
    )


def _hours(table: _Table) -> np.ndarray:
    names = ("year", "month", "day", "hour")
    parts = [table.integers(name).tolist() for name in names]
    texts = [f"{y:04d}-{m:02d}-{d:02d}T{h:02d}" for y, m, d, h in zip(*parts, strict=True)]
    return _times(table, texts, "h", names)


def _days(table: _Table) -> np.ndarray:
    texts = [v.strip() for v in table.column("Date")]
    for row, text in enumerate(texts):
        if not _DATE.fullmatch(text):
            raise table.error(row, ["Date"], f"expected a date YYYY-MM-DD, got {text!r}")
    return _times(table, texts, "D", ("Date",))


def _times(table: _Table, texts: list[str], unit: str, names: Sequence[str]) -> np.ndarray:
    try:
        return np.array(texts, dtype=f"datetime64[{unit}]")
    except ValueError:
        for row, text in enumerate(texts):  # find the line to blame
            try:
                np.array([text], dtype=f"datetime64[{unit}]")
            except ValueError:
                raise table.error(row, names, f"no such date or time: {text}") from None
        raise


def _check_increasing(table: _Table, times: np.ndarray, names: Sequence[str]) -> None:
    steps = np.diff(times)
    bad = steps <= np.timedelta64(0)
    if bad.any():
        row = int(np.argmax(bad)) + 1
        how = "repeats" if steps[row - 1] == np.timedelta64(0) else "comes before"
        raise table.error(
            row,
            names,
            f"{times[row]} {how} {times[row - 1]} on line {table.lines[row - 1]}; rows must be "
            "in time order without duplicates (sort the file and drop repeated rows)",
        )

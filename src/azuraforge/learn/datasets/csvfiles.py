"""One CSV reader for every table AzuraForge reads: the dataset readers, the inputs of the
pipelines' ``predict``, and your own files.

:func:`read_csv` reads a whole UTF-8 file (a byte order mark is fine) into a :class:`CsvTable`
of text fields; its methods turn columns into NumPy arrays. Whatever does not read as
documented raises :class:`~azuraforge.errors.DataFormatError` naming the file, the line and
the column: a file that cannot be read, a binary or non-UTF-8 file, an empty file, a file
separated by ';' or tabs read as comma-separated, a header without rows, a row with another
number of fields than the first, a value that is not a number or a date. Long lines and values
are cut short in messages. Files of other locales read too: fields separated by ';' or tabs,
numbers with a decimal comma (``delimiter`` and ``decimal``, or ``"auto"`` for both).

:func:`write_csv` writes named columns, numbers at full precision: what a run predicted.

>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "p.csv"
...     _ = path.write_text("0,128,255\\nnan,0,0\\n")
...     table = read_csv(path, header="auto")
>>> table.has_header, table.column_names, table.lines
(False, ('1', '2', '3'), (1, 2))
>>> table.matrix()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
azuraforge.errors.DataFormatError: .../p.csv, line 2, column 1: expected a number, got 'nan'
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from azuraforge.errors import DataFormatError, InvalidParameterError, NotFoundError, shorten
from azuraforge.learn.datasets.locales import Decimal, comma_decimals_as_points, infer_decimal

_ISO_TIME = re.compile(
    r"\d{4}(?:-\d{2}(?:-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)?)?)?"
)
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_TIME_ZONE = re.compile(_ISO_TIME.pattern + r"(Z|[+-]\d{2}(?::?\d{2})?)")
_EXPECTED_TIME = {
    None: "an ISO date or date-time (2024-01-02, 2024-01-02 13:00:00, 2024-01-02T13), a month "
    "(2024-01), a quarter (2024-Q1) or a year (2024)",
    "D": "a date YYYY-MM-DD",
}
_IGNORED_IN_NAMES = re.compile(r"[\s_\-]+")
DELIMITERS = {",": ",", ";": ";", "tab": "\t"}
"""The field separators a file may use, by the name ``delimiter`` gives them."""
Delimiter = Literal[",", ";", "tab"]


class CsvTable:
    """The text fields of a CSV file, by column, with the line each row came from.

    Made by :func:`read_csv`. Every field is stripped of surrounding spaces. The methods that
    convert a column raise :class:`~azuraforge.errors.DataFormatError` naming the file, the
    line and the column of the first value that does not convert.

    Attributes
    ----------
    path
        The file read.
    column_names
        The names in the header, as written; for a file without a header, the positions
        ``"1"``, ``"2"``, ...
    header_line
        The line of the header (the first line that is not blank), or None without a header.
    rows
        The data rows, lists of stripped text fields, all as wide as ``column_names``; read
        them, do not change them.
    lines
        The line of the file each row ends on (the first line of the file is 1).
    delimiter, decimal
        How the file separates fields (``","``, ``";"`` or ``"tab"``) and marks decimals
        (``"."`` or ``","``: ``3,5`` and ``1.234,5`` then read as 3.5 and 1234.5).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "readings.csv"
    ...     _ = path.write_text("Time, Wind_Speed ,Rain\\n2024-01-02 13:00,3.5,NA\\n"
    ...                         "2024-01-02 14:00,4,0.2\\n")
    ...     table = read_csv(path)
    >>> len(table), table.column_names
    (2, ('Time', 'Wind_Speed', 'Rain'))
    >>> table.find_column("wind speed")
    'Wind_Speed'
    >>> table.numbers("Rain", missing="NA")
    array([nan, 0.2])
    >>> table.times("Time")
    array(['2024-01-02T13:00', '2024-01-02T14:00'], dtype='datetime64[m]')
    >>> table.numbers("Rain")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    azuraforge.errors.DataFormatError: .../readings.csv, line 2, column 3 ('Rain'): expected a number, got 'NA'
    """  # noqa: E501

    def __init__(
        self,
        path: Path,
        column_names: Sequence[str],
        rows: list[list[str]],
        lines: Sequence[int],
        *,
        header_line: int | None = 1,
        delimiter: Delimiter = ",",
        decimal: Decimal = ".",
    ) -> None:
        self.path = path
        self.column_names = tuple(column_names)
        self.rows = rows
        self.lines = tuple(lines)
        self.header_line = header_line
        self.delimiter = delimiter
        self.decimal = decimal

    @property
    def has_header(self) -> bool:
        """Whether the file has a header line (:attr:`header_line`)."""
        return self.header_line is not None

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"CsvTable('{self.path}', {len(self)} rows, columns {listing(self.column_names)})"

    def find_column(self, *aliases: str, fix: str = "rename the column in the file") -> str:
        """The name of the column called by one of ``aliases``, tried in order.

        Names match whatever their case, spaces, underscores and hyphens: ``"adj close"``
        finds ``Adj Close``, ``adj_close`` and ``AdjClose``.

        Raises
        ------
        DataFormatError
            If no column matches, listing the file's columns and ending with ``fix`` (what the
            user can do), or if two columns match the same alias.
        """
        for alias in aliases:
            found = [name for name in self.column_names if column_key(name) == column_key(alias)]
            if len(found) > 1:
                raise DataFormatError(
                    f"{self.place(self._header_line())}: columns {', '.join(found)} all "
                    f"match {alias!r}; keep one of them"
                )
            if found:
                return found[0]
        wanted = " or ".join(repr(alias) for alias in aliases)
        raise DataFormatError(
            f"{self.place(self._header_line())}: no column {wanted} (names match "
            f"whatever their case, spaces, underscores and hyphens); the columns are "
            f"{listing(self.column_names)}; {fix}"
        )

    def has_column(self, *aliases: str) -> bool:
        """Whether a column is called by one of ``aliases`` (matched as by :meth:`find_column`)."""
        keys = {column_key(alias) for alias in aliases}
        return any(column_key(name) in keys for name in self.column_names)

    def column(self, name: str) -> list[str]:
        """The text fields of the column ``name`` (one of :attr:`column_names`)."""
        index = self._index(name)
        return [row[index] for row in self.rows]

    def numbers(
        self, name: str, *, missing: str | Sequence[str] = (), bound: float | None = None
    ) -> np.ndarray:
        """The column ``name`` as float64.

        Every field must be a finite number, or one of the ``missing`` texts, read as NaN
        (``missing="NA"``, ``missing=("", "NA")``). By default nothing may be missing: a blank,
        ``NA``, ``nan`` or ``inf`` is refused. With a ``bound``, a number whose magnitude
        exceeds it is refused too. Numbers are written with :attr:`decimal`.
        """
        column: np.ndarray = self.matrix([name], missing=missing, bound=bound)[:, 0]
        return column

    def matrix(
        self,
        names: Sequence[str] | None = None,
        *,
        missing: str | Sequence[str] = (),
        bound: float | None = None,
    ) -> np.ndarray:
        """The columns ``names`` (by default all) as a float64 array of shape (rows, columns),
        with the rules of :meth:`numbers`."""
        if names is None:
            indexes = list(range(len(self.column_names)))
        else:
            indexes = [self._index(name) for name in names]
        texts = self._fields(indexes)
        markers = {missing} if isinstance(missing, str) else set(missing)
        values = self._values(texts, markers)
        self._check_numbers(values, indexes, texts, markers)
        if bound is not None:
            self._check_bound(values, indexes, texts, bound)
        return values.reshape(len(self.rows), len(indexes))

    def _values(self, texts: list[str], markers: set[str]) -> np.ndarray:
        """The fields as float64, NaN for a ``markers`` text (a missing value) and for any
        other text that is no number (refused by :meth:`_check_numbers`)."""
        numbers = comma_decimals_as_points(texts) if self.decimal == "," else texts
        return _floats(
            ["nan" if text in markers else text for text in numbers] if markers else numbers
        )

    def _check_numbers(
        self, values: np.ndarray, indexes: list[int], texts: list[str], markers: set[str]
    ) -> None:
        """Refuse the first field that is neither a finite number nor a missing marker."""
        bad = ~np.isfinite(values)
        if markers:
            bad &= np.array([text not in markers for text in texts], dtype=bool)
        if not bad.any():
            return
        expected = "a number"
        if self.decimal == ",":
            expected += " with a decimal comma (3,5 or 1.234,5)"
        if markers:
            expected += f" or {' or '.join(repr(m) for m in sorted(markers))} (missing)"
        raise self._field_error(bad, indexes, texts, f"expected {expected}")

    def _check_bound(
        self, values: np.ndarray, indexes: list[int], texts: list[str], bound: float
    ) -> None:
        """Refuse the first number whose magnitude exceeds ``bound``."""
        beyond = np.abs(values) > bound
        if beyond.any():
            expected = f"expected a number between -{bound:g} and {bound:g}"
            fix = "; write the column in larger units (thousands, millions)"
            raise self._field_error(beyond, indexes, texts, expected, fix)

    def _field_error(
        self, bad: np.ndarray, indexes: list[int], texts: list[str], expected: str, fix: str = ""
    ) -> DataFormatError:
        """The error for the first field ``bad`` marks (in :meth:`_fields` order)."""
        row, column = divmod(int(np.argmax(bad)), len(indexes))
        got = shorten(texts[row * len(indexes) + column], quoted=True)
        return self._error_at(row, [indexes[column]], f"{expected}, got {got}{fix}")

    def integers(self, name: str) -> np.ndarray:
        """The column ``name`` as int64; every field must be a whole number."""
        values = self.numbers(name)
        fractional = values != np.round(values)
        if fractional.any():
            row = int(np.argmax(fractional))
            text = self.rows[row][self._index(name)]
            problem = f"expected a whole number, got {shorten(text, quoted=True)}"
            raise self.error(row, [name], problem)
        return values.astype(np.int64)

    def categories(self, name: str, known: Sequence[str]) -> np.ndarray:
        """The column ``name`` as int8 codes: the position of each field in ``known``."""
        codes = {label: code for code, label in enumerate(known)}
        texts = self.column(name)
        unknown = [row for row, text in enumerate(texts) if text not in codes]
        if unknown:
            got = shorten(texts[unknown[0]], quoted=True)
            problem = f"expected one of {', '.join(known)}, got {got}"
            raise self.error(unknown[0], [name], problem)
        return np.array([codes[text] for text in texts], dtype=np.int8)

    def times(self, name: str, *, unit: Literal["D"] | None = None) -> np.ndarray:
        """The column ``name`` as ``datetime64``.

        Fields are ISO dates or date-times: ``2024-01-02``, ``2024-01-02 13:00:00``,
        ``2024-01-02T13``, ``2024-01-02T13:00:00.5``, or ISO 8601's coarser stamps: a month
        ``2024-01``, a year ``2024``, and a quarter ``2024-Q1`` (read as its first month).
        A time zone (``Z``, ``+01:00``) is
        refused with a message saying so. The unit is the finest the column needs, or
        ``unit="D"``, which refuses a time of day other than midnight.
        """
        texts = [quarter_as_month(text) for text in self.column(name)]
        for row, text in enumerate(texts):
            if not _ISO_TIME.fullmatch(text):
                raise self.error(row, [name], _time_problem(self.column(name)[row], unit))
        return self.parse_times(texts, [name], unit=unit)

    def parse_times(
        self, texts: Sequence[str], names: Sequence[str], *, unit: str | None = None
    ) -> np.ndarray:
        """``datetime64`` values of ISO ``texts`` made from the columns ``names``, one per row
        (a date split over ``year``, ``month``, ``day`` columns, say); an impossible date such
        as ``2024-02-30`` is an error naming those columns."""
        try:
            times = np.array(texts, dtype="datetime64")
        except ValueError:
            for row, text in enumerate(texts):  # find the line to blame
                try:
                    np.datetime64(text)
                except ValueError:
                    raise self.error(row, names, f"no such date or time: {text}") from None
            raise
        if unit is None:
            return times
        rounded = times.astype(f"datetime64[{unit}]")
        finer = rounded != times
        if finer.any():
            row = int(np.argmax(finer))
            expected = _EXPECTED_TIME.get(unit, f"a time in whole units of {unit}")
            raise self.error(row, names, f"expected {expected}, got {texts[row]!r}")
        return rounded

    def check_increasing(self, times: np.ndarray, names: Sequence[str]) -> None:
        """Raise :class:`~azuraforge.errors.DataFormatError` unless ``times`` (one per row, from
        the columns ``names``) strictly increase, naming the first row out of order."""
        steps = np.diff(times)
        bad = steps <= np.timedelta64(0)
        if bad.any():
            row = int(np.argmax(bad)) + 1
            how = "repeats" if steps[row - 1] == np.timedelta64(0) else "comes before"
            raise self.error(
                row,
                names,
                f"{times[row]} {how} {times[row - 1]} on {self.line_name(self.lines[row - 1])}; "
                "rows must be in time order without duplicates (sort the file and drop repeated "
                "rows)",
            )

    def time_order(self, times: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """The row indexes in time order: as read, or reversed for a file listed newest first
        (as many exports are). Anything else raises as :meth:`check_increasing` does.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "p.csv"
        ...     _ = path.write_text("date,close\\n2024-01-03,2\\n2024-01-02,1\\n")
        ...     table = read_csv(path)
        >>> table.time_order(table.times("date"), ["date"])
        array([1, 0])
        """
        rows = np.arange(len(times))
        if len(times) > 1 and bool((np.diff(times) < np.timedelta64(0)).all()):
            return rows[::-1]
        self.check_increasing(times, names)
        return rows

    def error(self, row: int, names: Sequence[str], problem: str) -> DataFormatError:
        """A :class:`~azuraforge.errors.DataFormatError` reading ``<file>, line <n>, column
        <k> ('<name>'): <problem>`` for the data row ``row`` (from 0) and the columns
        ``names``; raise it."""
        return self._error_at(row, [self._index(name) for name in names], problem)

    def _error_at(self, row: int, indexes: Sequence[int], problem: str) -> DataFormatError:
        positions = [index + 1 for index in indexes]
        if len(positions) == 1:
            where = f"column {positions[0]}"
        elif positions == list(range(positions[0], positions[-1] + 1)):
            where = f"columns {positions[0]}-{positions[-1]}"
        else:
            where = f"columns {', '.join(str(p) for p in positions)}"
        if self.has_header:
            where += f" ({', '.join(repr(self.column_names[i]) for i in indexes)})"
        return DataFormatError(f"{self.place(self.lines[row])}, {where}: {problem}")

    def _fields(self, indexes: list[int]) -> list[str]:
        """The fields of the columns at ``indexes``, row after row."""
        if indexes == list(range(len(self.column_names))):
            return list(itertools.chain.from_iterable(self.rows))
        return [row[index] for row in self.rows for index in indexes]

    def _index(self, name: str) -> int:
        indexes = [i for i, column in enumerate(self.column_names) if column == name]
        if not indexes:
            raise InvalidParameterError(
                f"{self.path} has no column {name!r}; its columns are "
                f"{listing(self.column_names)} (find_column matches names loosely)"
            )
        if len(indexes) > 1:
            positions = " and ".join(str(i + 1) for i in indexes)
            raise DataFormatError(
                f"{self.place(self._header_line())}: columns {positions} share the name "
                f"{name!r}; rename them so that each name is used once"
            )
        return indexes[0]

    def line_name(self, line: int) -> str:
        """How messages name line ``line``: ``line 5``."""
        return f"line {line}"

    def place(self, line: int) -> str:
        """Where line ``line`` is, as messages name it: ``<file>, line 5``."""
        return f"{self.path}, {self.line_name(line)}"

    def _header_line(self) -> int:
        return 1 if self.header_line is None else self.header_line


class RowsTable(CsvTable):
    """A :class:`CsvTable` of rows sent as JSON objects rather than read from a file (what a
    served model receives): the same column methods and checks, messages naming
    ``rows[<index>]`` (from 0) instead of a file's lines. Made by :func:`rows_table`.

    Columns sent as numbers are read as numbers, not from their text: the same floats
    (a float's text is its exact ``repr``), without parsing each value again; a missing
    value's marker (``missing="NA"``) matches no number.

    >>> table = rows_table([{"year": 2014, "t": -4.5}, {"year": 2014.0, "t": 1e-300}])
    >>> table.matrix().tolist(), table.integers("year").tolist(), table.rows[1]
    ([[2014.0, -4.5], [2014.0, 1e-300]], [2014, 2014], ['2014', '1e-300'])
    """

    def __init__(
        self, column_names: Sequence[str], rows: list[list[str]], values: list[list[Any]]
    ) -> None:
        super().__init__(Path("rows"), column_names, rows, range(len(rows)), header_line=-1)
        self.values = values
        """The rows' values as sent, in the order of :attr:`column_names`."""

    def matrix(
        self,
        names: Sequence[str] | None = None,
        *,
        missing: str | Sequence[str] = (),
        bound: float | None = None,
    ) -> np.ndarray:
        markers = [missing] if isinstance(missing, str) else missing
        # A value sent as a number reads as its text would, unless a marker is a number.
        sent = None if any(map(_is_number, markers)) else self._sent_numbers(names)
        if sent is None or not np.isfinite(sent).all():
            return super().matrix(names, missing=missing, bound=bound)
        if bound is not None and bool((np.abs(sent) > bound).any()):
            return super().matrix(names, missing=missing, bound=bound)  # its error
        return sent

    def _sent_numbers(self, names: Sequence[str] | None) -> np.ndarray | None:
        """The columns ``names`` as float64 if every value of them was sent as a number
        (not a boolean: ``type`` is exact), else None."""
        indexes = range(len(self.column_names)) if names is None else list(map(self._index, names))
        values = [row[index] for row in self.values for index in indexes]
        if not all(type(value) in _NUMBER_TYPES for value in values):
            return None
        try:
            sent = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond float64: the text path says so
            return None
        return sent.reshape(len(self.values), len(indexes))

    def line_name(self, line: int) -> str:
        return "rows" if line < 0 else f"rows[{line}]"

    def place(self, line: int) -> str:
        return self.line_name(line)


def rows_table(rows: Sequence[Mapping[str, Any]]) -> RowsTable:
    """The rows of a request, each an object of column name → value, as a table read as a
    CSV file of the same columns reads: every value becomes the text a CSV file would hold
    (a float as its shortest exact ``repr``, so it reads back to the same number; ``None`` as
    a blank, a missing value).

    Raises
    ------
    DataFormatError
        If there is no row, a row is not an object, a row lacks a column of the first row or
        has one more, or a value is an object or a list; the message names the row.

    Examples
    --------
    >>> table = rows_table([{"time": "2024-01-02", "load": 3.5}, {"time": "2024-01-03", "load": 4}])
    >>> table.numbers("load"), table.column_names
    (array([3.5, 4. ]), ('time', 'load'))
    >>> rows_table([{"load": 1}, {"lod": 2}])
    Traceback (most recent call last):
    ...
    azuraforge.errors.DataFormatError: rows[1]: missing column 'load', unexpected column 'lod'; every row needs the columns of the first: load
    """  # noqa: E501
    if not rows:
        raise DataFormatError("rows: no rows; send at least one object of column: value")
    first = rows[0]
    if not isinstance(first, Mapping) or not first:
        raise DataFormatError(f"rows[0]: expected an object of column: value, got {first!r}")
    names = list(first)
    known = first.keys()
    texts = [_row_texts(index, row, names, known) for index, row in enumerate(rows)]
    return RowsTable(names, texts, [[row[name] for name in names] for row in rows])


def _row_texts(index: int, row: Any, names: list[str], known: Any) -> list[str]:
    if not isinstance(row, Mapping):
        raise DataFormatError(f"rows[{index}]: expected an object of column: value, got {row!r}")
    if row.keys() != known:
        missing = [f"missing column {name!r}" for name in names if name not in row]
        extra = [f"unexpected column {name!r}" for name in row if name not in known]
        raise DataFormatError(
            f"rows[{index}]: {', '.join(missing + extra)}; every row needs the columns of the "
            f"first: {listing(names)}"
        )
    try:
        # NOTE: by exact type through one table: this runs for every value a served model
        # receives.
        return [_TEXTS[type(row[name])](row[name]) for name in names]
    except KeyError:
        return [_other_text(index, name, row[name]) for name in names]


def _float_text(value: float) -> str:
    """A float as a CSV file would hold it: its shortest exact ``repr``, a whole one as the
    integer it is (JSON has one kind of number: 2014.0 is the year 2014)."""
    return str(int(value)) if value.is_integer() else repr(value)


_TEXTS: dict[type, Any] = {float: _float_text, int: str, str: str.strip}
_NUMBER_TYPES = (float, int)


def _other_text(index: int, name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float | int | str):  # bool, and subclasses
        return str(value).strip() if isinstance(value, str) else repr(value)
    raise DataFormatError(
        f"rows[{index}], column {name!r}: expected a number or text, got {shorten(repr(value))}"
    )


def write_csv(handle: TextIO, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> int:
    """Write the header and one row per index of ``columns`` (all of one length) to ``handle``.

    Floats are written at full precision (``repr``: they read back exactly), anything else
    (times, labels) as ``str``.

    Returns
    -------
    int
        The number of rows written, the header not counted.

    Examples
    --------
    >>> import sys
    >>> times = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]")
    >>> write_csv(sys.stdout, {"time": times, "model": np.array([0.1, 1 / 3])})
    time,model
    2024-01-01,0.1
    2024-01-02,0.3333333333333333
    2
    """
    count = len(next(iter(columns.values()))) if columns else 0
    handle.write(",".join(columns) + "\n")
    for row in range(count):
        handle.write(",".join(_cell(column[row]) for column in columns.values()) + "\n")
    return count


def _cell(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float | np.floating) else str(value)


def read_csv(
    path: str | os.PathLike[str],
    *,
    header: bool | Literal["auto"] = True,
    delimiter: Delimiter | Literal["auto"] = ",",
    decimal: Decimal | Literal["auto"] = ".",
) -> CsvTable:
    """Read a UTF-8 CSV file into a :class:`CsvTable`.

    Blank lines are skipped and every field is stripped of surrounding spaces. A byte order
    mark and Windows line endings are fine.

    Parameters
    ----------
    path
        The file.
    header
        ``True``: the first line names the columns. ``False``: there is no header.
        ``"auto"``: the first line is a header only when none of its fields reads as a number
        (``nan``, ``inf`` and ``1e3`` all read as numbers, so a data row with a missing value
        is never taken for a header).
    delimiter
        What separates fields: ``","``, ``";"``, ``"tab"``, or ``"auto"``: commas when every
        line reads as one number of fields that way (or as one field, none holding ';' or a
        tab), else the one of ';' and tabs that splits every line into one number of fields,
        more than one (an Excel export of a locale whose decimal mark is the comma).
    decimal
        The decimal mark of the numbers: ``"."``, ``","`` (``3,5``; dots may separate
        thousands, ``1.234,5``), or ``"auto"``: ``"."`` in a comma-separated file (a decimal
        comma there would need quotes); in one separated by ';' or tabs, ``","`` when some data
        field is a number with a decimal comma and none with a decimal point, else ``"."``.

    Returns
    -------
    CsvTable
        The rows as text, at least one of them.

    Raises
    ------
    NotFoundError
        If there is no such file, or the path is a directory.
    DataFormatError
        If the file cannot be read (permissions, a disk error), is binary or not UTF-8, is
        empty, is one field a line with ';' or tabs on every line (another separator), holds
        a header but no row, or has a row with another number of fields than the header (or
        the first row); if ``"auto"`` cannot tell: lines that ';' and tabs both split evenly,
        numbers with a decimal comma and others with a point, or only numbers that read
        either way (``1.234``). The message names the file and the line, and the setting.
    """
    path = Path(path)
    delimiter, rows, lines = _rows(path, delimiter)
    mark = _decimal_mark(path, rows, lines, header is True, delimiter, decimal)
    has_header = _looks_like_header(rows[0], mark) if header == "auto" else header
    header_line = lines[0] if has_header else None
    names, rows, lines = _names(path, rows, lines, has_header)
    _check_widths(path, rows, lines, names, has_header, delimiter)
    return CsvTable(
        path, names, rows, lines, header_line=header_line, delimiter=delimiter, decimal=mark
    )


def _rows(
    path: Path, delimiter: Delimiter | Literal["auto"]
) -> tuple[Delimiter, list[list[str]], list[int]]:
    """The file's delimiter (``"auto"`` resolved), its rows and the line each ends on.

    Raises
    ------
    DataFormatError
        When the file is empty or another separator than ``delimiter`` splits it.
    """
    delimiter, rows, lines = _split(path, _text(path), delimiter)
    if not rows:
        raise DataFormatError(f"{path} is empty; expected CSV text, one row a line")
    _check_separator(path, rows, lines, delimiter)
    return delimiter, rows, lines


def _decimal_mark(
    path: Path,
    rows: list[list[str]],
    lines: list[int],
    skip_header: bool,
    delimiter: Delimiter,
    decimal: Decimal | Literal["auto"],
) -> Decimal:
    """The decimal mark of the file's numbers (``"auto"`` resolved, see :func:`read_csv`)."""
    if decimal != "auto":
        return decimal
    if delimiter == ",":
        return "."  # a comma file would quote "3,5"
    skip = 1 if skip_header else 0  # the header is no evidence of the decimal mark
    return infer_decimal(rows[skip:], lambda row: f"{path}, line {lines[row + skip]}")


def _names(
    path: Path, rows: list[list[str]], lines: list[int], has_header: bool
) -> tuple[list[str], list[list[str]], list[int]]:
    """The column names (the header's, else 1, 2, ...), and the data rows and their lines.

    Raises
    ------
    DataFormatError
        When the file holds a header and no row.
    """
    if not has_header:
        return [str(position) for position in range(1, len(rows[0]) + 1)], rows, lines
    names, rows, lines = rows[0], rows[1:], lines[1:]
    if not rows:
        raise DataFormatError(
            f"{path}: no data rows after the header ({listing(names, ',')}); the file holds "
            "only its header line"
        )
    return names, rows, lines


def _split(
    path: Path, text: str, delimiter: Delimiter | Literal["auto"]
) -> tuple[Delimiter, list[list[str]], list[int]]:
    """The delimiter (``"auto"`` resolved) and the rows and lines it splits ``text`` into."""
    if delimiter != "auto":
        return delimiter, *_records(path, text, DELIMITERS[delimiter])
    rows, lines = _records(path, text)
    if not rows or _comma_separated(rows):
        return ",", rows, lines
    return _other_separator(path, text, rows, lines)


def _comma_separated(rows: list[list[str]]) -> bool:
    """Whether commas separate the fields of ``rows`` (at least one): they split every line
    evenly and no other separator is in sight."""
    # A ';' or tab inside the first line's comma fields ("Tarih;Sicaklik, C;Yagis, mm" splits
    # evenly on its commas too) asks the other separators first.
    foreign = any(";" in field or "\t" in field for field in rows[0])
    return _even(rows) and _foreign_separator(rows, ",") is None and not foreign


def _other_separator(
    path: Path, text: str, rows: list[list[str]], lines: list[int]
) -> tuple[Delimiter, list[list[str]], list[int]]:
    """The one of ';' and tabs that splits every line of ``text`` into one number of fields,
    more than one, or else the one giving more fields than commas do (their own widths
    then explained), and the rows and lines it splits ``text`` into; else commas' ``rows``
    and ``lines``.

    Raises
    ------
    DataFormatError
        When both ';' and tabs split every line evenly.
    """
    others: dict[Delimiter, tuple[list[list[str]], list[int]]] = {
        ";": _records(path, text, ";"),
        "tab": _records(path, text, "\t"),
    }
    even = [name for name, (split, _) in others.items() if len(split[0]) > 1 and _even(split)]
    if len(even) > 1:
        raise DataFormatError(
            f"{path}: every line holds as many ';' as tabs, so either may separate its fields; "
            "set delimiter=';' or delimiter=tab"
        )
    if even:
        return even[0], *others[even[0]]
    widest = max(others, key=lambda name: len(others[name][0][0]))
    if len(others[widest][0][0]) > len(rows[0]):  # its own widths are then explained
        return widest, *others[widest]
    return ",", rows, lines


def _even(rows: list[list[str]]) -> bool:
    return all(len(row) == len(rows[0]) for row in rows)


def _text(path: Path) -> str:
    return utf8_text(_read_bytes(path), path)


def utf8_text(data: bytes, where: str | os.PathLike[str]) -> str:
    r"""The bytes of a CSV file (or its first part, cut after a line) as text, a byte-order
    mark left out; ``where`` names the file in errors.

    Raises
    ------
    DataFormatError
        If they are binary or not UTF-8, naming the line and the bytes.

    >>> utf8_text("date,close\n".encode("cp1252"), "prices.csv")
    'date,close\n'
    >>> utf8_text("Schlusskurs €\n".encode("cp1252"), "prices.csv")
    Traceback (most recent call last):
    ...
    azuraforge.errors.DataFormatError: prices.csv is not a UTF-8 text CSV file: line 1 holds bytes 80 (invalid start byte); export or save it as CSV with UTF-8 encoding
    """  # noqa: E501
    data = data.removeprefix(codecs.BOM_UTF8)
    if b"\x00" in data:
        raise _not_text(where, data, data.index(b"\x00"), "a NUL byte (binary data)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = data[e.start : e.end].hex(" ")
        raise _not_text(where, data, e.start, f"bytes {bad} ({e.reason})") from e


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NotFoundError(
            f"{path} is a directory, expected a CSV file; give the path of a file in it"
        ) from None
    except PermissionError as e:
        raise DataFormatError(
            f"{path} cannot be read: permission denied; give your user read access "
            f"(chmod u+r {path}) or copy the file to a place you can read"
        ) from e
    except OSError as e:
        raise DataFormatError(
            f"{path} cannot be read: {e.strerror or e}; check the file and the disk it is on"
        ) from e


def _not_text(
    path: str | os.PathLike[str], data: bytes, offset: int, what: str
) -> DataFormatError:
    line = data.count(b"\n", 0, offset) + 1
    return DataFormatError(
        f"{path} is not a UTF-8 text CSV file: line {line} holds {what}; export or save it as "
        "CSV with UTF-8 encoding"
    )


def read_records(path: str | os.PathLike[str]) -> tuple[list[list[str]], list[int]]:
    """The rows of a UTF-8 CSV file as stripped text fields, and the line each ends on, with
    blank lines left out and nothing else checked: no header, widths or values (a reader that
    reports bad rows instead of refusing the file, such as a stream's replay, checks them).

    Raises
    ------
    NotFoundError
        If there is no such file, or the path is a directory.
    DataFormatError
        If the file cannot be read, is binary or not UTF-8, is not CSV (an unclosed quote), or
        is one field a line with ';' or tabs on every line (another separator).
    """
    path = Path(path)
    rows, lines = _records(path, _text(path))
    if rows:
        _check_separator(path, rows, lines, ",", settable=False)
    return rows, lines


def _records(path: Path, text: str, delimiter: str = ",") -> tuple[list[list[str]], list[int]]:
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):  # skip blank lines
                rows.append([field.strip() for field in row])
                lines.append(reader.line_num)
    except csv.Error as e:
        raise DataFormatError(f"{path}, line {reader.line_num}: {e}") from e
    return rows, lines


_SEPARATORS = {
    ",": ("commas", "delimiter=','"),
    ";": ("';'", "delimiter=';'"),
    "\t": ("tabs", "delimiter=tab"),
}


def _foreign_separator(rows: list[list[str]], delimiter: Delimiter) -> str | None:
    """The other separator (the most frequent on the first line) that every line holds, when
    ``delimiter`` reads each line as one field; else None."""
    others = [separator for separator in _SEPARATORS if separator != DELIMITERS[delimiter]]
    separator = max(others, key=rows[0][0].count)
    if any(len(row) > 1 or separator not in row[0] for row in rows):
        return None
    return separator


def _check_separator(
    path: Path,
    rows: list[list[str]],
    lines: list[int],
    delimiter: Delimiter,
    *,
    settable: bool = True,
) -> None:
    """Refuse a file read as one column whose every line holds another separator: its fields
    are separated by another character. ``settable``: the reader has a ``delimiter``."""
    separator = _foreign_separator(rows, delimiter)
    if separator is None:
        return
    name, setting = _SEPARATORS[separator]
    expected = _SEPARATORS[DELIMITERS[delimiter]][0]
    raise DataFormatError(
        f"{path}, line {lines[0]}: fields are separated by {name}, expected {expected} "
        f"({shorten(rows[0][0], quoted=True)}); "
        + (f"set {setting} (or delimiter=auto), or " if settable else "")
        + f"save the file with {expected} between fields"
    )


def _check_widths(
    path: Path,
    rows: list[list[str]],
    lines: list[int],
    names: list[str],
    has_header: bool,
    delimiter: Delimiter,
) -> None:
    if has_header and len(names) == 1 and all(len(row) > 1 for row in rows):
        separator = max(";\t", key=names[0].count)
        if delimiter == "," and separator in names[0]:
            name, setting = _SEPARATORS[separator]
            raise DataFormatError(
                f"{path}: the first line holds one field ({shorten(names[0], quoted=True)}) "
                f"above rows split by commas into {len(rows[0])} fields: the fields are "
                f"separated by {name} and the commas are decimal commas (3,5); set {setting} "
                "and decimal=',' (or both auto)"
            )
        raise DataFormatError(
            f"{path}: the first line holds one field ({shorten(names[0], quoted=True)}) above "
            f"rows of "
            f"{len(rows[0])} fields; if it is a title or banner rather than the column names, "
            "delete that line"
        )
    for row, line in zip(rows, lines, strict=True):
        if len(row) != len(names):
            expected = f"({listing(names, ',')})" if has_header else f"(as on line {lines[0]})"
            raise DataFormatError(
                f"{path}, line {line}: {len(row)} fields, expected {len(names)} {expected}"
            )


def _looks_like_header(fields: list[str], decimal: str) -> bool:
    if decimal == ",":
        fields = comma_decimals_as_points(fields)
    return not any(_is_number(field) for field in fields)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _floats(texts: list[str]) -> np.ndarray:
    """float64 of texts; NaN where a text is not a number."""
    try:
        return np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
    except ValueError:
        return np.fromiter(map(_float_or_nan, texts), dtype=np.float64, count=len(texts))


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return np.nan


def listing(names: Sequence[str], separator: str = ", ", most: int = 12) -> str:
    """The names joined, or the first ones and how many there are in all; long names cut."""
    shown = [shorten(name) for name in names[: most if len(names) <= most else most - 2]]
    if len(names) <= most:
        return separator.join(shown)
    return f"{separator.join(shown)}{separator}... ({len(names)} in all)"


@functools.lru_cache(maxsize=4096)
def column_key(name: str) -> str:
    """A column name as names are compared: without case, spaces, underscores and hyphens
    (``"Volume BTC"``, ``"volume_btc"`` and ``"VOLUME-BTC"`` are the same column)."""
    return _IGNORED_IN_NAMES.sub("", name).casefold()


def quarter_as_month(text: str) -> str:
    """``2024-Q3`` as its first month, ``2024-07``; other text as it is.

    >>> quarter_as_month("1999-Q4"), quarter_as_month("1999-12-31")
    ('1999-10', '1999-12-31')
    """
    quarter = _QUARTER.fullmatch(text) if "Q" in text else None  # every time field passes here
    if quarter is None:
        return text
    return f"{quarter.group(1)}-{3 * int(quarter.group(2)) - 2:02d}"


def _time_problem(text: str, unit: str | None) -> str:
    """Why ``text`` is not read as a time: a time zone, or not ISO at all."""
    zone = _TIME_ZONE.fullmatch(text)
    got = shorten(text, quoted=True)
    if zone:
        return (
            f"time zones are not supported, got {got} (zone {zone.group(1)!r}); write the "
            "times without it, all in one zone (convert them to UTC first if they mix zones)"
        )
    return f"expected {_EXPECTED_TIME[unit]}, got {got}"

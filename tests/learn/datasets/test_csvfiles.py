import gzip
import re
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from azuraforge.errors import DataFormatError, InvalidParameterError, NotFoundError
from azuraforge.learn.datasets import CsvTable, read_csv, rows_table, write_csv


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def table_of(tmp_path: Path, text: str, header: bool | Literal["auto"] = True) -> CsvTable:
    return read_csv(write(tmp_path, text), header=header)


# --- reading the file ------------------------------------------------------------------------


def test_rows_lines_and_stripped_fields(tmp_path):
    table = table_of(tmp_path, " a , b\n\n1, 2 \n\n3,4\n")
    assert table.column_names == ("a", "b")
    assert table.rows == [["1", "2"], ["3", "4"]]
    assert table.lines == (3, 5) and table.header_line == 1 and table.has_header
    assert len(table) == 2
    assert repr(table) == f"CsvTable('{table.path}', 2 rows, columns a, b)"


def test_byte_order_mark_windows_line_endings_and_quotes(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b'\xef\xbb\xbfName,Value\r\n"Smith, J",1\r\n"two\r\nlines",2')
    table = read_csv(path)
    assert table.column_names == ("Name", "Value")
    assert table.column("Name") == ["Smith, J", "two\r\nlines"]
    assert table.lines == (2, 4)  # a row ends on the line where its quoted field closes


def test_without_header_columns_are_positions(tmp_path):
    table = table_of(tmp_path, "1,2\n3,4\n", header=False)
    assert not table.has_header and table.header_line is None
    assert table.column_names == ("1", "2")
    np.testing.assert_array_equal(table.matrix(), [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("first_line", "is_header"),
    [("pixel1,pixel2", True), ("a,1", False), ("nan,0", False), ("inf,x", False),
     ("1e3,x", False), ("NA,x", True)],
)  # fmt: skip
def test_auto_header_only_when_no_field_reads_as_a_number(tmp_path, first_line, is_header):
    table = table_of(tmp_path, f"{first_line}\n5,6\n", header="auto")
    assert table.has_header is is_header
    assert len(table) == (1 if is_header else 2)


def test_empty_file(tmp_path):
    path = write(tmp_path, "\n \n")
    with pytest.raises(DataFormatError, match=r"t\.csv is empty; expected CSV text"):
        read_csv(path)


def test_header_only(tmp_path):
    path = write(tmp_path, "a,b\n")
    with pytest.raises(DataFormatError, match=r"t\.csv: no data rows after the header \(a,b\)"):
        read_csv(path)


def test_ragged_rows_name_the_line(tmp_path):
    with pytest.raises(DataFormatError, match=r"t\.csv, line 3: 3 fields, expected 2 \(a,b\)"):
        table_of(tmp_path, "a,b\n1,2\n1,2,3\n")
    with pytest.raises(DataFormatError, match=r"line 2: 1 fields, expected 2 \(as on line 1\)"):
        table_of(tmp_path, "1,2\n1\n", header=False)


def test_not_utf8_names_the_line_and_bytes(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b\n1,2\ncaf\xe9,3\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as caught:
        read_csv(path)
    assert str(caught.value) == (
        f"{path} is not a UTF-8 text CSV file: line 3 holds bytes e9 (invalid continuation "
        "byte); export or save it as CSV with UTF-8 encoding"
    )


@pytest.mark.parametrize(
    "content",
    [
        gzip.compress(b"a,b\n1,2\n", mtime=0),
        b"\x89PNG\r\n\x1a\n\x00\x00",
        "a,b\n".encode("utf-16"),
    ],
)
def test_binary_files_are_refused(tmp_path, content):
    path = tmp_path / "binary.csv"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=r"binary\.csv is not a UTF-8 text CSV file: line"):
        read_csv(path)


def test_no_such_file(tmp_path):
    with pytest.raises(NotFoundError, match=r"missing\.csv: no such file"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(NotFoundError, match=r"missing\.csv/t\.csv: no such file"):
        read_csv(write(tmp_path, "1\n", "missing.csv") / "t.csv")


def test_a_directory_is_not_a_csv_file(tmp_path):
    with pytest.raises(NotFoundError) as caught:
        read_csv(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} is a directory, expected a CSV file; give the path of a file in it"
    )


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (PermissionError(13, "Permission denied"), "permission denied; give your user read"),
        (OSError(5, "Input/output error"), "Input/output error; check the file and the disk"),
    ],
    ids=["permission", "input/output"],
)
def test_a_file_that_cannot_be_read_is_named(tmp_path, monkeypatch, error, problem):
    path = write(tmp_path, "a,b\n1,2\n")

    def refuse(self):
        raise error

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(DataFormatError) as caught:
        read_csv(path)
    assert str(caught.value).startswith(f"{path} cannot be read: {problem}")


@pytest.mark.parametrize(
    ("text", "separator"),
    [
        (";".join(str(v) for v in range(784)) + "\n", "';'"),
        ("a;b\n1;2\n3;4\n", "';'"),
        ("a\tb\n1\t2\n", "tabs"),
        ("1\t2;3\t4\n", "tabs"),
    ],
    ids=["one long line", "header", "tabs", "tabs more than ;"],
)
def test_a_file_separated_by_semicolons_or_tabs_is_explained(tmp_path, text, separator):
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError) as caught:
        read_csv(path, header="auto")
    message = str(caught.value)
    assert message.startswith(
        f"{path}, line 1: fields are separated by {separator}, expected commas ("
    )
    setting = "delimiter=tab" if separator == "tabs" else "delimiter=';'"
    assert message.endswith(f"set {setting} (or delimiter=auto), or save the file with "
                            "commas between fields")  # fmt: skip
    assert len(message) < len(str(path)) + 250


def test_a_comma_separated_file_read_with_semicolons_is_explained(tmp_path):
    path = write(tmp_path, "date,x\n2020-01-01,1\n")
    with pytest.raises(
        DataFormatError,
        match=r"line 1: fields are separated by commas, expected ';' \('date,x'\); set "
        r"delimiter=',' \(or delimiter=auto\), or save the file with ';' between fields$",
    ):
        read_csv(path, delimiter=";")
    assert read_csv(write(tmp_path, "price\n3,5\n"), delimiter=";", decimal=",").numbers(
        "price"
    ) == [3.5]  # one column of decimal commas


def test_one_column_without_a_separator_is_still_a_table(tmp_path):
    table = table_of(tmp_path, "price\n1.5\n2\n")
    np.testing.assert_array_equal(table.numbers("price"), [1.5, 2])
    assert table_of(tmp_path, '"a;b"\n"c,d"\n').column("a;b") == ["c,d"]


def test_long_lines_and_values_are_cut_short_in_messages(tmp_path):
    long_name = "|".join(str(v) for v in range(784))
    with pytest.raises(DataFormatError) as caught:
        table_of(tmp_path, long_name + "\n")
    assert str(caught.value).endswith(
        f"no data rows after the header ({long_name[:60]}... ({len(long_name)} characters)); "
        "the file holds only its header line"
    )
    table = table_of(tmp_path, "x\n" + "y" * 5000 + "\n")
    with pytest.raises(DataFormatError) as caught:
        table.numbers("x")
    assert str(caught.value).endswith(f"got {'y' * 60!r}... (5000 characters)")


def test_csv_module_errors_name_the_line(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n3," + "4" * 200_000 + "\n")
    with pytest.raises(DataFormatError, match=r"t\.csv, line 3: field larger than field limit"):
        read_csv(path)


# --- finding columns -------------------------------------------------------------------------


def test_find_column_ignores_case_spaces_underscores_and_hyphens(tmp_path):
    table = table_of(tmp_path, "Adj Close,wind-speed,DATE\n1,2,2024-01-02\n")
    assert table.find_column("adj_close") == "Adj Close"
    assert table.find_column("WindSpeed") == "wind-speed"
    assert table.find_column("timestamp", "date") == "DATE"
    assert table.has_column("nothing", "adjclose") and not table.has_column("close")


def test_find_column_lists_the_columns_when_none_matches(tmp_path):
    table = table_of(tmp_path, "a,b\n1,2\n")
    with pytest.raises(DataFormatError) as caught:
        table.find_column("close", "last", fix="name it with close_column")
    assert str(caught.value) == (
        f"{table.path}, line 1: no column 'close' or 'last' (names match whatever their case, "
        "spaces, underscores and hyphens); the columns are a, b; name it with close_column"
    )


def test_find_column_refuses_two_matches(tmp_path):
    table = table_of(tmp_path, "\nClose,close\n1,2\n")
    with pytest.raises(DataFormatError, match=r"line 2: columns Close, close all match 'CLOSE'"):
        table.find_column("CLOSE")


def test_long_lists_of_columns_are_cut_short(tmp_path):
    names = [f"p{i}" for i in range(784)]
    table = table_of(tmp_path, ",".join(names) + "\n" + ",".join(["0"] * 784) + "\n")
    listing = "p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, ... (784 in all)"
    assert repr(table) == f"CsvTable('{table.path}', 1 rows, columns {listing})"
    with pytest.raises(DataFormatError, match=rf"the columns are {re.escape(listing)}; rename"):
        table.find_column("label")
    with pytest.raises(
        DataFormatError, match=r"3 fields, expected 784 \(p0,p1,.*,p9,\.\.\. \(784 in all\)\)"
    ):
        table_of(tmp_path, ",".join(names) + "\n1,2,3\n")


def test_a_name_used_twice_cannot_be_read_by_name(tmp_path):
    table = table_of(tmp_path, "x,y,x\n1,2,3\n4,5,nan\n")
    with pytest.raises(
        DataFormatError, match=r"line 1: columns 1 and 3 share the name 'x'; rename"
    ):
        table.numbers("x")
    np.testing.assert_array_equal(table.numbers("y"), [2, 5])
    with pytest.raises(
        DataFormatError, match=r"line 3, column 3 \('x'\): expected a number, got 'nan'"
    ):
        table.matrix()


def test_an_exact_name_is_needed_to_read_a_column(tmp_path):
    table = table_of(tmp_path, "Close\n1\n")
    with pytest.raises(
        InvalidParameterError, match="has no column 'close'; its columns are Close"
    ):
        table.numbers("close")


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "NA", "nan", "inf", "-inf", "1,5", "abc"])
def test_numbers_refuse_what_is_not_a_finite_number(tmp_path, bad):
    table = table_of(tmp_path, f'x,y\n1,2\n3,"{bad}"\n')
    with pytest.raises(DataFormatError) as caught:
        table.numbers("y")
    assert (
        str(caught.value)
        == f"{table.path}, line 3, column 2 ('y'): expected a number, got {bad!r}"
    )


def test_numbers_read_missing_markers_as_nan(tmp_path):
    table = table_of(tmp_path, "x,y\n1.5,1\nNA,2\n-2e3,3\n,4\n")
    values = table.numbers("x", missing=("", "NA"))
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, [1.5, np.nan, -2000, np.nan])
    with pytest.raises(DataFormatError, match=r"expected a number or 'NA' \(missing\), got ''"):
        table.numbers("x", missing="NA")


def test_matrix_blames_the_first_bad_field_by_line_then_column(tmp_path):
    table = table_of(tmp_path, "1,2,3\n4,x,nan\n7,8,9\n", header=False)
    with pytest.raises(DataFormatError) as caught:
        table.matrix()
    assert str(caught.value) == f"{table.path}, line 2, column 2: expected a number, got 'x'"
    np.testing.assert_array_equal(
        table.matrix(["3", "1"], missing=("x", "nan")), [[3, 1], [np.nan, 4], [9, 7]]
    )


def test_integers_and_categories(tmp_path):
    table = table_of(tmp_path, "n,wind\n1,NE\n2.5,cv\n")
    with pytest.raises(
        DataFormatError, match=r"line 3, column 1 \('n'\): expected a whole number, got '2.5'"
    ):
        table.integers("n")
    np.testing.assert_array_equal(table.categories("wind", ("cv", "NE")), [1, 0])
    with pytest.raises(
        DataFormatError, match=r"line 2, column 2 \('wind'\): expected one of NW, cv, got 'NE'"
    ):
        table.categories("wind", ("NW", "cv"))


# --- times -----------------------------------------------------------------------------------


def test_times_read_iso_dates_and_date_times(tmp_path):
    table = table_of(tmp_path, "t\n2024-01-02\n2024-01-02 13:00:00\n2024-01-02T14\n")
    times = table.times("t")
    assert times.dtype == np.dtype("datetime64[s]")
    np.testing.assert_array_equal(
        times, np.array(["2024-01-02T00", "2024-01-02T13", "2024-01-02T14"], dtype="datetime64[s]")
    )
    assert table_of(tmp_path, "t\n2024-01-02\n").times("t").dtype == np.dtype("datetime64[D]")


@pytest.mark.parametrize(
    ("stamps", "unit", "first"),
    [
        (["1960-01", "1960-02", "1960-03"], "M", "1960-01"),  # how monthly series are stamped
        (["1999-Q3", "1999-Q4", "2000-Q1"], "M", "1999-07"),  # a quarter: its first month
        (["1949", "1950", "1951"], "Y", "1949"),
    ],
)
def test_times_read_months_quarters_and_years(tmp_path, stamps, unit, first):
    """``1960-01`` was refused ("expected an ISO date or date-time"), though ISO 8601 writes
    a month so and nearly every public monthly series is stamped so."""
    times = table_of(tmp_path, "t\n" + "\n".join(stamps) + "\n").times("t")
    assert times.dtype == np.dtype(f"datetime64[{unit}]")
    assert str(times[0]) == first and (np.diff(times) > np.timedelta64(0)).all()


def test_times_in_days(tmp_path):
    table = table_of(tmp_path, "t\n2024-01-02 00:00:00\n2024-01-03T12:30\n")
    with pytest.raises(
        DataFormatError,
        match=r"line 3, column 1 \('t'\): expected a date YYYY-MM-DD, got '2024-01-03T12:30'",
    ):
        table.times("t", unit="D")
    assert table.times("t").dtype == np.dtype("datetime64[s]")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("2024-1-2", "expected an ISO date or date-time (2024-01-02, 2024-01-02 13:00:00, "
                  "2024-01-02T13), a month (2024-01), a quarter (2024-Q1) or a year (2024), "
                  "got '2024-1-2'"),
     ("2024-Q5", "expected an ISO date or date-time"),
     ("2024-13", "no such date or time: 2024-13"),
     ("02/01/2024", "expected an ISO date or date-time"),
     ("", "expected an ISO date or date-time"),
     ("today", "expected an ISO date or date-time"),
     ("2024-01-02Z", "time zones are not supported, got '2024-01-02Z' (zone 'Z'); write"),
     ("2024-01-02T00:00:00+01:00", "time zones are not supported, got "
                                   "'2024-01-02T00:00:00+01:00' (zone '+01:00')"),
     ("2024-01-02 13:00-0500", "time zones are not supported"),
     ("2024-02-30", "no such date or time: 2024-02-30"),
     ("2024-01-02 25:00", "no such date or time: 2024-01-02 25:00")],
)  # fmt: skip
def test_times_refuse_what_is_not_an_iso_time(tmp_path, text, problem):
    table = table_of(tmp_path, f"x,when\n1,2024-01-01\n2,{text}\n")
    with pytest.raises(DataFormatError) as caught:
        table.times("when")
    assert str(caught.value).startswith(f"{table.path}, line 3, column 2 ('when'): {problem}")


def test_check_increasing(tmp_path):
    table = table_of(tmp_path, "t\n2024-01-01\n2024-01-03\n2024-01-02\n")
    with pytest.raises(
        DataFormatError,
        match="line 4, column 1 \\('t'\\): 2024-01-02 comes before 2024-01-03 on line 3",
    ):
        table.check_increasing(table.times("t"), ["t"])


def test_error_names_the_columns(tmp_path):
    table = table_of(tmp_path, "a,b,c\n1,2,3\n")
    assert (
        str(table.error(0, ["a", "b"], "odd"))
        == f"{table.path}, line 2, columns 1-2 ('a', 'b'): odd"
    )
    assert (
        str(table.error(0, ["c", "a"], "odd"))
        == f"{table.path}, line 2, columns 3, 1 ('c', 'a'): odd"
    )


def test_time_order_reverses_a_file_listed_newest_first(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("date,x\n2024-01-03,3\n2024-01-02,2\n2024-01-01,1\n")
    table = read_csv(path)
    assert table.time_order(table.times("date"), ["date"]).tolist() == [2, 1, 0]
    path.write_text("date,x\n2024-01-01,1\n2024-01-03,3\n2024-01-02,2\n")
    table = read_csv(path)
    with pytest.raises(DataFormatError, match=r"line 4, .*2024-01-02 comes before 2024-01-03"):
        table.time_order(table.times("date"), ["date"])


def test_a_banner_above_the_header_is_explained(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("https://www.example.org\nunix,date,close\n1,2024-01-01,3\n")
    with pytest.raises(
        DataFormatError,
        match=r"the first line holds one field "
        r"\('https://www.example.org'\) above rows of 3 fields; .* delete",
    ):
        read_csv(path)


# --- other locales: ';' or tabs, decimal commas ---------------------------------------------

TURKISH = "Tarih;Sıcaklık;Basınç\n2020-01-01;3,5;1.013,25\n2020-01-02;-0,25;1.009\n"


@pytest.mark.parametrize(
    ("text", "delimiter", "decimal"),
    [(TURKISH, ";", ","), (TURKISH.replace(";", "\t"), "tab", ","),
     ("date;t\n2020-01-01;3.5\n2020-01-02;-0.25\n", ";", "."),
     ("date,t\n2020-01-01,3.5\n2020-01-02,-0.25\n", ",", "."),
     ('date,t,x\n2020-01-01,3.5,1.234\n2020-01-02,-0.25,"7,5"\n', ",", "."),
     ("Tarih;t, C;y, mm\n2020-01-01;3,5;0,5\n2020-01-02;-0,25;1,5\n", ";", ",")],
    ids=["excel tr", "tabs fr", "semicolons with points", "commas", "commas decide alone",
         "commas in the names and as decimals"],
)  # fmt: skip
def test_auto_reads_the_delimiter_and_the_decimal_mark(tmp_path, text, delimiter, decimal):
    table = read_csv(write(tmp_path, text), delimiter="auto", decimal="auto")
    assert (table.delimiter, table.decimal) == (delimiter, decimal)
    assert table.column_names[0] in ("Tarih", "date") and len(table.column_names) > 1
    np.testing.assert_array_equal(table.numbers(table.column_names[1]), [3.5, -0.25])


def test_a_decimal_comma_reads_dots_as_thousands_separators(tmp_path):
    table = read_csv(write(tmp_path, TURKISH), delimiter=";", decimal=",")
    np.testing.assert_array_equal(table.numbers("Basınç"), [1013.25, 1009])
    assert table.column_names == ("Tarih", "Sıcaklık", "Basınç")


@pytest.mark.parametrize("bad", ["3.5", "1.23,4", "1,2,3", "1.2345"])
def test_a_dot_that_is_no_thousands_separator_is_refused_with_a_decimal_comma(tmp_path, bad):
    path = write(tmp_path, f"date;x\n2020-01-01;1,5\n2020-01-02;{bad}\n")
    table = read_csv(path, delimiter=";", decimal=",")
    message = rf"line 3, column 2 \('x'\): expected a number with a decimal comma .*{bad}"
    with pytest.raises(DataFormatError, match=message):
        table.numbers("x")


@pytest.mark.parametrize(
    ("values", "message"),
    [(["1.234", "2.500"], r"line 2: '1.234' reads as .* set decimal='.' \(3.5\) or decimal=','"),
     (["1,250", "7"], r"line 2: '1,250' reads as"),
     (["3,5", "2.75"], r"line 2 has '3,5', a decimal comma, and .*line 3 '2.75', a decimal "
                       r"point; .* set decimal=',' or decimal='.'")],
    ids=["thousands dots only", "thousands comma only", "both marks"],
)  # fmt: skip
def test_auto_refuses_a_decimal_mark_it_cannot_tell(tmp_path, values, message):
    path = write(tmp_path, "date;x\n" + "".join(f"2020-01-0{i + 1};{v}\n" for i, v in
                                                enumerate(values)))  # fmt: skip
    with pytest.raises(DataFormatError, match=message):
        read_csv(path, delimiter="auto", decimal="auto")


def test_auto_refuses_lines_split_evenly_by_semicolons_and_tabs(tmp_path):
    path = write(tmp_path, "a;b\tc\n1;2\t3\n")
    with pytest.raises(DataFormatError, match="set delimiter=';' or delimiter=tab"):
        read_csv(path, delimiter="auto")


def test_auto_explains_uneven_semicolon_rows_by_their_own_widths(tmp_path):
    path = write(tmp_path, "a;b\n1;2,5\n3;4;5\n")
    with pytest.raises(DataFormatError, match=r"line 3: 3 fields, expected 2 \(a,b\)"):
        read_csv(path, delimiter="auto")


def test_decimal_commas_read_as_commas_are_not_called_a_banner(tmp_path):
    path = write(tmp_path, TURKISH)
    with pytest.raises(DataFormatError) as caught:
        read_csv(path)
    message = str(caught.value)
    assert "separated by ';' and the commas are decimal commas (3,5)" in message
    assert message.endswith("set delimiter=';' and decimal=',' (or both auto)")
    assert "delete" not in message


def test_a_bound_refuses_huge_finite_numbers_naming_line_and_column(tmp_path):
    table = table_of(tmp_path, "date,x,y\n2020-01-01,1,2\n2020-01-02,3,-1e308\n")
    np.testing.assert_array_equal(table.numbers("y"), [2, -1e308])
    with pytest.raises(
        DataFormatError,
        match=r"line 3, column 3 \('y'\): expected a number between -1e\+15 and 1e\+15, got "
        r"'-1e308'; write the column in larger units",
    ):
        table.matrix(["x", "y"], bound=1e15)


def test_written_columns_read_back_exactly(tmp_path):
    times = np.arange("2024-01-01", "2024-01-04", dtype="datetime64[D]")
    values = np.array([0.1, 1 / 3, 2e-17])
    path = tmp_path / "out.csv"
    with path.open("w") as handle:
        assert write_csv(handle, {"time": times, "value": values, "label": ["a", "b", "c"]}) == 3
    table = read_csv(path)
    assert table.column_names == ("time", "value", "label")
    np.testing.assert_array_equal(table.times("time"), times)
    np.testing.assert_array_equal(table.numbers("value"), values)
    assert table.column("label") == ["a", "b", "c"]


@pytest.mark.parametrize("missing", [(), "NA", ("", "NA")])
def test_rows_sent_as_numbers_read_as_their_text_reads(missing: str | tuple[str, ...]) -> None:
    values = [2014, 2014.0, -4.5, 1e-300, 2**53 + 1, 10**30, 0.1 + 0.2, -0.0, 3]
    rows = [{"a": value, "b": float(index)} for index, value in enumerate(values)]
    sent = rows_table(rows)
    as_text = CsvTable(Path("rows"), ["a", "b"], sent.rows, range(len(rows)))
    np.testing.assert_array_equal(
        sent.matrix(missing=missing), as_text.matrix(missing=missing), strict=True
    )
    assert sent.integers("b").tolist() == list(range(len(values)))


def test_rows_not_all_numbers_read_from_their_text() -> None:
    table = rows_table([{"a": 1.5}, {"a": None}, {"a": "2"}])
    assert table.numbers("a", missing="").tolist()[::2] == [1.5, 2.0]
    with pytest.raises(DataFormatError, match=r"rows\[1\].*expected a number"):
        table.numbers("a")
    with pytest.raises(DataFormatError, match=r"rows\[0\].*expected a number, got '1000"):
        rows_table([{"a": 10**400}]).numbers("a")
    with pytest.raises(DataFormatError, match=r"rows\[1\].*between -1 and 1"):
        rows_table([{"a": 0.5}, {"a": 2}]).numbers("a", bound=1.0)

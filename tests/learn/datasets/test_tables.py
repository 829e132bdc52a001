import datetime
import gzip
from pathlib import Path

import numpy as np
import pytest

from azuraforge.errors import DataFormatError, InvalidParameterError, NotFoundError
from azuraforge.learn.datasets import BeijingHourly, fetch, load_beijing_hourly, load_ohlcv

OHLCV_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
BEIJING_HEADER = "No,year,month,day,hour,pm2.5,DEWP,TEMP,PRES,cbwd,Iws,Is,Ir"
GOOD_PRICES = [
    "2024-01-02,10,11,9,10.5,10.5,1000",
    "2024-01-03,10.5,12,10,11.5,11.5,1500",
    "2024-01-04,11.5,12,11,11.0,11.0,1200",
]
GOOD_HOURS = [
    "1,2010,1,1,0,NA,-21,-11,1021,NW,1.79,0,0",
    "2,2010,1,1,1,129,-16,-4,1020,SE,1.79,0,0",
    "3,2010,1,1,2,148,-15,-4,1020,cv,0.89,0,1",
]


def write(tmp_path: Path, header: str, rows: list[str], name: str = "bad.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def beijing(real_data):
    return load_beijing_hourly()


@pytest.fixture(scope="module")
def sp500(real_data):
    return load_ohlcv("sp500-daily")


# --- the real Beijing file -------------------------------------------------------------------


def test_beijing_rows_and_hours(beijing):
    assert len(beijing) == 43824
    assert beijing.timestamps.dtype == np.dtype("datetime64[h]")
    assert beijing.timestamps[0] == np.datetime64("2010-01-01T00")
    assert beijing.timestamps[-1] == np.datetime64("2014-12-31T23")
    assert (np.diff(beijing.timestamps) == np.timedelta64(1, "h")).all()  # no missing hours


def test_beijing_weather_is_plausible(beijing):
    for name in ("temperature", "dew_point", "pressure", "wind_speed", "snow_hours", "rain_hours"):
        column = getattr(beijing, name)
        assert column.dtype == np.float32 and column.shape == (43824,), name
        assert np.isfinite(column).all(), name
    assert beijing.temperature.min() == -19 and beijing.temperature.max() == 42
    assert 5 < beijing.temperature.mean() < 20
    assert (beijing.dew_point <= beijing.temperature).mean() > 0.999
    assert beijing.pressure.min() >= 990 and beijing.pressure.max() <= 1050
    assert (beijing.wind_speed > 0).all()


def test_beijing_pm25_missing_is_nan(beijing):
    assert beijing.pm25.dtype == np.float32
    assert np.isnan(beijing.pm25).sum() == 2067
    assert np.isnan(beijing.pm25[:24]).all()  # the first day has no readings


def test_beijing_wind_direction_codes(beijing):
    assert beijing.wind_direction.dtype == np.int8
    assert BeijingHourly.WIND_DIRECTIONS == ("NE", "NW", "SE", "cv")
    counts = np.bincount(beijing.wind_direction, minlength=4).tolist()
    assert dict(zip(beijing.WIND_DIRECTIONS, counts, strict=True)) == {
        "NE": 4997, "NW": 14150, "SE": 15290, "cv": 9387,
    }  # fmt: skip


def test_beijing_from_a_small_file(tmp_path):
    data = load_beijing_hourly(write(tmp_path, BEIJING_HEADER, GOOD_HOURS, "ok.csv"))
    assert data.timestamps.tolist() == [datetime.datetime(2010, 1, 1, h) for h in range(3)]
    np.testing.assert_array_equal(data.pm25, [np.nan, 129, 148])
    assert [data.WIND_DIRECTIONS[c] for c in data.wind_direction] == ["NW", "SE", "cv"]


# --- the real stock files --------------------------------------------------------------------


def test_sp500_all_rows(sp500):
    assert len(sp500) == 24114
    assert sp500.dates.dtype == np.dtype("datetime64[D]")
    assert sp500.dates[0] == np.datetime64("1927-12-30")
    assert sp500.dates[-1] == np.datetime64("2023-12-28")
    assert (np.diff(sp500.dates) > np.timedelta64(0, "D")).all()
    assert (sp500.volume[sp500.dates < np.datetime64("1950-01-03")] == 0).all()


def test_sp500_from_1950_has_volume(real_data):
    prices = load_ohlcv("sp500-daily", start="1950-01-03")
    assert len(prices) == 18618
    assert prices.dates[0] == np.datetime64("1950-01-03")
    assert (prices.volume > 0).all()
    assert (prices.low <= prices.close).all() and (prices.close <= prices.high).all()


def test_start_accepts_dates(real_data):
    by_date = load_ohlcv("sp500-daily", start=datetime.date(2023, 12, 27))
    assert by_date.dates.tolist() == [datetime.date(2023, 12, 27), datetime.date(2023, 12, 28)]
    assert len(load_ohlcv("sp500-daily", start=np.datetime64("2023-12-28"))) == 1


def test_nvda(real_data):
    prices = load_ohlcv("nvda-daily")
    assert len(prices) == 4012
    assert prices.dates[0] == np.datetime64("1999-01-22")
    assert prices.dates[-1] == np.datetime64("2014-12-31")
    assert (prices.volume > 0).all()
    assert (prices.low <= prices.close).all() and (prices.close <= prices.high).all()
    assert prices.adj_close is not None and 1.26 < prices.adj_close.min() < 1.27


def test_nvda_with_other_column_names_reads_the_same(real_data, tmp_path):
    original = fetch("nvda-daily")["NVDA_daily_1999_2014.csv"].read_text().splitlines()
    # lower case, reordered, no Open nor Adj Close, one extra column
    reordered = ["volume,close,ticker,low,high,timestamp"]
    for line in original[1:]:
        date, _, high, low, close, _, volume = line.split(",")
        reordered.append(f"{volume},{close},NVDA,{low},{high},{date}")
    (tmp_path / "nvda.csv").write_text("\n".join(reordered))
    prices, expected = load_ohlcv(tmp_path / "nvda.csv"), load_ohlcv("nvda-daily")
    for field in ("dates", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(prices, field), getattr(expected, field))


def test_ohlcv_from_a_path(tmp_path):
    path = write(tmp_path, OHLCV_HEADER, GOOD_PRICES, "ok.csv")
    for source in (path, str(path)):
        prices = load_ohlcv(source)
        assert prices.dates.tolist() == [datetime.date(2024, 1, d) for d in (2, 3, 4)]
        np.testing.assert_array_equal(prices.adj_close, [10.5, 11.5, 11.0])
        np.testing.assert_array_equal(prices.volume, [1000, 1500, 1200])
        assert {c.dtype for c in (prices.open, prices.volume)} == {np.dtype(np.float64)}


def test_ohlcv_ignores_blank_lines_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("\ufeff" + OHLCV_HEADER + "\r\n" + "\r\n".join(GOOD_PRICES) + "\r\n\r\n")
    assert len(load_ohlcv(path)) == 3


@pytest.mark.parametrize(
    "header",
    ["date,open,high,low,close,adj_close,volume",
     "DATE,OPEN,HIGH,LOW,CLOSE,ADJ CLOSE,VOLUME",
     "timestamp,Open,High,Low,Close,AdjClose,Volume"],
)  # fmt: skip
def test_ohlcv_column_names_in_any_case(tmp_path, header):
    prices = load_ohlcv(write(tmp_path, header, GOOD_PRICES, "ok.csv"))
    np.testing.assert_array_equal(prices.close, [10.5, 11.5, 11.0])
    np.testing.assert_array_equal(prices.adj_close, [10.5, 11.5, 11.0])


def test_ohlcv_columns_in_any_order_with_extra_columns(tmp_path):
    rows = ["XYZ,1000,10.5,9,11,2024-01-02,x", "XYZ,1500,11.5,10,12,2024-01-03,y"]
    path = write(tmp_path, "Symbol,Volume,Close,Low,High,Date,Note", rows, "ok.csv")
    prices = load_ohlcv(path)
    assert prices.dates.tolist() == [datetime.date(2024, 1, 2), datetime.date(2024, 1, 3)]
    np.testing.assert_array_equal(prices.high, [11, 12])
    np.testing.assert_array_equal(prices.low, [9, 10])
    np.testing.assert_array_equal(prices.volume, [1000, 1500])
    assert prices.open is None and prices.adj_close is None


def test_ohlcv_columns_named_by_the_caller(tmp_path):
    path = write(tmp_path, "Session,Hi,Lo,Last,Shares", ["2024-01-02,11,9,10.5,1000"], "ok.csv")
    fields = {"date": "session", "high": "Hi", "low": "Lo", "close": "Last", "volume": "Shares"}
    prices = load_ohlcv(path, columns=fields)
    assert prices.close.tolist() == [10.5] and prices.high.tolist() == [11]
    with pytest.raises(DataFormatError, match=r"no column 'Closing' .* columns are Session, Hi,"):
        load_ohlcv(path, columns={**fields, "close": "Closing"})
    with pytest.raises(
        InvalidParameterError, match="columns names unknown fields price; the fields"
    ):
        load_ohlcv(path, columns={"price": "Last"})


def test_ohlcv_dates_may_carry_a_midnight_time(tmp_path):
    rows = ["2024-01-02 00:00:00,10,11,9,10.5,10.5,1000", "2024-01-03T00:00,10,11,9,10.5,10.5,1"]
    prices = load_ohlcv(write(tmp_path, OHLCV_HEADER, rows, "ok.csv"))
    assert prices.dates.tolist() == [datetime.date(2024, 1, 2), datetime.date(2024, 1, 3)]


def test_ohlcv_newest_first_is_read_oldest_first(tmp_path):
    prices = load_ohlcv(
        write(tmp_path, OHLCV_HEADER, GOOD_PRICES[::-1], "ok.csv"), start="2024-01-03"
    )
    assert prices.dates.tolist() == [datetime.date(2024, 1, 3), datetime.date(2024, 1, 4)]
    np.testing.assert_array_equal(prices.close, [11.5, 11.0])
    np.testing.assert_array_equal(prices.volume, [1500, 1200])
    mixed = [GOOD_PRICES[1], GOOD_PRICES[0], GOOD_PRICES[2]]
    with pytest.raises(
        DataFormatError, match="line 3, column 1 \\('Date'\\): 2024-01-02 comes before"
    ):
        load_ohlcv(write(tmp_path, OHLCV_HEADER, mixed))


def test_ohlcv_zero_open_and_volume_are_kept(tmp_path):
    rows = ["2024-01-02,0,11,9,10.5,10.5,0"]
    prices = load_ohlcv(write(tmp_path, OHLCV_HEADER, rows, "ok.csv"))
    assert prices.open is not None and prices.open.tolist() == [0.0]
    assert prices.volume.tolist() == [0.0]


def test_unknown_source():
    with pytest.raises(
        NotFoundError, match=r"'sp501-daily' is neither a dataset \(beijing-hourly.*\) nor an"
    ):
        load_ohlcv("sp501-daily")


@pytest.mark.parametrize("start", ["yesterday", "1950-13-01", None, [1, 2]])
def test_bad_start(tmp_path, start):
    path = write(tmp_path, OHLCV_HEADER, GOOD_PRICES)
    if start is None:
        start = np.datetime64("NaT")
    with pytest.raises(InvalidParameterError, match="start must be"):
        load_ohlcv(path, start=start)


def test_start_after_the_last_day(tmp_path):
    path = write(tmp_path, OHLCV_HEADER, GOOD_PRICES)
    with pytest.raises(InvalidParameterError, match="start='2025-01-01' is after the last date"):
        load_ohlcv(path, start="2025-01-01")


# --- broken CSV files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Date,Open,High,Low,Close,Adj Close",
         "line 1: no column 'Volume' (names match whatever their case, spaces, underscores "
         "and hyphens); "
         "the columns are Date, Open, High, Low, Close, Adj Close; name the column with "
         "load_ohlcv(columns={'volume': ...})"),
        ("Day,Open,Hi,Low,Close,Volume", "line 1: no column 'High'"),
        ("Date,Date,High,Low,Close,Volume", "line 1: columns Date, Date all match 'Date'"),
    ],
)  # fmt: skip
def test_missing_or_ambiguous_column(tmp_path, header, message):
    rows = [",".join(row.split(",")[: header.count(",") + 1]) for row in GOOD_PRICES]
    path = write(tmp_path, header, rows)
    with pytest.raises(DataFormatError) as caught:
        load_ohlcv(path)
    assert str(caught.value).startswith(f"{path}, {message}")


def test_a_missing_column_error_ends_with_the_callers_fix(tmp_path):
    rows = [row.rsplit(",", 1)[0] for row in GOOD_PRICES]
    path = write(tmp_path, "Date,Open,High,Low,Close,Adj Close", rows)
    with pytest.raises(DataFormatError, match=r"Adj Close; set volume_column=NAME$"):
        load_ohlcv(path, fix="set {field}_column=NAME")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-01-05,11,12,10,abc,11,900", "column 5 ('Close'): expected a number, got 'abc'"),
        ("2024-01-05,null,null,null,null,null,null",
         "column 2 ('Open'): expected a number, got 'null'"),
        ("2024-01-05,11,12,10,11,11,", "column 7 ('Volume'): expected a number, got ''"),
        ("2024-01-05,11,12,10,nan,11,900", "column 5 ('Close'): expected a number, got 'nan'"),
        ("2024-01-05,11,inf,10,11,11,900", "column 3 ('High'): expected a number, got 'inf'"),
        ("2024-1-5,11,12,10,11,11,900",
         "column 1 ('Date'): expected a date YYYY-MM-DD, got '2024-1-5'"),
        ("2024-01-05 16:00,11,12,10,11,11,900",
         "column 1 ('Date'): expected a date YYYY-MM-DD, got '2024-01-05 16:00'"),
        ("2024-01-05,11,10,12,11,11,900",
         "columns 3-4 ('High', 'Low'): the high 10 is below the low 12; fix the row (are the "
         "columns swapped?)"),
        ("2024-01-05,11,12,10,0,11,900",
         "column 5 ('Close'): expected a price > 0, got '0'; fix or drop the row"),
        ("2024-01-05,11,12,-10,11,11,900",
         "column 4 ('Low'): expected a price > 0, got '-10'"),
        ("2024-01-05,11,12,10,11,0.0,900",
         "column 6 ('Adj Close'): expected a price > 0, got '0.0'"),
        ("2024-01-05,-1,12,10,11,11,900",
         "column 2 ('Open'): expected an opening price >= 0 (0 where it was not recorded), "
         "got '-1'"),
        ("2024-01-05,11,12,10,11,11,-900",
         "column 7 ('Volume'): expected a volume >= 0, got '-900'"),
        ("2024-02-30,11,12,10,11,11,900", "column 1 ('Date'): no such date or time: 2024-02-30"),
        ("2024-01-04,11,12,10,11,11,900",
         "column 1 ('Date'): 2024-01-04 repeats 2024-01-04 on line 4; rows must be in time "
         "order without duplicates"),
        ("2024-01-01,11,12,10,11,11,900",
         "column 1 ('Date'): 2024-01-01 comes before 2024-01-04 on line 4"),
    ],
)  # fmt: skip
def test_bad_value_names_file_line_and_column(tmp_path, row, message):
    path = write(tmp_path, OHLCV_HEADER, [*GOOD_PRICES, row])
    with pytest.raises(DataFormatError) as caught:
        load_ohlcv(path)
    assert str(caught.value).startswith(f"{path}, line 5, {message}")


def test_wrong_number_of_fields(tmp_path):
    path = write(tmp_path, OHLCV_HEADER, [GOOD_PRICES[0], "2024-01-03,10.5,12,10,11.5,11.5"])
    with pytest.raises(DataFormatError, match=r"bad.csv, line 3: 6 fields, expected 7 \(Date,"):
        load_ohlcv(path)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{OHLCV_HEADER}\n2024-01-02,1,1,1,1,1,1 \xe9\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match=r"latin1\.csv is not a UTF-8 text CSV file: line 2"):
        load_ohlcv(path)


def test_csv_module_errors_name_the_line(tmp_path):
    path = write(
        tmp_path, OHLCV_HEADER, [*GOOD_PRICES, "2024-01-05," + "1" * 200_000 + ",1,1,1,1,1"]
    )
    with pytest.raises(DataFormatError, match=r"bad\.csv, line 5: field larger than field limit"):
        load_ohlcv(path)


def test_header_only(tmp_path):
    path = write(tmp_path, OHLCV_HEADER, [])
    with pytest.raises(DataFormatError, match=r"bad\.csv: no data rows after the header"):
        load_ohlcv(path)


@pytest.mark.parametrize("reader", [load_ohlcv, load_beijing_hourly])
@pytest.mark.parametrize(
    ("content", "message"),
    [(gzip.compress(b"Date\n", mtime=0), "is not a UTF-8 text CSV file: line 1"),
     (b"", "is empty; expected CSV text"),
     (b"\r\n\r\n", "is empty; expected CSV text")],
)  # fmt: skip
def test_every_reader_explains_unreadable_files(tmp_path, reader, content, message):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=rf"data\.csv {message}"):
        reader(path)


def test_data_format_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="expected a number"):
        load_ohlcv(write(tmp_path, OHLCV_HEADER, [*GOOD_PRICES, "2024-01-05,x,1,1,1,1,1"]))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("4,2010,1,1,3,NA,-15,NA,1020,cv,0.89,0,0",
         "column 8 ('TEMP'): expected a number, got 'NA'"),
        ("4,2010,1,1,3,50,-15,-4,1020,SW,0.89,0,0",
         "column 10 ('cbwd'): expected one of NE, NW, SE, cv, got 'SW'"),
        ("4,2010,2,30,3,50,-15,-4,1020,cv,0.89,0,0",
         "columns 2-5 ('year', 'month', 'day', 'hour'): no such date or time: 2010-02-30T03"),
        ("4,2010,1,1,2.5,50,-15,-4,1020,cv,0.89,0,0",
         "column 5 ('hour'): expected a whole number, got '2.5'"),
        ("4,2010,1,1,2,50,-15,-4,1020,cv,0.89,0,0",
         "columns 2-5 ('year', 'month', 'day', 'hour'): 2010-01-01T02 repeats 2010-01-01T02 "
         "on line 4"),
    ],
)  # fmt: skip
def test_bad_beijing_rows(tmp_path, row, message):
    path = write(tmp_path, BEIJING_HEADER, [*GOOD_HOURS, row])
    with pytest.raises(DataFormatError) as caught:
        load_beijing_hourly(path)
    assert str(caught.value).startswith(f"{path}, line 5, {message}")


def test_beijing_bad_header(tmp_path):
    path = write(tmp_path, BEIJING_HEADER.replace("pm2.5", "pm25"), GOOD_HOURS)
    with pytest.raises(DataFormatError, match=r"line 1: no column 'pm2\.5' .* columns are No, "):
        load_beijing_hourly(path)

import pytest

from azuraforge.errors import DataFormatError
from azuraforge.learn.datasets.locales import comma_decimals_as_points, infer_decimal


@pytest.mark.parametrize(
    ("text", "read"),
    [("3,5", "3.5"), (",5", ".5"), ("-0,25", "-0.25"), ("+1.234,5", "+1234.5"),
     ("1.234.567", "1234567"), ("1,5e3", "1.5e3"), ("12", "12"), ("nan", "nan"), ("", ""),
     ("3.5", "not a number"), ("1.23,4", "not a number"), ("1,2,3", "not a number"),
     ("12.34", "not a number"), ("1.2345", "not a number"), ("a,b", "not a number"),
     ("0.234", "not a number"), ("0.234,5", "not a number")],
)  # fmt: skip
def test_comma_decimals_read_as_points_or_not_at_all(text, read):
    assert comma_decimals_as_points([text]) == [read]


def _where(row: int) -> str:
    return f"line {row + 2}"


@pytest.mark.parametrize(
    ("fields", "decimal"),
    [(["3,5"], ","), (["1.234,5"], ","), (["1.234", "7,25"], ","), (["2.5"], "."),
     (["1.234", "0.5"], "."), (["7", "2024-01-02", "Paris, FR", "v1.2.3"], "."),
     (["1,234", "0,126"], ","), (["1.234", "-0.126"], "."),
     ([], ".")],
)  # fmt: skip
def test_infer_decimal_from_the_values_that_decide(fields, decimal):
    assert infer_decimal([[field] for field in fields], _where) == decimal


def test_infer_decimal_names_the_lines_of_two_marks():
    with pytest.raises(
        DataFormatError, match=r"^line 3 has '3,5', a decimal comma, and line 2 '0\.5'"
    ):
        infer_decimal([["0.5"], ["3,5"]], _where)

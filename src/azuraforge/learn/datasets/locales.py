"""Numbers as spreadsheets of other locales write them: a decimal comma (``3,5``), dots between
thousands (``1.234,5``), and how :func:`~azuraforge.learn.datasets.csvfiles.read_csv` tells
which convention a file uses.

A value is never read as a wrong number: a text that could be either (``1.234`` is 1.234 with
a decimal point and 1234 with a decimal comma) decides nothing on its own, and a file whose
values disagree, or whose only evidence is such texts, is an error that says which
``decimal`` to set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

from azuraforge.errors import DataFormatError, shorten

Decimal = Literal[".", ","]
DECIMALS: tuple[Decimal, ...] = (".", ",")
"""The decimal marks a table's numbers may use."""

_GROUPS = r"[1-9]\d{0,2}(?:\.\d{3})+"  # thousands groups never start with 0
_COMMA_NUMBER = re.compile(rf"[+-]?(?:{_GROUPS}|\d*),\d+(?:[eE][+-]?\d+)?")
_DOT_THOUSANDS = re.compile(rf"[+-]?{_GROUPS}")
_COMMA_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2},\d{3}")
_POINT_NUMBER = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
_NOT_A_NUMBER = "not a number"


def comma_decimals_as_points(texts: Sequence[str]) -> list[str]:
    """``texts`` written with a decimal comma, as Python reads numbers: ``3,5`` → ``3.5``,
    ``1.234,5`` → ``1234.5``, ``1.234`` → ``1234`` (dots separate thousands). A text with a
    dot elsewhere (``3.5``, ``1.23,4``) becomes one that is no number, so it is refused, never
    read as a wrong number; a text without a comma or a dot is left as it is.

    Examples
    --------
    >>> comma_decimals_as_points(["3,5", "-1.234,56", "1.234", "7", "NA", "3.5"])
    ['3.5', '-1234.56', '1234', '7', 'NA', 'not a number']
    """
    return [_as_point(text) if "," in text or "." in text else text for text in texts]


def _as_point(text: str) -> str:
    if not (_COMMA_NUMBER.fullmatch(text) or _DOT_THOUSANDS.fullmatch(text)):
        return _NOT_A_NUMBER
    return text.replace(".", "").replace(",", ".")


def infer_decimal(rows: Sequence[Sequence[str]], place: Callable[[int], str]) -> Decimal:
    """The decimal mark of the numbers in ``rows`` (data rows of text fields): ``","`` when
    some value has a decimal comma (``3,5``, ``1.234,5``) and none a decimal point, ``"."``
    when some has a point (``3.5``) and none a comma, ``"."`` too when no value has either.

    Raises
    ------
    DataFormatError
        If values of both kinds are found, or the only values with a mark are ones that read
        either way (``1.234``, ``1,234``); the message names the line of each (``place(row)``
        says where the data row ``row`` is) and says which ``decimal`` to set.

    Examples
    --------
    >>> infer_decimal([["2024-01-01", "3,5"], ["2024-01-02", "1.204,25"]], str)
    ','
    >>> infer_decimal([["2024-01-01", "3.5"], ["2024-01-02", "Paris, FR"]], str)
    '.'
    """
    found: dict[str, tuple[int, str]] = {}
    for row, fields in enumerate(rows):
        for text in fields:
            if "," in text or "." in text:
                found.setdefault(_evidence(text), (row, text))
        if "," in found and "." in found:
            raise _both_marks(found, place)
    for mark in DECIMALS:
        if mark in found:
            return mark
    if "either" in found:
        row, text = found["either"]
        raise DataFormatError(
            f"{place(row)}: {shorten(text, quoted=True)} reads as a number with a decimal point "
            "and, with dots or commas between thousands, as another with a decimal comma, and "
            "no value of the file decides; set decimal='.' (3.5) or decimal=',' (3,5)"
        )
    return "."


def _evidence(text: str) -> str:
    """Which decimal mark ``text`` shows: ``","``, ``"."``, ``"either"`` or ``"none"``."""
    if _DOT_THOUSANDS.fullmatch(text) or _COMMA_THOUSANDS.fullmatch(text):
        return "either"
    if _COMMA_NUMBER.fullmatch(text):
        return ","
    if _POINT_NUMBER.fullmatch(text):
        return "."
    return "none"


def _both_marks(found: dict[str, tuple[int, str]], place: Callable[[int], str]) -> DataFormatError:
    (comma_row, comma), (point_row, point) = found[","], found["."]
    return DataFormatError(
        f"{place(comma_row)} has {shorten(comma, quoted=True)}, a decimal comma, and "
        f"{place(point_row)} {shorten(point, quoted=True)}, a decimal point; write every "
        "number one way, then set decimal=',' or decimal='.' for that way"
    )

"""``--set key=value`` reads values as YAML, with numbers as JSON has them: the API reads
settings as JSON types, strictly."""

from __future__ import annotations

import pytest

from azuraforge.cli.common import parse_sets


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("1e-3", 0.001),  # PyYAML's YAML 1.1 read it as the text "1e-3"
        ("-2E5", -200000.0),
        ("1.5e-3", 0.0015),
        ("3", 3),
        ("true", True),
        ("False", False),
        ("No", "No"),  # a column's name: YAML 1.1's bools are only true and false here
        ("on", "on"),
        ("y", "y"),
        ("x1e3", "x1e3"),
        ("2024-01-01", "2024-01-01"),
        (",", ","),  # decimal=, (YAML reads no lone comma)
        (";", ";"),
        (".", "."),
    ],
)
def test_set_values_are_read_as_json_types(given: str, read: object):
    value = parse_sets([f"key={given}"])["key"]
    assert value == read and type(value) is type(read)

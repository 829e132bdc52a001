"""A predict request's rows are checked by pydantic alone (in one pass, compiled), not walked
value by value in Python; a bad body is refused with the messages it had when they were."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from azuraforge.learn.datasets import rows_table
from azuraforge.platform.api.schemas.registry import PredictRequest


class WalkedPredictRequest(PredictRequest):
    """The request as it was read before: every value walked for whole floats."""

    verbatim: ClassVar[frozenset[str]] = frozenset()


def test_rows_pass_as_sent_and_a_whole_float_reads_as_its_integer() -> None:
    body = {"rows": [{"year": 2014.0, "TEMP": -4.0, "Iws": 1.79, "cbwd": "NE"}], "horizon": 1.0}
    request = PredictRequest.model_validate(body)
    assert request.horizon == 1 and type(request.horizon) is int  # 1.0 is 1, as JSON says
    assert request.rows == body["rows"] and type(request.rows[0]["year"]) is float  # as sent
    table = rows_table(request.rows)
    assert table.numbers("year").tolist() == [2014.0] and table.numbers("Iws").tolist() == [1.79]
    walked = rows_table(WalkedPredictRequest.model_validate(body).rows)
    assert table.rows == walked.rows == [["2014", "-4", "1.79", "NE"]]  # as when walked


BAD = [
    {"rows": []},
    {"rows": "NE"},
    {"rows": [1, [2], None]},
    {"rows": [{"year": 2014}, {1: 2}]},
    {"rows": [{"year": 2014}], "horizon": 1.5},
    {"rows": [{"year": 2014}], "horizon": "1"},
    {"rows": [{"year": 2014}], "history": 1},
    {"rows": [{"year": 2014}], "extra": True},
    {},
]


@pytest.mark.parametrize("body", BAD, ids=range(len(BAD)))
def test_a_bad_body_is_refused_with_the_messages_it_had(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as found:
        PredictRequest.model_validate(body)
    with pytest.raises(ValidationError) as walked:
        WalkedPredictRequest.model_validate(body)
    assert _problems(found.value) == _problems(walked.value)


def _problems(error: ValidationError) -> list[tuple[Any, ...]]:
    return [(e["type"], e["loc"], e["msg"]) for e in error.errors()]

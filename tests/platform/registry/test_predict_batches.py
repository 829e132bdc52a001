"""Predict requests in batches (services/batching.py) with the real tiny weather models:
requests for a version that arrive together share one forward pass, each answered as when
alone (its windows past the end of its rows within the core's float32 rounding, those inside
them bit for bit), a bad request fails alone, and a lone request is not held."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from azuraforge.apps import RowsRequest
from azuraforge.apps import forecasting as forecasting_module
from azuraforge.platform.services import predictions
from azuraforge.platform.services.batching import PredictBatcher
from azuraforge.platform.services.predictions import InvalidInputError, PredictAnswer
from azuraforge.platform.services.registry import ModelRef
from azuraforge.platform.services.serving import LoadedModel
from azuraforge.platform.store import ExperimentRecord
from tests.platform.registry.conftest import SEQUENCE, registered

MAX_ROWS = 50
TOLERANCE = 1e-6
"""The most a batched forecast may differ from the lone one, relative to the target's
spread: the model computes in float32 and its matrix products group their sums by the
batch's size, so a window's output may move by a few float32 units in the last place
(about 1e-7 of it) with the windows beside it."""


@pytest.fixture
def loaded(api: TestClient, runs: list[ExperimentRecord]) -> LoadedModel:
    """Version 1 of the weather model as the API process serves it."""
    registered(api, runs)
    served = api.app.state.models.get(ModelRef.parse("weather/1"))  # type: ignore[attr-defined]
    assert isinstance(served, LoadedModel)
    return served


@pytest.fixture
def forwards(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The windows of each forward pass the forecasters make (the real one runs)."""
    made: list[int] = []
    real = forecasting_module.predict

    def counted(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        made.append(len(x))
        return real(model, x, batch_size)

    monkeypatch.setattr(forecasting_module, "predict", counted)
    return made


def batched(
    loaded: LoadedModel, requests: list[RowsRequest], wait: float = 0.05
) -> list[PredictAnswer | BaseException]:
    """The batcher's answers to ``requests`` sent at the same time."""
    batcher = PredictBatcher()

    async def ask_all() -> list[PredictAnswer | BaseException]:
        asked = [batcher.predict(loaded, r, MAX_ROWS, wait) for r in requests]
        return await asyncio.gather(*asked, return_exceptions=True)

    return asyncio.run(ask_all())


def alone(loaded: LoadedModel, request: RowsRequest) -> PredictAnswer:
    return predictions.predict(loaded, request.rows, request.horizon, MAX_ROWS, request.history)


def assert_close(loaded: LoadedModel, answer: Any, lone: PredictAnswer) -> None:
    """``answer`` is ``lone`` but for its forecasts within :data:`TOLERANCE`."""
    assert not isinstance(answer, BaseException), answer
    (columns, history), (lone_columns, lone_history) = answer, lone
    assert history == lone_history
    assert {k: v for k, v in columns.items() if k != "forecast"} == {
        k: v for k, v in lone_columns.items() if k != "forecast"
    }
    spread = float(np.ravel(loaded.artifact.preprocessing["target"].std)[0])
    np.testing.assert_allclose(
        columns["forecast"], lone_columns["forecast"], rtol=0, atol=TOLERANCE * spread
    )


def test_requests_arriving_together_share_one_forward_pass_and_equal_their_lone_answers(
    loaded: LoadedModel, beijing_rows: list[dict[str, Any]], forwards: list[int]
) -> None:
    requests = [RowsRequest(beijing_rows[i : i + SEQUENCE]) for i in range(0, 60, 7)]
    requests += [
        RowsRequest(beijing_rows[3 : 3 + SEQUENCE], horizon=1),
        RowsRequest(beijing_rows[5 : 5 + SEQUENCE], history=True),
    ]
    answers = batched(loaded, requests)
    assert forwards == [len(requests)]  # one window each, all in one forward pass
    for request, answer in zip(requests, answers, strict=True):
        assert_close(loaded, answer, alone(loaded, request))
    assert answers[-1][1] is not None and answers[-1][1]["time"]  # type: ignore[index]


def test_the_windows_inside_a_requests_rows_are_forecast_as_when_alone(
    loaded: LoadedModel, beijing_rows: list[dict[str, Any]], forwards: list[int]
) -> None:
    long, short = RowsRequest(beijing_rows[:40]), RowsRequest(beijing_rows[50 : 50 + SEQUENCE])
    lone = alone(loaded, long)
    horizon = int(loaded.artifact.config["horizon"])
    inside = len(lone[0]["forecast"]) - horizon
    forwards.clear()
    answers = batched(loaded, [long, short])
    assert forwards == [horizon + 1, inside]  # the future windows together, then the others
    assert_close(loaded, answers[0], lone)
    assert answers[0][0]["forecast"][:inside] == lone[0]["forecast"][:inside]  # type: ignore[index]


def test_a_bad_request_fails_alone_with_its_own_error(
    loaded: LoadedModel, beijing_rows: list[dict[str, Any]], forwards: list[int]
) -> None:
    good = RowsRequest(beijing_rows[:SEQUENCE])
    unread = [dict(row) for row in beijing_rows[:SEQUENCE]]
    unread[2]["TEMP"] = "warm"
    missing = [{k: v for k, v in row.items() if k != "DEWP"} for row in beijing_rows[:SEQUENCE]]
    bad = [
        RowsRequest(unread),
        RowsRequest(missing),
        RowsRequest(beijing_rows[: SEQUENCE - 1]),
        RowsRequest(beijing_rows[:SEQUENCE], horizon=99),
        RowsRequest(beijing_rows[: MAX_ROWS + 1]),
    ]
    answers = batched(loaded, [good, *bad, good])
    assert forwards == [2]
    for answer in (answers[0], answers[-1]):
        assert_close(loaded, answer, alone(loaded, good))
    errors = answers[1:-1]
    assert all(isinstance(e, InvalidInputError) for e in errors), errors
    for error, request in zip(errors, bad, strict=True):
        with pytest.raises(InvalidInputError) as lone:
            alone(loaded, request)
        assert str(error) == str(lone.value)
    assert "rows[2]" in str(errors[0]) and "DEWP" in str(errors[1])


def test_a_lone_request_is_not_held_and_is_the_unbatched_answer_bit_for_bit(
    loaded: LoadedModel, beijing_rows: list[dict[str, Any]], forwards: list[int]
) -> None:
    request = RowsRequest(beijing_rows[10 : 10 + SEQUENCE], horizon=1)
    lone = alone(loaded, request)
    started = time.perf_counter()
    (answer,) = batched(loaded, [request], wait=2.0)
    assert time.perf_counter() - started < 1.0  # answered at the loop's next turn
    assert answer == lone and forwards == [1, 1]
    assert batched(loaded, [request, request], wait=0) == [lone, lone]  # 0: each alone
    assert forwards == [1, 1, 1, 1]


def test_a_batch_whose_first_request_is_cancelled_still_answers_the_others(
    loaded: LoadedModel, beijing_rows: list[dict[str, Any]], forwards: list[int]
) -> None:
    # The request that opens a batch closes it: cancelled while the batch waits, the batch
    # is closed all the same, at the loop's next turn.
    first, second = (RowsRequest(beijing_rows[i : i + SEQUENCE]) for i in (0, 7))
    batcher = PredictBatcher()

    async def ask() -> list[PredictAnswer | BaseException]:
        opener = asyncio.ensure_future(batcher.predict(loaded, first, MAX_ROWS, 0.05))
        joiner = asyncio.ensure_future(batcher.predict(loaded, second, MAX_ROWS, 0.05))
        await asyncio.sleep(0)  # both are in the batch, the opener waiting for the next turn
        opener.cancel()
        together = asyncio.gather(opener, joiner, return_exceptions=True)
        return await asyncio.wait_for(together, 10)  # a batch left open would never answer

    cancelled, answer = asyncio.run(ask())
    assert isinstance(cancelled, asyncio.CancelledError)
    assert forwards == [2]  # the batch of both, predicted once
    assert_close(loaded, answer, alone(loaded, second))

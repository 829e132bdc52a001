"""Predict requests in batches: those for the same loaded model version that arrive together
share one forward pass, as Triton's dynamic batcher, TorchServe's batch size and delay or
Ray Serve's ``@serve.batch`` do, each answered with its own predictions or its own error.

A request joins the open batch of its version, or opens one. The batch is predicted on the
event loop at the first turn of the loop that brought it no newcomer, or once
``predict_batch_wait`` seconds have passed since it opened, whichever comes first. Requests
read from the sockets in the same turn reach it in the same turn, so a burst is predicted
at once; a lone request is predicted at the next turn, no timer holding it. The request
that opened the batch predicts it and answers itself; the others are answered through their
futures.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from azuraforge.apps import RowsRequest
from azuraforge.platform.services import predictions
from azuraforge.platform.services.predictions import PredictAnswer
from azuraforge.platform.services.serving import LoadedModel


@dataclass
class _Batch:
    """The requests waiting for one loaded version, and when the batch closes at the
    latest (the event loop's time)."""

    loaded: LoadedModel
    max_rows: int
    closes_at: float
    requests: list[RowsRequest] = field(default_factory=list)
    answers: list[asyncio.Future[PredictAnswer]] = field(default_factory=list)


class PredictBatcher:
    """The open batch of each loaded version (see the module). Use it from one event loop."""

    def __init__(self) -> None:
        self._open: dict[int, _Batch] = {}

    async def predict(
        self, loaded: LoadedModel, request: RowsRequest, max_rows: int, wait: float
    ) -> PredictAnswer:
        """:func:`~azuraforge.platform.services.predictions.predict`'s answer to
        ``request``, predicted with the requests for ``loaded`` that arrive with it (``wait``:
        the most seconds its batch stays open; 0 predicts it alone, at once).

        Raises
        ------
        InvalidInputError
            As :func:`~azuraforge.platform.services.predictions.predict`, for this
            request's rows only.
        """
        if wait <= 0:
            return predictions.predict(
                loaded, request.rows, request.horizon, max_rows, request.history
            )
        loop = asyncio.get_running_loop()
        key = id(loaded)  # the batch holds ``loaded``: its id is not reused while open
        answer: asyncio.Future[PredictAnswer] = loop.create_future()
        batch = self._open.get(key)
        if batch is not None:
            batch.requests.append(request)
            batch.answers.append(answer)
            return await answer
        # The request that opens a batch closes it and answers itself: a lone one is answered
        # at the loop's next turn, not a turn later through its future.
        batch = self._open[key] = _Batch(loaded, max_rows, loop.time() + wait)
        batch.requests.append(request)
        batch.answers.append(answer)
        try:
            await _settled(loop, batch)
        except asyncio.CancelledError:
            answer.cancel()
            loop.call_soon(self._close, key, batch)  # the others are answered all the same
            raise
        self._close(key, batch)
        return answer.result()

    def _close(self, key: int, batch: _Batch) -> None:
        """Predict ``batch`` and answer each of its requests still waiting."""
        del self._open[key]
        try:
            found = predictions.predict_batch(batch.loaded, batch.requests, batch.max_rows)
        except Exception as e:  # a pipeline that failed the batch as a whole: each request
            found = [e] * len(batch.requests)
        for answer, result in zip(batch.answers, found, strict=True):
            if answer.done():  # its client went away
                continue
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)


async def _settled(loop: asyncio.AbstractEventLoop, batch: _Batch) -> None:
    """Return at the first turn of the loop that brought ``batch`` no newcomer, or once it
    may wait no longer."""
    seen = 0
    while len(batch.requests) > seen and loop.time() < batch.closes_at:
        seen = len(batch.requests)
        await asyncio.sleep(0)

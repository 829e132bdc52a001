"""What a stream's models read from its events: their scores over any window, the champion
and its candidates with their running tests, and the champion's prediction for prices sent."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.api.access import READ, Reader
from azuraforge.platform.api.deps import RunsAndLeasesDep, RunsAndMetricsDep
from azuraforge.platform.api.routes.streams.common import ERRORS, MAX_EVENT, StreamId
from azuraforge.platform.api.schemas.streams import (
    Candidates,
    EquityCurve,
    ModelScores,
    StreamPredict,
    StreamPrediction,
    StreamScores,
    Trading,
)
from azuraforge.platform.services.streams.config import stream_config
from azuraforge.platform.services.streams.job import find_stream
from azuraforge.platform.services.streams.readings import trading_scores
from azuraforge.platform.services.streams.serving import StreamServer
from azuraforge.platform.store.states import FINISHED_STATES
from azuraforge.stream.direction import has_log_loss
from azuraforge.stream.shadow import CHAMPION, standing

router = APIRouter(prefix="/streams", tags=["streams"])


@router.get(
    "/{stream_id}/scores", dependencies=[READ], response_model=StreamScores, responses=ERRORS
)
def get_scores(
    stream_id: StreamId,
    store: RunsAndMetricsDep,
    start: Annotated[int, Query(ge=0, le=MAX_EVENT, description="First event (index).")] = 0,
    end: Annotated[
        int | None, Query(ge=1, le=MAX_EVENT, description="Event after the last (index).")
    ] = None,
    cost: Annotated[
        float, Query(ge=0, le=0.1, description="Cost of a change of position (0.001: 0.1 %).")
    ] = 0.001,
) -> StreamScores:
    """Each model's accuracy and log-loss over the predictions made at events ``start`` to
    ``end`` (excluded), and its win rate, return, Sharpe and drawdown trading on them (long
    when it gives up 50 % or more, flat otherwise, one prediction every ``horizon`` events so
    that no two overlap), beside buy and hold over the same steps; from the stream's scored
    rows (as of its last checkpoint): any window, not only the running and recent scores."""
    record = find_stream(store, stream_id)
    if end is not None and end <= start:
        raise InvalidParameterError(f"end ({end}) must be after start ({start})")
    found = store.outcome_scores(stream_id, start, end)
    horizon = stream_config(record).horizon
    gains = store.outcome_gains(stream_id, every=horizon, start=start, end=end)
    trading = trading_scores(gains, cost=cost)
    models = {}
    for model, (n, accuracy, loss) in found.items():
        figures = trading.models.get(model)
        models[model] = ModelScores(
            predictions=n, accuracy=accuracy, log_loss=loss if has_log_loss(model) else None,
            win_rate=figures["win_rate"] if figures else None,
            trading=Trading.model_validate(figures) if figures else None,
        )  # fmt: skip
    market = Trading.model_validate(trading.market) if trading.market else None
    equity = {
        model: EquityCurve(times=times, values=values)
        for model, (times, values) in trading.equity.items()
    }
    return StreamScores(
        start=start, end=end, models=models, cost=cost, buy_and_hold=market, equity=equity
    )


@router.get(
    "/{stream_id}/candidates", dependencies=[READ], response_model=Candidates, responses=ERRORS
)
def get_candidates(stream_id: StreamId, store: RunsAndLeasesDep) -> Candidates:
    """The champion, the candidate in shadow and the previous champion while rollback is
    armed, with their tests' running state, as of the stream's last checkpoint (its first
    champion before one); for a stream that ended, those it ended with (``ended``)."""
    record = find_stream(store, stream_id)
    config, ended = stream_config(record), record.status in FINISHED_STATES
    state = store.load_checkpoint(stream_id)
    if state is None:
        first = f"{config.learner}-1"
        return Candidates(
            roles={CHAMPION: first}, kinds={first: config.learner}, tests={}, ended=ended
        )
    try:
        found = standing(state, config.rules())
        paused = bool(state.get("paused")) and not ended
        return Candidates.model_validate({**found, "paused": paused, "ended": ended})
    except InvalidParameterError as e:  # a checkpoint of an older AzuraForge
        raise ConflictError(f"stream {stream_id}: {e}") from None


@router.post(
    "/{stream_id}/predict", dependencies=[READ], response_model=StreamPrediction, responses=ERRORS
)
async def predict(
    stream_id: StreamId, body: StreamPredict, request: Request, who: Reader
) -> Response:
    """The probability that the price is higher ``horizon`` steps after the last of
    ``closes``, by the stream's champion as its last checkpoint holds it (read again at most
    once a second): 409 before its first checkpoint, 400 for prices that are not positive."""
    streams: StreamServer = request.app.state.streams
    champion = streams.cached(stream_id, who.project)
    if champion is None:
        champion = await run_in_threadpool(streams.get, stream_id, who.project)
    answer = {"learner": champion.name, "probability_up": champion.predict(body.closes),
              "checkpoint_events": champion.events}  # fmt: skip
    return Response(json.dumps(answer), media_type="application/json")

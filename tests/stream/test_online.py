"""DirectionLoop: one event at a time as run_direction scores a whole replay; stopped and
resumed anywhere from its JSON state, it ends exactly where an unbroken loop ends."""

from __future__ import annotations

import json
from itertools import islice

import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.datasets.fetching import fetch
from azuraforge.stream import CsvReplay, Event, LogisticRegression
from azuraforge.stream.direction import default_learners
from azuraforge.stream.online import MODEL, DirectionLoop

EVENTS = 2500


@pytest.fixture(scope="module")
def btc(real_data: object) -> list[Event]:
    path = next(iter(fetch("btc-hourly").values()))
    replay = CsvReplay(path, columns=["close"], price_column="close")
    return list(islice(replay, EVENTS))


def loop() -> DirectionLoop:
    return DirectionLoop(default_learners(seed=3)["mlp"], horizon=2, window=200)


def test_a_loop_stopped_and_resumed_anywhere_ends_as_an_unbroken_one(btc: list[Event]) -> None:
    unbroken = loop()
    scored = [s for event in btc for s in unbroken.step(event)]
    assert unbroken.scored == len(scored) == EVENTS - 24 - 2  # warm-up, then the horizon
    assert [s.event for s in scored] == sorted({s.event for s in scored})  # each once
    resumed = loop()
    for stop in (700, 701, 1800):  # three stops, one right after another
        for event in btc[resumed.events : stop]:
            resumed.step(event)
        state = json.loads(json.dumps(resumed.state_dict()))
        resumed = loop()
        for event in btc[:stop]:
            resumed.warm(event)
        resumed.load_state_dict(state)
    for event in btc[resumed.events :]:
        resumed.step(event)
    assert resumed.scores() == unbroken.scores()
    assert resumed.scored == unbroken.scored
    assert unbroken.scores()[f"{MODEL}/accuracy"] > 0
    # A trivial rule says up or down for certain: an accuracy, and no log-loss (it was the
    # floor's 15 to 20 nats); the learner has both.
    scores = unbroken.scores()
    assert {"always up/accuracy", "same as last/recent_accuracy"} <= set(scores)
    assert not [key for key in scores if "log_loss" in key and not key.startswith(MODEL)]
    assert 0.6 < scores[f"{MODEL}/log_loss"] < 0.8


def test_resuming_without_the_events_before_is_refused(btc: list[Event]) -> None:
    first = loop()
    for event in btc[:100]:
        first.step(event)
    with pytest.raises(InvalidParameterError, match="warm it with the 100 events"):
        loop().load_state_dict(first.state_dict())


def test_an_event_without_the_price_says_what_it_has() -> None:
    with pytest.raises(InvalidParameterError, match="has no value 'close'; it has open"):
        loop().step(Event(time=0.0, values={"open": 1.0}))


def test_a_learner_that_predicts_no_probability_stops_the_loop_saying_which() -> None:
    class Diverged(LogisticRegression):
        def predict_proba_one(self, x):  # type: ignore[no-untyped-def]
            return {True: float("nan"), False: float("nan")}

    loop = DirectionLoop(Diverged())
    with pytest.raises(InvalidParameterError, match="model predicted nan, not a probability"):
        for i in range(30):
            loop.step(Event(time=3600.0 * i, values={"close": 100.0 + i % 3}))

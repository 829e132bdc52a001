"""Prequential evaluation: outcomes used only at their time (a poisoned-future test),
scores as defined, baselines fair."""

from __future__ import annotations

import math

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.stream import LogisticRegression
from azuraforge.stream.base import Classifier
from azuraforge.stream.baselines import Constant, LastLabel, Majority
from azuraforge.stream.evaluate import Example, Prequential, Scores, prequential


class Oracle(Classifier):
    """Predicts each event's outcome perfectly once it has learned it: a leak detector.
    It also records the time of every outcome it learns and the clock when it learned it."""

    def __init__(self) -> None:
        self.known: dict[float, bool] = {}
        self.learned: list[float] = []

    def learn_one(self, x, y=None) -> None:
        self.known[x["key"]] = y
        self.learned.append(x["key"])

    def predict_proba_one(self, x):
        p = 1.0 if self.known.get(x["key"]) else 0.0 if x["key"] in self.known else 0.5
        return {False: 1 - p, True: p}

    def state_dict(self):
        return {}

    def load_state_dict(self, state) -> None:
        pass


def _poisoned(n: int, delay: int, seed: int = 0) -> list[Example]:
    """Each example's key is its own time: a model that sees an outcome early predicts it
    perfectly. Outcomes are coin flips, so honest accuracy is near 50 %."""
    flips = np.random.default_rng(seed).random(n) > 0.5
    return [Example(t, {"key": float(t)}, bool(flips[t]), known_at=t + delay) for t in range(n)]


@pytest.mark.parametrize("delay", [0.5, 1, 5, 60])
def test_no_outcome_is_used_before_its_time(delay) -> None:
    examples = _poisoned(2000, delay)
    oracle = Oracle()
    run = Prequential({"oracle": oracle})
    for example in examples:
        run.step(example)
        # everything the model has learned was known by now, and nothing known was held back
        assert all(t + delay <= example.time for t in oracle.learned)
        assert len(oracle.learned) == sum(
            1 for e in examples[: int(example.time)] if e.known_at <= example.time
        )
    run.finish()
    assert run.scores["oracle"].get()["accuracy"] == pytest.approx(0.5, abs=0.04)


def test_a_leaking_evaluation_would_be_caught() -> None:
    """The same oracle learning each outcome before predicting it scores 100 %: the test
    above would see a leak."""
    oracle, correct = Oracle(), 0
    for example in _poisoned(500, 1):
        oracle.learn_one(example.x, example.y)
        correct += oracle.predict_one(example.x) == example.y
    assert correct == 500


def test_scores_as_defined() -> None:
    scores = Scores(labels=True, window=2)
    for y, p in [(True, 0.8), (False, 0.4), (True, 0.3)]:
        scores.update(y, p)
    got = scores.get()
    assert got["accuracy"] == pytest.approx(2 / 3)
    assert got["rolling_accuracy"] == pytest.approx(1 / 2)
    assert got["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.6) + math.log(0.3)) / 3)
    numbers = Scores(labels=False)
    for y, p in [(1.0, 0.5), (-2.0, 1.0)]:
        numbers.update(y, p)
    assert numbers.get()["mae"] == pytest.approx(1.75)
    assert numbers.get()["hit_rate"] == pytest.approx(0.5)
    assert math.isnan(Scores(labels=True).get()["accuracy"])


def test_baselines_score_what_they_should() -> None:
    labels = [True, True, False, True, False, False, True, True, True, False]
    examples = [Example(t, {}, y, known_at=t + 1) for t, y in enumerate(labels)]
    run = prequential(
        examples,
        {
            "up": Constant(True),
            "same": LastLabel(),
            "flip": LastLabel(flip=True),
            "majority": Majority(),
        },
    )
    same = [True, *labels[:-1]]
    flip = [True] + [not y for y in labels[:-1]]
    assert run.scores["up"].get()["accuracy"] == pytest.approx(np.mean(labels))
    assert run.scores["same"].get()["accuracy"] == pytest.approx(np.mean(np.equal(same, labels)))
    assert run.scores["flip"].get()["accuracy"] == pytest.approx(np.mean(np.equal(flip, labels)))
    assert run.logs["same"].predictions[1:] == [float(y) for y in labels[:-1]]
    assert run.logs["flip"].predictions[1:] == [float(not y) for y in labels[:-1]]


def test_examples_out_of_order_are_refused() -> None:
    run = Prequential({"m": LogisticRegression()})
    run.step(Example(10, {"a": 1.0}, True, known_at=11))
    with pytest.raises(InvalidParameterError, match="example at time 5 comes after one at 10"):
        run.step(Example(5, {"a": 1.0}, True, known_at=6))
    with pytest.raises(
        InvalidParameterError, match="outcome known at 9, before its features at 12"
    ):
        run.step(Example(12, {"a": 1.0}, True, known_at=9))
    with pytest.raises(InvalidParameterError, match="window must be an int >= 1, got 0"):
        Prequential({"m": LogisticRegression()}, window=0)

"""Prequential (test-then-train) evaluation with label delay by event time.

Each :class:`Example` is predicted when its features are known (``time``) and learned, and
its prediction scored, only when its outcome is known (``known_at``): a next-hour direction
is known an hour later. :class:`Prequential` holds the outcomes back until the stream's
clock reaches them, as River's ``moment``/``delay`` do, so no model ever sees an outcome
before its time, and every model of a comparison (learners and baseline rules alike) is
scored on the same predictions at the same moments.

Scores: for labels, accuracy and log-loss; for numbers, MAE and hit rate (the sign of the
prediction matches the outcome's); each cumulative and over the last ``window`` outcomes.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import Features, Learner, predicts_labels

PROBABILITY_FLOOR = 1e-15
"""Probabilities are clipped to [this, 1 - this] for the log-loss (as scikit-learn does)."""
COIN_FLIP_LOG_LOSS = math.log(2)
"""The log-loss of always saying 50 %: the bar a probabilistic model must get under."""


@dataclass(frozen=True)
class Example:
    """One prediction to make: features known at ``time``, outcome ``y`` known at
    ``known_at`` (never before ``time``)."""

    time: float
    x: Features
    y: Any
    known_at: float


class Scores:
    """Running scores of one model, cumulative and over the last ``window`` outcomes.

    Feed it ``update(y, prediction)``: for a label, the probability of ``True``; for a
    number, the predicted number. Read :meth:`get`.
    """

    def __init__(self, labels: bool, window: int = 1000) -> None:
        self.labels, self.window = labels, window
        self.count = 0
        self._sums = [0.0, 0.0]
        self._recent: deque[tuple[float, float]] = deque(maxlen=window)

    def _terms(self, y: Any, prediction: float) -> tuple[float, float]:
        if self.labels:
            p = min(max(prediction, PROBABILITY_FLOOR), 1 - PROBABILITY_FLOOR)
            correct = (prediction > 0.5) == bool(y)
            return float(correct), -math.log(p if y else 1 - p)
        return abs(prediction - y), float((prediction > 0) == (y > 0))

    def update(self, y: Any, prediction: float) -> None:
        terms = self._terms(y, prediction)
        self.count += 1
        self._sums[0] += terms[0]
        self._sums[1] += terms[1]
        self._recent.append(terms)

    def get(self) -> dict[str, float]:
        """The scores by name (``accuracy``, ``log_loss`` or ``mae``, ``hit_rate``), and the
        same over the window as ``rolling_<name>``; NaN before any outcome."""
        names = ("accuracy", "log_loss") if self.labels else ("mae", "hit_rate")
        recent = len(self._recent)
        scores = {}
        for at, name in enumerate(names):
            scores[name] = self._sums[at] / self.count if self.count else math.nan
            window_sum = math.fsum(terms[at] for terms in self._recent)
            scores[f"rolling_{name}"] = window_sum / recent if recent else math.nan
        return scores


@dataclass
class Log:
    """Every scored prediction of one model, in the order outcomes arrived."""

    times: list[float] = field(default_factory=list)
    predictions: list[float] = field(default_factory=list)
    outcomes: list[Any] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.array(self.times), np.array(self.predictions), np.array(self.outcomes)


class Prequential:
    """Test-then-train over a stream of :class:`Example`, for several models at once.

    :meth:`step` takes the next example: first every held example whose outcome is known
    by now (``known_at <= time``) is scored and learned, oldest outcome first; then each
    model predicts the new one, which is held until its outcome is known. :meth:`finish`
    scores and learns what is still held. Examples must come in time order.

    Parameters
    ----------
    models
        The learners by name (classifiers are scored on the probability of ``True``).
    window
        How many recent outcomes the rolling scores cover.

    Examples
    --------
    >>> from azuraforge.stream import LogisticRegression
    >>> from azuraforge.stream.baselines import LastLabel
    >>> run = Prequential({"logreg": LogisticRegression(), "same": LastLabel()}, window=2)
    >>> for t in range(6):
    ...     run.step(Example(time=t, x={"v": 1.0}, y=t % 3 != 0, known_at=t + 1))
    >>> run.finish()
    >>> run.scores["logreg"].get()["accuracy"], run.scores["same"].get()["accuracy"]
    (0.5, 0.3333333333333333)
    """

    def __init__(self, models: Mapping[str, Learner], window: int = 1000) -> None:
        if not models:
            raise InvalidParameterError("Prequential: needs at least one model")
        if not isinstance(window, int) or window < 1:
            raise InvalidParameterError(f"Prequential: window must be an int >= 1, got {window!r}")
        self.models, self.window = dict(models), window
        self.labels = {name: predicts_labels(m) for name, m in self.models.items()}
        self.scores = {name: Scores(self.labels[name], window) for name in self.models}
        self.logs = {name: Log() for name in self.models}
        self.now = -math.inf
        self._held: list[tuple[float, int, Example, dict[str, float]]] = []
        self._count = 0

    def step(self, example: Example) -> None:
        """Release what is known by ``example.time``, then predict ``example``."""
        if example.time < self.now:
            raise InvalidParameterError(
                f"Prequential: example at time {example.time:g} comes after one at "
                f"{self.now:g}; examples must come in time order"
            )
        if example.known_at < example.time:
            raise InvalidParameterError(
                f"Prequential: outcome known at {example.known_at:g}, before its features "
                f"at {example.time:g}"
            )
        self.now = example.time
        self._release(example.time)
        predictions = {name: self._predict(name, example.x) for name in self.models}
        heapq.heappush(self._held, (example.known_at, self._count, example, predictions))
        self._count += 1

    def _predict(self, name: str, x: Features) -> float:
        model = self.models[name]
        if self.labels[name]:
            return float(model.predict_proba_one(x).get(True, 0.0))  # type: ignore[attr-defined]
        return float(model.predict_one(x))  # type: ignore[attr-defined]

    def _release(self, now: float) -> None:
        while self._held and self._held[0][0] <= now:
            _, _, example, predictions = heapq.heappop(self._held)
            for name, model in self.models.items():
                self.scores[name].update(example.y, predictions[name])
                log = self.logs[name]
                log.times.append(example.time)
                log.predictions.append(predictions[name])
                log.outcomes.append(example.y)
                model.learn_one(example.x, example.y)

    def finish(self) -> None:
        """Score and learn every example still held (the stream has ended)."""
        self._release(math.inf)

    @property
    def held(self) -> int:
        """Examples predicted whose outcomes are not known yet."""
        return len(self._held)


def prequential(
    examples: Iterable[Example], models: Mapping[str, Learner], window: int = 1000
) -> Prequential:
    """Run :class:`Prequential` over ``examples`` to the end and return it."""
    run = Prequential(models, window)
    for example in examples:
        run.step(example)
    run.finish()
    return run

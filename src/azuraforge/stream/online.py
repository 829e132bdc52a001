"""The next-direction task one event at a time, as a service runs it: predict, hold, score and
learn when the outcome comes, with a state to resume from between any two events.

:func:`~azuraforge.stream.direction.run_direction` replays a whole file; a stream that runs
for days takes events as they come and must stop and resume anywhere. :class:`DirectionLoop`
does the same test-then-train on each event: it updates the features, lets the learner and
the trivial rules predict whether the price is higher ``horizon`` events later, and holds the
predictions until that event comes, when each is scored (accuracy and log-loss, cumulative
and over the last ``window`` outcomes) and learned. :meth:`DirectionLoop.state_dict` is
everything but the features (a JSON object: the models, the held predictions, the scores);
resuming re-reads the events before it (a replay is read again in well under a second) so
the features stand where they stood, and goes on as if it had never stopped: no prediction
is scored twice, none is lost.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import Classifier, Event
from azuraforge.stream.direction import (
    RULE_NAMES,
    baseline_rules,
    default_features,
    has_log_loss,
)
from azuraforge.stream.evaluate import PROBABILITY_FLOOR
from azuraforge.stream.features import FeatureSet

MODEL = "model"
"""The name the first learner goes by unless another is given."""

Example = tuple[dict[str, float], bool]
"""An outcome kept to learn from: the features a prediction was made from, and whether the
price went up."""


@dataclass(frozen=True)
class Scored:
    """One prediction whose outcome came: the event it was made at (its index and time),
    whether the price went up and by how much (``gain``: its relative change over the
    horizon), and each model's probability of up and its log-loss."""

    event: int
    time: float
    up: bool
    gain: float
    probabilities: dict[str, float]
    losses: dict[str, float]


class DirectionLoop:
    """Test-then-train of ``learner`` and the trivial rules on the next direction of
    ``column``, one event at a time.

    Parameters
    ----------
    learner
        The classifier scored (as ``name``); :meth:`add` adds others, :meth:`remove` drops one.
    name
        The learner's name in the scores and the predictions.
    column
        The price whose direction is predicted.
    horizon
        Events ahead: a prediction made at event ``i`` is scored at event ``i + horizon``.
    window
        Outcomes the rolling scores cover.
    examples
        The last outcomes kept as examples (features and direction) to warm a learner that
        :meth:`add` adds mid-stream.
    features
        What the learners see of each event (default:
        :func:`~azuraforge.stream.direction.default_features` of ``column``).

    Examples
    --------
    >>> from azuraforge.stream import Event, LogisticRegression
    >>> loop = DirectionLoop(LogisticRegression(), horizon=1)
    >>> prices = [100 + (i % 7) for i in range(200)]
    >>> for i, price in enumerate(prices):
    ...     _ = loop.step(Event(time=3600.0 * i, values={"close": float(price)}))
    >>> loop.events, loop.scored
    (200, 175)
    """

    def __init__(
        self,
        learner: Classifier,
        *,
        name: str = MODEL,
        column: str = "close",
        horizon: int = 1,
        window: int = 1000,
        examples: int = 0,
        features: FeatureSet | None = None,
    ) -> None:
        if not isinstance(horizon, int) or horizon < 1:
            raise InvalidParameterError(
                f"DirectionLoop: horizon must be an int >= 1, got {horizon!r}"
            )
        if not isinstance(window, int) or window < 1:
            raise InvalidParameterError(
                f"DirectionLoop: window must be an int >= 1, got {window!r}"
            )
        self.column, self.horizon, self.window = column, horizon, window
        self.models: dict[str, Classifier] = {name: learner, **baseline_rules()}
        self.features = features or default_features(column)
        self.events = 0
        """Events taken so far by :meth:`step`."""
        self._warmed = 0
        self.scored = 0
        """Predictions scored so far."""
        self._held: deque[tuple[int, float, float, dict[str, float], dict[str, float]]] = deque()
        """Predictions waiting for their outcome: event index and time, price, features,
        probabilities."""
        self._sums = {name: [0.0, 0.0, 0] for name in self.models}  # right, log-loss, count
        self._recent: deque[dict[str, tuple[float, float]]] = deque(maxlen=window)
        self._examples: deque[tuple[dict[str, float], bool]] = deque(maxlen=examples)

    @property
    def kept(self) -> int:
        """Outcomes kept as examples now (what :meth:`add` warms a learner on)."""
        return len(self._examples)

    @property
    def examples(self) -> list[tuple[dict[str, float], bool]]:
        """The outcomes kept as examples now (features and direction), oldest first."""
        return list(self._examples)

    def add(self, name: str, learner: Classifier, *, newest: int | None = None) -> None:
        """Add ``learner`` as ``name``, after it learned the kept examples, oldest first (only
        the ``newest`` of them, when given: a learner trained elsewhere on the older ones): it
        predicts from the next event on and is scored on its own predictions only."""
        if name in self.models:
            raise InvalidParameterError(f"DirectionLoop: a model is named {name!r} already")
        skipped = 0 if newest is None else max(len(self._examples) - newest, 0)
        for x, up in islice(self._examples, skipped, None):
            learner.learn_one(x, up)
        self.models[name] = learner
        self._sums[name] = [0.0, 0.0, 0]

    def remove(self, name: str) -> Classifier:
        """Drop the model ``name`` (its predictions still held are scored, not learned)."""
        if name not in self.models:
            raise InvalidParameterError(f"DirectionLoop: no model is named {name!r}")
        del self._sums[name]
        return self.models.pop(name)

    def warm(self, event: Event) -> None:
        """Take an event the loop already took before its state was saved: the features
        move on, nothing is predicted, scored or learned (what :meth:`load_state_dict` needs
        once per event before the saved position)."""
        self.features.update(event)
        self._warmed += 1

    def skip(self, count: int) -> None:
        """Count ``count`` events taken before the state to be loaded that are not at hand
        (a polled source's, gone from it): :meth:`warm` on the last ones kept follows, so
        that the features stand where they stood."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidParameterError(
                f"DirectionLoop: skip takes a count of events >= 0, got {count!r}"
            )
        self._warmed += count

    def step(self, event: Event) -> list[Scored]:
        """Take the next event: score and learn the predictions made ``horizon`` events ago,
        then predict from this one (once the features are warm). The predictions scored."""
        price = self._price(event)
        x = self.features.update(event)
        scored = []
        while self._held and self._held[0][0] + self.horizon <= self.events:
            index, when, before, features, probabilities = self._held.popleft()
            up = price > before
            losses = self._score(up, probabilities)
            scored.append(Scored(index, when, up, price / before - 1.0, probabilities, losses))
            for model in self.models.values():
                model.learn_one(features, up)
            self._examples.append((features, up))
        if len(x) == len(self.features.names) and all(map(math.isfinite, x.values())):
            probabilities = {
                name: float(model.predict_proba_one(x).get(True, 0.0))
                for name, model in self.models.items()
            }
            bad = [name for name, p in probabilities.items() if not 0.0 <= p <= 1.0]
            if bad:  # NaN included: a learner that diverged
                raise InvalidParameterError(
                    f"DirectionLoop: event {self.events}: {bad[0]} predicted "
                    f"{probabilities[bad[0]]!r}, not a probability (did it diverge?)"
                )
            self._held.append((self.events, event.time, price, x, probabilities))
        self.events += 1
        return scored

    def _price(self, event: Event) -> float:
        try:
            return float(event.values[self.column])
        except KeyError:
            raise InvalidParameterError(
                f"DirectionLoop: event {self.events} has no value {self.column!r}; it has "
                f"{', '.join(event.values) or 'none'}"
            ) from None

    def _score(self, up: bool, probabilities: Mapping[str, float]) -> dict[str, float]:
        """Count one outcome in every model's scores; each model's log-loss on it."""
        terms = {}
        for name, p in probabilities.items():
            terms[name] = (float((p >= 0.5) == up), log_loss(p, up))
            if name in self._sums:  # not dropped since it predicted
                right, loss, count = self._sums[name]
                self._sums[name] = [right + terms[name][0], loss + terms[name][1], count + 1]
        self._recent.append(terms)
        self.scored += 1
        return {name: loss for name, (_, loss) in terms.items()}

    def scores(self) -> dict[str, float]:
        """Each model's ``accuracy`` and ``log_loss`` on its predictions scored so far and
        over those of the last ``window`` outcomes (``recent_accuracy``, ``recent_log_loss``),
        as ``"{name}/{score}"``; a model with no prediction scored yet has none, and a trivial
        rule no log-loss (:func:`~azuraforge.stream.direction.has_log_loss`)."""
        found = {}
        for name, (right, loss, count) in self._sums.items():
            recent = [terms[name] for terms in self._recent if name in terms]
            if not (count and recent):
                continue
            found[f"{name}/accuracy"] = right / count
            found[f"{name}/recent_accuracy"] = sum(r for r, _ in recent) / len(recent)
            if has_log_loss(name):
                found[f"{name}/log_loss"] = loss / count
                found[f"{name}/recent_log_loss"] = sum(v for _, v in recent) / len(recent)
        return found

    def state_dict(self) -> dict[str, Any]:
        """Everything but the features' state, as a JSON object (the models' arrays as lists;
        the recent outcomes and the kept examples, the bulk of it, as packed arrays: a
        checkpoint every 100 events writes a few kilobytes a model, read back exactly)."""
        return {
            "events": self.events,
            "scored": self.scored,
            "held": [list(entry) for entry in self._held],
            "sums": self._sums,
            "recent": self._packed_recent(),
            "examples": self._packed_examples(),
            "models": {name: to_json(m.state_dict()) for name, m in self.models.items()},
        }

    def _packed_recent(self) -> dict[str, Any]:
        """The recent outcomes as a matrix by outcome and model (NaN: the model did not
        predict it), its right answers and its losses."""
        names = sorted({name for terms in self._recent for name in terms})
        column = {name: j for j, name in enumerate(names)}
        values = np.full((len(self._recent), len(names), 2), np.nan)
        for i, terms in enumerate(self._recent):
            for name, pair in terms.items():
                values[i, column[name]] = pair
        return {"names": names, "values": pack(values)}

    def _packed_examples(self) -> dict[str, Any]:
        return pack_examples(self._examples, list(self.features.names))

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict`; the loop must have been given, by :meth:`warm`,
        the ``state["events"]`` events before, and nothing else, and hold the models of the
        state by their names (:meth:`add` those added since the start)."""
        if set(self.models) != set(state["models"]):
            raise InvalidParameterError(
                f"DirectionLoop: the state's models are {', '.join(state['models'])}; this "
                f"loop's are {', '.join(self.models)}"
            )
        if self.events or self._warmed != state["events"]:
            raise InvalidParameterError(
                f"DirectionLoop: to resume, warm it with the {state['events']} events before "
                f"its state and nothing else; it took {self._warmed} by warm and "
                f"{self.events} by step"
            )
        self.events, self.scored = int(state["events"]), int(state["scored"])
        self._held = deque(
            (int(i), float(t), float(p), dict(x), dict(probabilities))
            for i, t, p, x, probabilities in state["held"]
        )
        self._sums = {name: list(sums) for name, sums in state["sums"].items()}
        names, values = state["recent"]["names"], unpack(state["recent"]["values"])
        self._recent = deque(
            (
                {
                    name: (float(r), float(v))
                    for name, (r, v) in zip(names, row, strict=True)
                    if not math.isnan(v)
                }
                for row in values
            ),
            maxlen=self.window,
        )
        self._examples = deque(unpack_examples(state["examples"]), maxlen=self._examples.maxlen)
        for name, model_state in state["models"].items():
            self.models[name].load_state_dict(from_json(model_state))


def log_loss(p: float, up: bool, floor: float = PROBABILITY_FLOOR) -> float:
    """The log-loss of probability ``p`` of up, kept in [``floor``, 1 - ``floor``].

    >>> round(log_loss(0.8, True), 4), round(log_loss(0.8, False, floor=0.4), 4)
    (0.2231, 0.9163)
    """
    kept = min(max(p, floor), 1 - floor)
    return -math.log(kept if up else 1 - kept)


def headline(scores: Mapping[str, float], model: str = MODEL) -> dict[str, float]:
    """``model``'s scores (of :meth:`DirectionLoop.scores`, without the ``model/``) and the
    best trivial rule's accuracy (``best_rule_accuracy``).

    >>> headline({"model/accuracy": 0.55, "model/log_loss": 0.69, "always up/accuracy": 0.51,
    ...           "same as last/accuracy": 0.47})
    {'accuracy': 0.55, 'log_loss': 0.69, 'best_rule_accuracy': 0.51}
    """
    prefix = f"{model}/"
    ours = {key.removeprefix(prefix): v for key, v in scores.items() if key.startswith(prefix)}
    best = best_rule(scores)
    return {**ours, **({"best_rule_accuracy": scores[f"{best}/accuracy"]} if best else {})}


def best_rule(scores: Mapping[str, float]) -> str | None:
    """The trivial rule of the best accuracy in ``scores`` (of :meth:`DirectionLoop.scores`),
    the bar a learner is shown beside; None before any is scored.

    >>> best_rule({"model/accuracy": 0.55, "always up/accuracy": 0.51, "same as last/accuracy": 0.47})
    'always up'
    """  # noqa: E501
    keys = {rule: f"{rule}/accuracy" for rule in RULE_NAMES}
    found = {rule: scores[key] for rule, key in keys.items() if key in scores}
    return max(found, key=found.__getitem__) if found else None


def to_json(value: Any) -> Any:
    """``value`` (a learner's state) with each NumPy array as ``{"array": [...], "dtype":
    ...}`` and NumPy numbers as Python's: a JSON object that keeps floats exactly.

    >>> to_json({"w": np.array([0.5, 1.0]), "n": np.int64(3)})
    {'w': {'array': [0.5, 1.0], 'dtype': 'float64'}, 'n': 3}
    """
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def pack_examples(examples: Iterable[Example], names: Sequence[str]) -> dict[str, Any]:
    """``examples`` (features of ``names``) as packed arrays: a JSON object a fraction of the
    size of the dictionaries, read back exactly by :func:`unpack_examples`."""
    rows = list(examples)
    xs = np.array([[x[name] for name in names] for x, _ in rows], dtype=float)
    ups = np.array([up for _, up in rows], dtype=bool)
    return {"names": list(names), "x": pack(xs.reshape(len(ups), len(names))), "up": pack(ups)}


def unpack_examples(packed: Mapping[str, Any]) -> list[Example]:
    """The examples :func:`pack_examples` packed, oldest first."""
    features, ups = unpack(packed["x"]), unpack(packed["up"])
    return [
        (dict(zip(packed["names"], map(float, row), strict=True)), bool(up))
        for row, up in zip(features, ups, strict=True)
    ]


def pack(array: np.ndarray) -> dict[str, Any]:
    """``array``'s bytes in base64, with its dtype and shape: a JSON value that keeps every
    bit, and costs one string to write (a list of floats costs one number each).

    >>> unpack(pack(np.array([[0.1, np.nan]]))).tolist()
    [[0.1, nan]]
    """
    return {
        "base64": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode(),
        "dtype": str(array.dtype),
        "shape": list(array.shape),
    }


def unpack(packed: Mapping[str, Any]) -> np.ndarray:
    """The array :func:`pack` wrote."""
    raw = base64.b64decode(packed["base64"])
    return np.frombuffer(raw, dtype=packed["dtype"]).reshape(packed["shape"])


def from_json(value: Any) -> Any:
    """What :func:`to_json` wrote, with the arrays back.

    >>> from_json({"w": {"array": [0.5, 1.0], "dtype": "float64"}, "n": 3})["w"].dtype
    dtype('float64')
    """
    if isinstance(value, dict):
        if set(value) == {"array", "dtype"}:
            return np.asarray(value["array"], dtype=value["dtype"])
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value

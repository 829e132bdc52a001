"""The trivial rules every stream score is shown beside: always the same label, the last
outcome again, the opposite of the last outcome, the majority so far. They learn only from
outcomes the evaluation has released, like any learner, so they are scored fairly."""

from __future__ import annotations

from typing import Any

from azuraforge.stream.base import Classifier, Features


class Constant(Classifier):
    """Always the same label (``Constant(True)``: "always up").

    >>> Constant(True).predict_one({})
    True
    """

    def __init__(self, label: bool = True) -> None:
        self.label = label

    def learn_one(self, x: Features, y: Any = None) -> None:
        """Nothing to learn."""

    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        return {self.label: 1.0, not self.label: 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""


class LastLabel(Classifier):
    """The last outcome seen again ("same as last"), or its opposite with ``flip=True``
    ("opposite of last"); ``True`` before any outcome.

    >>> rule = LastLabel(flip=True)
    >>> rule.learn_one({}, True)
    >>> rule.predict_one({})
    False
    """

    def __init__(self, flip: bool = False) -> None:
        self.flip = flip
        self.last = True

    def learn_one(self, x: Features, y: Any = None) -> None:
        self.last = bool(y) != self.flip

    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        return {self.last: 1.0, not self.last: 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"last": self.last}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last = bool(state["last"])


class Majority(Classifier):
    """The label seen most often so far (the majority-class rate); ``True`` on a tie.

    >>> rule = Majority()
    >>> for label in (False, False, True):
    ...     rule.learn_one({}, label)
    >>> rule.predict_one({})
    False
    """

    def __init__(self) -> None:
        self.counts = {True: 0, False: 0}

    def learn_one(self, x: Features, y: Any = None) -> None:
        self.counts[bool(y)] += 1

    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        up = self.counts[True] >= self.counts[False]
        return {up: 1.0, not up: 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {"up": self.counts[True], "down": self.counts[False]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counts = {True: int(state["up"]), False: int(state["down"])}

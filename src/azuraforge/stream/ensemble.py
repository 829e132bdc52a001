"""A performance-weighted ensemble: members' probabilities averaged with weights that
follow each member's recent prequential log-loss (the exponentially weighted average
forecaster, "Hedge", over a sliding window)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

from azuraforge.core.validation import check_non_negative
from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import Classifier, Features, check_integer
from azuraforge.stream.evaluate import PROBABILITY_FLOOR


class WeightedEnsemble(Classifier):
    """Classifiers combined by weights ``exp(-eta x their log-loss summed over the last
    window outcomes)``, normalised. Each member is scored on its prediction for an event
    before it learns from that event, so the weights follow test-then-train scores.

    Parameters
    ----------
    members
        The classifiers by name.
    window
        How many recent outcomes each member's loss is summed over.
    eta
        How sharply weights follow the losses (0: a plain average).

    Examples
    --------
    >>> from azuraforge.stream.baselines import Constant
    >>> ensemble = WeightedEnsemble({"up": Constant(True), "down": Constant(False)}, eta=1.0)
    >>> for _ in range(5):
    ...     ensemble.learn_one({}, True)
    >>> ensemble.weights["up"] > 0.99
    True
    """

    def __init__(
        self, members: Mapping[str, Classifier], window: int = 500, eta: float = 0.05
    ) -> None:
        if not members:
            raise InvalidParameterError("WeightedEnsemble: needs at least one member")
        check_integer(self, "window", window, least=1)
        check_non_negative("WeightedEnsemble", eta=eta)
        self.members, self.window, self.eta = dict(members), window, eta
        self._losses = {name: deque[float](maxlen=window) for name in self.members}
        self._totals = dict.fromkeys(self.members, 0.0)  # each deque's sum, kept as it moves

    def clone(self) -> WeightedEnsemble:
        members = {name: m.clone() for name, m in self.members.items()}
        return WeightedEnsemble(members, self.window, self.eta)

    @property
    def weights(self) -> dict[str, float]:
        """Each member's weight now (they sum to 1)."""
        best = min(self._totals.values())
        raw = {name: math.exp(-self.eta * (total - best)) for name, total in self._totals.items()}
        scale = math.fsum(raw.values())
        return {name: value / scale for name, value in raw.items()}

    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        weights = self.weights
        p = math.fsum(
            weights[name] * m.predict_proba_one(x).get(True, 0.0)
            for name, m in self.members.items()
        )
        return {False: 1.0 - p, True: p}

    def learn_one(self, x: Features, y: Any = None) -> None:
        for name, member in self.members.items():
            p = member.predict_proba_one(x).get(True, 0.0)
            p = min(max(p if y else 1.0 - p, PROBABILITY_FLOOR), 1.0)
            losses, loss = self._losses[name], -math.log(p)
            dropped = losses[0] if len(losses) == self.window else 0.0
            losses.append(loss)
            self._totals[name] += loss - dropped
            member.learn_one(x, y)

    def state_dict(self) -> dict[str, Any]:
        return {
            "members": {name: m.state_dict() for name, m in self.members.items()},
            "losses": {name: list(losses) for name, losses in self._losses.items()},
            "totals": dict(self._totals),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, member in self.members.items():
            member.load_state_dict(state["members"][name])
            self._losses[name] = deque(state["losses"][name], maxlen=self.window)
            self._totals[name] = float(state["totals"][name])

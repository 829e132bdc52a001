"""A tabular Q-learning agent that trades long or flat: states are indicator values cut
into bins (plus the position held), rewards are the position's return net of costs,
exploration is ε-greedy with ε decaying per step."""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping, Sequence
from typing import Any

from azuraforge.core.validation import check_non_negative
from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import Features, check_number

ACTIONS = (0, 1)
"""Flat, long."""


class QLearningAgent:
    """Q-learning over discretised features: ``Q[s, a] += alpha x (r + gamma x max Q[s'] -
    Q[s, a])``.

    Use it step by step: :meth:`act` on the features known now gives the position for the
    next step; when that step's return is known, :meth:`learn` with the features known
    then. The reward is ``position x return - cost x |position change|``.

    Parameters
    ----------
    bins
        For each feature used, the edges that cut it into bins (``{"rsi_14": [30, 70]}``
        makes three). The state is the bin of each, and the position held.
    alpha, gamma
        Learning rate and discount.
    epsilon, epsilon_decay, min_epsilon
        ε-greedy exploration: a random action with probability ε, which is multiplied by
        ``epsilon_decay`` after each step down to ``min_epsilon``.
    cost
        The cost of changing position, a fraction (``0.001`` is 0.1 %).
    seed
        Seeds the exploration.

    Examples
    --------
    >>> agent = QLearningAgent({"trend": [0.0]}, epsilon=0.5, epsilon_decay=0.9, min_epsilon=0)
    >>> for _ in range(100):
    ...     position = agent.act({"trend": 1.0})
    ...     reward = agent.learn(0.01, {"trend": 1.0})
    >>> agent.act({"trend": 1.0})
    1
    """

    def __init__(
        self,
        bins: Mapping[str, Sequence[float]],
        alpha: float = 0.1,
        gamma: float = 0.9,
        epsilon: float = 0.1,
        epsilon_decay: float = 0.999,
        min_epsilon: float = 0.01,
        cost: float = 0.001,
        seed: int = 0,
    ) -> None:
        if not bins or any(list(e) != sorted(e) for e in bins.values()):
            raise InvalidParameterError(
                f"QLearningAgent: bins must be sorted edges by feature, got {bins!r}"
            )
        shares = {"alpha": alpha, "gamma": gamma, "epsilon": epsilon}
        shares |= {"epsilon_decay": epsilon_decay, "min_epsilon": min_epsilon}
        for what, value in shares.items():
            check_number(self, what, value, lambda v: 0 <= v <= 1, "in [0, 1]")
        check_non_negative("QLearningAgent", cost=cost)
        self.bins, self.alpha, self.gamma = {k: list(v) for k, v in bins.items()}, alpha, gamma
        self.epsilon, self.epsilon_decay, self.min_epsilon = epsilon, epsilon_decay, min_epsilon
        self.cost, self.seed = cost, seed
        self.q: dict[str, list[float]] = {}
        self.position = 0
        self._explore = epsilon
        self._random = random.Random(seed)
        self._last: tuple[str, int, int] | None = None  # state, action, position before

    def state(self, x: Features) -> str:
        """The state key of features ``x`` and the position held: bins joined (``"2|0|1"``)."""
        cells = [
            str(bisect.bisect_right(edges, x.get(name, 0.0))) for name, edges in self.bins.items()
        ]
        return "|".join([*cells, str(self.position)])

    def act(self, x: Features) -> int:
        """The position for the next step (1 long, 0 flat), ε-greedy."""
        state = self.state(x)
        values = self.q.setdefault(state, [0.0, 0.0])
        if self._random.random() < self._explore:
            action = self._random.choice(ACTIONS)
        else:
            action = int(values[1] > values[0])
        self._last = (state, action, self.position)
        self.position = action
        self._explore = max(self.min_epsilon, self._explore * self.epsilon_decay)
        return action

    def learn(self, asset_return: float, x_next: Features) -> float:
        """Learn from the return of the step just taken; ``x_next`` are the features known
        now. Returns the reward."""
        if self._last is None:
            raise InvalidParameterError("QLearningAgent.learn: call act() first")
        state, action, before = self._last
        reward = action * asset_return - self.cost * abs(action - before)
        ahead = self.q.get(self.state(x_next), [0.0, 0.0])
        values = self.q[state]
        values[action] += self.alpha * (reward + self.gamma * max(ahead) - values[action])
        self._last = None
        return reward

    def state_dict(self) -> dict[str, Any]:
        return {
            "q": {k: list(v) for k, v in self.q.items()},
            "position": self.position,
            "explore": self._explore,
            "random": [
                list(part) if isinstance(part, tuple) else part for part in self._random.getstate()
            ],
            "last": list(self._last) if self._last else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q = {k: [float(v[0]), float(v[1])] for k, v in state["q"].items()}
        self.position, self._explore = int(state["position"]), float(state["explore"])
        version, inner, gauss = state["random"]
        self._random.setstate((version, tuple(inner), gauss))
        self._last = tuple(state["last"]) if state["last"] else None

"""Running standardisation: each feature's mean and variance kept as events arrive
(Welford's update one at a time, Chan's merge for a batch), and features scaled to
``(x - mean) / std`` with what was seen so far."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from azuraforge.stream.base import Columns, Features, Transformer


class StandardScaler(Transformer):
    """Scales each feature to zero mean and unit variance over the events seen so far.

    A feature with no variance yet (one event, or a constant) scales to 0. Features not
    seen before are learned from their first event on. ``learn_many`` merges a batch's
    counts, means and variances into the running ones (Chan et al.), which gives the numbers
    ``learn_one`` over the same events gives, up to rounding.

    Examples
    --------
    >>> scaler = StandardScaler()
    >>> for value in (1.0, 2.0, 3.0):
    ...     scaler.learn_one({"x": value})
    >>> scaler.transform_one({"x": 3.0})
    {'x': 1.224744871391589}

    References
    ----------
    Welford, B. P. (1962). Note on a method for calculating corrected sums of squares and
    products. Technometrics 4(3).
    Chan, T. F., Golub, G. H. & LeVeque, R. J. (1979). Updating formulae and a pairwise
    algorithm for computing sample variances. Stanford CS report STAN-CS-79-773.
    """

    def __init__(self) -> None:
        # By name: [count, mean, sum of squared differences from the mean, std]; one dict
        # lookup per feature, and the std taken once per update rather than per transform.
        self._stats: dict[str, list[float]] = {}

    @property
    def means(self) -> dict[str, float]:
        """Each feature's mean so far."""
        return {name: s[1] for name, s in self._stats.items()}

    @property
    def stds(self) -> dict[str, float]:
        """Each feature's standard deviation so far (population: divided by the count)."""
        return {name: s[3] for name, s in self._stats.items()}

    def learn_one(self, x: Features, y: Any = None) -> None:
        stats, sqrt = self._stats, math.sqrt
        for name, value in x.items():
            try:
                s = stats[name]
            except KeyError:
                s = stats[name] = [0, 0.0, 0.0, 0.0]
            n = s[0] + 1
            delta = value - s[1]
            mean = s[1] + delta / n
            squares = s[2] + delta * (value - mean)
            s[0], s[1], s[2], s[3] = n, mean, squares, sqrt(squares / n)

    def transform_one(self, x: Features) -> Features:
        stats = self._stats
        scaled = {}
        for name, value in x.items():
            s = stats.get(name)
            scaled[name] = (value - s[1]) / s[3] if s is not None and s[3] > 0 else 0.0
        return scaled

    def learn_many(self, X: Columns, y: Any = None) -> None:
        for name in X:
            values = np.asarray(X[name], dtype=float)
            if len(values):
                self._merge(name, values)

    def _merge(self, name: str, values: np.ndarray) -> None:
        n_a, mean_a, squares_a, _ = self._stats.get(name, (0, 0.0, 0.0, 0.0))
        n_b, mean_b = len(values), float(values.mean())
        n, delta = n_a + n_b, mean_b - mean_a
        squares = squares_a + float(((values - mean_b) ** 2).sum()) + delta * delta * n_a * n_b / n
        self._stats[name] = [n, mean_a + delta * n_b / n, squares, math.sqrt(squares / n)]

    def transform_many(self, X: Columns) -> dict[str, np.ndarray]:
        scaled = {}
        for name in X:
            values = np.asarray(X[name], dtype=float)
            s = self._stats.get(name)
            if s is not None and s[3] > 0:
                scaled[name] = (values - s[1]) / s[3]
            else:
                scaled[name] = np.zeros_like(values)
        return scaled

    def state_dict(self) -> dict[str, Any]:
        return {"stats": {name: list(s) for name, s in self._stats.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._stats = {
            name: [int(s[0]), float(s[1]), float(s[2]), float(s[3])]
            for name, s in state["stats"].items()
        }

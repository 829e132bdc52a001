"""Which features a learner leans on: permutation importance over a window of examples.

A feature's importance is how much the learner's mean log-loss rises when that feature's
values are shuffled among the examples (its link to the outcome broken, its distribution
kept), averaged over ``repeats`` shuffles, beside the spread of those shuffles: a rise within
the spread is no evidence that the learner uses the feature. The learner is only asked to
predict, never to learn, so its state is the same after.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import Classifier, Features
from azuraforge.stream.online import log_loss


@dataclass(frozen=True)
class Importance:
    """One feature's rise in mean log-loss when shuffled (``mean`` over the shuffles, their
    standard deviation ``spread``)."""

    feature: str
    mean: float
    spread: float


def mean_log_loss(model: Classifier, examples: Sequence[tuple[Features, bool]]) -> float:
    """``model``'s mean log-loss on ``examples`` (its probabilities kept in [0.01, 0.99])."""
    losses = [log_loss(model.predict_proba_one(x).get(True, 0.0), up) for x, up in examples]
    return math.fsum(losses) / len(losses)


def permutation_importance(
    model: Classifier,
    examples: Sequence[tuple[Features, bool]],
    *,
    repeats: int = 5,
    seed: int = 0,
) -> tuple[float, list[Importance]]:
    """``model``'s mean log-loss on ``examples`` and each feature's importance (most
    important first).

    >>> from azuraforge.stream import LogisticRegression
    >>> model = LogisticRegression(lr=0.5)
    >>> rows = [({"signal": float(i % 2), "noise": float(i % 3)}, i % 2 == 1) for i in range(200)]
    >>> for x, up in rows:
    ...     model.learn_one(x, up)
    >>> base, found = permutation_importance(model, rows)
    >>> [f.feature for f in found], found[0].mean > 0.1 > abs(found[1].mean)
    (['signal', 'noise'], True)

    Raises
    ------
    InvalidParameterError
        With fewer than 2 examples, or ``repeats`` below 1.
    """
    if len(examples) < 2:
        raise InvalidParameterError(
            f"permutation_importance: needs 2 examples or more, got {len(examples)}"
        )
    if repeats < 1:
        raise InvalidParameterError(f"permutation_importance: repeats must be >= 1, got {repeats}")
    rng = random.Random(seed)
    base = mean_log_loss(model, examples)
    found = []
    for feature in examples[0][0]:
        rises = []
        for _ in range(repeats):
            values = [x[feature] for x, _ in examples]
            rng.shuffle(values)
            shuffled = [
                ({**x, feature: v}, up) for (x, up), v in zip(examples, values, strict=True)
            ]
            rises.append(mean_log_loss(model, shuffled) - base)
        mean = math.fsum(rises) / repeats
        spread = math.sqrt(math.fsum((r - mean) ** 2 for r in rises) / repeats)
        found.append(Importance(feature, mean, spread))
    return base, sorted(found, key=lambda f: -f.mean)

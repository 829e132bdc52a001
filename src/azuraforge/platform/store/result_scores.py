"""The numbers of a run's result by dotted path: what the store keeps as the run's scores
(``store/scores.py``). Pure (no table imported): migration ``0026_run_scores`` fills the
scores of runs that ended before with the same rule."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

MAX_SCORES = 200
"""Most scores kept of one run: the first ones in the result's order."""
MAX_LIST = 4
"""A list of at most this many items gives ``name.0``, ``name.1``...; a longer one (a
curve, a model's weights) gives no score."""
MAX_NAME = 200
"""Longest score name kept; a path longer than this gives no score."""


def score_values(result: Mapping[str, Any] | None) -> dict[str, float]:
    """The numbers of a run's ``result`` by dotted path, in the result's order: at most
    :data:`MAX_SCORES`, finite numbers only (not booleans), lists of at most :data:`MAX_LIST`
    items by index.

    >>> score_values({"metrics": {"MAE": {"model": 1.5, "persistence": 2.0}},
    ...               "training": {"epochs_run": 3, "stopped_early": True},
    ...               "notes": ["ok"], "shape": [2, 3], "curve": [1, 2, 3, 4, 5]})
    {'metrics.MAE.model': 1.5, 'metrics.MAE.persistence': 2.0, 'training.epochs_run': 3.0, \
'shape.0': 2.0, 'shape.1': 3.0}
    """
    scores: dict[str, float] = {}
    for name, value in _leaves(result or {}, ""):
        if len(scores) == MAX_SCORES:
            break
        scores.setdefault(name, value)
    return scores


def _leaves(value: Any, path: str) -> Iterator[tuple[str, float]]:
    """The finite numbers below ``value`` with their dotted paths below ``path``."""
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple) and len(value) <= MAX_LIST:
        items = enumerate(value)
    else:
        number = finite_number(value)
        if number is not None and 0 < len(path) <= MAX_NAME:
            yield path, number
        return
    for key, item in items:
        yield from _leaves(item, f"{path}.{key}" if path else str(key))


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a boolean), else ``None``: what
    may be a score."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None

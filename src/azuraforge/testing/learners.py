"""`check_learner`: the contract every online learner keeps, ours or a plugin's.

Run over every learner by ``tests/stream/test_learners.py`` (River's ``yield_checks``
manner): it predicts before learning anything, never changes ``x`` or itself by predicting,
clones untrained, pickles, and its :meth:`state_dict` restores exactly (a restored copy goes
on to give the same predictions as the original, to the last bit).
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from azuraforge.stream.base import Features, Learner, Transformer, predicts_labels


class LearnerContractError(AssertionError):
    """A learner breaks the learner contract; the message says how."""


def sample_stream(n: int = 300, seed: int = 0) -> Iterator[tuple[Features, bool]]:
    """``n`` seeded events of three features and a label that depends on them."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        a, b, c = rng.normal(size=3).tolist()
        yield {"a": a, "b": 10 * b + 5, "c": c}, bool(a - 0.5 * c + 0.3 * rng.normal() > 0)


def _prediction(learner: Learner, x: Features) -> Any:
    if isinstance(learner, Transformer):
        return learner.transform_one(x)
    if predicts_labels(learner):
        return learner.predict_proba_one(x)  # type: ignore[attr-defined]
    return learner.predict_one(x)  # type: ignore[attr-defined]


def _target(learner: Learner, label: bool, x: Features) -> Any:
    return label if predicts_labels(learner) else x["a"] * 2.0 + 1.0


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise LearnerContractError(message)


def check_predicts_untrained(make: Callable[[], Learner]) -> None:
    """Predicting before the first ``learn_one`` gives an answer, not an error."""
    learner, (x, _) = make(), next(sample_stream(1))
    _require(_prediction(learner, x) is not None, f"{learner!r} predicted None untrained")


def check_prediction_changes_nothing(make: Callable[[], Learner]) -> None:
    """Predicting leaves ``x`` and the learner's state as they were."""
    learner = make()
    for x, label in sample_stream(50):
        learner.learn_one(x, _target(learner, label, x))
    x = {"a": 0.3, "b": -2.0, "c": 1.5, "new": 4.0}
    before, kept = repr(learner.state_dict()), dict(x)
    _prediction(learner, x)
    _require(x == kept, f"{learner!r} changed the x it predicted for")
    _require(repr(learner.state_dict()) == before, f"{learner!r} changed itself by predicting")


def check_restores_exactly(make: Callable[[], Learner]) -> None:
    """A learner built anew and given another's :meth:`state_dict` (deep-copied) predicts
    what the original predicts, bit for bit, while both go on learning."""
    events = list(sample_stream())
    original = make()
    for x, label in events[:150]:
        original.learn_one(x, _target(original, label, x))
    restored = make()
    restored.load_state_dict(copy.deepcopy(original.state_dict()))
    for x, label in events[150:]:
        ours, theirs = _prediction(original, x), _prediction(restored, x)
        _require(ours == theirs, f"{original!r} restored predicts {theirs}, original {ours}")
        original.learn_one(x, _target(original, label, x))
        restored.learn_one(x, _target(restored, label, x))


def check_clone_and_pickle(make: Callable[[], Learner]) -> None:
    """``clone()`` is untrained with the same arguments; a trained learner pickles."""
    learner = make()
    for x, label in sample_stream(20):
        learner.learn_one(x, _target(learner, label, x))
    clone = learner.clone()
    _require(repr(clone) == repr(learner), f"clone {clone!r} differs from {learner!r}")
    _require(
        repr(clone.state_dict()) == repr(make().state_dict()),
        f"clone of {learner!r} is not untrained",
    )
    copy_ = pickle.loads(pickle.dumps(learner))
    x = {"a": 1.0, "b": 0.0, "c": -1.0}
    _require(_prediction(copy_, x) == _prediction(learner, x), f"{learner!r} pickles wrong")


CHECKS = (
    check_predicts_untrained,
    check_prediction_changes_nothing,
    check_restores_exactly,
    check_clone_and_pickle,
)


def check_learner(make: Callable[[], Learner]) -> None:
    """Run every check of the learner contract on learners built by ``make``.

    Raises
    ------
    LearnerContractError
        With every broken check's message.
    """
    failures = []
    for check in CHECKS:
        try:
            check(make)
        except LearnerContractError as e:
            failures.append(f"{check.__name__}: {e}")
    if failures:
        raise LearnerContractError("; ".join(failures))

"""Tuning a stream's learner on its recent outcomes: the continuous-learning seed's AutoML,
as a candidate and never as a promotion.

Every ``tune_every`` events a stream runs an Optuna study on the outcomes it keeps (its last
``warm``): each trial is a fresh learner of the stream's kind with settings drawn by TPE
(seeded by the stream's seed and the event, so a resumed stream tunes as an unbroken one
would), scored test-then-train over those outcomes by its mean log-loss of probabilities
kept in [floor, 1 - floor] (the paired test's losses). The best opens as the candidate; the
paired test then judges it on the events that follow, not on the window it was tuned on.
"""

from __future__ import annotations

from typing import NamedTuple

import optuna

from azuraforge.stream.direction import TUNABLE, make_learner, tuned_kind
from azuraforge.stream.online import Example, log_loss

MIN_TUNING_OUTCOMES = 50
"""The fewest kept outcomes a tuning runs on."""


class Tuning(NamedTuple):
    """A study's outcome: the best kind (with its settings), its mean loss over the window,
    the untuned kind's, and the trials run."""

    kind: str
    loss: float
    untuned_loss: float
    trials: int

    def reason(self) -> str:
        """The lineage's words for it."""
        return (
            f"the best of {self.trials} trials on the last outcomes, log-loss "
            f"{self.loss:.4f} there (untuned {self.untuned_loss:.4f})"
        )


def tune(
    kind: str, examples: list[Example], *, trials: int, floor: float, seed: int,
    seconds: float | None = None,
) -> Tuning:  # fmt: skip
    """The settings of ``kind`` (one of :data:`~azuraforge.stream.direction.TUNABLE`) whose
    learner does best test-then-train over ``examples``, among ``trials`` drawn by TPE (the
    untuned kind enqueued first, so the best is never worse than it on the window), or
    those run within ``seconds``."""
    ranges = TUNABLE[kind]

    def objective(trial: optuna.Trial) -> float:
        settings = {
            name: trial.suggest_float(name, low, high, log=True)
            for name, (low, _, high) in ranges.items()
        }
        return prequential_loss(tuned_kind(kind, settings), examples, floor, seed)

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a study a schedule: no log lines
    try:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.enqueue_trial({name: default for name, (_, default, _) in ranges.items()})
        study.optimize(objective, n_trials=trials, timeout=seconds)
    finally:
        optuna.logging.set_verbosity(verbosity)
    best = tuned_kind(kind, study.best_params)
    return Tuning(best, study.best_value, study.trials[0].values[0], len(study.trials))


def prequential_loss(kind: str, examples: list[Example], floor: float, seed: int) -> float:
    """A fresh learner of ``kind``'s mean log-loss over ``examples``, each predicted before it
    is learned."""
    model = make_learner(kind, seed)
    total = 0.0
    for x, up in examples:
        total += log_loss(float(model.predict_proba_one(x).get(True, 0.0)), up, floor)
        model.learn_one(x, up)
    return total / len(examples)

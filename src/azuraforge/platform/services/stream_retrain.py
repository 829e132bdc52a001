"""A stream's candidate trained as a platform run: the job kind ``retrain``.

A stream whose config says ``retrain_as: run`` does not warm its candidates in its own
process: when its loop opens one (a drift, the schedule, a tuning, a hand), it sends the
outcomes it keeps (its last ``warm``) to a run of this kind, on any worker, and goes on
with its champion. The run trains a fresh learner of the asked kind for up to ``epochs``
passes over the older part of that window (the first pass in time order, the next ones
shuffled), scores it after each pass on the newest part it held out (the recent past is
what the candidate will face), stops after ``patience`` passes without gain, keeps the best
pass's learner and lets it learn the held-out part in order. Its metrics, pass by pass, are
the run's (charted on its page) beside two baselines on the same held-out outcomes: one
pass in time order (what a candidate warmed in the stream would be) and the training
outcomes' share of rises as a constant probability. The learner's state is its result; the
stream opens it as its candidate once the run completed (:class:`Retrainer`), after it
learned the outcomes that came meanwhile, and the paired test judges it as any candidate.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import JobKind
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.experiments import send
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentQuery, ExperimentRecord, Store, is_unavailable
from azuraforge.platform.store.states import CANCELLED, COMPLETED, FINISHED_STATES
from azuraforge.platform.store.states import RETRAIN as RETRAIN_RUN
from azuraforge.stream.base import Classifier
from azuraforge.stream.direction import make_learner
from azuraforge.stream.online import (
    Example,
    from_json,
    log_loss,
    pack_examples,
    to_json,
    unpack_examples,
)
from azuraforge.stream.shadow import RETRAIN, Change, ShadowLoop

MIN_OUTCOMES = 20
"""The fewest outcomes a retrain trains on (a fifth of them held out, at least 4)."""
MODEL, ONE_PASS, BASE_RATE = "model", "one pass", "base rate"
"""The sides of a retrain's held-out scores: its learner at its best pass; after one pass in
time order (a candidate warmed in the stream); the training outcomes' share of rises."""
FIGURES = ("val_loss", "one_pass_val_loss", "prior_val_loss", "best_epoch")
"""A retrain's figures: its learner's held-out log-loss, one pass's and the base rate's,
and the pass it was kept from."""
_LOOK_EVERY = 1.0
"""Seconds between two looks of a stream for its retrain's end."""


class RetrainConfig(BaseModel):
    """A retrain run's config: the stream and its learner's kind, the outcomes it trains on
    (packed), and how it trains."""

    model_config = ConfigDict(extra="forbid")

    stream: int = Field(description="The stream that asked for it.")
    learner: str = Field(max_length=200, description="The kind of learner trained.")
    seed: int = Field(0, description="Seeds the learner and the passes' shuffles.")
    epochs: int = Field(20, ge=1, le=500, description="Most passes over the outcomes.")
    patience: int = Field(3, ge=1, description="Passes without gain before it stops.")
    holdout: float = Field(
        0.2, gt=0, lt=1, description="The newest share of the outcomes each pass is scored on."
    )
    floor: float = Field(
        0.4, gt=0, lt=0.5, description="Log-losses of probabilities kept in [floor, 1 - floor]."
    )
    until_event: int = Field(description="The stream's last event when it asked.")
    outcomes: dict[str, Any] = Field(
        description="The outcomes, packed (azuraforge.stream.online.pack_examples)."
    )


@dataclass(frozen=True)
class Trained:
    """A retrain's learner, the pass it was kept from, and how it did on the held-out
    outcomes beside its baselines: ``held_out[score][side]``, the scores ``log_loss`` and
    ``accuracy``, the sides ``model``, ``one pass`` and ``base rate``."""

    model: Classifier
    best_epoch: int
    epochs: int
    held_out: dict[str, dict[str, float]]

    def figures(self) -> dict[str, float]:
        """Its :data:`FIGURES`, by name (a candidate's evidence)."""
        losses = self.held_out["log_loss"]
        values = (losses[MODEL], losses[ONE_PASS], losses[BASE_RATE], float(self.best_epoch))
        return dict(zip(FIGURES, values, strict=True))

    def describe(self) -> str:
        """One line for the lineage and the run's progress."""
        losses = self.held_out["log_loss"]
        return (
            f"held-out log-loss {losses[MODEL]:.4f} after {self.best_epoch} of {self.epochs} "
            f"passes (one pass {losses[ONE_PASS]:.4f}, the base rate {losses[BASE_RATE]:.4f})"
        )


def train(
    config: RetrainConfig, on_epoch: Callable[[int, dict[str, float]], bool] | None = None
) -> Trained:
    """Train ``config``'s learner on its outcomes (the module's docstring says how);
    ``on_epoch(epoch, metrics)`` after each pass, which stops the training when it returns
    ``False`` (the best pass so far is kept).

    Raises
    ------
    InvalidParameterError
        For fewer than :data:`MIN_OUTCOMES` outcomes, or a learner kind that is not one.
    """
    examples = unpack_examples(config.outcomes)
    if len(examples) < MIN_OUTCOMES:
        raise InvalidParameterError(
            f"a retrain needs {MIN_OUTCOMES} outcomes or more; the stream kept {len(examples)}"
        )
    held = max(round(len(examples) * config.holdout), 4)
    fit, check = examples[:-held], examples[-held:]
    model = make_learner(config.learner, config.seed)
    rise = sum(up for _, up in fit) / len(fit)
    sides = {BASE_RATE: _score([rise] * len(check), check, config.floor)}
    shuffler = random.Random(config.seed)
    best: tuple[int, Any] = (0, None)
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        order = list(fit)
        if epoch > 1:
            shuffler.shuffle(order)
        train_loss = _mean(_learn(model, x, up, config.floor) for x, up in order)
        probabilities = [float(model.predict_proba_one(x).get(True, 0.0)) for x, _ in check]
        scores = _score(probabilities, check, config.floor)
        sides.setdefault(ONE_PASS, scores)
        if scores[0] < sides.get(MODEL, (math.inf,))[0]:
            sides[MODEL], best = scores, (epoch, to_json(model.state_dict()))
        metrics = {"train_loss": train_loss, "val_loss": scores[0], "val_accuracy": scores[1]}
        go_on = on_epoch(epoch, metrics) if on_epoch is not None else True
        if not go_on or epoch - best[0] >= config.patience:
            break
    model.load_state_dict(from_json(best[1]))
    for x, up in check:  # the newest outcomes, last: what the candidate knows when it starts
        model.learn_one(x, up)
    held_out = {score: {side: found[i] for side, found in sides.items()}
                for i, score in enumerate(("log_loss", "accuracy"))}  # fmt: skip
    return Trained(model, best[0], epoch, held_out)


def _learn(model: Classifier, x: dict[str, float], up: bool, floor: float) -> float:
    """``model``'s loss on ``(x, up)`` before it learns it."""
    loss = log_loss(float(model.predict_proba_one(x).get(True, 0.0)), up, floor)
    model.learn_one(x, up)
    return loss


def _score(
    probabilities: list[float], examples: list[Example], floor: float
) -> tuple[float, float]:
    """The mean log-loss and accuracy of ``probabilities`` of a rise on ``examples``."""
    ups = [up for _, up in examples]
    pairs = list(zip(probabilities, ups, strict=True))
    return (_mean(log_loss(p, up, floor) for p, up in pairs),
            _mean(float((p >= 0.5) == up) for p, up in pairs))  # fmt: skip


def _mean(values: Iterable[float]) -> float:
    found = list(values)
    return float(sum(found)) / len(found)


def run_retrain(ctx: StoreContext, record: ExperimentRecord) -> tuple[str, dict[str, Any]]:
    """Run the retrain ``record``: its metrics pass by pass, its status and result (the
    learner's state and its held-out figures)."""
    config = RetrainConfig.model_validate(record.config)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
        ctx.log_metrics(metrics, step=epoch)
        ctx.progress(epoch, config.epochs, f"pass {epoch}: held-out log-loss "
                     f"{metrics['val_loss']:.4f}")  # fmt: skip
        return not ctx.should_stop()

    trained = train(config, on_epoch)
    losses = trained.held_out["log_loss"]
    baselines = {"val_loss_one_pass": losses[ONE_PASS], "val_loss_base_rate": losses[BASE_RATE]}
    ctx.log_metrics(baselines, step=trained.epochs)
    if ctx.should_stop():
        return CANCELLED, {}
    ctx.progress(config.epochs, config.epochs, trained.describe())
    return COMPLETED, {
        "stream": config.stream,
        "learner": config.learner,
        "epochs": trained.epochs,
        **trained.figures(),
        "metrics": {f"held_out_{score}": sides for score, sides in trained.held_out.items()},
        "notes": [trained.describe()],
        "state": to_json(trained.model.state_dict()),
    }


def retrain_config(shadow: ShadowLoop, stream: int, *, epochs: int, seed: int) -> RetrainConfig:
    """The config of the run that trains the retrain ``shadow`` asked for (of the stream
    ``stream``): its kind, the outcomes it keeps now, its rules' floor."""
    asked = shadow.asked
    if asked is None:
        raise InvalidParameterError("the loop asked for no retrain")
    return RetrainConfig(
        stream=stream, learner=asked["kind"], seed=seed + asked["number"], epochs=epochs,
        floor=shadow.rules.floor, until_event=shadow.last_event,
        outcomes=pack_examples(shadow.loop.examples, shadow.loop.features.names),
    )  # fmt: skip


class RetrainKind(JobKind):
    """The job kind ``retrain``: :func:`run_retrain`; a cancelled one stops at once (the
    stream records its retrain as failed)."""

    name = RETRAIN_RUN
    cancel_grace = 0.0

    def run(
        self, store: Store, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_retrain(ctx, record)


class Retrainer:
    """A stream's side of its retrains: :meth:`send` queues the run a ``retrain`` change
    asked for; :meth:`look` opens its learner as the candidate once the run completed (or
    records its failure).

    Parameters
    ----------
    store, transport
        Where the runs are stored and how they reach a worker.
    stream
        The stream's row (its project, name, id).
    epochs, seed
        How the runs train.
    """

    def __init__(
        self, store: Store, transport: Transport, stream: ExperimentRecord, *, epochs: int,
        seed: int,
    ) -> None:  # fmt: skip
        self.store, self.transport, self.stream = store, transport, stream
        self.epochs, self.seed = epochs, seed
        self._next = 0.0

    def send(self, shadow: ShadowLoop, change: Change) -> Change:
        """``change`` with the run that trains it, queued now, when it asks for a retrain
        (a run queued for the same ask before a restart is taken again, not doubled)."""
        if change.kind != RETRAIN or shadow.asked is None:
            return change
        asked = shadow.asked
        batch = f"stream-{self.stream.id}-retrain-{asked['number']}"
        found = self.store.list_experiments(
            ExperimentQuery(project=self.stream.project, kinds=(RETRAIN_RUN,), batch_id=batch)
        ).items
        run = found[0] if found else self._queue(shadow, batch)
        shadow.sent(run.id)
        return replace(change, run=run.id)

    def _queue(self, shadow: ShadowLoop, batch: str) -> ExperimentRecord:
        config = retrain_config(shadow, self.stream.id, epochs=self.epochs, seed=self.seed)
        assert shadow.asked is not None
        asked = shadow.asked
        record = self.store.create_experiment(
            RETRAIN_RUN, config.model_dump(), project=self.stream.project, batch_id=batch,
            name=f"{self.stream.name}-retrain-{asked['number']}", kind=RETRAIN_RUN,
        )  # fmt: skip
        return send(self.store, self.transport, record)

    def look(self, shadow: ShadowLoop, *, now: bool = False) -> list[Change]:
        """The candidate the retrain sent opened, or its failure, once its run ended (looked
        for at most every :data:`_LOOK_EVERY` seconds unless ``now``; not while the store is
        unreachable)."""
        run = shadow.asked["run"] if shadow.asked is not None else None
        clock = time.monotonic()
        if run is None or (clock < self._next and not now):
            return []
        self._next = clock + _LOOK_EVERY
        try:
            record = self.store.get_experiment(run)
        except Exception as e:
            if not is_unavailable(e):
                raise
            return []
        if record.status == COMPLETED and record.result:
            model = make_learner(str(record.result["learner"]), self.seed)
            model.load_state_dict(from_json(record.result["state"]))
            figures = {name: float(record.result[name]) for name in FIGURES}
            why = (f"trained by run {run}: held-out log-loss {figures['val_loss']:.4f} (one "
                   f"pass {figures['one_pass_val_loss']:.4f}, base rate "
                   f"{figures['prior_val_loss']:.4f})")  # fmt: skip
            return [shadow.adopt(model, reason=why, evidence=figures)]
        if record.status in FINISHED_STATES:
            return [shadow.fail(f"run {run} {record.status}: {record.error or 'no learner'}")]
        return []

    def finish(self, shadow: ShadowLoop) -> list[Change]:
        """At the stream's end (its source's, or ``max_events``): the candidate of a run that
        ended meanwhile; else the run still training is cancelled (its learner would never be
        used) and the retrain recorded as failed, saying so."""
        found = self.look(shadow, now=True)
        if shadow.asked is None:
            return found
        run = shadow.asked["run"]
        with suppress(ConflictError):  # it ended meanwhile: its learner is not used either
            self.store.request_cancel(run)
        return [*found, shadow.fail(f"the stream ended before run {run} did; run cancelled")]

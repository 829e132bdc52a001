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

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import JobKind
from azuraforge.platform.jobs.queueing import NewJob, enqueue
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentQuery, ExperimentRecord, is_unavailable
from azuraforge.platform.store.interfaces import ProjectView
from azuraforge.platform.store.states import CANCELLED, COMPLETED, FINISHED_STATES, QUEUED
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

_log = logging.getLogger(__name__)
MIN_OUTCOMES = 20
"""The fewest outcomes a retrain trains on (a fifth of them held out, at least 4)."""
MODEL, ONE_PASS, BASE_RATE = "model", "one pass", "base rate"
"""The sides of a retrain's held-out scores: its learner at its best pass; after one pass in
time order (a candidate warmed in the stream); the training outcomes' share of rises."""
FIGURES = ("val_loss", "val_loss_one_pass", "val_loss_base_rate", "best_epoch")
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
        """One line for the lineage and the run's progress (:func:`describe_figures`)."""
        return describe_figures(self.figures(), self.epochs)


def describe_figures(figures: Mapping[str, float], epochs: int) -> str:
    """A retrain's :data:`FIGURES` after ``epochs`` passes, in a line."""
    return (
        f"held-out log-loss {figures['val_loss']:.4f} after {figures['best_epoch']:.0f} of "
        f"{epochs} passes (one pass {figures['val_loss_one_pass']:.4f}, the base rate "
        f"{figures['val_loss_base_rate']:.4f})"
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
    check_outcomes(len(examples))
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
        train_loss, scores = _pass(model, order, check, config.floor)
        sides.setdefault(ONE_PASS, scores)
        if scores[0] < sides.get(MODEL, (math.inf,))[0]:
            sides[MODEL], best = scores, (epoch, to_json(model.state_dict()))
        metrics = {"train_loss": train_loss, "val_loss": scores[0], "val_accuracy": scores[1]}
        go_on = on_epoch(epoch, metrics) if on_epoch is not None else True
        if not go_on or epoch - best[0] >= config.patience:
            break
    if best[1] is None:
        raise InvalidParameterError(
            f"the {config.learner} learner's held-out log-loss was not a number at any pass"
        )
    model.load_state_dict(from_json(best[1]))
    for x, up in check:  # the newest outcomes, last: what the candidate knows when it starts
        model.learn_one(x, up)
    return Trained(model, best[0], epoch, _by_score(sides))


def check_outcomes(count: int) -> None:
    """Refuse a retrain on ``count`` outcomes, fewer than :data:`MIN_OUTCOMES`."""
    if count < MIN_OUTCOMES:
        raise InvalidParameterError(
            f"a retrain needs {MIN_OUTCOMES} outcomes or more; the stream kept {count}"
        )


def _pass(
    model: Classifier, order: list[Example], check: list[Example], floor: float
) -> tuple[float, tuple[float, float]]:
    """One pass of ``model`` over ``order``: its mean loss on them before it learnt each, then
    its held-out scores on ``check`` (:func:`_score`)."""
    train_loss = _mean(_learn(model, x, up, floor) for x, up in order)
    probabilities = [float(model.predict_proba_one(x).get(True, 0.0)) for x, _ in check]
    return train_loss, _score(probabilities, check, floor)


def _by_score(sides: Mapping[str, tuple[float, float]]) -> dict[str, dict[str, float]]:
    """The held-out scores of each side (``{side: (log-loss, accuracy)}``) by score."""
    return {score: {side: found[i] for side, found in sides.items()}
            for i, score in enumerate(("log_loss", "accuracy"))}  # fmt: skip


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
    figures = trained.figures()
    ctx.log_metrics({name: figures[name] for name in FIGURES[1:3]}, step=trained.epochs)
    if ctx.should_stop():
        return CANCELLED, {}
    ctx.progress(config.epochs, config.epochs, trained.describe())
    return COMPLETED, {
        "stream": config.stream,
        "learner": config.learner,
        "epochs": trained.epochs,
        **figures,
        "metrics": {f"held_out_{score}": sides for score, sides in trained.held_out.items()},
        "notes": [trained.describe()],
        "state": to_json(trained.model.state_dict()),
    }


def retrain_config(shadow: ShadowLoop, stream: int, *, epochs: int, seed: int) -> RetrainConfig:
    """The config of the run that trains the retrain ``shadow`` asked for (of the stream
    ``stream``): its kind, the outcomes it keeps now, its rules' floor.

    Raises
    ------
    ConflictError
        If ``shadow`` asked for no retrain.
    InvalidParameterError
        For fewer than :data:`MIN_OUTCOMES` outcomes kept.
    """
    asked = shadow.retrain_asked()
    check_outcomes(shadow.loop.kept)
    return RetrainConfig(
        stream=stream, learner=asked.kind, seed=seed + asked.number, epochs=epochs,
        floor=shadow.rules.floor, until_event=shadow.last_event,
        outcomes=pack_examples(shadow.loop.examples, shadow.loop.features.names),
    )  # fmt: skip


class RetrainKind(JobKind):
    """The job kind ``retrain``: :func:`run_retrain`; a cancelled one stops at once (the
    stream records its retrain as failed)."""

    name = RETRAIN_RUN
    listed = True
    cancel_grace = 0.0

    def run(
        self, store: ProjectView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_retrain(ctx, record)


class Retrainer:
    """A stream's side of its retrains: :meth:`send` queues the run a ``retrain`` change
    asked for; :meth:`look` opens its learner as the candidate once the run completed, or
    records why there is none (the run failed, was cancelled or deleted, or took longer
    than ``timeout``: then it is cancelled).

    Parameters
    ----------
    store, transport
        Where the runs are stored and how they reach a worker.
    stream
        The stream's row (its project, name, id; who asked for it and its context, which
        its retrains carry too).
    epochs, seed
        How the runs train.
    timeout
        Seconds a run may take, queued or running, from its creation.
    """

    def __init__(
        self, store: ProjectView, transport: Transport, stream: ExperimentRecord, *, epochs: int,
        seed: int, timeout: float,
    ) -> None:  # fmt: skip
        self.store, self.transport, self.stream = store, transport, stream
        self.epochs, self.seed, self.timeout = epochs, seed, timeout
        self._next = 0.0

    def send(self, shadow: ShadowLoop, change: Change) -> list[Change]:
        """``change`` with the run that trains it, when it asks for a retrain (queued now;
        a run queued for the same ask before a restart is taken again, not doubled); with
        the retrain's failure after it when none can be queued. While the store is
        unreachable the run is queued at a later :meth:`look`."""
        if change.kind != RETRAIN or shadow.asked is None:
            return [change]
        sent = self._try_send(shadow)
        if isinstance(sent, Change):
            return [change, sent]
        return [replace(change, run=sent)]

    def _try_send(self, shadow: ShadowLoop) -> int | Change | None:
        """Queue the retrain's run: its id, or the retrain's failure when none can be
        (``None``: to be queued at a later look, the store being unreachable)."""
        try:
            return self._send(shadow)
        except InvalidParameterError as e:  # too few outcomes kept: said as it is
            return shadow.fail(f"no run was queued: {e}")
        except Exception as e:
            if is_unavailable(e):
                return None
            _log.error("stream %d: its retrain run could not be queued: %s", self.stream.id, e)
            return shadow.fail(f"no run could be queued ({type(e).__name__}: see the log)")

    def _send(self, shadow: ShadowLoop) -> int:
        """The run of the retrain asked for, found or queued, recorded in ``shadow``."""
        config = retrain_config(shadow, self.stream.id, epochs=self.epochs, seed=self.seed)
        number = shadow.retrain_asked().number
        batch = f"stream-{self.stream.id}-retrain-{number}-at-{config.until_event}"
        found = self.store.list_experiments(
            ExperimentQuery(project=self.stream.project, kinds=(RETRAIN_RUN,), batch_id=batch)
        ).items
        same = [run for run in found if run.config.get("learner") == config.learner]
        if same:
            record = same[0]
            if record.status == QUEUED:  # its message may be lost with the stream's process
                self.transport.submit(record.id)
        else:
            name = f"{self.stream.name}-retrain-{number}-at-{config.until_event}"
            job = NewJob(
                RETRAIN_RUN, config.model_dump(), kind=RETRAIN_RUN, project=self.stream.project,
                submitter=self.stream.submitter, context=self.stream.context or {},
                name=f"{name}-{len(found) + 1}" if found else name, batch_id=batch,
            )  # fmt: skip
            [record] = enqueue(self.store, self.transport, job)
        shadow.sent(record.id)
        return record.id

    def look(self, shadow: ShadowLoop, *, now: bool = False) -> list[Change]:
        """The candidate the retrain's run opened, or why there is none, once it ended (at
        most every :data:`_LOOK_EVERY` seconds unless ``now``; nothing while the store is
        unreachable)."""
        clock = time.monotonic()
        if shadow.asked is None or (clock < self._next and not now):
            return []
        self._next = clock + _LOOK_EVERY
        run = shadow.asked.run
        if run is None:  # the store was unreachable when it was asked
            sent = self._try_send(shadow)
            return [sent] if isinstance(sent, Change) else []
        try:
            record = self._find(run)
        except NotFoundError:
            return [shadow.fail(f"run {run} was deleted")]
        return [] if record is None else self._outcome(shadow, record)

    def _find(self, run: int) -> ExperimentRecord | None:
        """The row of ``run`` (``None``: the store is unreachable; :class:`NotFoundError`:
        it was deleted)."""
        try:
            return self.store.get_experiment(run)
        except Exception as e:
            if not is_unavailable(e):
                raise
            return None

    def _outcome(self, shadow: ShadowLoop, record: ExperimentRecord) -> list[Change]:
        """The candidate the retrain's run ``record`` opened, or why there is none, once it
        ended or took too long; nothing while it may still end in time."""
        run = record.id
        if record.status == COMPLETED:
            return [self._adopt(shadow, record)]
        if record.status in FINISHED_STATES:
            return [shadow.fail(f"run {run} {record.status}: {record.error or 'no learner'}")]
        if time.time() - record.created_at > self.timeout:
            return [self._cancel(shadow, run, f"run {run} did not end within "
                                 f"{self.timeout:g} s ({record.status})")]  # fmt: skip
        return []

    def _adopt(self, shadow: ShadowLoop, record: ExperimentRecord) -> Change:
        """The completed run ``record``'s learner as the candidate (a result without a
        learner of the kind asked for: the retrain's failure)."""
        kind, result = shadow.retrain_asked().kind, record.result or {}
        try:
            if result.get("learner") != kind:
                raise InvalidParameterError(f"it trained {result.get('learner')!r}")
            model = make_learner(kind, self.seed)
            model.load_state_dict(from_json(result["state"]))
            figures = {name: float(result[name]) for name in FIGURES}
            epochs = int(result["epochs"])
        except (KeyError, TypeError, ValueError, InvalidParameterError) as e:
            return shadow.fail(f"run {record.id} completed without a usable learner: {e}")
        why = f"trained by run {record.id}: {describe_figures(figures, epochs)}"
        return shadow.adopt(model, reason=why, evidence=figures)

    def _cancel(self, shadow: ShadowLoop, run: int, reason: str) -> Change:
        """Cancel ``run`` (unless it ended or went meanwhile) and record the retrain as
        failed; with the store unreachable, only that."""
        try:
            with suppress(ConflictError, NotFoundError):
                self.store.request_cancel(run)
        except Exception as e:
            if not is_unavailable(e):
                raise
            return shadow.fail(f"{reason}; the store was unreachable to cancel it")
        return shadow.fail(f"{reason}; run cancelled")

    def finish(self, shadow: ShadowLoop) -> list[Change]:
        """At the stream's end (its source's, ``max_events``, or a stop asked for): the
        candidate of a run that ended meanwhile; else the run still training is cancelled
        (its learner would never be used) and the retrain recorded as failed, saying so."""
        if shadow.asked is not None and shadow.asked.run is None:
            return [shadow.fail("the stream ended before its run was queued")]
        found = self.look(shadow, now=True)
        if shadow.asked is None or shadow.asked.run is None:
            return found
        run = shadow.asked.run
        return [*found, self._cancel(shadow, run, f"the stream ended before run {run} did")]

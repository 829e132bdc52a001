"""A stream's loop in its job's process: each event taken (paced, or paused by a trigger),
predicted, scored and learned by the shadow loop; its triggers taken at event boundaries; its
candidates opened (a tuning's, a retrain run's); a checkpoint saved every
``checkpoint_every`` events with what it did since."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

from azuraforge.errors import ConflictError
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.prometheus import STREAM_CHANGES, STREAM_EVENTS
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.retrain import Retrainer
from azuraforge.platform.services.streams.sources import STOP_CHECK, SourceRows
from azuraforge.platform.services.streams.tuning import MIN_TUNING_OUTCOMES, tune
from azuraforge.platform.store import is_unavailable
from azuraforge.platform.store.metrics import Outcome
from azuraforge.platform.store.states import CANCELLED, COMPLETED
from azuraforge.platform.store.streams import DONE, REFUSED, Answer, TriggerRecord
from azuraforge.stream import Event
from azuraforge.stream.direction import make_learner
from azuraforge.stream.online import Scored, headline
from azuraforge.stream.regime import VolatilityRegime
from azuraforge.stream.shadow import CHAMPION, Change, ShadowLoop

TURBULENT = "regime/turbulent"
"""The metric of the mean probability that the price's volatility was turbulent (its
:class:`~azuraforge.stream.regime.VolatilityRegime`) over the events since the last
checkpoint: the charts' regime bands."""
POLL_KEPT = 500
"""The last events a polled stream's checkpoint keeps: a restart warms its features on them
(the url no longer gives older rows)."""
TUNING_SECONDS = 30.0
"""The longest a tuning holds its stream's events up: the trials run by then count."""
SOURCE_FOUND = "source"
"""The key of a checkpoint that keeps what the stream's source found in its rows
(:meth:`SourceRows.found`)."""
_TRIGGER_POLL = 1.0
"""Seconds between two looks for a stream's pending triggers."""
_MAX_BEHIND = 1.0
"""Seconds a paced stream may fall behind its pace before it counts the pace again."""


def learn(
    config: StreamConfig, ctx: StoreContext, source: tuple[Iterator[Event], bool],
    control: Control,
) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """:func:`run_stream`'s loop over the source's events (``live``: gone once taken)."""
    events, live = source
    if control.rows is not None:
        _check_rows(control.rows, ctx)
    loop = _Loop(config, ctx, control, live=live)
    events = loop.resume(events)
    control.idle = loop.look  # while a live source waits for rows: its triggers wait for none
    status = loop.take(events)
    return status, loop.end(status)


class _Loop:
    """One process's part of a stream's loop: its shadow loop and volatility regime, its
    triggers and pace, the position of its last checkpoint and what it did since."""

    def __init__(
        self, config: StreamConfig, ctx: StoreContext, control: Control, *, live: bool
    ) -> None:
        self.config, self.ctx, self.control, self.live = config, ctx, control, live
        self.shadow = ShadowLoop(
            lambda kind, number: make_learner(kind, config.seed + number - 1), config.learner,
            config.rules(), column=config.price_column, horizon=config.horizon,
            window=config.window, features=config.features(),
        )  # fmt: skip
        self.regime = VolatilityRegime()  # charted whether or not the learners see it
        self.pacer = _Pacer(config.speed, ctx.should_stop)
        self.triggers = _Triggers(ctx)
        self.started = self.saved = 0  # where this process started; the last checkpoint
        self.batch = _Batch()  # what came since the last checkpoint

    def resume(self, events: Iterator[Event]) -> Iterator[Event]:
        """Start where the stream's checkpoint left it, if it has one (paused if it was);
        the events to take."""
        state = self.ctx.load_checkpoint()
        self.control.paused = bool(state and state.get("paused"))
        if state is not None:
            source = (events, self.live)
            events = _warm(self.config, self.shadow, self.regime, source, state, self.control)
            self.shadow.load_state_dict(state)
            self.ctx.logger.info("resumed at event %d (%d predictions scored)",
                                 self.shadow.events, self.shadow.loop.scored)  # fmt: skip
        self.started = self.saved = self.shadow.events
        return events

    def take(self, events: Iterator[Event]) -> str:
        """Take ``events`` until the source ends or the last event allowed is taken
        (:data:`COMPLETED`), or until a stop (:data:`CANCELLED`)."""
        shadow, ctx = self.shadow, self.ctx
        # Ended as soon as its last event is taken: a polled source may send no other.
        last = self.config.max_events if self.config.max_events is not None else math.inf
        for event in events if shadow.events < last else ():
            # Each process takes one event at least: a restart asked for while it re-read its
            # source (a restart_every shorter than that) still makes progress.
            if shadow.events > self.started and (ctx.should_stop() or not self.pacer.wait(event)):
                return CANCELLED
            self._step(event)
            if shadow.events >= last:
                break
        return CANCELLED if ctx.should_stop() else COMPLETED  # a followed file, stopped idle

    def _step(self, event: Event) -> None:
        """Predict, score and learn ``event``, then take the triggers due; a checkpoint when
        one is due or the loop changed."""
        shadow, control = self.shadow, self.control
        if control.paused:  # by a trigger taken while the source waited
            self.hold()
        scored, changes = shadow.step(event)
        STREAM_EVENTS.inc()
        changes += tuned_candidate(self.config, shadow)
        price = event.values[self.config.price_column]
        self.batch.regime += self.regime.update(price).values()
        if self.live:
            control.kept.append((event.time, price))
        self.batch.outcomes += _rows(scored)
        self.batch.record(shadow, changes, control)
        self.look(due=shadow.events % self.config.checkpoint_every == 0)
        if control.paused:
            self.hold()
            self.pacer.restart()  # a resumed replay goes on at its speed, not in a burst

    def look(self, *, due: bool = False) -> None:
        """Take the triggers due and a retrain run's candidate; a checkpoint if that did
        something, or if one is ``due``."""
        self.batch.look(self.shadow, self.triggers, self.control)
        if self.batch.changes or self.batch.answers or due:
            self.saved = _save(self.shadow, self.ctx, self.batch, self.control)
            self.batch = _Batch()

    def hold(self) -> None:
        """While the stream is paused and not asked to stop: take its triggers, saving a
        checkpoint after each look that did something."""
        while self.control.paused and not self.ctx.should_stop():
            time.sleep(STOP_CHECK)
            self.look()

    def end(self, status: str) -> dict[str, Any]:
        """Close this process's part: a retrain run's last candidate if the stream ended for
        good, the triggers asked as it ended refused (said so, not left pending), the last
        checkpoint; what the loop did in all."""
        shadow, batch, control = self.shadow, self.batch, self.control
        if control.retrainer is not None and _ended(status, self.ctx):
            batch.record(shadow, control.retrainer.finish(shadow), control)
        for trigger in self.triggers.due(now=True):
            ended = Answer(trigger.id, REFUSED, shadow.last_event, "the stream ended")
            batch.answers.append(ended)
        if shadow.events != self.saved or batch.answers or batch.changes:
            _save(shadow, self.ctx, batch, control)
        scores = shadow.scores()
        return {"events": shadow.events, "scored": shadow.loop.scored,
                "champion": shadow.champion, **headline(scores, CHAMPION)}  # fmt: skip


def _check_rows(rows: SourceRows, ctx: StoreContext) -> None:
    """Say in the stream's log what its source found in its rows so far (all of a replayed
    file's), and fail it if too many could not be used."""
    for line in rows.report.lines()[1:]:
        ctx.logger.warning("%s: %s", rows.name, line)
    rows.check()


def _ended(status: str, ctx: StoreContext) -> bool:
    """Whether the stream ended for good: its source ended, or someone stopped it (not a
    restart, which a cancel request tells apart)."""
    if status == COMPLETED:
        return True
    try:
        return status == CANCELLED and ctx.store.cancel_requested(ctx.lease.experiment_id)
    except Exception as e:
        if not is_unavailable(e):
            raise
        return False


def tuned_candidate(config: StreamConfig, shadow: ShadowLoop) -> list[Change]:
    """The candidate a tuning opened, when one is due at this event and may open."""
    due = config.tune_every is not None and shadow.events % config.tune_every == 0
    if not (due and shadow.open_to_candidates() and shadow.loop.kept >= MIN_TUNING_OUTCOMES):
        return []
    found = tune(config.learner, shadow.loop.examples, trials=config.tune_trials,
                 floor=config.floor, seed=config.seed + shadow.events,
                 seconds=TUNING_SECONDS)  # fmt: skip
    return [shadow.retrain(kind=found.kind, actor="tuning", reason=found.reason())]


def _warm(
    config: StreamConfig, shadow: ShadowLoop, regime: VolatilityRegime,
    source: tuple[Iterator[Event], bool], state: dict[str, Any], control: Control,
) -> Iterator[Event]:  # fmt: skip
    """Warm ``shadow`` and ``regime`` on the events before the checkpoint ``state``: a file's
    read again; a ``live`` source's (a url's, a live plugin's), gone from it, stand in the
    last ones the checkpoint kept. The events after the checkpoint."""
    price = config.price_column
    events, live = source
    before: Iterable[Event] = islice(events, state["events"])
    if live:
        control.kept.extend((t, p) for t, p in state.get("kept", []))
        before = [Event(t, {price: p}) for t, p in control.kept]
        shadow.skip(state["events"] - len(control.kept))
        last = control.kept[-1][0] if control.kept else -math.inf
        events = (event for event in events if event.time > last)
    for event in before:
        shadow.warm(event)
        regime.update(event.values[price])
    return events


class _Batch:
    """What the stream did since its last checkpoint: scored predictions, the loop's
    changes, its answers to triggers."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.changes: list[dict[str, Any]] = []
        self.answers: list[Answer] = []
        self.regime: list[float] = []  # each event's probability of the turbulent regime

    def record(
        self, shadow: ShadowLoop, changes: list[Change], control: Control,
        trigger: int | None = None,
    ) -> list[Change]:  # fmt: skip
        """Keep ``changes`` (made for ``trigger``), a retrain's sent to its run first; as
        kept."""
        if control.retrainer is not None:
            retrainer = control.retrainer
            changes = [sent for change in changes for sent in retrainer.send(shadow, change)]
        self.changes += [_change_row(change, trigger) for change in changes]
        for change in changes:
            STREAM_CHANGES.labels(change.kind).inc()
        return changes

    def look(self, shadow: ShadowLoop, triggers: _Triggers, control: Control) -> None:
        """Take the triggers due, and the candidate of a retrain run that ended."""
        for trigger in triggers.due():
            self.take(shadow, trigger, control)
        if control.retrainer is not None:
            self.record(shadow, control.retrainer.look(shadow), control)

    def take(self, shadow: ShadowLoop, trigger: TriggerRecord, control: Control) -> None:
        """Carry out ``trigger`` on ``shadow``: its answer, and its change if it made one."""
        try:
            done = _ACTIONS[trigger.action](shadow, trigger, control)
        except ConflictError as e:
            self.answers.append(Answer(trigger.id, REFUSED, shadow.last_event, str(e)))
            return
        if isinstance(done, Change):
            kept = self.record(shadow, [done], control, trigger.id)
            done = "; ".join(f"{c.kind} {c.model}" + (f" as run {c.run}" if c.run else "")
                             for c in kept)  # fmt: skip
        self.answers.append(Answer(trigger.id, DONE, shadow.last_event, done))


@dataclass
class Control:
    """What a stream's process keeps besides its loop: whether a trigger paused it, a live
    stream's last :data:`POLL_KEPT` events (time, price) for its checkpoint, what the
    loop does while a live source waits for rows (``idle``: take the triggers), what
    sends its retrains to runs (``retrain_as: run``), and what its source made of its rows
    (kept with each checkpoint, checked after it)."""

    paused: bool = False
    kept: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=POLL_KEPT))
    idle: Callable[[], None] = lambda: None
    retrainer: Retrainer | None = None
    rows: SourceRows | None = None

    def pause(self, *_: Any) -> str:
        if self.paused:
            raise ConflictError("the stream is paused already; resume it")
        self.paused = True
        return "paused: no event is taken until a resume (triggers still are)"

    def resume(self, *_: Any) -> str:
        if not self.paused:
            raise ConflictError("the stream is not paused")
        self.paused = False
        return "resumed"


_ACTIONS: dict[str, Callable[[ShadowLoop, TriggerRecord, Control], Change | str]] = {
    "retrain": lambda shadow, t, _: shadow.retrain(kind=t.learner, actor=t.actor, reason=t.reason),
    "promote": lambda shadow, t, _: shadow.promote(actor=t.actor, reason=t.reason),
    "rollback": lambda shadow, t, _: shadow.rollback(actor=t.actor, reason=t.reason),
    "checkpoint": lambda *_: "checkpoint saved",  # the save that follows is the answer
    "pause": lambda _, t, control: control.pause(),
    "resume": lambda _, t, control: control.resume(),
}
"""What each trigger does: the change it made to the loop, or what it did."""


ACTIONS = tuple(_ACTIONS)
"""The triggers a stream takes."""


class _Triggers:
    """The stream's pending triggers, looked for at most once every :data:`_TRIGGER_POLL`
    seconds (at an event boundary), each given once: its answer is stored with the next
    checkpoint, which may still be on its way at the next look."""

    def __init__(self, ctx: StoreContext) -> None:
        self.ctx, self._next = ctx, 0.0
        self._taken: set[int] = set()

    def due(self, *, now: bool = False) -> list[TriggerRecord]:
        """The triggers not yet taken (none before the next look is due, unless ``now``; none
        while the store is unreachable: they wait for the next look)."""
        clock = time.monotonic()
        if clock < self._next and not now:
            return []
        self._next = clock + _TRIGGER_POLL
        try:
            found = self.ctx.store.list_triggers(self.ctx.lease.experiment_id, pending=True)
        except Exception as e:
            if not is_unavailable(e):
                raise
            return []
        fresh = [trigger for trigger in found if trigger.id not in self._taken]
        self._taken.update(trigger.id for trigger in fresh)
        return fresh


def _save(shadow: ShadowLoop, ctx: StoreContext, batch: _Batch, control: Control) -> int:
    """The running scores, the counts of events and scored predictions and the regime since
    the last checkpoint (:data:`TURBULENT`) as metric points, then the loop's state as the
    checkpoint that comes after them, with what it did since the last one (scored
    predictions, changes, answers to triggers: stored as rows); the position saved."""
    counts = {"events": float(shadow.events), "scored": float(shadow.loop.scored)}
    if batch.regime:
        counts[TURBULENT] = sum(batch.regime) / len(batch.regime)
    ctx.log_metrics({**shadow.scores(), **counts}, step=shadow.events)
    state = {**shadow.state_dict(), "paused": control.paused}
    if control.kept:
        state["kept"] = list(control.kept)
    if control.rows is not None:
        state[SOURCE_FOUND] = control.rows.found()
    ctx.save_checkpoint(state, batch.outcomes, batch.changes, batch.answers)
    if control.rows is not None:  # a followed or polled source's rows grow
        control.rows.check_so_far()
    return shadow.events


def _change_row(change: Change, trigger_id: int | None = None) -> dict[str, Any]:
    """``change`` as a row of the stream's lineage."""
    return {**asdict(change), "trigger_id": trigger_id}


def _rows(scored: list[Scored]) -> list[Outcome]:
    """Each model's row of each scored prediction."""
    return [
        (s.event, s.time, model, probability, s.up, s.losses[model], s.gain)
        for s in scored
        for model, probability in s.probabilities.items()
    ]


class _Pacer:
    """Waits so that events come at ``speed`` seconds of event time a wall second (nothing
    for ``None``), from the first event it is given; a wait ends early once ``stopping()``.
    Fallen behind by more than :data:`_MAX_BEHIND` (a busy machine, a slow store), it counts
    the pace again from the late event: the replay goes on at its speed, not in a burst that
    would misstate the stream's pace and lag."""

    def __init__(self, speed: float | None, stopping: Callable[[], bool]) -> None:
        self.speed, self.stopping = speed, stopping
        self._start: tuple[float, float] | None = None

    def restart(self) -> None:
        """Count the pace again from the next event (after a pause)."""
        self._start = None

    def wait(self, event: Event) -> bool:
        """Wait for ``event``'s time; whether it came (not a stop first)."""
        if self.speed is None:
            return True
        if self._start is None:
            self._start = (time.monotonic(), event.time)
            return True
        wall, first = self._start
        due = wall + (event.time - first) / self.speed
        if time.monotonic() - due > _MAX_BEHIND:
            self._start = (time.monotonic(), event.time)
            return True
        while (left := due - time.monotonic()) > 0:
            if self.stopping():
                return False
            time.sleep(min(left, STOP_CHECK))
        return True

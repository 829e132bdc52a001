"""The champion and its challengers on a live stream: drift on the champion's errors, a
schedule or a hand opens a **candidate**, which predicts in shadow on the same events and
replaces the champion only when a :class:`~azuraforge.stream.promotion.PairedTest` on their
per-event losses says it is better, at the stated error rate, however often it is read.
After a promotion the old champion stays in shadow and **rollback is armed**: the same test,
the other way round, brings it back if it does better than the new one on the events that
follow; once that test ends otherwise, the old champion is dropped.

:class:`ShadowLoop` runs this on a :class:`~azuraforge.stream.online.DirectionLoop`: each
learner has a name (``mlp-1``, ``mlp-2``...) under which its predictions are scored and
stored; the roles ``champion``, ``candidate`` and ``previous`` point at names. Every step
of the loop is a :class:`Change` (what, at which event, about which models, with the test's
evidence, by whom and why): the stream's lineage. The whole of it, tests and detector
included, is a JSON state to resume from between any two events.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.stream.backtest import Equity
from azuraforge.stream.base import Classifier, Event
from azuraforge.stream.drift import ADWIN, DDM, DriftDetector, PageHinkley
from azuraforge.stream.features import FeatureSet
from azuraforge.stream.online import DirectionLoop, Scored, log_loss, to_json
from azuraforge.stream.promotion import (
    KEEP,
    PROMOTE,
    RUNNING,
    UNDECIDED,
    Decision,
    PairedTest,
    log_loss_bound,
)

CHAMPION, CANDIDATE, PREVIOUS = "champion", "candidate", "previous"
"""The roles: the model whose predictions are served; the one in shadow that may replace it;
the champion before the last promotion, kept while rollback is armed."""
DETECTORS: dict[str, Callable[[], DriftDetector]] = {
    "adwin": lambda: ADWIN(),
    "page-hinkley": lambda: PageHinkley(delta=0.05, threshold=25.0, alpha=1.0),
    "ddm": lambda: DDM(),
}
"""The drift detectors on the champion's errors (log-losses; 0/1 errors for DDM), with the
settings whose false alarms and delays docs/hub.md gives."""
RETRAIN, RETRAIN_FAILED = "retrain", "retrain_failed"
"""The changes of a candidate trained out of the loop: asked for; its training failed."""
CHANGE_KINDS = (
    "drift", "candidate", "promote", "keep", "undecided", "rollback", "disarm", RETRAIN,
    RETRAIN_FAILED,
)  # fmt: skip
"""The kinds of :class:`Change`."""
_RECENT = 100
"""The champion's last log-losses a drift's direction is judged on."""
LOOP = "loop"
"""The actor of the changes the loop makes by itself."""


@dataclass(frozen=True)
class ShadowRules:
    """When candidates open and how they are judged.

    Parameters
    ----------
    drift
        The detector on the champion's errors whose alarm opens a candidate (``None``: none).
    every
        Events after which a candidate opens if none did (``None``: no schedule).
    warm
        The last outcomes a candidate learns before it predicts.
    alpha
        The error rate of the stream's promotions, all candidates together: the ``k``-th
        candidate's test is held to ``alpha * 6 / (pi^2 k^2)`` (these sum to ``alpha``), so
        however many candidates a long stream opens, the chance that any one no better than
        its champion is promoted stays below ``alpha``. Each rollback test is held to
        ``alpha``.
    floor
        The tests compare log-losses of probabilities kept in [floor, 1 - floor].
    margin
        How much lower a candidate's mean loss must be to be promoted.
    shadow_events
        Pairs after which a candidate still undecided is dropped.
    rollback_events
        Pairs after which an undecided rollback test is disarmed (the old champion dropped).
    trained_out
        Whether the candidates the loop opens (on a drift or the schedule) are trained out of
        it: an opening is then a ``retrain`` change asking for one (:meth:`ShadowLoop.ask`),
        and the candidate opens when its trainer hands it back (:meth:`ShadowLoop.adopt`).
    """

    drift: str | None = "adwin"
    every: int | None = None
    warm: int = 500
    alpha: float = 0.05
    floor: float = 0.4
    margin: float = 0.0
    shadow_events: int = 5000
    rollback_events: int = 5000
    trained_out: bool = False

    def __post_init__(self) -> None:
        if self.drift is not None and self.drift not in DETECTORS:
            raise InvalidParameterError(
                f"ShadowRules: drift must be one of {', '.join(DETECTORS)} or None, got "
                f"{self.drift!r}"
            )
        for name in ("every", "warm", "shadow_events", "rollback_events"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidParameterError(
                    f"ShadowRules: {name} must be an int >= 1, got {value!r}"
                )
        if not 0 < self.alpha < 1:
            raise InvalidParameterError(
                f"ShadowRules: alpha must be in (0, 1), got {self.alpha!r}"
            )
        self.promotion_test(1)  # floor and margin checked by the test

    def promotion_test(self, candidate: int) -> PairedTest:
        """The paired test of the stream's ``candidate``-th candidate (from 1)."""
        alpha = self.alpha * 6 / (math.pi**2 * candidate**2)
        bound = log_loss_bound(self.floor)
        return PairedTest(alpha=alpha, bound=bound, margin=self.margin,
                          max_events=self.shadow_events)  # fmt: skip

    def rollback_test(self) -> PairedTest:
        """The paired test of the previous champion against the new one, after a promotion."""
        bound = log_loss_bound(self.floor)
        return PairedTest(alpha=self.alpha, bound=bound, max_events=self.rollback_events)


@dataclass(frozen=True)
class Retrain:
    """A retrain asked for out of the loop (:meth:`ShadowLoop.ask`): the learner's ``kind``,
    who asked and why, the loop's count of asks (its ``number``), the outcomes ``scored``
    and ``kept`` when its trainer was sent them, and its trainer's ``run`` once sent
    (:meth:`ShadowLoop.sent`)."""

    kind: str
    actor: str
    reason: str
    number: int
    scored: int
    kept: int
    run: int | None = None


@dataclass(frozen=True)
class Change:
    """One step of the loop's lineage: ``kind`` (one of :data:`CHANGE_KINDS`) at the event of
    index ``event`` and
    time ``time``, about ``model`` (and ``other``, the champion it was compared with or
    replaced), with its evidence, by ``actor`` for ``reason``."""

    kind: str
    event: int
    time: float
    model: str
    other: str | None = None
    evidence: dict[str, float] = field(default_factory=dict)
    actor: str = LOOP
    reason: str = ""
    run: int | None = None
    """The run that trained the candidate out of the loop (a ``retrain``'s, a candidate's)."""
    snapshots: dict[str, Any] = field(default_factory=dict)
    """For a promotion, the two models as they stood (:meth:`ShadowLoop.snapshot`): what a
    registry keeps as their versions."""


class ShadowLoop:
    """Test-then-train of a champion, its candidates and the trivial rules on the next
    direction of ``column``, with the loop of :class:`ShadowRules` deciding who is champion.

    Parameters
    ----------
    make
        Builds a fresh learner of a kind, given its number (``make("mlp", 2)`` for
        ``mlp-2``: a seed of its own); a candidate is one of these.
    kind
        The first champion's kind, and every candidate's the loop opens (a retrain by hand
        may name another).
    rules
        When candidates open and how they are judged.
    column, horizon, window, features
        As :class:`~azuraforge.stream.online.DirectionLoop`'s.
    """

    def __init__(
        self,
        make: Callable[[str, int], Classifier],
        kind: str,
        rules: ShadowRules | None = None,
        *,
        column: str = "close",
        horizon: int = 1,
        window: int = 1000,
        features: FeatureSet | None = None,
    ) -> None:
        self.make, self.kind, self.rules = make, kind, rules or ShadowRules()
        first = f"{kind}-1"
        self.loop = DirectionLoop(
            make(kind, 1), name=first, column=column, horizon=horizon, window=window,
            examples=self.rules.warm, features=features,
        )  # fmt: skip
        self.roles: dict[str, str] = {CHAMPION: first}
        self.kinds: dict[str, str] = {first: kind}
        """Every learner's kind, by name, to build it again on a resume."""
        self.made = 1
        """Learners made so far (the next is named after this count)."""
        self.born: dict[str, list[int]] = {first: [0, 0]}
        """Each learner's first event and the kept outcomes it learned before it."""
        self.detector = self._detector()
        self.errors = _Errors()
        """The champion's log-losses: whether a drift is a rise or a fall."""
        self.promotion_test: PairedTest | None = None
        """The test of the candidate in shadow."""
        self.rollback_test: PairedTest | None = None
        """Armed after a promotion: the test of the old champion against the new one."""
        self.since = 0
        """Events since the last candidate opened (or the start): the schedule's clock."""
        self.asked: Retrain | None = None
        """The retrain asked for out of the loop and not yet adopted or failed (:meth:`ask`)."""
        self.asks = 0
        """Retrains asked for so far (the next one's ``number``)."""
        self.trained_by: dict[str, int] = {}
        """The run that trained each learner adopted from one, by name."""
        self.traded, self.held = Equity(), Equity()
        """Trading the champion's predictions (long at 50 % or more), and buy and hold, over
        the same steps: one every ``horizon`` events, whose outcomes do not overlap."""
        self._at = (-1, 0.0)

    @property
    def events(self) -> int:
        """Events taken so far."""
        return self.loop.events

    @property
    def last_event(self) -> int:
        """The index of the last event taken (-1 before the first): where a change made now
        is recorded."""
        return self._at[0]

    @property
    def champion(self) -> str:
        """The champion's name."""
        return self.roles[CHAMPION]

    def warm(self, event: Event) -> None:
        """As :meth:`DirectionLoop.warm`: an event taken before the state to be loaded."""
        self.loop.warm(event)

    def skip(self, count: int) -> None:
        """As :meth:`DirectionLoop.skip`: events before the state that are not at hand."""
        self.loop.skip(count)

    def step(self, event: Event) -> tuple[list[Scored], list[Change]]:
        """Take the next event: the predictions scored on it, and the loop's changes (a
        drift, a candidate opened, promoted or ended, a rollback) it brought."""
        scored = self.loop.step(event)
        self._at = (self.loop.events - 1, event.time)
        self.since += 1
        changes: list[Change] = []
        for one in scored:
            self._trade(one)  # by the champion that made it, before a promotion it brings
            changes += self._judge(one)
        every = self.rules.every
        if every is not None and self.since >= every and self.open_to_candidates():
            changes.append(self._open(self.kind, LOOP, "schedule"))
        return scored, changes

    def _trade(self, scored: Scored) -> None:
        """Trade the champion's prediction ``scored`` beside buy and hold, one prediction
        every ``horizon`` events (as the API's scores do, so no two outcomes overlap)."""
        champion = self.champion
        if scored.event % self.loop.horizon or champion not in scored.probabilities:
            return
        self.traded.step(scored.probabilities[champion] >= 0.5, scored.gain)
        self.held.step(True, scored.gain)

    def _judge(self, scored: Scored) -> list[Change]:
        """Feed one outcome to the drift detector and the tests; what they decided."""
        changes: list[Change] = []
        champion = self.champion
        if champion not in scored.probabilities:  # made before it was champion
            return changes
        if self.detector is not None:
            loss = scored.losses[champion]
            self.errors.add(loss)
            wrong = float((scored.probabilities[champion] >= 0.5) != scored.up)
            self.detector.update(wrong if self.rules.drift == "ddm" else loss)
            if self.detector.drift_detected:
                changes += self._drift()
        for role, test in ((CANDIDATE, self.promotion_test), (PREVIOUS, self.rollback_test)):
            other = self.roles.get(role)
            if test is None or other not in scored.probabilities:
                continue
            pair = (self._loss(scored, champion), self._loss(scored, str(other)))
            decision = test.update(*pair)
            if decision.state != RUNNING:
                end = self._end_shadow if role == CANDIDATE else self._end_watch
                changes.append(end(decision))
        return changes

    def _loss(self, scored: Scored, name: str) -> float:
        """``name``'s loss on ``scored`` as the tests compare it (probabilities kept by the
        floor)."""
        return log_loss(scored.probabilities[name], scored.up, self.rules.floor)

    def _drift(self) -> list[Change]:
        """A drift: a candidate when the champion's errors rose (not when they fell: a
        champion learning is no reason to replace it), in place of one opened before it (it
        learned the world before this change, as the champion did)."""
        assert self.detector is not None
        recent, before = self.errors.drift()
        evidence = {"detections": float(self.detector.n_detections), "recent_loss": recent,
                    "loss_before": before}  # fmt: skip
        worse = recent > before
        why = "the champion's errors rose" if worse else "the champion's errors fell"
        changes = [self._change("drift", self.champion, evidence=evidence, reason=why)]
        if not worse or PREVIOUS in self.roles or self.asked is not None:
            return changes  # a retrain asked for already goes on
        if CANDIDATE in self.roles:
            changes.append(self._end_candidate(UNDECIDED, "replaced after a new drift"))
        return [*changes, self._open(self.kind, LOOP, "drift")]

    def open_to_candidates(self) -> bool:
        """Whether a candidate may open now: none is in shadow or being trained, and no
        rollback is armed."""
        return CANDIDATE not in self.roles and PREVIOUS not in self.roles and self.asked is None

    def _open(self, kind: str, actor: str, reason: str) -> Change:
        """A candidate of ``kind``: a retrain asked for when the rules train candidates out
        of the loop (:meth:`ask`), else a fresh learner (a trivial rule has nothing to train:
        always)."""
        rule = kind in self.loop.models and kind not in self.kinds
        if self.rules.trained_out and not rule:
            return self.ask(kind, actor=actor, reason=reason)
        return self._fresh(kind, actor, reason)

    def _fresh(self, kind: str, actor: str, reason: str) -> Change:
        """A fresh learner of ``kind``, warmed on the kept outcomes, as the candidate."""
        return self._candidate(kind, self.make(kind, self.made + 1), actor, reason)

    def _candidate(
        self, kind: str, model: Classifier, actor: str, reason: str, *,
        newest: int | None = None, warmed: int | None = None, run: int | None = None,
    ) -> Change:  # fmt: skip
        """``model`` of ``kind`` as the candidate, after it learned the kept outcomes (only
        the ``newest``, for one trained by ``run`` on the older ones: ``warmed`` outcomes in
        all before it predicts)."""
        self.made += 1
        name = f"{kind.partition('(')[0]}-{self.made}"  # a tuned kind's settings: in kinds
        warmed = self.loop.kept if warmed is None else warmed
        self.loop.add(name, model, newest=newest)
        self.kinds[name], self.roles[CANDIDATE] = kind, name
        self.born[name] = [self.loop.events, warmed]
        if run is not None:
            self.trained_by[name] = run
        self.promotion_test, self.since = self.rules.promotion_test(self.made - 1), 0
        change = self._change("candidate", name, self.champion, actor=actor, reason=reason)
        return replace(change, run=run)

    def _end_shadow(self, decision: Decision) -> Change:
        """The promotion test decided: promote the candidate, or drop it."""
        if decision.state == PROMOTE:
            return self._promote(_numbers(decision), LOOP, "the paired test")
        reason = "worse than the champion" if decision.state == KEEP else "no decision in time"
        return self._end_candidate(decision.state, reason)

    def _end_candidate(self, state: str, reason: str) -> Change:
        """Drop the candidate, its test ended as ``state`` (or cut short) for ``reason``."""
        assert self.promotion_test is not None
        evidence = _numbers(self.promotion_test.decision)
        candidate = self.roles.pop(CANDIDATE)
        self._drop(candidate)
        self.promotion_test = None
        return self._change(state, candidate, self.champion, evidence, reason=reason)

    def _promote(self, evidence: dict[str, float], actor: str, reason: str) -> Change:
        old, new = self.champion, self.roles.pop(CANDIDATE)
        snapshots = {name: self.snapshot(name) for name in (old, new)}
        self.roles[CHAMPION], self.roles[PREVIOUS] = new, old
        self.promotion_test, self.rollback_test = None, self.rules.rollback_test()
        self._watch_anew()  # the errors watched are another model's now
        change = self._change("promote", new, old, evidence, actor, reason)
        return replace(change, snapshots=snapshots)

    def _end_watch(self, decision: Decision) -> Change:
        """The rollback test decided: bring the old champion back, or drop it."""
        if decision.state == PROMOTE:
            return self._rollback(_numbers(decision), LOOP, "the old champion did better")
        previous = self.roles.pop(PREVIOUS)
        self._drop(previous)
        self.rollback_test = None
        reason = "no worse than the old champion" if decision.state == KEEP else "no decision"
        return self._change("disarm", self.champion, previous, _numbers(decision), reason=reason)

    def _rollback(self, evidence: dict[str, float], actor: str, reason: str) -> Change:
        failed, back = self.champion, self.roles.pop(PREVIOUS)
        self.roles[CHAMPION] = back
        self._drop(failed)
        self.rollback_test = None
        self._watch_anew()
        return self._change("rollback", back, failed, evidence, actor, reason)

    def _watch_anew(self) -> None:
        """A fresh detector and record of errors, for a new champion."""
        self.detector, self.errors = self._detector(), _Errors()

    def _detector(self) -> DriftDetector | None:
        return DETECTORS[self.rules.drift]() if self.rules.drift else None

    def _drop(self, name: str) -> None:
        self.loop.remove(name)
        del self.kinds[name], self.born[name]
        self.trained_by.pop(name, None)

    def snapshot(self, name: str) -> dict[str, Any]:
        """The learner ``name`` as it stands: its kind, its state (a JSON object) and the
        events it learned from (``learned_from``, ``learned_to``; ``warmed_on``: the kept
        outcomes it learned first)."""
        first, warmed = self.born[name]
        return {
            "name": name,
            "kind": self.kinds[name],
            "state": to_json(self.loop.models[name].state_dict()),
            "learned_from": first,
            "learned_to": self.loop.events,
            "warmed_on": warmed,
            "run": self.trained_by.get(name),
        }

    def _change(
        self, kind: str, model: str, other: str | None = None,
        evidence: dict[str, float] | None = None, actor: str = LOOP, reason: str = "",
    ) -> Change:  # fmt: skip
        event, when = self._at
        return Change(kind, event, when, model, other, evidence or {}, actor, reason)

    # By hand ------------------------------------------------------------------------------
    def retrain(self, *, kind: str | None = None, actor: str, reason: str = "") -> Change:
        """Open a candidate of ``kind`` (the loop's by default) now, as the loop opens one:
        a fresh learner warmed on the kept outcomes, or a retrain asked for (:meth:`ask`)
        when the rules train candidates out of the loop.

        Raises
        ------
        ConflictError
            If a candidate is in shadow or being trained, or rollback is armed (say which).
        """
        self._check_open()
        return self._open(kind or self.kind, actor, reason)

    def ask(self, kind: str | None = None, *, actor: str, reason: str = "") -> Change:
        """Ask for a candidate of ``kind`` (the loop's by default) trained out of the loop on
        the kept outcomes (:attr:`DirectionLoop.examples` now); the ``retrain`` change. Its
        trainer's id is given by :meth:`sent`, its learner by :meth:`adopt` (or its failure
        by :meth:`fail`); no other candidate opens meanwhile.

        Raises
        ------
        ConflictError
            As :meth:`retrain`.
        """
        self._check_open()
        kind = kind or self.kind
        self.asks += 1
        self.asked = Retrain(kind, actor, reason, self.asks, self.loop.scored, self.loop.kept)
        self.since = 0
        return self._change(RETRAIN, kind, self.champion, actor=actor, reason=reason)

    def sent(self, run: int) -> None:
        """Record that the retrain asked for is trained by ``run``.

        Raises
        ------
        ConflictError
            If no retrain was asked for.
        """
        # Sent later than asked (the store was unreachable), it trains on what is kept now.
        self.asked = replace(self.retrain_asked(), run=run, scored=self.loop.scored,
                             kept=self.loop.kept)  # fmt: skip

    def adopt(
        self, model: Classifier, *, reason: str = "", evidence: dict[str, float] | None = None
    ) -> Change:
        """Open ``model``, trained for the retrain asked for, as the candidate, after it
        learned the outcomes kept since it was asked (its trainer did not see them); the
        ``candidate`` change, its ``reason`` the ask's with this one after it, with the
        trainer's ``evidence``.

        Raises
        ------
        ConflictError
            If no retrain was asked for.
        """
        asked, self.asked = self.retrain_asked(), None
        newest = min(self.loop.scored - asked.scored, self.loop.kept)
        why = "; ".join(filter(None, (asked.reason, reason)))
        change = self._candidate(asked.kind, model, asked.actor, why, newest=newest,
                                 warmed=asked.kept + newest, run=asked.run)  # fmt: skip
        return replace(change, evidence=evidence or {})

    def fail(self, reason: str) -> Change:
        """The retrain asked for ended without a learner, for ``reason``; the loop is open
        to candidates again.

        Raises
        ------
        ConflictError
            If no retrain was asked for.
        """
        asked, self.asked = self.retrain_asked(), None
        change = self._change(RETRAIN_FAILED, asked.kind, self.champion, actor=asked.actor,
                              reason=reason)  # fmt: skip
        return replace(change, run=asked.run)

    def retrain_asked(self) -> Retrain:
        """The retrain asked for (:attr:`asked`).

        Raises
        ------
        ConflictError
            If no retrain was asked for.
        """
        if self.asked is None:
            raise ConflictError("no retrain was asked for")
        return self.asked

    def _check_open(self) -> None:
        """Refuse a new candidate while one is in shadow or being trained, or rollback is
        armed."""
        if self.asked is not None:
            run = f" (run {self.asked.run})" if self.asked.run is not None else ""
            raise ConflictError(
                f"a retrain of {self.asked.kind} is being trained{run}; wait for it"
            )
        if CANDIDATE in self.roles:
            raise ConflictError(
                f"candidate {self.roles[CANDIDATE]} is in shadow already; promote it or "
                "wait for its test"
            )
        if PREVIOUS in self.roles:
            raise ConflictError(
                f"rollback to {self.roles[PREVIOUS]} is armed; roll back or wait for its test"
            )

    def promote(self, *, actor: str, reason: str = "") -> Change:
        """Make the candidate champion now, whatever its test says (rollback is armed as
        after any promotion); the change carries the test's evidence so far.

        Raises
        ------
        ConflictError
            If no candidate is in shadow.
        """
        if self.promotion_test is None:
            raise ConflictError("no candidate is in shadow; open one with a retrain first")
        return self._promote(_numbers(self.promotion_test.decision), actor, reason)

    def rollback(self, *, actor: str, reason: str = "") -> Change:
        """Bring the previous champion back now.

        Raises
        ------
        ConflictError
            If rollback is not armed (no promotion since, or its test ended).
        """
        if self.rollback_test is None:
            raise ConflictError(
                "no previous champion is kept: rollback is armed only after a promotion, "
                "until its test ends"
            )
        return self._rollback(_numbers(self.rollback_test.decision), actor, reason)

    # Reading ------------------------------------------------------------------------------
    def scores(self) -> dict[str, float]:
        """The scores of :meth:`DirectionLoop.scores` by role (``champion/accuracy``: the
        champion's own, on its predictions) and of the trivial rules, with the tests'
        running evidence (``candidate/evidence``, ``previous/evidence``), and what trading
        the champion's predictions returned beside buy and hold over the same steps, net of
        :data:`~azuraforge.stream.backtest.TRADING_COST` a change (``champion/return``,
        ``champion/buy_and_hold_return``)."""
        roles = {name: role for role, name in self.roles.items()}
        found = {}
        for key, value in self.loop.scores().items():
            name, score = key.split("/", 1)
            if name in roles:
                found[f"{roles[name]}/{score}"] = value
            elif name not in self.kinds:  # a trivial rule
                found[key] = value
        for role, test in ((CANDIDATE, self.promotion_test), (PREVIOUS, self.rollback_test)):
            if test is not None and test.decision.events:
                found[f"{role}/evidence"] = test.decision.evidence
        if self.held.steps:
            found[f"{CHAMPION}/return"] = self.traded.value - 1.0
            found[f"{CHAMPION}/buy_and_hold_return"] = self.held.value - 1.0
        return found

    # State --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The loop's state (:meth:`DirectionLoop.state_dict`) with the roles, the kinds,
        the detector's and the tests' states under ``"shadow"``."""
        return {
            **self.loop.state_dict(),
            "shadow": {
                "roles": self.roles,
                "kinds": self.kinds,
                "made": self.made,
                "born": self.born,
                "since": self.since,
                "at": list(self._at),
                "detector": self.detector.state_dict() if self.detector else None,
                "errors": self.errors.state_dict(),
                "promotion_test": _state(self.promotion_test),
                "rollback_test": _state(self.rollback_test),
                "asked": asdict(self.asked) if self.asked else None,
                "asks": self.asks,
                "trained_by": self.trained_by,
                "trading": {"champion": asdict(self.traded), "buy_and_hold": asdict(self.held)},
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict`, after :meth:`warm` took the ``state["events"]``
        events before (a loop made with the same arguments)."""
        shadow = _shadow(state)
        self._match_learners(shadow["kinds"])
        self.loop.load_state_dict({k: v for k, v in state.items() if k != "shadow"})
        self.roles, self.kinds = dict(shadow["roles"]), dict(shadow["kinds"])
        self.made, self.since = int(shadow["made"]), int(shadow["since"])
        self.born = {name: list(map(int, born)) for name, born in shadow["born"].items()}
        self._at = (int(shadow["at"][0]), float(shadow["at"][1]))
        if self.detector is not None and shadow["detector"] is not None:
            self.detector.load_state_dict(shadow["detector"])
        self.errors.load_state_dict(shadow["errors"])
        self.promotion_test, self.rollback_test = _tests(shadow, self.rules)
        self.asked = Retrain(**shadow["asked"]) if shadow.get("asked") else None
        self.asks = int(shadow.get("asks", 0))
        self.trained_by = {name: int(run) for name, run in shadow.get("trained_by", {}).items()}
        trading = shadow.get("trading")  # none in a state saved before streams traded
        if trading is not None:
            self.traded, self.held = (
                Equity(**trading["champion"]),
                Equity(**trading["buy_and_hold"]),
            )

    def _match_learners(self, kinds: Mapping[str, str]) -> None:
        """Make the loop's learners those of a saved state's ``kinds`` (their states are
        loaded after): the learners it lacks made anew, those it no longer has removed."""
        for name, kind in kinds.items():
            if name not in self.loop.models:
                number = int(name.rsplit("-", 1)[1])
                self.loop.add(name, self.make(kind, number))
        for name in set(self.kinds) - set(kinds):
            self.loop.remove(name)


class _Errors:
    """The champion's log-losses: the last :data:`_RECENT` and their mean since the last
    drift, whose comparison says whether a drift was a rise (the mean of the last ones above
    the mean since) or a fall."""

    def __init__(self) -> None:
        self.recent: deque[float] = deque(maxlen=_RECENT)
        self.total, self.count = 0.0, 0

    def add(self, loss: float) -> None:
        self.recent.append(loss)
        self.total, self.count = self.total + loss, self.count + 1

    def drift(self) -> tuple[float, float]:
        """The mean of the last losses and of those since the last drift; counts anew."""
        recent = sum(self.recent) / len(self.recent)
        before = self.total / self.count
        self.total, self.count = 0.0, 0
        return recent, before

    def state_dict(self) -> dict[str, Any]:
        return {"recent": list(self.recent), "total": self.total, "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.recent = deque(map(float, state["recent"]), maxlen=_RECENT)
        self.total, self.count = float(state["total"]), int(state["count"])


def _numbers(decision: Decision) -> dict[str, float]:
    """A test's decision as the evidence of a change."""
    return {
        "events": float(decision.events),
        "mean_difference": decision.mean_difference,
        "evidence": decision.evidence,
        "against": decision.against,
    }


def standing(state: Mapping[str, Any], rules: ShadowRules) -> dict[str, Any]:
    """Where a loop saved as ``state`` (a stream's checkpoint) with ``rules`` stands: the
    roles, each learner's kind, and each running test's decision so far, by the role it
    judges (``candidate``: the promotion test; ``previous``: the rollback test), and the
    retrain asked for (``training``: its kind, actor, reason and run; ``None``)."""
    shadow = _shadow(state)
    tests = {}
    for role, test in zip((CANDIDATE, PREVIOUS), _tests(shadow, rules), strict=True):
        if test is not None:
            tests[role] = {**_numbers(test.decision), "state": test.decision.state}
    asked = shadow.get("asked")
    training = {k: asked[k] for k in ("kind", "actor", "reason", "run")} if asked else None
    return {"roles": dict(shadow["roles"]), "kinds": dict(shadow["kinds"]), "tests": tests,
            "training": training}  # fmt: skip


def _shadow(state: Mapping[str, Any]) -> dict[str, Any]:
    """The loop's part of ``state``; a state saved before there was one is refused."""
    if "shadow" not in state:
        raise InvalidParameterError(
            "this state was saved by an AzuraForge without champions and candidates; it "
            "cannot be resumed: start the stream again"
        )
    return dict(state["shadow"])


def _state(test: PairedTest | None) -> dict[str, Any] | None:
    return test.state_dict() if test is not None else None


def _tests(
    shadow: Mapping[str, Any], rules: ShadowRules
) -> tuple[PairedTest | None, PairedTest | None]:
    """The promotion and the rollback tests of a saved loop (``None`` where none runs)."""
    promotion = rollback = None
    if shadow["promotion_test"] is not None:
        promotion = rules.promotion_test(int(shadow["made"]) - 1)
        promotion.load_state_dict(shadow["promotion_test"])
    if shadow["rollback_test"] is not None:
        rollback = rules.rollback_test()
        rollback.load_state_dict(shadow["rollback_test"])
    return promotion, rollback

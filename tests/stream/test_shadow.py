"""ShadowLoop: a shift opens a candidate that the paired test promotes; a worse champion
forced in is rolled back; triggers that make no sense are refused saying why; stopped and
resumed anywhere (candidates added and dropped between), it ends as an unbroken loop, its
changes included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.stream import CsvReplay, Event
from azuraforge.stream.backtest import TRADING_COST, net_returns
from azuraforge.stream.base import Classifier
from azuraforge.stream.direction import LEARNERS, baseline_rules, default_learners, make_learner
from azuraforge.stream.shadow import (
    CANDIDATE,
    CHAMPION,
    PREVIOUS,
    Change,
    ShadowLoop,
    ShadowRules,
    standing,
)
from azuraforge.testing.streams import write_shifted_csv

SHIFT = 3000


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    path = write_shifted_csv(tmp_path_factory.mktemp("shift") / "shift.csv", 5000, SHIFT)
    return list(CsvReplay(path, columns=["close"], price_column="close"))


def shadow(rules: ShadowRules | None = None, kind: str = "logreg-adam") -> ShadowLoop:
    return ShadowLoop(lambda k, n: make_learner(k, n - 1), kind, rules or ShadowRules(warm=200))


def run(loop: ShadowLoop, events: list[Event]) -> list[Change]:
    return [change for event in events for change in loop.step(event)[1]]


def test_a_shift_opens_a_candidate_that_the_test_promotes(shifted: list[Event]) -> None:
    loop = shadow()
    changes = run(loop, shifted)
    before = [(c.kind, c.reason) for c in changes if c.event < SHIFT]
    assert before == [("drift", "the champion's errors fell")]  # learning: no candidate
    after = [c for c in changes if c.event >= SHIFT]
    assert [c.kind for c in after[:3]] == ["drift", "candidate", "promote"]
    drift, opened, promoted = after[:3]
    assert (opened.other, opened.reason) == (drift.model, "drift") == ("logreg-adam-1", "drift")
    assert promoted.evidence["evidence"] >= 20 and promoted.evidence["mean_difference"] > 0
    assert promoted.event - SHIFT < 300
    assert loop.champion != "logreg-adam-1"
    scores = loop.scores()
    assert scores["champion/recent_accuracy"] > 0.7  # it learned the new regime
    assert scores["champion/recent_accuracy"] > scores["same as last/recent_accuracy"]


def test_the_champion_of_each_moment_is_traded_beside_buy_and_hold(shifted: list[Event]) -> None:
    """The streams list showed accuracy alone, not that the champion lost 97-99 % trading
    where buy and hold gained: the loop now trades its champion's predictions, whoever it is
    at the time, one every ``horizon`` events, as the API's scores do."""
    loop = ShadowLoop(lambda k, n: make_learner(k, n - 1), "logreg-adam",
                      ShadowRules(warm=200), horizon=2)  # fmt: skip
    traded = []
    for event in shifted:
        champion = loop.champion  # the one that made the prediction scored now
        for scored in loop.step(event)[0]:
            if scored.event % 2 == 0:
                traded.append((float(scored.probabilities[champion] >= 0.5), scored.gain))
    assert loop.champion != "logreg-adam-1"  # promoted after the shift: two champions traded
    positions, gains = (np.array(column) for column in zip(*traded, strict=True))
    scores = loop.scores()
    champion = np.prod(1 + net_returns(gains, positions, cost=TRADING_COST)) - 1
    held = np.prod(1 + net_returns(gains, np.ones_like(gains), cost=TRADING_COST)) - 1
    assert scores["champion/return"] == pytest.approx(champion, rel=1e-9)
    assert scores["champion/buy_and_hold_return"] == pytest.approx(held, rel=1e-9)
    assert len(traded) == (len(shifted) - 24 - 2 + 1) // 2


def test_a_worse_champion_forced_in_is_rolled_back(shifted: list[Event]) -> None:
    loop = shadow(ShadowRules(drift=None, warm=200))
    run(loop, shifted[:500])
    opened = loop.retrain(kind="opposite of last", actor="ana", reason="a rule, on purpose")
    assert (opened.kind, opened.model, opened.actor) == ("candidate", "opposite of last-2", "ana")
    forced = loop.promote(actor="ana", reason="forced")
    assert (forced.kind, loop.roles) == ("promote", {CHAMPION: "opposite of last-2",
                                                     PREVIOUS: "logreg-adam-1"})  # fmt: skip
    changes = run(loop, shifted[500:1500])
    assert [c.kind for c in changes] == ["rollback"]
    (back,) = changes
    assert (back.model, back.other, back.actor) == ("logreg-adam-1", "opposite of last-2", "loop")
    assert back.evidence["evidence"] >= 20 and back.event - 500 < 100
    assert loop.roles == {CHAMPION: "logreg-adam-1"} and set(loop.kinds) == {"logreg-adam-1"}


def test_a_better_champion_is_kept_and_rollback_disarmed(shifted: list[Event]) -> None:
    loop = shadow(ShadowRules(drift=None, warm=200, rollback_events=400))
    run(loop, shifted[: SHIFT + 50])
    loop.retrain(actor="ana")  # a fresh logreg, warmed on the last 200 outcomes
    loop.promote(actor="ana", reason="it knows the new regime")
    changes = run(loop, shifted[SHIFT + 50 :])
    assert changes[0].kind == "disarm" and changes[0].other == "logreg-adam-1"
    assert PREVIOUS not in loop.roles and loop.champion == "logreg-adam-2"


def test_triggers_that_make_no_sense_are_refused_saying_why(shifted: list[Event]) -> None:
    loop = shadow(ShadowRules(drift=None))
    run(loop, shifted[:100])
    with pytest.raises(ConflictError, match="no candidate is in shadow"):
        loop.promote(actor="ana")
    with pytest.raises(ConflictError, match="rollback is armed only after a promotion"):
        loop.rollback(actor="ana")
    loop.retrain(actor="ana")
    with pytest.raises(ConflictError, match="candidate logreg-adam-2 is in shadow already"):
        loop.retrain(actor="ana")
    loop.promote(actor="ana")
    with pytest.raises(ConflictError, match="rollback to logreg-adam-1 is armed"):
        loop.retrain(actor="ana")
    back = loop.rollback(actor="ana", reason="changed my mind")
    assert (back.kind, back.model, loop.roles) == ("rollback", "logreg-adam-1",
                                                   {CHAMPION: "logreg-adam-1"})  # fmt: skip


def test_a_loop_stopped_and_resumed_anywhere_ends_as_an_unbroken_one(
    shifted: list[Event],
) -> None:
    rules = ShadowRules(warm=100, every=700, shadow_events=300, rollback_events=200)
    unbroken = shadow(rules)
    expected = run(unbroken, shifted)
    assert {"candidate", "promote", "keep", "undecided", "disarm"} & {c.kind for c in expected}
    assert len({c.model for c in expected}) >= 4  # learners added and dropped
    resumed, changes = shadow(rules), []
    for stop in (900, 901, 2400, SHIFT + 40, 4100):
        changes += run(resumed, shifted[resumed.events : stop])
        state = json.loads(json.dumps(resumed.state_dict()))
        resumed = shadow(rules)
        for event in shifted[:stop]:
            resumed.warm(event)
        resumed.load_state_dict(state)
    changes += run(resumed, shifted[resumed.events :])
    assert changes == expected
    assert resumed.scores() == unbroken.scores()
    assert resumed.roles == unbroken.roles and resumed.kinds == unbroken.kinds
    assert standing(resumed.state_dict(), rules) == standing(unbroken.state_dict(), rules)


def test_standing_gives_the_roles_and_the_running_test(shifted: list[Event]) -> None:
    rules = ShadowRules(drift=None, warm=50)
    loop = shadow(rules)
    run(loop, shifted[:300])
    loop.retrain(actor="ana", kind="mlp")
    run(loop, shifted[300:400])
    found = standing(loop.state_dict(), rules)
    assert found["roles"] == {CHAMPION: "logreg-adam-1", CANDIDATE: "mlp-2"}
    assert found["kinds"] == {"logreg-adam-1": "logreg-adam", "mlp-2": "mlp"}
    test = found["tests"][CANDIDATE]
    assert test["state"] == "running" and test["events"] == 99  # paired from its 2nd event on
    assert loop.scores()["candidate/evidence"] == test["evidence"]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"drift": "cusum"}, "drift must be one of adwin, page-hinkley, ddm"),
        ({"every": 0}, "every must be an int >= 1"),
        ({"warm": 2.5}, "warm must be an int >= 1"),
        ({"alpha": 1.5}, "alpha must be in"),
        ({"floor": 0.5}, "floor must be in"),
    ],
)
def test_bad_rules_are_refused_naming_them(rules: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        ShadowRules(**rules)  # type: ignore[arg-type]


def test_a_learner_added_mid_stream_scores_its_own_predictions_only(tmp_path: Path) -> None:
    path = write_shifted_csv(tmp_path / "s.csv", 400, 10_000, seed=3)
    loop = shadow(ShadowRules(drift=None, warm=50))
    events = list(CsvReplay(path, columns=["close"], price_column="close"))
    run(loop, events[:200])
    loop.retrain(actor="ana")
    scored = [one for event in events[200:260] for one in loop.step(event)[0]]
    own = [one for one in scored if "logreg-adam-2" in one.probabilities]
    assert (len(scored), len(own)) == (60, 59)  # it predicts from the event after it came
    right = [(one.probabilities["logreg-adam-2"] >= 0.5) == one.up for one in own]
    assert loop.loop.scores()["logreg-adam-2/accuracy"] == sum(right) / len(right)
    assert loop.scores()["candidate/accuracy"] == sum(right) / len(right)


def test_every_learner_and_rule_can_be_made_and_nothing_else() -> None:
    assert set(LEARNERS) == set(default_learners()) | set(baseline_rules())
    with pytest.raises(InvalidParameterError, match="kind must be one of logreg-sgd"):
        make_learner("gpt")


def test_a_drift_opens_a_candidate_only_when_errors_rose_replacing_a_stale_one(
    tmp_path: Path,
) -> None:
    path = write_shifted_csv(tmp_path / "s.csv", 3500, SHIFT, seed=1)
    loop = shadow(ShadowRules(warm=200, every=1000))
    changes = run(loop, list(CsvReplay(path, columns=["close"], price_column="close")))
    drifts = [c for c in changes if c.kind == "drift"]
    assert drifts and all(
        (c.reason == "the champion's errors rose")
        == (c.evidence["recent_loss"] > c.evidence["loss_before"])
        for c in drifts
    )
    for drift in drifts:
        opened = [c for c in changes if c.kind == "candidate" and c.event == drift.event]
        assert bool(opened) == (drift.reason == "the champion's errors rose")
    at_shift = [(c.kind, c.model, c.reason) for c in changes if c.event == 3064]
    assert at_shift == [
        ("drift", "logreg-adam-1", "the champion's errors rose"),
        ("undecided", "logreg-adam-4", "replaced after a new drift"),
        ("candidate", "logreg-adam-5", "drift"),
    ]


class Counting:
    """A learner that counts the outcomes it learns."""

    def __init__(self, model: Classifier) -> None:
        self.model, self.learned = model, 0

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        self.learned += 1
        self.model.learn_one(x, y)

    def __getattr__(self, name: str) -> object:
        return getattr(self.model, name)


def trained_on(kind: str, examples: list[tuple[dict[str, float], bool]]) -> Classifier:
    """A learner of ``kind`` trained out of the loop: three passes over ``examples``."""
    model = make_learner(kind, 7)
    for _ in range(3):
        for x, up in examples:
            model.learn_one(x, up)
    return model


def test_a_candidate_trained_out_of_the_loop_is_asked_for_then_adopted(
    shifted: list[Event],
) -> None:
    rules = ShadowRules(warm=200, trained_out=True)
    loop = shadow(rules)
    changes = run(loop, shifted[: SHIFT + 200])
    asked = [c for c in changes if c.event >= SHIFT][1]
    assert (asked.kind, asked.model, asked.reason) == ("retrain", "logreg-adam", "drift")
    assert CANDIDATE not in loop.roles and not loop.open_to_candidates()
    with pytest.raises(ConflictError, match="a retrain of logreg-adam is being trained"):
        loop.retrain(actor="ana")
    window = loop.loop.examples  # what the trainer is sent now
    loop.sent(41)
    state = json.loads(json.dumps(loop.state_dict()))
    assert standing(state, rules)["training"] == {"kind": "logreg-adam", "actor": "loop",
                                                  "reason": "drift", "run": 41}  # fmt: skip
    resumed = shadow(rules)  # a restart while it trains
    for event in shifted[: loop.events]:
        resumed.warm(event)
    resumed.load_state_dict(state)
    run(resumed, shifted[SHIFT + 200 : SHIFT + 230])  # events while it trains
    model = Counting(trained_on("logreg-adam", window))
    opened = resumed.adopt(model, reason="trained", evidence={"x": 1.0})
    since = resumed.loop.scored - state["shadow"]["asked"]["scored"]
    assert model.learned == since == 30  # the outcomes since it was sent, and no other
    assert (opened.kind, opened.run, opened.reason, opened.evidence) == (
        "candidate", 41, "drift; trained", {"x": 1.0})  # fmt: skip
    snapshot = resumed.snapshot(opened.model)
    assert (snapshot["run"], snapshot["warmed_on"], resumed.asked) == (41, 200 + since, None)
    after = run(resumed, shifted[SHIFT + 230 :])
    assert "promote" in [c.kind for c in after] and resumed.champion == opened.model


def test_a_retrain_that_failed_frees_the_loop_and_a_rule_opens_at_once(
    shifted: list[Event],
) -> None:
    loop = shadow(ShadowRules(drift=None, warm=100, trained_out=True))
    run(loop, shifted[:300])
    assert loop.retrain(actor="ana", reason="try").kind == "retrain"
    loop.sent(9)
    failed = loop.fail("run 9 failed: out of memory")
    assert (failed.kind, failed.run, failed.actor) == ("retrain_failed", 9, "ana")
    assert loop.open_to_candidates()
    with pytest.raises(ConflictError, match="no retrain was asked for"):
        loop.fail("again")
    rule = loop.retrain(kind="opposite of last", actor="ana")  # nothing to train
    assert (rule.kind, rule.model) == ("candidate", "opposite of last-2")

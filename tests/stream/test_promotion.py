"""PairedTest: a better candidate is promoted, a worse one ended, an equal one almost never
promoted however often the test is read; its state survives a checkpoint."""

from __future__ import annotations

import json
import random

import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.promotion import KEEP, PROMOTE, RUNNING, UNDECIDED, PairedTest


def shadow(test: PairedTest, advantage: float, seed: int, events: int) -> str:
    """Feed ``test`` log-loss-like pairs, the candidate's lower by ``advantage`` on average;
    the state it ends in."""
    rng = random.Random(seed)
    decision = test.decision
    for _ in range(events):
        champion = min(abs(rng.gauss(0.69, 0.4)), 1.5)  # losses in [0, 1.5]: bound 3 holds
        candidate = min(abs(rng.gauss(0.69 - advantage, 0.4)), 1.5)
        decision = test.update(champion, candidate)
        if decision.state != RUNNING:
            break
    return decision.state


def test_a_better_candidate_is_promoted_and_a_worse_one_ended() -> None:
    assert shadow(PairedTest(bound=3.0), advantage=0.05, seed=1, events=20_000) == PROMOTE
    assert shadow(PairedTest(bound=3.0), advantage=-0.05, seed=2, events=20_000) == KEEP


def test_an_identical_candidate_is_not_promoted_whenever_the_test_is_read() -> None:
    # Read after every event, 100 shadows of an equally good candidate: a fixed-sample
    # z-test read this often promotes in a large share of them; the bet, in at most alpha.
    promoted = sum(
        shadow(PairedTest(alpha=0.05, bound=3.0, max_events=2000), 0.0, seed, 2000) == PROMOTE
        for seed in range(100)
    )
    assert promoted <= 0.05 * 100


def test_identical_predictions_are_never_promoted() -> None:
    test = PairedTest(bound=1.0)
    for _ in range(10_000):
        decision = test.update(0.3, 0.3)
    assert decision.state == RUNNING and decision.evidence == 1.0


def test_a_margin_demands_that_much_advantage() -> None:
    small = 0.02
    assert shadow(PairedTest(bound=3.0), small, seed=3, events=60_000) == PROMOTE
    with_margin = PairedTest(bound=3.0, margin=0.05, max_events=60_000)
    assert shadow(with_margin, small, seed=3, events=60_000) != PROMOTE


def test_max_events_ends_an_undecided_test() -> None:
    assert shadow(PairedTest(bound=3.0, max_events=50), 0.0, seed=4, events=100) == UNDECIDED


def test_a_difference_beyond_the_bound_is_refused_saying_which_bound() -> None:
    with pytest.raises(InvalidParameterError, match="differ by more than the bound 1"):
        PairedTest(bound=1.0).update(champion=5.0, candidate=0.0)


def test_a_worse_candidate_with_rare_large_losses_is_not_promoted() -> None:
    # Better by 0.01 on 99 % of events, worse by 1.2 on the rest: worse on average. A test
    # that clipped large differences to their usual scale promoted it in 20 of 20 runs.
    promoted = 0
    for seed in range(20):
        rng, test = random.Random(seed), PairedTest(bound=1.39)
        for _ in range(20_000):
            d = -1.2 if rng.random() < 0.01 else 0.01
            if test.update(champion=max(d, 0.0), candidate=max(-d, 0.0)).state != RUNNING:
                break
        promoted += test.decision.state == PROMOTE
    assert promoted <= 1


def test_the_state_resumes_where_it_stopped() -> None:
    whole, first = PairedTest(bound=3.0), PairedTest(bound=3.0)
    rng = random.Random(5)
    pairs = [(min(abs(rng.gauss(0.7, 0.4)), 1.5), min(abs(rng.gauss(0.68, 0.4)), 1.5))
             for _ in range(3000)]  # fmt: skip
    for pair in pairs[:1000]:
        first.update(*pair)
    resumed = PairedTest(bound=3.0)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    for pair in pairs[1000:]:
        resumed.update(*pair)
    for pair in pairs:
        whole.update(*pair)
    assert resumed.decision == whole.decision


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"alpha": 0.0}, "alpha must be in"),
        ({"bound": -1.0}, "bound must be > 0"),
        ({"margin": 2.0, "bound": 1.0}, "margin must be in"),
        ({"max_events": 0}, "max_events must be >= 1"),
    ],
)
def test_bad_arguments_say_what_is_wrong(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        PairedTest(**arguments)  # type: ignore[arg-type]


def test_a_loss_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="losses must be finite"):
        PairedTest().update(float("nan"), 0.5)

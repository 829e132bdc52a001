"""The promotion rule of an expert's new version: McNemar's exact test against SciPy and
hand-computed tails, the decision's rules and reasons, and pass/fail of one answer (tests
run for real in the sandbox)."""

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.stats

from azuraforge.assist.promotion import (
    SIMILARITY,
    PairedCounts,
    answer_passes,
    code_of,
    decide,
    judge_all,
    mcnemar_exact,
    paired_counts,
)
from azuraforge.assist.sandbox import run_tests
from azuraforge.errors import InvalidParameterError


def _tail(better: int, worse: int) -> Fraction:
    """The binomial tail by its definition, in fractions."""
    n = better + worse
    return sum((Fraction(math.comb(n, k), 2**n) for k in range(better, n + 1)), Fraction(0))


def _run(code: str, tests: str) -> bool:
    """The tests run for real: the sandbox without the boundary (our own test code)."""
    return run_tests(code, tests.splitlines()).passed


@pytest.mark.parametrize(
    ("better", "worse", "expected"),
    [(9, 1, 11 / 1024), (5, 0, 1 / 32), (4, 0, 1 / 16), (0, 0, 1.0), (0, 7, 1.0), (3, 3, 0.65625)],
)
def test_mcnemar_exact_is_the_binomial_tail_computed_by_hand(better, worse, expected):
    assert mcnemar_exact(better, worse) == expected == float(_tail(better, worse))


def test_mcnemar_exact_agrees_with_scipy_binomtest_greater():
    for better in range(0, 31):
        for worse in range(0, 31):
            if better + worse == 0:
                continue
            theirs = scipy.stats.binomtest(
                better, better + worse, 0.5, alternative="greater"
            ).pvalue
            assert mcnemar_exact(better, worse) == pytest.approx(theirs, rel=1e-12, abs=1e-300)


def test_mcnemar_exact_stays_exact_where_floats_would_overflow():
    # 2 ** 2000 is no float (math.comb(2000, k) / 2.0 ** 2000 raises OverflowError); both
    # sides here are rounded once from the exact fraction, so they are equal.
    for better, worse in [(1060, 940), (1000, 1000), (1200, 800), (0, 2000)]:
        assert mcnemar_exact(better, worse) == float(_tail(better, worse))
    assert 0.003 < mcnemar_exact(1060, 940) < 0.005 and 0.5 < mcnemar_exact(1000, 1000) < 0.51


def test_mcnemar_exact_refuses_negative_counts():
    with pytest.raises(InvalidParameterError, match="better=-1, worse=2"):
        mcnemar_exact(-1, 2)


def test_paired_counts_counts_each_outcome_and_refuses_sides_of_different_lengths():
    counts = paired_counts([True, True, False, False, True], [True, False, True, False, True])
    assert counts == PairedCounts(both=2, only_new=1, only_old=1, neither=1)
    assert (counts.n, counts.old_passed, counts.new_passed) == (5, 3, 3)
    with pytest.raises(InvalidParameterError, match="old side has 3 and the new side 2"):
        paired_counts([True, False, True], [True, False])


def test_identical_sides_are_never_promoted():
    rng = np.random.default_rng(0)
    for _ in range(200):
        held = (rng.random(rng.integers(1, 40)) < rng.random()).tolist()
        frozen = (rng.random(rng.integers(0, 40)) < rng.random()).tolist()
        decision = decide(held, held, frozen, frozen)
        assert not decision.promote and decision.figures["p_value"] == 1.0


def test_a_version_better_everywhere_is_promoted_with_its_figures():
    decision = decide([False] * 10, [True] * 10, [True] * 15 + [False] * 5, [True] * 20)
    assert decision.promote
    assert decision.reason == (
        "better on the held-out examples (10 to 0, p = 0.00098) and no regression on the "
        "frozen set (15 -> 20 of 20)"
    )
    assert decision.figures == {
        "held_out_examples": 10,
        "held_out_old_passed": 0,
        "held_out_new_passed": 10,
        "held_out_better": 10,
        "held_out_worse": 0,
        "p_value": 1 / 1024,
        "frozen_examples": 20,
        "frozen_old_passed": 15,
        "frozen_new_passed": 20,
        "frozen_better": 5,
        "frozen_worse": 0,
        "frozen_may_lose": 1,
        "frozen_p_worse": 1.0,
        "alpha": 0.05,
    }


def test_five_discordant_wins_are_the_fewest_that_promote_at_five_percent():
    assert decide([False] * 5, [True] * 5, [], []).promote  # p = 1/32
    assert not decide([False] * 4, [True] * 4, [], []).promote  # p = 1/16
    assert not decide([False] * 5, [True] * 5, [], [], alpha=0.01).promote


def test_a_frozen_regression_beyond_the_tolerance_blocks_and_the_reason_names_it():
    held_old, held_new = [False] * 10, [True] * 10
    frozen_old, frozen_new = [True] * 20, [True] * 18 + [False] * 2
    decision = decide(held_old, held_new, frozen_old, frozen_new)
    assert not decision.promote
    assert decision.reason == (
        "better on the held-out examples (10 to 0, p = 0.00098); a regression on the frozen "
        "set (20 -> 18 of 20: 2 newly failed, 0 newly passed; 1 may be lost)"
    )
    assert decision.figures["frozen_worse"] == 2 and decision.figures["frozen_p_worse"] == 0.25


def test_the_tolerance_is_one_frozen_example_in_twenty_rounded_down():
    held_old, held_new = [False] * 10, [True] * 10
    one_lost = decide(held_old, held_new, [True] * 20, [True] * 19 + [False])
    assert one_lost.promote and one_lost.figures["frozen_may_lose"] == 1
    assert one_lost.reason.endswith(
        "no regression on the frozen set beyond its tolerance (20 -> 19 of 20, 1 may be lost)"
    )
    assert not decide(held_old, held_new, [True] * 19, [True] * 18 + [False]).promote
    assert decide(held_old, held_new, [True] * 40, [True] * 38 + [False] * 2).promote
    assert not decide(held_old, held_new, [True] * 40, [True] * 37 + [False] * 3).promote
    strict = decide(held_old, held_new, [True] * 20, [True] * 19 + [False], tolerance=0)
    assert not strict.promote and strict.figures["frozen_may_lose"] == 0


def test_frozen_losses_offset_by_frozen_gains_are_no_regression():
    frozen_old = [True, True, False, False]
    decision = decide([False] * 6, [True] * 6, frozen_old, [False, True, True, False])
    assert decision.promote and "no regression on the frozen set (2 -> 2 of 4)" in decision.reason


def test_an_empty_held_out_set_never_promotes():
    decision = decide([], [], [True] * 3, [True] * 3)
    assert not decision.promote
    assert decision.reason == (
        "no held-out examples, so nothing shows the new version better; no regression on the "
        "frozen set (3 -> 3 of 3)"
    )


def test_an_empty_frozen_set_leaves_the_held_out_test_to_decide():
    decision = decide([False] * 6, [True] * 6, [], [])
    assert decision.promote and decision.reason.endswith("and the frozen set was empty")
    assert decision.figures["frozen_examples"] == 0


def test_decide_refuses_sides_of_different_lengths_and_a_bad_alpha():
    with pytest.raises(InvalidParameterError, match="old side has 2 and the new side 3"):
        decide([True], [True], [True, True], [True, True, True])
    with pytest.raises(InvalidParameterError, match="old side has 1 and the new side 0"):
        decide([True], [], [], [])
    with pytest.raises(InvalidParameterError, match="alpha must be in"):
        decide([True], [True], [], [], alpha=1.0)
    with pytest.raises(InvalidParameterError, match="tolerance must be in"):
        decide([True], [True], [], [], tolerance=-0.1)


def test_an_answer_matches_its_expected_output_up_to_whitespace_and_the_threshold():
    assert answer_passes("  Merhaba   Ada,\nhoş geldin! ", "Merhaba Ada, hoş geldin!")
    assert answer_passes("Merhaba Ada, hos geldin!", "Merhaba Ada, hoş geldin!")
    assert not answer_passes("Merhaba", "Merhaba Ada, hoş geldin!")
    assert not answer_passes("42", "24")
    # Just below and just at the threshold: 2 * 9 / 20 = 0.9 passes, 2 * 8 / 18 does not.
    assert SIMILARITY == 0.9
    assert answer_passes("abcdefghiX", "abcdefghiY")
    assert not answer_passes("abcdefghX", "abcdefghY")


def test_a_long_answer_is_compared_without_autojunk():
    expected = "the value is " + "ab" * 150 + " and that is all"
    assert answer_passes(expected.replace("all", "it"), expected)


def test_an_answer_holding_a_fenced_block_is_compared_by_its_code():
    answer = "Here you are:\n```python\ndef f(x):\n    return x + 1\n```\nIt adds one."
    assert answer_passes(answer, "def f(x):\n    return x + 1\n")
    assert answer_passes(answer, "```python\ndef f(x): return x + 1\n```")
    assert not answer_passes(answer, "def f(x):\n    return x * 2 - 7\n")


def test_with_tests_the_answers_code_is_run_against_them():
    tests = "assert add(1, 2) == 3\nassert add(-1, 1) == 0"
    right = "Sure:\n```python\ndef add(a, b):\n    return a + b\n```"
    wrong = "```python\ndef add(a, b):\n    return a - b\n```"
    assert answer_passes(right, "irrelevant", tests=tests, run=_run)
    assert not answer_passes(wrong, "def add(a, b):\n    return a - b\n", tests=tests, run=_run)
    assert answer_passes("def add(a, b): return b + a", "", tests=tests, run=_run)
    assert not answer_passes("Add them with a plus.", "", tests=tests, run=_run)


def test_without_a_runner_the_tests_are_not_run_and_the_text_decides():
    calls = []
    text = "def add(a, b): return a - b"
    assert answer_passes(text, text, tests="assert add(1, 2) == 3")
    assert answer_passes(text, text, tests=None, run=lambda *a: calls.append(a) or False)
    assert calls == []


def test_code_of_takes_the_fenced_block_else_the_whole_python_answer():
    assert code_of("Sure:\n```python\nx = 1\n```") == "x = 1\n"
    assert code_of("x = 1") == "x = 1"
    assert code_of("Use a loop.") == ""


def test_judge_all_judges_each_answer_in_order_and_refuses_mismatched_lengths():
    tests = [None, "assert double(2) == 4"]
    answers = ["Merhaba Ada!", "def double(x): return 2 * x"]
    assert judge_all(answers, ["Merhaba Ada!", ""], tests, run=_run) == [True, True]
    assert judge_all(["Merhaba!", "def double(x): return x"], ["Merhaba Ada!", ""], tests,
                     run=_run) == [False, False]  # fmt: skip
    with pytest.raises(InvalidParameterError, match="2 answers, 1 expected outputs, 1 tests"):
        judge_all(answers, ["x"])

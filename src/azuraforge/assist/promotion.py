"""Whether an expert's new adapter replaces its champion: both judged pass/fail on the same
examples, the pairs compared by McNemar's exact test, and a no-regression check.

A fine-tuned adapter becomes its expert's next version; before the ``champion`` alias moves
to it, both answer the same two sets of examples, and each answer is judged pass or fail by
:func:`answer_passes` (the example's tests where it has them, else its expected output):

- the **held-out** examples: failures kept out of the training. The new version must be
  better there, by a one-sided exact McNemar test: of the examples where exactly one side
  passes (the discordant pairs), so many go to the new side that a coin toss would give as
  many or more with probability below ``alpha`` (:func:`mcnemar_exact`). The examples both
  sides pass or both fail say nothing about which is better, and the test ignores them. An
  adapter that answers as the champion does has no discordant pair, p = 1: it is never
  promoted, and one that is no better is promoted at most ``alpha`` of the time.
- the **frozen** set: examples kept fixed from version to version. The new version must pass
  at least as many of them as the champion, less :data:`TOLERANCE` of them (one in twenty;
  net: an example it newly fails is offset by one it newly passes). :data:`TOLERANCE` says
  why a count with a tolerance, and not a test.

:func:`decide` returns the :class:`Decision`: promote or not, one line of reason with the
figures, and the figures themselves, to be written on the version whatever it decides::

    decision = decide(old_held_out, new_held_out, old_frozen, new_frozen)
    print(decision.reason)
    # better on the held-out examples (9 to 1, p = 0.011) and no regression on the frozen
    # set (12 -> 12 of 20)
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from azuraforge.assist.evaluation import extract_code
from azuraforge.errors import InvalidParameterError

ALPHA = 0.05
"""The held-out test's level: the most probability of promoting a version no better than the
champion there."""
TOLERANCE = 0.05
"""The share of the frozen set a new version may pass fewer of, net, rounded down: one
example in twenty, none in a set of fewer than twenty.

No regression is a count with a stated tolerance, not a test that fails to find a loss. A
test of "worse" that does not reject puts the burden of proof the wrong way: on a frozen
set of 20, a version that newly fails 4 examples and passes none more has p = 0.0625 and
would pass, and the smaller the set the larger the loss it lets through. The tolerance is
there because two trainings of equal worth answer a few borderline examples differently,
either way (a version is greedy, so the same every time, but the next one is not the
same version): with none, that churn alone keeps a truly better version whenever it
happens to go one example against it (docs/benchmarks.md measures how often). One in
twenty lets that churn through and still refuses forgetting (several examples lost); a
version refused keeps its figures and this reason, for a person to overrule. The count
is net (newly failed less newly passed), as a score is; the frozen set's own test for
worse is in the figures to read, not used."""
SIMILARITY = 0.9
"""The least :class:`difflib.SequenceMatcher` ratio (``2 * matched / total characters``) at
which an answer matches its expected output, whitespace normalised. A typo or a changed word
in a long answer passes; so may a changed name or number in a sentence ("Merhaba Alan, hoş
geldin!" matches "Merhaba Ada, hoş geldin!" at 0.94): where one word is the whole point,
give the example tests, or an expected output that is that word."""


@dataclass(frozen=True)
class PairedCounts:
    """The examples of two paired sides by outcome: both passed, only the new side, only the
    old side, neither."""

    both: int
    only_new: int
    only_old: int
    neither: int

    @property
    def n(self) -> int:
        """The examples counted."""
        return self.both + self.only_new + self.only_old + self.neither

    @property
    def old_passed(self) -> int:
        """The examples the old side passed."""
        return self.both + self.only_old

    @property
    def new_passed(self) -> int:
        """The examples the new side passed."""
        return self.both + self.only_new


def paired_counts(old: Sequence[bool], new: Sequence[bool]) -> PairedCounts:
    """Count the outcomes of ``old`` and ``new``, one pass/fail each per example, in the same
    order on both sides.

    Raises
    ------
    InvalidParameterError
        The sides have different lengths.

    Examples
    --------
    >>> paired_counts([True, True, False, False], [True, False, True, True])
    PairedCounts(both=1, only_new=2, only_old=1, neither=0)
    """
    if len(old) != len(new):
        raise InvalidParameterError(
            f"paired results need one per example on both sides, in the same order: the old "
            f"side has {len(old)} and the new side {len(new)}"
        )
    pairs = [(bool(a), bool(b)) for a, b in zip(old, new, strict=True)]
    return PairedCounts(
        both=pairs.count((True, True)),
        only_new=pairs.count((False, True)),
        only_old=pairs.count((True, False)),
        neither=pairs.count((False, False)),
    )


def mcnemar_exact(better: int, worse: int) -> float:
    """McNemar's exact test, one-sided: the probability that ``better`` or more of the
    ``better + worse`` discordant pairs go to the new side when each goes either way with
    probability 1/2 (the binomial tail); 1.0 without discordant pairs.

    Computed in integers, so exact before the one rounding to a float, at any size.

    Parameters
    ----------
    better
        Pairs where only the new side passed.
    worse
        Pairs where only the old side passed.

    Raises
    ------
    InvalidParameterError
        A negative count.

    Examples
    --------
    >>> mcnemar_exact(9, 1)  # 11 / 1024
    0.0107421875
    >>> mcnemar_exact(5, 0), mcnemar_exact(4, 0), mcnemar_exact(0, 0)
    (0.03125, 0.0625, 1.0)

    References
    ----------
    McNemar, Q. (1947). Note on the sampling error of the difference between correlated
    proportions or percentages. *Psychometrika* 12(2), 153-157.
    """
    if better < 0 or worse < 0:
        raise InvalidParameterError(
            f"mcnemar_exact: counts of pairs must be >= 0, got better={better}, worse={worse}"
        )
    n = better + worse
    tail = sum(math.comb(n, k) for k in range(better, n + 1))
    return tail / (1 << n)  # int / int: rounded once, correctly, however large


@dataclass(frozen=True)
class Decision:
    """Whether the new version replaces the champion, and why.

    Attributes
    ----------
    promote
        Move the alias to the new version.
    reason
        One line naming the figures (written on the version whatever the decision).
    figures
        ``held_out_examples``, ``held_out_old_passed``, ``held_out_new_passed``,
        ``held_out_better``, ``held_out_worse``, ``p_value``; ``frozen_examples``,
        ``frozen_old_passed``, ``frozen_new_passed``, ``frozen_better``, ``frozen_worse``,
        ``frozen_may_lose`` (the tolerance, in examples), ``frozen_p_worse`` (the one-sided exact
        test for *worse* on the frozen set, shown, not used: see :func:`decide`); ``alpha``.
    """

    promote: bool
    reason: str
    figures: dict[str, float | int]


def decide(
    held_out_old: Sequence[bool],
    held_out_new: Sequence[bool],
    frozen_old: Sequence[bool],
    frozen_new: Sequence[bool],
    *,
    alpha: float = ALPHA,
    tolerance: float = TOLERANCE,
) -> Decision:
    """Promote the new version only if it is better on the held-out examples
    (:func:`mcnemar_exact` of its wins and losses below ``alpha``) and does not regress on
    the frozen set: it passes at least as many frozen examples as the champion, less
    ``tolerance`` of them (a share, rounded down: at the default, one example in twenty).

    Why a count with a tolerance, and not a test: :data:`TOLERANCE`.

    Parameters
    ----------
    held_out_old, held_out_new
        Pass/fail of the champion and of the new version on each held-out example (failures
        kept out of the training), in the same order.
    frozen_old, frozen_new
        The same on each frozen example; may be empty (then the held-out test alone decides).
    alpha
        The held-out test's level.
    tolerance
        The share of the frozen set the new version may pass fewer of (rounded down).

    Raises
    ------
    InvalidParameterError
        Two sides of one set with different lengths, ``alpha`` outside (0, 1), or
        ``tolerance`` outside [0, 1).

    Examples
    --------
    >>> old, new = [False] * 9 + [True], [True] * 9 + [False]
    >>> decision = decide(old, new, [True] * 12 + [False] * 8, [True] * 12 + [False] * 8)
    >>> decision.promote, decision.reason  # doctest: +NORMALIZE_WHITESPACE
    (True, 'better on the held-out examples (9 to 1, p = 0.011)
            and no regression on the frozen set (12 -> 12 of 20)')
    >>> decide(old, new, [True] * 20, [True] * 17 + [False] * 3).reason
    ... # doctest: +NORMALIZE_WHITESPACE
    'better on the held-out examples (9 to 1, p = 0.011); a regression on the frozen set
     (20 -> 17 of 20: 3 newly failed, 0 newly passed; 1 may be lost)'
    >>> decide(old, old, [], []).reason
    'not better on the held-out examples (0 to 0, p = 1, alpha 0.05); the frozen set was empty'
    """
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"decide: alpha must be in (0, 1), got {alpha!r}")
    if not 0 <= tolerance < 1:
        raise InvalidParameterError(f"decide: tolerance must be in [0, 1), got {tolerance!r}")
    held, frozen = paired_counts(held_out_old, held_out_new), paired_counts(frozen_old, frozen_new)
    p = mcnemar_exact(held.only_new, held.only_old)
    allowed = math.floor(tolerance * frozen.n + 1e-9)  # 0.05 * 20 is 1, not 0.999...
    better = held.n > 0 and p < alpha
    promote = better and frozen.new_passed >= frozen.old_passed - allowed
    reason = f"{_held_out(held, p, alpha)}{' and ' if promote else '; '}{_frozen(frozen, allowed)}"
    return Decision(promote, reason, _figures(held, frozen, p, alpha, allowed))


def _held_out(held: PairedCounts, p: float, alpha: float) -> str:
    if held.n == 0:
        return "no held-out examples, so nothing shows the new version better"
    counts = f"{held.only_new} to {held.only_old}, p = {p:.2g}"
    if p < alpha:
        return f"better on the held-out examples ({counts})"
    return f"not better on the held-out examples ({counts}, alpha {alpha:g})"


def _frozen(frozen: PairedCounts, allowed: int) -> str:
    if frozen.n == 0:
        return "the frozen set was empty"
    counts = f"{frozen.old_passed} -> {frozen.new_passed} of {frozen.n}"
    if frozen.new_passed >= frozen.old_passed:
        return f"no regression on the frozen set ({counts})"
    if frozen.new_passed >= frozen.old_passed - allowed:
        within = f"{counts}, {allowed} may be lost"
        return f"no regression on the frozen set beyond its tolerance ({within})"
    return (
        f"a regression on the frozen set ({counts}: {frozen.only_old} newly failed, "
        f"{frozen.only_new} newly passed; {allowed} may be lost)"
    )


def _figures(
    held: PairedCounts, frozen: PairedCounts, p: float, alpha: float, allowed: int
) -> dict[str, float | int]:
    return {
        "held_out_examples": held.n,
        "held_out_old_passed": held.old_passed,
        "held_out_new_passed": held.new_passed,
        "held_out_better": held.only_new,
        "held_out_worse": held.only_old,
        "p_value": p,
        "frozen_examples": frozen.n,
        "frozen_old_passed": frozen.old_passed,
        "frozen_new_passed": frozen.new_passed,
        "frozen_better": frozen.only_new,
        "frozen_worse": frozen.only_old,
        "frozen_may_lose": allowed,
        "frozen_p_worse": mcnemar_exact(frozen.only_old, frozen.only_new),
        "alpha": alpha,
    }


def code_of(answer: str) -> str:
    r"""The code an answer holds: its fenced block, or the whole answer if it is Python; ``""``
    for prose (the guardian's rule).

    >>> code_of("Sure:\n```python\nx = 1\n```"), code_of("x = 1"), code_of("Use a loop.")
    ('x = 1\n', 'x = 1', '')
    """
    if "```" in answer:
        return extract_code(answer)
    try:
        compile(answer, "answer", "exec")
    except (SyntaxError, ValueError):
        return ""
    return answer


def answer_passes(
    answer: str,
    expected: str,
    *,
    tests: str | None = None,
    run: Callable[[str, str], bool] | None = None,
) -> bool:
    """Whether ``answer`` passes its example, deterministically.

    With ``tests`` and ``run`` both given, the answer's code (:func:`code_of`) is judged by
    ``run(code, tests)``; an answer without code fails. Otherwise it must match ``expected``:
    whitespace runs made one space, then equal or at least :data:`SIMILARITY` alike
    (:class:`difflib.SequenceMatcher` ratio). An answer holding a fenced block is compared by
    its code (and so is ``expected``, when it holds one).

    Parameters
    ----------
    answer
        The model's answer.
    expected
        The example's expected output.
    tests
        The example's Python ``assert`` lines, if it has any.
    run
        Runs code and tests, and says whether every test passed: in a server, one that calls
        :func:`~azuraforge.assist.sandbox.run_tests` behind the boundary
        (:mod:`azuraforge.assist.boundary`), as the guardian does.

    Examples
    --------
    >>> answer_passes("Merhaba  Ada,\\nhoş geldin!", "Merhaba Ada, hoş geldin!")
    True
    >>> answer_passes("Merhaba Ada!", "Merhaba Ada, hoş geldin!")
    False
    >>> answer_passes("Merhaba Alan, hoş geldin!", "Merhaba Ada, hoş geldin!")  # see SIMILARITY
    True
    >>> answer_passes("```python\\nx = 2\\n```", "", tests="assert x == 2",
    ...               run=lambda code, tests: exec(code + tests, {}) is None)
    True
    """
    if tests and run is not None:
        code = code_of(answer)
        return bool(code.strip()) and run(code, tests)
    if "```" in answer:
        answer = extract_code(answer)
        expected = extract_code(expected)
    said, wanted = " ".join(answer.split()), " ".join(expected.split())
    if said == wanted:
        return True
    # autojunk off: on texts of 200 characters or more it would ignore their common letters.
    return difflib.SequenceMatcher(None, said, wanted, autojunk=False).ratio() >= SIMILARITY


def judge_all(
    answers: Sequence[str],
    expected: Sequence[str],
    tests: Sequence[str | None] | None = None,
    *,
    run: Callable[[str, str], bool] | None = None,
) -> list[bool]:
    """:func:`answer_passes` for each answer against its example's expected output (and its
    tests, where ``tests`` has them), in order.

    Raises
    ------
    InvalidParameterError
        ``answers``, ``expected`` and ``tests`` (when given) of different lengths.

    Examples
    --------
    >>> judge_all(["5", "six"], ["5", "7"])
    [True, False]
    """
    per_example = list(tests) if tests is not None else [None] * len(expected)
    if not len(answers) == len(expected) == len(per_example):
        raise InvalidParameterError(
            f"judge_all needs one answer per example: {len(answers)} answers, "
            f"{len(expected)} expected outputs, {len(per_example)} tests"
        )
    return [
        answer_passes(answer, wanted, tests=checks, run=run)
        for answer, wanted, checks in zip(answers, expected, per_example, strict=True)
    ]

"""Choosing, for each kind of task, the backend that serves it best, by measurement.

The seed (Kairos, task 1.1) asks that the model answering a message be chosen by its measured
performance on that kind of task (success rate, speed, cost, health) so that "write simple
code" comes to prefer the fast local model and "do a complex analysis" the stronger one.
:class:`BackendSelector` keeps, per task type and candidate (a backend, or a backend with an
expert's adapter version), counts of answers judged good and bad and running
averages of first-token latency, tokens per second, answer length and errors, and chooses by
**Thompson sampling** (Thompson, 1933): for each candidate a success rate is drawn from its
Beta posterior, the answer's expected seconds and cost are subtracted at stated weights, and
the candidate with the highest draw answers. A candidate rarely tried keeps a wide posterior
and is tried again now and then, and one not tried on a task for :data:`REVISIT_AFTER`
answers of it is asked again.

Every count is kept (``discount=1``), so a small, lasting difference is told apart (3.5 %
against 7.5 % of code answers passing their tests: docs/benchmarks.md), and each candidate's
verdicts on each task pass a :class:`~azuraforge.assist.backends.change.ChangeTest`: when its
recent verdicts differ from its earlier ones beyond chance, its counts on that task restart
from the verdicts since the change, and what was known of it on the other tasks is forgotten
(the backend itself changed: a new version, a busy server), so the choice follows within tens
of answers. Discounting every count at each answer (discounted Thompson sampling, Raj and
Kalyani, 2017; ``discount=0.9`` was the default) followed changes too, but forgot what told
close rates apart: on real answers it chose like a coin. LiteLLM's latency routing keeps the
last latencies per deployment, whatever the task: it cannot learn that the fast model fails
the hard task.

A backend that errs ``error_limit`` times in a row is taken out for ``probe_after`` seconds,
then offered one answer again (a probe): a success brings it back, an error takes it out
again. Every choice says why (:attr:`Choice.reason`).

The selector holds its estimates in memory; :meth:`BackendSelector.rows` and
:meth:`BackendSelector.restore` give and take them as plain rows for a table to keep.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from azuraforge.assist.backends.change import ChangeTest
from azuraforge.errors import InvalidParameterError, NotFoundError

SPECIALTY_PRIOR = 1.0
"""Good answers a candidate is credited with, before any, on a task it is declared good at."""
REVISIT_AFTER: int | None = 8
"""Answers of a task after which a candidate not tried on it is asked again (a change there
would otherwise go unseen: a candidate that lost early keeps its old counts forever)."""
REVISIT_SHARE = 0.25
"""Once a task has more than ``REVISIT_AFTER / REVISIT_SHARE`` answers, the gap is this share
of them."""
AVERAGE_WEIGHT = 0.3
"""Weight of the newest measurement in a running average (latency, tokens/s, length)."""


@dataclass(frozen=True)
class Candidate:
    """Something that may answer: a backend (``local``), or a backend with an expert's
    adapter version (``local/python@3``), at ``cost_per_token`` (in the unit the selector's
    ``cost_weight`` prices; 0 for a local model), with the task types it is declared good at
    (``specialties``: it starts each of them with :data:`SPECIALTY_PRIOR` good answers'
    worth of belief, which measurement soon outweighs)."""

    name: str
    cost_per_token: float = 0.0
    specialties: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise InvalidParameterError("a candidate needs a name")
        if not math.isfinite(self.cost_per_token) or self.cost_per_token < 0:
            raise InvalidParameterError(
                f"candidate {self.name!r}: cost_per_token must be a finite number >= 0, "
                f"got {self.cost_per_token}"
            )


@dataclass(frozen=True)
class Outcome:
    """How one answer went: ``success`` (the user's verdict or a check; ``None`` while
    unjudged: only its timings count), first-token latency, tokens/s, tokens read and
    written, and whether the backend erred (no answer: a failure)."""

    success: bool | None
    first_token_ms: float | None = None
    tokens_per_s: float | None = None
    tokens: int = 0
    error: bool = False


@dataclass
class Estimate:
    """What the selector knows of one candidate on one task type."""

    task: str
    candidate: str
    successes: float = 0.0
    """Count of answers judged good (since the last change; discounted if asked to)."""
    failures: float = 0.0
    """Count of answers judged bad, and of errors (the same)."""
    answers: int = 0
    errors: int = 0
    first_token_ms: float | None = None
    tokens_per_s: float | None = None
    tokens: float | None = None
    """Running average of the tokens an answer read and wrote (its cost's measure)."""

    @property
    def success_rate(self) -> float:
        """The posterior mean of the success rate (a uniform prior: 0.5 untried)."""
        return (1.0 + self.successes) / (2.0 + self.successes + self.failures)

    def seconds(self, answer_tokens: float) -> float:
        """Expected seconds to an answer of ``answer_tokens`` (0 before any measurement)."""
        first = (self.first_token_ms or 0.0) / 1e3
        if not self.tokens_per_s:
            return first
        return first + answer_tokens / self.tokens_per_s


@dataclass(frozen=True)
class Choice:
    """The candidate chosen for a task, why, and each candidate's score in the choice."""

    candidate: str
    task: str
    reason: str
    scores: dict[str, float] = field(default_factory=dict)
    """Each candidate's sampled utility (success draw minus weighted seconds and cost)."""
    explored: bool = False
    """Whether the draw chose another candidate than the best by the estimates' means."""
    probe: bool = False
    """Whether the candidate was out for errors and is offered this answer to come back."""


class BackendSelector:
    """Choose per task type among ``candidates`` by their measured success, speed and cost.

    Parameters
    ----------
    candidates
        Who may answer. More may be added later (:meth:`add`): a new adapter version starts
        untried, with a uniform prior.
    discount
        Factor (0 to 1] applied to every count of a task's candidates at each answer of that
        task: 1 (the default) keeps every count; 0.9 weighs the last ~10 answers most.
    detect_changes
        Whether each candidate's verdicts on a task pass a change test, which restarts its
        counts when they change (see the module docstring).
    revisit_after
        Answers of a task after which a candidate not tried on it is asked again (``None``:
        never; only the draws explore).
    latency_weight
        Success rate traded for one second of expected answer time (0.1: a second costs as
        much as 10 points of success rate).
    cost_weight
        Success rate traded for one unit of cost (``cost_per_token`` times tokens).
    answer_tokens
        Tokens an answer is expected to write, for the answer time (first token plus these at
        the measured tokens/s).
    first_tries
        Answers each candidate gives on a task before the choice samples (an early unlucky
        answer then cannot hide a good candidate for long).
    error_limit, probe_after
        Errors in a row that take a candidate out, and seconds before it is offered one
        answer again.
    seed
        Seeds the draws (reproducible choices in tests and simulations).
    clock
        Seconds (monotonic) for the health timings.
    """

    def __init__(
        self,
        candidates: Sequence[Candidate],
        *,
        discount: float = 1.0,
        detect_changes: bool = True,
        latency_weight: float = 0.1,
        cost_weight: float = 1.0,
        answer_tokens: float = 200.0,
        first_tries: int = 2,
        revisit_after: int | None = REVISIT_AFTER,
        error_limit: int = 3,
        probe_after: float = 30.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 < discount <= 1.0:
            raise InvalidParameterError(f"discount must be in (0, 1], got {discount}")
        for name, weight in (("latency_weight", latency_weight), ("cost_weight", cost_weight)):
            if not math.isfinite(weight) or weight < 0:
                raise InvalidParameterError(f"{name} must be a finite number >= 0, got {weight}")
        if error_limit < 1 or probe_after < 0:
            raise InvalidParameterError("error_limit must be >= 1 and probe_after >= 0")
        self.discount, self.latency_weight, self.cost_weight = (
            discount,
            latency_weight,
            cost_weight,
        )
        self.detect_changes = detect_changes
        self.answer_tokens, self.first_tries = answer_tokens, first_tries
        self.revisit_after = revisit_after
        self.error_limit, self.probe_after = error_limit, probe_after
        self.candidates: dict[str, Candidate] = {}
        self._estimates: dict[tuple[str, str], Estimate] = {}
        self._tests: dict[tuple[str, str], ChangeTest] = {}
        self._task_answers: dict[str, int] = {}
        self._last_answer: dict[tuple[str, str], int] = {}
        self.changes: list[tuple[str, str]] = []
        """The (task, candidate) of each change declared, in order."""
        self._errors_in_row: dict[str, int] = {}
        self._out_until: dict[str, float] = {}
        self._random = random.Random(seed)
        self._clock = clock
        for candidate in candidates:
            self.add(candidate)

    def add(self, candidate: Candidate) -> None:
        """Offer ``candidate`` from now on (a candidate of that name is replaced: its price)."""
        self.candidates[candidate.name] = candidate

    def estimate(self, task: str, candidate: str) -> Estimate:
        """What is known of ``candidate`` on ``task`` (an untried one: nothing yet)."""
        key = (task, candidate)
        if key not in self._estimates:
            declared = self.candidates.get(candidate)
            prior = SPECIALTY_PRIOR if declared and task in declared.specialties else 0.0
            self._estimates[key] = Estimate(task, candidate, successes=prior)
        return self._estimates[key]

    def choose(self, task: str, among: Iterable[str] | None = None) -> Choice:
        """The candidate to answer a message of ``task``: the highest Thompson draw among the
        healthy candidates (``among``: only these), or, when one is due a probe, that one.

        Raises
        ------
        NotFoundError
            If no candidate is offered (or none of ``among`` is).
        """
        names = self._offered(among)
        now = self._clock()
        due = [n for n in names if self._out_until.get(n, math.inf) <= now]
        if due:  # one probe a period: out again until it answers
            self._out_until[due[0]] = now + self.probe_after
            return Choice(due[0], task, f"{due[0]} was out for errors: probing it", probe=True)
        healthy = [n for n in names if n not in self._out_until] or names
        untried = [n for n in healthy if self.estimate(task, n).answers < self.first_tries]
        if untried:
            fewest = min(untried, key=lambda n: self.estimate(task, n).answers)
            reason = f"{fewest} for {task}: each backend answers {self.first_tries} first"
            return Choice(fewest, task, reason, explored=True)
        stale = self._stale(task, healthy)
        if stale is not None:
            gap = self._revisit_gap(task)
            reason = (
                f"{stale} for {task}: not tried in the last {gap} answers of it, so it is "
                "asked again (a change there would go unseen)"
            )
            return Choice(stale, task, reason, explored=True)
        scores = {n: self._draw(task, n) for n in healthy}
        chosen = max(scores, key=lambda n: scores[n])
        best = self.best(task, healthy)
        return Choice(
            chosen,
            task,
            self._reason(task, chosen, healthy, explored=chosen != best),
            scores,
            explored=chosen != best,
        )

    def best(self, task: str, among: Iterable[str] | None = None) -> str:
        """The candidate with the highest expected utility on ``task`` by the estimates'
        means (what the selector prefers, without exploring)."""
        names = self._offered(among)
        return max(names, key=lambda n: self.utility(task, n))

    def utility(self, task: str, name: str, success_rate: float | None = None) -> float:
        """``success_rate`` (default: the estimate's mean) less the weighted expected seconds
        and cost of an answer of ``name`` on ``task``."""
        found = self.estimate(task, name)
        rate = found.success_rate if success_rate is None else success_rate
        cost = self.candidates[name].cost_per_token * (found.tokens or 0.0)
        seconds = found.seconds(self.answer_tokens)
        return rate - self.latency_weight * seconds - self.cost_weight * cost

    def record(self, task: str, name: str, outcome: Outcome) -> None:
        """Learn from one answer of ``name`` on ``task``: the task's counts are discounted,
        then this answer's verdict counted, its timings averaged in, its health updated."""
        found = self.estimate(task, name)
        self._last_answer[(task, name)] = self._task_answers.get(task, 0)
        self._task_answers[task] = self._task_answers.get(task, 0) + 1
        if outcome.success is not None or outcome.error:
            self.judge(task, name, bool(outcome.success) and not outcome.error)
        found.answers += 1
        if outcome.error:
            found.errors += 1
            self._failed(name)
            return
        self._errors_in_row.pop(name, None)
        self._out_until.pop(name, None)
        found.first_token_ms = _averaged(found.first_token_ms, outcome.first_token_ms)
        found.tokens_per_s = _averaged(found.tokens_per_s, outcome.tokens_per_s)
        found.tokens = _averaged(found.tokens, float(outcome.tokens))

    def judge(self, task: str, name: str, success: bool) -> None:
        """Count a verdict given later on an answer of ``name`` on ``task`` (its timings were
        :meth:`record`-ed with ``success=None``): the task's counts are discounted, then it is
        counted."""
        if self.discount < 1.0:
            for key, other in self._estimates.items():
                if key[0] == task:
                    other.successes *= self.discount
                    other.failures *= self.discount
        found = self.estimate(task, name)
        test = self._test(task, name)
        if success:
            found.successes += 1.0
        else:
            found.failures += 1.0
        if test is not None and test.update(success):
            self._changed(task, name, test)

    def _stale(self, task: str, names: list[str]) -> str | None:
        """The candidate of ``names`` least recently tried on ``task``, if that was more than
        :attr:`revisit_after` answers of the task ago (one not tried since this selector
        started, its counts restored or none, counts from that start)."""
        if self.revisit_after is None or len(names) < 2:
            return None
        count = self._task_answers.get(task, 0)
        since = {n: count - self._last_answer.get((task, n), 0) for n in names}
        stalest = max(names, key=since.__getitem__)
        return stalest if since[stalest] > self._revisit_gap(task) else None

    def _revisit_gap(self, task: str) -> int:
        """Answers of ``task`` after which an untried candidate is asked again: at least
        :attr:`revisit_after`, then a quarter of the task's answers (a task long measured
        needs its losers asked less often)."""
        return max(self.revisit_after or 0, int(REVISIT_SHARE * self._task_answers.get(task, 0)))

    def _test(self, task: str, name: str) -> ChangeTest | None:
        """The change test of ``name`` on ``task``, made from its counts at first use (so a
        restored estimate is the earlier verdicts); ``None`` when changes are not watched."""
        if not self.detect_changes:
            return None
        key = (task, name)
        if key not in self._tests:
            found = self.estimate(task, name)
            self._tests[key] = ChangeTest(good=found.successes, bad=found.failures)
        return self._tests[key]

    def _changed(self, task: str, name: str, test: ChangeTest) -> None:
        """``name`` changed on ``task``: its counts there restart from the verdicts since the
        change, and what was known of it on every other task is forgotten (the backend itself
        changed: a new version, a busy server), so it is tried there again."""
        self.changes.append((task, name))
        found = self.estimate(task, name)
        found.successes, found.failures = test.good, test.bad
        for (other_task, other), estimate in self._estimates.items():
            if other == name and other_task != task:
                estimate.successes = estimate.failures = 0.0
                estimate.answers = 0
                self._tests.pop((other_task, other), None)

    def healthy(self, name: str) -> bool:
        """Whether ``name`` is in (not taken out for errors)."""
        return name not in self._out_until

    def rows(self) -> list[dict[str, object]]:
        """Every estimate as a plain row (the seed's ``model_performance_metrics``)."""
        return [asdict(found) for found in self._estimates.values()]

    def restore(self, rows: Iterable[dict[str, object]]) -> None:
        """Take estimates back from :meth:`rows` (a row of a task and candidate replaces
        what the selector knew of them)."""
        for row in rows:
            found = Estimate(**row)  # type: ignore[arg-type]
            self._estimates[(found.task, found.candidate)] = found
            self._tests.pop((found.task, found.candidate), None)  # made again from these

    def _offered(self, among: Iterable[str] | None) -> list[str]:
        names = (
            list(self.candidates) if among is None else [n for n in among if n in self.candidates]
        )
        if not names:
            raise NotFoundError("no backend to answer: none is declared, or none of those asked")
        return names

    def _draw(self, task: str, name: str) -> float:
        found = self.estimate(task, name)
        rate = self._random.betavariate(1.0 + found.successes, 1.0 + found.failures)
        return self.utility(task, name, rate)

    def _failed(self, name: str) -> None:
        self._errors_in_row[name] = self._errors_in_row.get(name, 0) + 1
        if name in self._out_until or self._errors_in_row[name] >= self.error_limit:
            self._out_until[name] = self._clock() + self.probe_after

    def _reason(self, task: str, chosen: str, names: list[str], *, explored: bool) -> str:
        parts = []
        for name in sorted(names, key=lambda n: -self.utility(task, n)):
            found = self.estimate(task, name)
            parts.append(
                f"{name} {found.success_rate:.0%} good of {found.successes + found.failures:.1f}"
                f", {found.seconds(self.answer_tokens):.2f} s"
            )
        how = "trying it (few answers yet)" if explored else "best by measurement"
        return f"{chosen} for {task}: {how}; " + "; ".join(parts)


def _averaged(average: float | None, value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return average
    return value if average is None else average + AVERAGE_WEIGHT * (value - average)


COUNTS = ("successes", "failures", "answers", "errors")
"""An estimate's counts: what several selectors learning at once add up."""
AVERAGES = ("first_token_ms", "tokens_per_s", "tokens")
"""An estimate's running averages: each measurement moves them :data:`AVERAGE_WEIGHT` of the
way toward it."""


def learned(
    before: Mapping[str, object] | None, after: Mapping[str, object]
) -> dict[str, object] | None:
    """What a selector learned of one estimate between two of its :meth:`~BackendSelector.
    rows` (``before``: ``None`` for an estimate it did not have), as an increment a table
    adds to what it holds, so that selectors in several processes learning at once all
    count: the difference of each of :data:`COUNTS`, and for each of :data:`AVERAGES` the
    measurement that moves ``before``'s average to ``after``'s (``None``: it did not move;
    several answers learned between the two rows fold in as one such measurement, so a
    caller saves after each answer). ``None`` when nothing changed.

    >>> before = {"task": "code", "candidate": "local", "successes": 2.0, "failures": 1.0,
    ...           "answers": 3, "errors": 0, "first_token_ms": 100.0, "tokens_per_s": None,
    ...           "tokens": 50.0}
    >>> after = {**before, "successes": 3.0, "answers": 4, "first_token_ms": 130.0}
    >>> learned(before, after)["successes"], learned(before, after)["first_token_ms"]
    (1.0, 200.0)
    >>> learned(before, before) is None
    True
    """
    old = before or {}
    counts = {name: _number(after.get(name)) - _number(old.get(name)) for name in COUNTS}
    averages = {name: _measured(old.get(name), after.get(name)) for name in AVERAGES}
    if not any(counts.values()) and all(value is None for value in averages.values()):
        return None
    return {"task": after["task"], "candidate": after["candidate"], **counts, **averages}


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _measured(average: object, now: object) -> float | None:
    """The measurement that :func:`_averaged` folds into ``average`` to give ``now``."""
    if not isinstance(now, int | float) or now == average:
        return None
    if not isinstance(average, int | float):
        return float(now)
    return average + (now - average) / AVERAGE_WEIGHT

"""The learning backend selector, simulated: does it come to send each kind of task to the
backend that serves it best, quickly, and follow when the backends change?

The seed's two tasks and two backends (Kairos, task 1.1), with stated rates: a fast local
model and a stronger, slower, paid one (:data:`BACKENDS`). An answer succeeds with the
backend's rate on the task; its first token and tokens/s are the backend's, with 20 %
uniform noise; it reads and writes 300 tokens. The best backend for a task is the one of
highest true utility under the selector's own weights (success rate less 0.02 a second of
answer time and the cost): the local model for "write simple code", the strong one for "do a
complex analysis".

One seed: 10 messages of each task, interleaved, each answered by the choice and recorded;
then each backend's success rates on the two tasks swap (the local model now does the
analysis well and the code badly: the best backend of each task changes) and 50 more of
each. Beside it, the old default that discounted every count, a slower discount and never
forgetting (:data:`OTHERS`), in the same seeds with answers of their own. A seed **learns**
when, after the first 10 of each, the selector's preference (:meth:`best`, by its estimates'
means) is the best backend for both tasks; it **follows** when it is again 40 answers of
each after the swap (read at 20, 30, 40 and 50). Beside it, in the same seeds (answers drawn
from the same rates), LiteLLM's latency routing: each backend tried once, then the lowest
mean of its last 10 first-token latencies, whatever the task; and, for the first 10 of each,
an even split (5 answers of each backend, then the better by the same estimates: a small A/B
experiment, about as well as 10 answers can tell the two apart).

The run fails (exit 1) when fewer than 95 % of seeds learn or follow (a quick run's fewer
seeds: 95 % less 3 standard errors).

Usage::

    .venv/bin/python benchmarks/backend_selection.py [--quick] [--out docs/benchmarks.md]
        [--json PATH]
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections import deque
from typing import Any

from azuraforge.assist.backends.selection import BackendSelector, Candidate, Outcome
from harness import environment_block, run_numpy_report

START, END = "<!-- backend_selection:start -->", "<!-- backend_selection:end -->"
SIZES = {"quick": {"seeds": 200}, "full": {"seeds": 1000}}
CODE, ANALYSIS = "write simple code", "do a complex analysis"
BACKENDS: dict[str, dict[str, Any]] = {
    "local": {"rates": {CODE: 0.98, ANALYSIS: 0.15}, "first_token_s": 0.15,
              "tokens_per_s": 60.0, "cost_per_token": 0.0},
    "strong": {"rates": {CODE: 0.98, ANALYSIS: 0.90}, "first_token_s": 0.8,
               "tokens_per_s": 25.0, "cost_per_token": 2e-4},
}  # fmt: skip
"""The simulated backends: success rate per task, first-token seconds, tokens/s, cost."""
TOKENS = 300
LEARN_RUNS, FOLLOW_RUNS = 10, 40
FOLLOW_CHECKS = (20, 30, 40, 50)
"""Answers of each task after the swap at which the preference is read; the bar is at
:data:`FOLLOW_RUNS`."""
LATENCY_WEIGHT = 0.02
OTHERS: dict[str, dict[str, Any]] = {
    "every count, a change test, no revisits": {"revisit_after": None},
    "discounted Thompson sampling, discount 0.9 (the old default)": {
        "discount": 0.9, "detect_changes": False, "revisit_after": None},
    "discount 0.97, no change test": {
        "discount": 0.97, "detect_changes": False, "revisit_after": None},
    "never forgetting (discount 1, no change test, no revisits)": {
        "discount": 1.0, "detect_changes": False, "revisit_after": None},
}  # fmt: skip
"""Choosers beside the default, in the same seeds with answers of their own: the default
without its revisits, the old default that discounted every count at each answer, a slower
discount, and never forgetting (last). :mod:`selector_code` replays real answers with them."""
BAR = 0.95


def swapped(rates: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each backend's success rates on the two tasks exchanged: the best backend for each
    task changes."""
    return {name: {CODE: found[ANALYSIS], ANALYSIS: found[CODE]} for name, found in rates.items()}


def right(rates: dict[str, dict[str, float]], task: str) -> str:
    """The backend of highest true utility on ``task`` under the selector's weights."""

    def utility(name: str) -> float:
        backend = BACKENDS[name]
        seconds = backend["first_token_s"] + 200.0 / backend["tokens_per_s"]
        cost = backend["cost_per_token"] * TOKENS
        return rates[name][task] - LATENCY_WEIGHT * seconds - cost

    return max(BACKENDS, key=utility)


def answer(
    name: str, task: str, rates: dict[str, dict[str, float]], rng: random.Random
) -> Outcome:
    """One simulated answer of backend ``name`` on ``task``."""
    backend = BACKENDS[name]
    noise = [rng.uniform(0.8, 1.2) for _ in range(2)]
    return Outcome(
        success=rng.random() < rates[name][task],
        first_token_ms=backend["first_token_s"] * 1e3 * noise[0],
        tokens_per_s=backend["tokens_per_s"] * noise[1],
        tokens=TOKENS,
    )


class LowestLatency:
    """LiteLLM's latency-based routing: each backend once, then the lowest mean of its last
    10 first-token latencies (per backend, not per task)."""

    def __init__(self) -> None:
        self.latencies: dict[str, deque[float]] = {name: deque(maxlen=10) for name in BACKENDS}

    def choose(self, task: str) -> str:
        untried = [name for name, seen in self.latencies.items() if not seen]
        if untried:
            return untried[0]
        return min(self.latencies, key=lambda n: sum(self.latencies[n]) / len(self.latencies[n]))

    def record(self, name: str, outcome: Outcome) -> None:
        self.latencies[name].append(outcome.first_token_ms or 0.0)


def one_seed(seed: int) -> dict[str, bool]:
    """Whether the selector and the baselines prefer the best backend for both tasks after
    learning, and again at each of :data:`FOLLOW_CHECKS` answers after the swap."""
    rng = random.Random(seed)
    candidates = [Candidate(n, b["cost_per_token"]) for n, b in BACKENDS.items()]
    selector = BackendSelector(candidates, latency_weight=LATENCY_WEIGHT, seed=seed)
    split = BackendSelector(candidates, latency_weight=LATENCY_WEIGHT, first_tries=LEARN_RUNS // 2)
    baseline = LowestLatency()
    # The other choosers, each with answers of its own (drawn from the same rates).
    slower = {i: (BackendSelector(candidates, latency_weight=LATENCY_WEIGHT, seed=seed,
                                  **options), random.Random(f"{seed}/{i}"))
              for i, options in enumerate(OTHERS.values())}  # fmt: skip
    rates = {name: dict(backend["rates"]) for name, backend in BACKENDS.items()}

    def answered(learning: bool) -> None:
        for task in (CODE, ANALYSIS):
            chosen = selector.choose(task).candidate
            selector.record(task, chosen, answer(chosen, task, rates, rng))
            for other, draws in slower.values():
                took = other.choose(task).candidate
                other.record(task, took, answer(took, task, rates, draws))
            picked = baseline.choose(task)
            baseline.record(picked, answer(picked, task, rates, rng))
            if learning:
                tried = split.choose(task).candidate
                split.record(task, tried, answer(tried, task, rates, rng))

    def prefers(chooser: Any) -> bool:
        return all(chooser(task) == right(rates, task) for task in (CODE, ANALYSIS))

    for _ in range(LEARN_RUNS):
        answered(learning=True)
    found = {"learn": prefers(selector.best), "split_learn": prefers(split.best),
             "baseline_learn": prefers(baseline.choose)}  # fmt: skip
    found |= {f"discount_{d}_learn": prefers(other.best) for d, (other, _) in slower.items()}
    rates = swapped(rates)
    for run in range(1, max(FOLLOW_CHECKS) + 1):
        answered(learning=False)
        if run in FOLLOW_CHECKS:
            found[f"follow_{run}"] = prefers(selector.best)
            found[f"baseline_follow_{run}"] = prefers(baseline.choose)
            for d, (other, _) in slower.items():
                found[f"discount_{d}_follow_{run}"] = prefers(other.best)
    return found


def measure(size: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    outcomes = [one_seed(seed) for seed in range(size["seeds"])]
    shares = {key: sum(o[key] for o in outcomes) / len(outcomes) for key in outcomes[0]}
    before = {name: dict(b["rates"]) for name, b in BACKENDS.items()}
    return {
        "shares": shares,
        "right": {
            "learn": {task: right(before, task) for task in (CODE, ANALYSIS)},
            "follow": {task: right(swapped(before), task) for task in (CODE, ANALYSIS)},
        },
        "seconds": time.perf_counter() - started,
    }


def section(report: dict[str, Any]) -> str:
    results, seeds = report["results"], report["size"]["seeds"]
    shares = results["shares"]
    lines = [
        START,
        "## The backend selector, simulated: the seed's two tasks",
        "",
        f"Generated by `{report['command']}`.",
        "",
        f"{seeds:,} seeds; in each, {LEARN_RUNS} messages of each task, then each backend's "
        f"success rates on the two tasks swap and {max(FOLLOW_CHECKS)} more of each "
        "(`benchmarks/backend_selection.py` says how answers are drawn). Backends: "
        + "; ".join(
            f"{name} success {b['rates'][CODE]:.0%} on code, {b['rates'][ANALYSIS]:.0%} on "
            f"analysis, first token {b['first_token_s']} s, {b['tokens_per_s']:.0f} tokens/s, "
            f"cost {b['cost_per_token']} a token"
            for name, b in BACKENDS.items()
        )
        + f"; utility: success rate - {LATENCY_WEIGHT} x seconds of a 200-token answer - "
        "cost. The best backend: before the swap "
        + ", ".join(f"{t}: {b}" for t, b in results["right"]["learn"].items())
        + "; after it "
        + ", ".join(f"{t}: {b}" for t, b in results["right"]["follow"].items())
        + ".",
        "",
        f"| chooser | prefers the best for both tasks after {LEARN_RUNS} of each | "
        + " | ".join(f"{n} of each after the swap" for n in FOLLOW_CHECKS)
        + " |",
        "| --- | ---: |" + " ---: |" * len(FOLLOW_CHECKS),
        f"| ours: Thompson sampling on every count, a change test per candidate, revisits "
        "(the default) | "
        f"**{shares['learn']:.1%}** | "
        + " | ".join(_cell(shares[f"follow_{n}"], n == FOLLOW_RUNS) for n in FOLLOW_CHECKS)
        + " |",
        *(
            f"| {name} | {shares[f'discount_{i}_learn']:.1%} | "
            + " | ".join(f"{shares[f'discount_{i}_follow_{n}']:.1%}" for n in FOLLOW_CHECKS)
            + " |"
            for i, name in enumerate(OTHERS)
        ),
        f"| LiteLLM's lowest latency | {shares['baseline_learn']:.1%} | "
        + " | ".join(f"{shares[f'baseline_follow_{n}']:.1%}" for n in FOLLOW_CHECKS)
        + " |",
        f"| an even split, 5 answers of each backend | {shares['split_learn']:.1%} | "
        + " | ".join("-" for _ in FOLLOW_CHECKS)
        + " |",
        "",
        f"Bar: >= {BAR:.0%} of seeds after {LEARN_RUNS} of each and {FOLLOW_RUNS} of each "
        f"after the swap ({_met(report)}). "
        f"{results['seconds']:.1f} s for the run.",
        "",
        environment_block(report["environment"]),
        END,
    ]
    return "\n".join(lines)


def _met(report: dict[str, Any]) -> str:
    shares = report["results"]["shares"]
    floor = _floor(report)
    return "met" if _worst(shares) >= floor else "**not met**"


def _worst(shares: dict[str, float]) -> float:
    return min(shares["learn"], shares[f"follow_{FOLLOW_RUNS}"])


def _cell(share: float, bold: bool) -> str:
    return f"**{share:.1%}**" if bold else f"{share:.1%}"


def _floor(report: dict[str, Any]) -> float:
    """The bar, less 3 standard errors in a quick run (its fewer seeds)."""
    seeds = report["size"]["seeds"]
    return BAR - (3 * math.sqrt(BAR * (1 - BAR) / seeds) if report["quick"] else 0.0)


def main(argv: list[str] | None = None) -> None:
    _, report = run_numpy_report(
        "backend_selection", __doc__.splitlines()[0], argv, SIZES, measure, section, (START, END)
    )
    shares = report["results"]["shares"]
    if _worst(shares) < _floor(report):
        sys.exit(
            f"the selector preferred the best backends in {shares['learn']:.1%} of seeds after "
            f"learning and {shares[f'follow_{FOLLOW_RUNS}']:.1%} after the swap, under "
            f"{_floor(report):.1%}"
        )


if __name__ == "__main__":
    main()

"""The learning backend selector on real answers: the base model and the Python expert as
two choices on code tasks, each answer judged by running its code against the problem's
tests. Does it come to send code to the one that passes more?

The first ``problems`` of MBPP's test split (held out from the expert's training), each
answered by SmolLM2-135M-Instruct in llama.cpp with the Python expert's system prompt,
greedy, at most 256 new tokens: once by the base model, once through the newest ``python``
adapter of the experts folder (without one, ``azuraforge assist train-expert python`` makes
one first, as docs/assist.md's figures were made: 2 to 3 minutes). Each answer's code runs
in the sandbox against the problem's tests (pass@1's rules), and its first-token time and
tokens/s are measured as the platform measures them.

Greedy answers are deterministic, so a problem's answer by a choice is the same whenever it
is asked: each ordering below replays these measured answers instead of generating them
again. In each of ``seeds`` orderings of the problems, the selector as the platform builds
it (Thompson sampling on every count with a change test per candidate, its default
weights; beside it the same without its revisits, the old default that discounted every
count, a slower discount and never forgetting, :data:`SELECTORS`) chooses for each problem and
learns the answer's success and timings. Two verdicts (:data:`CRITERIA`): the answer passes
its tests, or its code runs to its tests. Reported per verdict: the share of problems sent
to the expert in each quarter of the run, the share of orderings whose preference
(:meth:`best`) is the expert after 25, 50, 100 and all problems, and the good answers
beside always the base, always the expert, a coin toss, and an even split of the first half
followed by the better (an A/B test). For the aim's good answers, the default and never
forgetting are replayed again in ``paired_seeds`` orderings, the same for both, and compared
ordering by ordering.

Usage::

    .venv/bin/python benchmarks/selector_code.py [--quick] [--out docs/benchmarks.md]
        [--json PATH] [--answers benchmarks/results/selector_code.json]

``--answers`` replays the answers an earlier run generated and judged (kept in its JSON)
instead of generating them again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from azuraforge.assist.adapters import AdapterPool, AdapterRegistry
from azuraforge.assist.backends import GenerationSettings, Message
from azuraforge.assist.backends.selection import BackendSelector, Candidate, Outcome
from azuraforge.assist.corpora import CodeProblem, load_mbpp, problem_prompt
from azuraforge.assist.evaluation import pass_at_1
from azuraforge.assist.orchestrator import EXPERTS
from azuraforge.errors import NotFoundError
from azuraforge.learn.home import default_home
from backend_selection import OTHERS
from harness import cpu_ticks, environment, environment_block, parse_report_args, publish

START, END = "<!-- selector_code:start -->", "<!-- selector_code:end -->"
SIZES = {
    "quick": {"problems": 12, "seeds": 200, "paired_seeds": 1000},
    "full": {"problems": 200, "seeds": 1000, "paired_seeds": 10000},
}
"""``paired_seeds``: the orderings in which the default and never forgetting are compared for
the aim's good answers. Their counts differ by a fraction of one answer, and a median of
whole answers on 1,000 orderings lands on either side of a whole number by chance (13
against 12 in one run, 12 against 12 in another)."""
TASK = "code_python"
BASE, EXPERT = "base", "python"
CHECKS = (25, 50, 100)
MAX_TOKENS = 256
TRAINING = ("python", "--steps", "40", "--max-tokens", "128", "--held-out-limit", "100")
"""How the adapter is trained when the experts folder has none (docs/assist.md's run)."""


def answers(problems: list[CodeProblem]) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Each choice's answer to each problem: passed, first token, tokens/s, tokens; and the
    adapter's name."""
    from azuraforge.assist.backends.llama import LlamaCppBackend

    registry = AdapterRegistry(default_home() / "assist" / "experts")
    try:
        wanted = registry.get(EXPERT)
    except NotFoundError:
        print(f"no {EXPERT} adapter yet: azuraforge assist train-expert {' '.join(TRAINING)}")
        command = Path(sys.executable).with_name("azuraforge")
        subprocess.run([str(command), "assist", "train-expert", *TRAINING], check=True)
        wanted = registry.get(EXPERT)
    backend = LlamaCppBackend(wanted.base, cache_prompts=False)
    adapter = AdapterPool(backend, registry).ensure(EXPERT, wanted.version)
    settings = GenerationSettings(max_tokens=MAX_TOKENS, temperature=0.0, seed=0)
    system = next(e.system_prompt for e in EXPERTS if e.name == EXPERT)
    found: dict[str, list[dict[str, Any]]] = {}
    for choice, name in ((BASE, None), (EXPERT, adapter)):
        timings: list[dict[str, Any]] = []

        def complete(
            problem: CodeProblem, name: str | None = name, timings: list[Any] = timings
        ) -> str:
            chat = [Message("system", system), Message("user", problem_prompt(problem))]
            started, pieces, first = time.perf_counter(), [], 0.0
            for piece in backend.stream(chat, settings, adapter=name):
                first = first or time.perf_counter() - started
                pieces.append(piece)
            seconds = time.perf_counter() - started - first
            text = "".join(pieces)
            speed = (len(pieces) - 1) / seconds if seconds > 0 else None
            timings.append({"first_token_ms": first * 1e3, "tokens_per_s": speed,
                            "tokens": backend.count_tokens(text)})  # fmt: skip
            return text

        report = pass_at_1(problems, complete)
        print(f"{choice}: {report.summary()}", flush=True)
        found[choice] = [
            {"status": r.status, **t} for r, t in zip(report.results, timings, strict=True)
        ]
    return found, f"{EXPERT}@{wanted.version}"


CRITERIA: dict[str, tuple[str, ...]] = {
    "passes its tests": ("passed",),
    "runs to its tests": ("passed", "failed"),
}
"""What counts as a good answer: the statuses of its run (pass@1's) that are a success.
"Runs to its tests" is code that defines what the tests call without a syntax error or an
exception, whatever the tests then say: a weaker verdict, but one a 135M model gives often
enough to be learned from."""
SELECTORS: dict[str, dict[str, Any]] = {
    "ours: every count, a change test, revisits (the default)": {},
    **OTHERS,
}
"""The selector as the platform builds it (the default), and the simulation's choosers beside
it (:data:`backend_selection.OTHERS`), never forgetting last."""
DEFAULT, NEVER = next(iter(SELECTORS)), list(SELECTORS)[-1]
BAR = 0.90
"""The default prefers the expert after all the problems in this share of orderings (full
size), with at least the good answers (median) of never forgetting."""


def replay(
    found: dict[str, list[dict[str, Any]]], good: tuple[str, ...], options: dict[str, Any],
    seed: int,
) -> dict[str, Any]:  # fmt: skip
    """One ordering of the problems, the selector choosing for each, an answer a success
    when its status is one of ``good``."""
    order = list(range(len(found[BASE])))
    random.Random(seed).shuffle(order)
    selector = BackendSelector([Candidate(BASE), Candidate(EXPERT)], seed=seed, **options)
    chosen, successes, prefers = [], 0, {}
    for done, problem in enumerate(order, 1):
        choice = selector.choose(TASK).candidate
        answer = found[choice][problem]
        outcome = Outcome(
            success=answer["status"] in good, first_token_ms=answer["first_token_ms"],
            tokens_per_s=answer["tokens_per_s"], tokens=answer["tokens"],
        )  # fmt: skip
        selector.record(TASK, choice, outcome)
        chosen.append(choice == EXPERT)
        successes += outcome.success is True
        if done in CHECKS or done == len(order):
            prefers[done] = selector.best(TASK) == EXPERT
    return {"expert": chosen, "successes": successes, "prefers": prefers}


def even_split(
    found: dict[str, list[dict[str, Any]]], good: tuple[str, ...], seed: int
) -> dict[str, Any]:
    """An A/B test in the same ordering: the first half of the problems taking turns, the
    second half all to the choice with more successes in the first (the base on a tie)."""
    order = list(range(len(found[BASE])))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    tried = {BASE: 0, EXPERT: 0}
    for i, problem in enumerate(order[:half]):
        choice = (BASE, EXPERT)[i % 2]
        tried[choice] += found[choice][problem]["status"] in good
    winner = EXPERT if tried[EXPERT] > tried[BASE] else BASE
    rest = sum(found[winner][p]["status"] in good for p in order[half:])
    return {"successes": sum(tried.values()) + rest, "expert": winner == EXPERT}


def judged(
    found: dict[str, list[dict[str, Any]]], good: tuple[str, ...], seeds: int
) -> dict[str, Any]:
    """The selectors and the baselines on one criterion."""
    n = len(found[BASE])
    quarters = [(q * n // 4, (q + 1) * n // 4) for q in range(4)]
    rng = random.Random(0)
    coin = [sum(found[rng.choice((BASE, EXPERT))][p]["status"] in good for p in range(n))
            for _ in range(seeds)]  # fmt: skip
    splits = [even_split(found, good, seed) for seed in range(seeds)]
    result: dict[str, Any] = {
        "always": {c: sum(a["status"] in good for a in found[c]) for c in (BASE, EXPERT)},
        "coin_median": statistics.median(coin),
        "split_median": statistics.median(s["successes"] for s in splits),
        "split_picks_expert": statistics.mean(s["expert"] for s in splits),
        "selectors": {},
    }
    for name, options in SELECTORS.items():
        runs = [replay(found, good, options, seed) for seed in range(seeds)]
        result["selectors"][name] = {
            "to_expert_by_quarter": [
                statistics.mean(statistics.mean(r["expert"][a:b]) for r in runs)
                for a, b in quarters
            ],
            "prefers_expert": {
                str(k): statistics.mean(r["prefers"][k] for r in runs) for k in runs[0]["prefers"]
            },
            "successes_median": statistics.median(r["successes"] for r in runs),
            "successes_mean": statistics.mean(r["successes"] for r in runs),
        }
    return result


def paired(found: dict[str, list[dict[str, Any]]], seeds: int) -> dict[str, Any]:
    """The default and never forgetting in the same ``seeds`` orderings (a good answer
    passing its tests): each one's median and mean good answers, and the mean of the
    differences per ordering (default less never forgetting) with its 95 % interval."""
    good = CRITERIA["passes its tests"]
    runs = {
        name: [replay(found, good, SELECTORS[name], seed)["successes"] for seed in range(seeds)]
        for name in (DEFAULT, NEVER)
    }
    differences = [ours - never for ours, never in zip(runs[DEFAULT], runs[NEVER], strict=True)]
    mean = statistics.mean(differences)
    half = 1.96 * statistics.stdev(differences) / len(differences) ** 0.5
    return {
        "seeds": seeds,
        "median": {name: statistics.median(found) for name, found in runs.items()},
        "mean": {name: statistics.mean(found) for name, found in runs.items()},
        "difference": {"mean": mean, "low": mean - half, "high": mean + half},
    }


def measure(size: dict[str, Any], replayed: Path | None = None) -> dict[str, Any]:
    """Generate and judge the answers (or take those of an earlier run's JSON, ``replayed``:
    greedy answers are the same when asked again), then replay them to the choosers."""
    started = time.perf_counter()
    if replayed is None:
        problems = load_mbpp("test")[: size["problems"]]
        found, adapter = answers(problems)
    else:
        earlier = json.loads(replayed.read_text())["results"]
        found = {c: earlier["answers"][c][: size["problems"]] for c in (BASE, EXPERT)}
        adapter, problems = earlier["adapter"], found[BASE]
    generated = time.perf_counter() - started
    return {
        "adapter": adapter,
        "problems": len(problems),
        "statuses": {c: dict(Counter(a["status"] for a in found[c])) for c in (BASE, EXPERT)},
        "first_token_ms": {
            c: statistics.median(a["first_token_ms"] for a in found[c]) for c in (BASE, EXPERT)
        },
        "tokens_per_s": {
            c: statistics.median(a["tokens_per_s"] or 0.0 for a in found[c])
            for c in (BASE, EXPERT)
        },
        "criteria": {name: judged(found, good, size["seeds"]) for name, good in CRITERIA.items()},
        "paired": paired(found, size["paired_seeds"]),
        "generation_seconds": generated,
        "replayed": None if replayed is None else str(replayed),
        "answers": found,
    }


def section(report: dict[str, Any]) -> str:
    r, seeds = report["results"], report["size"]["seeds"]
    n, statuses = r["problems"], r["statuses"]
    lines = [
        START,
        "## The backend selector on real answers: base model or Python expert for code",
        "",
        f"Generated by `{report['command']}`.",
        "",
        f"The first {n} problems of MBPP's test split, answered by SmolLM2-135M-Instruct "
        f"(llama.cpp, greedy, at most {MAX_TOKENS} new tokens) as the base model and through "
        f"the adapter {r['adapter']}; each answer's code run against the problem's tests in "
        "the sandbox. Statuses: "
        + "; ".join(
            f"{c} " + ", ".join(f"{k} {v}" for k, v in sorted(statuses[c].items()))
            for c in (BASE, EXPERT)
        )
        + f". Median first token {r['first_token_ms'][BASE]:.0f} ms (base) and "
        f"{r['first_token_ms'][EXPERT]:.0f} ms (expert), tokens/s "
        f"{r['tokens_per_s'][BASE]:.0f} and {r['tokens_per_s'][EXPERT]:.0f}. The choosers "
        f"replay these answers in {seeds:,} orderings (`benchmarks/selector_code.py` says "
        "why replaying is the same as asking again).",
    ]
    for criterion, found in r["criteria"].items():
        always = found["always"]
        checks = list(next(iter(found["selectors"].values()))["prefers_expert"])
        lines += [
            "",
            f"**A good answer {criterion}**: always the base {always[BASE]}/{n}, always the "
            f"expert {always[EXPERT]}/{n}.",
            "",
            "| chooser | to the expert, by quarter of the run | prefers the expert after "
            + ", ".join(checks)
            + " problems | good answers: median (mean) |",
            "| --- | --- | --- | ---: |",
        ]
        for name, chosen in found["selectors"].items():
            quarters = " / ".join(f"{share:.0%}" for share in chosen["to_expert_by_quarter"])
            prefers = " / ".join(f"{share:.0%}" for share in chosen["prefers_expert"].values())
            lines.append(
                f"| {name} | {quarters} | {prefers} | {chosen['successes_median']:g} "
                f"({chosen['successes_mean']:.2f}) |"
            )
        lines += [
            f"| an even split of the first half, then the better | 50% / 50% / "
            f"{found['split_picks_expert']:.0%} / {found['split_picks_expert']:.0%} | - | "
            f"{found['split_median']:g} |",
            f"| a coin toss per problem | 50% | - | {found['coin_median']:g} |",
        ]
    passes = r["criteria"]["passes its tests"]["selectors"]
    prefers = passes[DEFAULT]["prefers_expert"][str(n)]
    pair = r["paired"]
    difference = pair["difference"]
    lines += [
        "",
        f"The default and never forgetting in the same {pair['seeds']:,} orderings (a good "
        f"answer passing its tests): median {pair['median'][DEFAULT]:g} and "
        f"{pair['median'][NEVER]:g} good answers, means {pair['mean'][DEFAULT]:.3f} and "
        f"{pair['mean'][NEVER]:.3f}; the default less never forgetting, per ordering: "
        f"{difference['mean']:+.3f} (95% interval {difference['low']:+.3f} to "
        f"{difference['high']:+.3f}).",
        "",
        f"Aim (the default, a good answer passing its tests): prefers the expert after all "
        f"{n} problems in >= {BAR:.0%} of orderings ({prefers:.0%}), and good answers at least "
        f"never forgetting's: a median as high on {pair['seeds']:,} orderings, and not fewer "
        f"beyond chance (the interval reaches 0): {_met(r)}.",
        "",
        (
            f"{r['generation_seconds']:.0f} s of generation and judging."
            if r.get("replayed") is None
            else f"The answers replayed from `{r['replayed']}` (generated and judged by an "
            "earlier run of this script: greedy answers are the same when asked again)."
        ),
        "",
        environment_block(report["environment"]),
        END,
    ]
    return "\n".join(lines)


def _missed(results: dict[str, Any]) -> list[str]:
    passes = results["criteria"]["passes its tests"]["selectors"]
    n = str(results["problems"])
    prefers = passes[DEFAULT]["prefers_expert"][n]
    missed = [f"prefers the expert in {prefers:.1%} < {BAR:.0%}"] if prefers < BAR else []
    pair = results["paired"]
    if pair["median"][DEFAULT] < pair["median"][NEVER]:
        missed.append(
            f"{pair['median'][DEFAULT]:g} good answers (median) < never forgetting's "
            f"{pair['median'][NEVER]:g}"
        )
    if pair["difference"]["high"] < 0:
        missed.append(
            f"{pair['difference']['mean']:+.3f} good answers a run against never forgetting, "
            "fewer beyond chance"
        )
    return missed


def _met(results: dict[str, Any]) -> str:
    return "met" if not _missed(results) else "**not met** (" + "; ".join(_missed(results)) + ")"


def main(argv: list[str] | None = None) -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--answers", type=Path, help="replay the answers of an earlier run's JSON")
    known, rest = extra.parse_known_args(argv)
    args = parse_report_args(__doc__.splitlines()[0], rest, "selector_code")
    size = SIZES["quick" if args.quick else "full"]
    load, ticks = os.getloadavg(), cpu_ticks()
    results = measure(size, known.answers)
    env = environment(load, ticks, None, ["numpy", "llama-cpp-python"])
    publish("selector_code", args, section, (START, END), size=size, results=results,
            environment=env)  # fmt: skip
    if not args.quick and _missed(results):  # a quick run's 12 problems cannot tell
        sys.exit("the default selector missed its aim: " + "; ".join(_missed(results)))


if __name__ == "__main__":
    main()

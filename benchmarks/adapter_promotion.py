"""Promoting an expert's new adapter: how often :func:`azuraforge.assist.promotion.decide`
promotes a version no better than the champion, and how often one that is better.

The model is the tiny random Llama of ``tests/assist/tiny_llama.py`` (built here, seeded; its
tokenizer trained on the task's text), the adapters are trained with the platform's own
:func:`~azuraforge.assist.adapters.training.train_expert` (PEFT, then converted to GGUF and
registered as the expert's next version) and answer through llama.cpp
(:class:`~azuraforge.assist.backends.llama.LlamaCppBackend`, an :class:`AdapterPool`, greedy,
each generation from a fresh context), as ``azuraforge assist eval-expert`` serves them.

The task: short requests to a named person, in :data:`FAMILIES` (``"Thank Kusifu."`` ->
``"Teşekkürler!"``), each family with its own answer; the names are made of random
syllables. The champion is trained on :data:`TRAINED_FAMILIES` of the families (its names
only), then answers a pool of requests to other names, each of a random family: it passes
the requests of the families it was trained on and fails the others. Those are the
failures; the requests it passes are the frozen set's pool; nobody is ever trained on a
pool request but as said below. Each answer is judged by
:func:`~azuraforge.assist.promotion.answer_passes` against the family's answer.

Each trial (seeded by its number) draws :data:`HELD_OUT` failures as the held-out set and
:data:`FROZEN` pool requests the champion passes as the frozen set, then decides on four
candidates, each a new version of the same expert:

- **identical**: the champion's own adapter files, registered again as a version. Its answers
  must be the champion's, token for token (else the run fails): no discordant pair, never
  promoted.
- **shuffled**: trained on the champion's examples plus the held-out requests, each with
  the answer of another held-out request, drawn at random among those whose answer differs
  from its own (a permutation cannot always avoid a request's own answer: several requests
  of one family share it, and in one trial of 20 draws 11 did).
- **other failures**: trained on the champion's examples plus :data:`HELD_OUT` other
  failures, none of them held out (the issue's own setting: the held-out failures were not
  trained on).
- **trained on the held-out failures**: the champion's examples plus the very failures it
  is tested on.

Every training has the same settings (:data:`SETTINGS`, seed: the trial's number + 1) and
starts from the base model. Reported per candidate: the share of trials promoted with its
95 % Wilson interval, the share :func:`decide` would promote with no tolerance on the frozen
set (``tolerance=0``, the same answers), the held-out wins and losses, the frozen examples
lost, and why the others were kept; the median seconds a trial. The bar (the run exits 1
otherwise): the identical copy answers as the champion and is never promoted, the shuffled
adapter is promoted in at most 5 % of the trials. Torch and llama.cpp run on one thread each
(the machine is shared: its load is in the report).

Usage::

    cd benchmarks && ../.venv/bin/python adapter_promotion.py [--quick] [--out PATH]
        [--json PATH]
"""

from __future__ import annotations

import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from azuraforge.assist.adapters import AdapterPool, AdapterRegistry, AdapterVersion
from azuraforge.assist.adapters.training import LoraSettings, train_expert
from azuraforge.assist.backends import GenerationSettings, Message
from azuraforge.assist.backends.llama import LlamaCppBackend
from azuraforge.assist.bases import file_sha256
from azuraforge.assist.corpora import Instruction
from azuraforge.assist.promotion import ALPHA, TOLERANCE, answer_passes, decide, mcnemar_exact
from harness import (
    ROOT,
    blas_line,
    blas_pools,
    cpu_ticks,
    environment,
    environment_block,
    parse_report_args,
    publish,
)

START, END = "<!-- adapter_promotion:start -->", "<!-- adapter_promotion:end -->"
SIZES = {"quick": {"trials": 2}, "full": {"trials": 25}}
FAMILIES = (
    ("Greet {}.", "Merhaba!"),
    ("Thank {}.", "Teşekkürler!"),
    ("Welcome {}.", "Hoş geldin!"),
    ("Congratulate {}.", "Tebrikler!"),
    ("Say goodbye to {}.", "Hoşça kal!"),
    ("Apologise to {}.", "Özür dilerim!"),
    ("Wish {} good night.", "İyi geceler!"),
    ("Wish {} luck.", "Bol şans!"),
)
TRAINED_FAMILIES = 4
"""The champion is trained on the first four families."""
NAMES, CHAMPION_NAMES = 300, 60
"""Names in all; the champion's examples use the first 60 (one request each, its families in
turn), the pool the others."""
HELD_OUT = FROZEN = 20
SYSTEM = "You answer in Turkish."
SETTINGS = LoraSettings(
    rank=8,
    alpha=16,
    dropout=0.0,
    targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    steps=150,
    batch_size=8,
    learning_rate=1e-2,
    seed=0,
)
GREEDY = GenerationSettings(max_tokens=10, temperature=0.0, seed=0)
EXPERT = "greeter"
CONDITIONS = {
    "identical": "the champion's files, registered again",
    "shuffled": "the champion's examples + the held-out requests, each with a wrong answer",
    "other failures": f"the champion's examples + {HELD_OUT} failures not held out",
    "trained on the held-out failures": "the champion's examples + the held-out failures",
}
ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
PACKAGES = ["torch", "peft", "transformers", "llama_cpp_python", "numpy"]


def syllable_names(count: int, seed: int = 0) -> list[str]:
    """``count`` different names of two or three random syllables, in a seeded order."""
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < count:
        syllables = rng.choice((2, 3))
        found.add("".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou")
                          for _ in range(syllables)).capitalize())  # fmt: skip
    names = sorted(found)
    rng.shuffle(names)
    return names


def request(name: str, family: int) -> Instruction:
    prompt, answer = FAMILIES[family]
    return Instruction(prompt.format(name), "", answer)


def the_task() -> tuple[list[Instruction], list[Instruction], list[str]]:
    """The champion's examples, the pool, and the tokenizer's corpus."""
    names = syllable_names(NAMES)
    rng = random.Random(1)
    champion = [request(n, i % TRAINED_FAMILIES) for i, n in enumerate(names[:CHAMPION_NAMES])]
    pool = [request(n, rng.randrange(len(FAMILIES))) for n in names[CHAMPION_NAMES:]]
    corpus = [
        "The quick brown fox jumps over the lazy dog.",
        SYSTEM + " " + " ".join(f"Greet {n}. Merhaba!" for n in names),
        " ".join(f"{prompt} {answer}" for prompt, answer in FAMILIES),
    ]
    return champion, pool, corpus


def mislabelled(examples: Sequence[Instruction], rng: random.Random) -> list[Instruction]:
    """``examples``, each with the answer of another of them whose answer differs from its
    own, drawn at random: the held-out requests' answers shuffled so that none is right."""
    answers = [e.output for e in examples]
    found = []
    for example in examples:
        wrong = [answer for answer in answers if answer != example.output]
        if not wrong:
            raise ValueError(f"every request's answer is {example.output!r}: none can be wrong")
        found.append(replace(example, output=rng.choice(wrong)))
    return found


class Served:
    """The base model in llama.cpp and the expert's versions, loaded as asked."""

    def __init__(self, base: Path, registry: AdapterRegistry) -> None:
        self.backend = LlamaCppBackend(base, context_tokens=256, threads=1, cache_prompts=False)
        self.pool = AdapterPool(self.backend, registry)

    def answers(self, version: AdapterVersion, examples: Sequence[Instruction]) -> list[str]:
        name = self.pool.ensure(version.expert, version.version)
        chats = ([Message("system", SYSTEM), Message("user", e.instruction)] for e in examples)
        return [self.backend.generate(chat, GREEDY, adapter=name) for chat in chats]


def judged(answers: Sequence[str], examples: Sequence[Instruction]) -> list[bool]:
    return [answer_passes(a, e.output) for a, e in zip(answers, examples, strict=True)]


def train(
    registry: AdapterRegistry, base: Path, cache: Path, examples: list[Instruction], seed: int
) -> AdapterVersion:
    settings = replace(SETTINGS, seed=seed)
    return train_expert(registry, EXPERT, base, examples, settings=settings,
                        system_prompt=SYSTEM, cache=cache, threads=1)  # fmt: skip


def trial(number: int, setup: dict[str, Any]) -> dict[str, Any]:
    """One trial's draws, four candidates and their decisions."""
    rng = random.Random(number)
    failures, passes = setup["failures"], setup["passes"]
    held = rng.sample(range(len(failures)), HELD_OUT)
    others = rng.sample([i for i in range(len(failures)) if i not in held], HELD_OUT)
    frozen = rng.sample(range(len(passes)), FROZEN)
    held_ex, frozen_ex = [failures[i] for i in held], [passes[i] for i in frozen]
    trained = {
        "shuffled": setup["champion_examples"] + mislabelled(held_ex, rng),
        "other failures": setup["champion_examples"] + [failures[i] for i in others],
        "trained on the held-out failures": setup["champion_examples"] + held_ex,
    }
    registry, served = setup["registry"], setup["served"]
    versions = {"identical": setup["identical"]} | {
        name: train(registry, setup["base"], setup["cache"], examples, number + 1)
        for name, examples in trained.items()
    }
    found: dict[str, Any] = {}
    for name, version in versions.items():
        held_answers = served.answers(version, held_ex)
        frozen_answers = served.answers(version, frozen_ex)
        # The champion failed every held-out request and passed every frozen one.
        sides = ([False] * HELD_OUT, judged(held_answers, held_ex), [True] * FROZEN,
                 judged(frozen_answers, frozen_ex))  # fmt: skip
        decision = decide(*sides)
        found[name] = {"promote": decision.promote, "reason": decision.reason,
                       "promote_without_tolerance": decide(*sides, tolerance=0).promote,
                       **decision.figures}  # fmt: skip
        if name == "identical":
            champion_answers = [setup["answers"]["failures"][i] for i in held]
            champion_answers += [setup["answers"]["passes"][i] for i in frozen]
            found[name]["same_answers"] = champion_answers == held_answers + frozen_answers
    return found


def prepare(folder: Path) -> dict[str, Any]:
    """The base model, the champion (v1) and its identical copy (v2), the champion's answers
    on the pool, split into failures and passes."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from tests.assist.tiny_llama import build_tiny_llama

    champion_examples, pool, corpus = the_task()
    base = build_tiny_llama(folder / "base", corpus, seed=5)
    registry, cache = AdapterRegistry(folder / "experts"), folder / "bases"
    champion = train(registry, base, cache, champion_examples, SETTINGS.seed)
    identical = registry.register(
        EXPERT, champion.folder / "peft", base, base_sha256=file_sha256(base),
        data_sha256=champion.data_sha256, settings=champion.settings, metrics=champion.metrics,
    )  # fmt: skip
    served = Served(base, registry)
    answers = served.answers(champion, pool)
    passed = judged(answers, pool)
    split = {"failures": [i for i, p in enumerate(passed) if not p],
             "passes": [i for i, p in enumerate(passed) if p]}  # fmt: skip
    return {
        "base": base,
        "cache": cache,
        "registry": registry,
        "served": served,
        "identical": identical,
        "champion_examples": champion_examples,
        "champion_metrics": champion.metrics,
        "failures": [pool[i] for i in split["failures"]],
        "passes": [pool[i] for i in split["passes"]],
        "answers": {k: [answers[i] for i in v] for k, v in split.items()},
        "by_family": by_family(pool, passed),
    }


def by_family(pool: Sequence[Instruction], passed: Sequence[bool]) -> dict[str, list[int]]:
    """Per family (named by its answer): the champion's passes and the pool's requests."""
    found = {answer: [0, 0] for _, answer in FAMILIES}
    for example, ok in zip(pool, passed, strict=True):
        found[example.output][0] += ok
        found[example.output][1] += 1
    return found


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a share."""
    if n == 0:
        return 0.0, 1.0
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def summary(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Per candidate: promotions, their interval, and what the decisions rested on."""
    found = {}
    for name in CONDITIONS:
        rows = [t[name] for t in trials]
        promoted = sum(r["promote"] for r in rows)
        significant = [r["p_value"] < r["alpha"] for r in rows]
        wins = [r["held_out_better"] for r in rows]
        found[name] = {
            "promoted": promoted,
            "promoted_without_tolerance": sum(r["promote_without_tolerance"] for r in rows),
            "trials": len(rows),
            "wilson_95": wilson(promoted, len(rows)),
            "held_out_better_median": statistics.median(wins),
            "held_out_better_range": (min(wins), max(wins)),
            "held_out_worse_median": statistics.median(r["held_out_worse"] for r in rows),
            "frozen_worse_median": statistics.median(r["frozen_worse"] for r in rows),
            "frozen_worse_max": max(r["frozen_worse"] for r in rows),
            "kept_not_better": sum(not s for s in significant),
            "kept_by_frozen_alone": sum(
                s and not r["promote"] for s, r in zip(significant, rows, strict=True)
            ),
        }
    return found


def measure(trials: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="adapter-promotion-") as folder:
        started = time.perf_counter()
        setup = prepare(Path(folder))
        setup_seconds = time.perf_counter() - started
        rows, seconds = [], []
        for number in range(trials):
            started = time.perf_counter()
            rows.append(trial(number, setup))
            seconds.append(time.perf_counter() - started)
            promoted = ", ".join(f"{k}: {v['promote']}" for k, v in rows[-1].items())
            print(f"trial {number}: {seconds[-1]:.0f} s; promoted {promoted}", file=sys.stderr)
        setup["served"].backend.close()
    return {
        "setup_seconds": setup_seconds,
        "seconds_per_trial": seconds,
        "champion": {"metrics": setup["champion_metrics"], "by_family": setup["by_family"],
                     "failures": len(setup["failures"]), "passes": len(setup["passes"])},
        "summary": summary(rows),
        "trials": rows,
    }  # fmt: skip


def section(report: dict[str, Any]) -> str:
    results, summary_ = report["results"], report["results"]["summary"]
    champion = results["champion"]
    lines = [
        START,
        "## Promoting an expert's new adapter: McNemar's exact test and the frozen set",
        "",
        f"Generated by `{report['command']}` (`benchmarks/adapter_promotion.py` says how). "
        f"The tiny random Llama of `tests/assist/tiny_llama.py`, LoRA adapters trained by "
        f"`train_expert` (PEFT, rank {SETTINGS.rank}, {SETTINGS.steps} steps, 1 thread) and "
        "served by llama.cpp through an `AdapterPool` (greedy, a fresh context per answer); "
        f"each answer judged by `answer_passes` against its family's answer. The champion, "
        f"trained on {CHAMPION_NAMES} requests of {TRAINED_FAMILIES} of {len(FAMILIES)} "
        f"families, passed {champion['passes']} of the pool's "
        f"{champion['passes'] + champion['failures']} requests to other names "
        f"({families(champion['by_family'])}). Each "
        f"trial: {HELD_OUT} of its failures held out, {FROZEN} requests it passes frozen "
        f"(of which `decide` lets a new version lose {math.floor(TOLERANCE * FROZEN)}, "
        f"`TOLERANCE`), alpha {ALPHA}; {report['size']['trials']} trials, each candidate "
        'judged on the same draws. The column "no tolerance" decides the same answers with '
        "`tolerance=0`.",
        "",
        "| candidate | trained on | promoted | 95 % interval (Wilson) | no tolerance | held-out "
        "wins : losses (median) | frozen lost (median, most) | kept: not better / by the "
        "frozen set alone |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, about in CONDITIONS.items():
        s = summary_[name]
        low, high = s["wilson_95"]
        lines.append(
            f"| {name} | {about} | {s['promoted']}/{s['trials']} | {low:.1%} - {high:.1%} | "
            f"{s['promoted_without_tolerance']}/{s['trials']} | "
            f"{s['held_out_better_median']:g} : {s['held_out_worse_median']:g} | "
            f"{s['frozen_worse_median']:g}, {s['frozen_worse_max']} | "
            f"{s['kept_not_better']} / {s['kept_by_frozen_alone']} |"
        )
    seconds = results["seconds_per_trial"]
    lines += [
        "",
        bar_line(report),
        "",
        f"Median {statistics.median(seconds):.1f} s a trial (three trainings, 160 answers), "
        f"{results['setup_seconds']:.0f} s to build the model, train the champion and judge "
        f"the pool; {sum(seconds) + results['setup_seconds']:.0f} s in all, on one core (the "
        "load above 1 below is other work sharing the machine).",
        "",
        "```text",
        *environment_lines(report),
        "```",
        END,
    ]
    return "\n".join(lines)


def families(found: dict[str, list[int]]) -> str:
    return ", ".join(f"{answer} {passed}/{n}" for answer, (passed, n) in found.items())


def bar_line(report: dict[str, Any]) -> str:
    s = report["results"]["summary"]
    met = not problems(report)
    better = s["trained on the held-out failures"]
    fewest = next(k for k in range(1, 64) if mcnemar_exact(k, 0) < ALPHA)
    low, high = s["shuffled"]["held_out_better_range"]
    return (
        f"The shuffled adapter won {low} to {high} held-out requests a trial; {fewest} wins "
        f"and no loss are the fewest that promote at alpha {ALPHA}. "
        f"Bar: identical and shuffled promoted in at most 5 % of the trials "
        f"({s['identical']['promoted']}/{s['identical']['trials']} and "
        f"{s['shuffled']['promoted']}/{s['shuffled']['trials']}: {'met' if met else 'NOT met'}); "
        f"the adapter trained on the held-out failures promoted in "
        f"{better['promoted']}/{better['trials']} trials."
    )


def environment_lines(report: dict[str, Any]) -> list[str]:
    block = environment_block(report["environment"]).splitlines()[1:-1]
    torch_line = (f"torch: {report['torch_blas']} (linked in, which threadpoolctl does not "
                  "see), 1 thread; llama.cpp: its own CPU kernels, 1 thread")  # fmt: skip
    return [blas_line(report) + "; " + torch_line if line.startswith("no BLAS") else line
            for line in block]  # fmt: skip


def problems(report: dict[str, Any]) -> list[str]:
    found = []
    trials = report["results"]["trials"]
    differ = [i for i, t in enumerate(trials) if not t["identical"]["same_answers"]]
    if differ:
        found.append(f"the identical copy answered otherwise than the champion in trials {differ}")
    s = report["results"]["summary"]
    if s["identical"]["promoted"]:
        found.append(f"the identical copy was promoted {s['identical']['promoted']} times")
    if s["shuffled"]["promoted"] > 0.05 * s["shuffled"]["trials"]:
        found.append(f"the shuffled adapter was promoted {s['shuffled']['promoted']} times")
    return found


def main(argv: list[str] | None = None) -> None:
    args = parse_report_args(__doc__.splitlines()[0], argv, "adapter_promotion")
    size = SIZES["quick" if args.quick else "full"]
    load, ticks = os.getloadavg(), cpu_ticks()
    results = measure(size["trials"])
    import torch

    torch_blas = re.findall(r"(?:BLAS_INFO|LAPACK_INFO)=[^,\s]*", torch.__config__.show())
    report = publish(
        "adapter_promotion", args, section, (START, END), size=size, results=results,
        settings=asdict(SETTINGS), blas=blas_pools(),
        env={k: os.environ.get(k) for k in ENV_VARS}, torch_blas=", ".join(torch_blas),
        environment=environment(load, ticks, None, PACKAGES),
    )  # fmt: skip
    found = problems(report)
    if found:
        sys.exit("; ".join(found))


if __name__ == "__main__":
    main()

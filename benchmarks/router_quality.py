"""Where the shipped router sends messages it was not trained on, and whether its confidence
means what it says.

Two frozen sets, both written apart from the router's training data
(``src/azuraforge/assist/data/intents.yaml``):

- ``tests/assist/data/router_frozen_test.jsonl``: 60 messages of each of the five intents
  (in distribution: the intents' own kinds of message);
- ``tests/assist/data/router_general_frozen.jsonl``: general-knowledge questions in English
  and Turkish, none about Turkey, on topics and in phrasings the training data does not use;
  each belongs to ``general_chat``.

Reported for the shipped router on E5 (``default_router()``, and with ``--before`` another
router beside it): the accuracy on the first set,
the share of the second sent to ``general_chat``, and the expected calibration error (ECE,
10 equal-width bins; Guo et al., 2017) of the classifier's top probability against whether
its top intent is right, on each set and on both together. A confidence is calibrated when,
of the messages given about 0.9, about 90 % are right: the ECE is the average gap, weighted
by the messages in each bin. Messages stopped by the code rule (confidence 1 by rule) are
left out of the ECE (their rule is right).

Bars (exit 1 if missed): in-distribution accuracy >= 90 %, general questions to
``general_chat`` >= 90 %.

Usage::

    .venv/bin/python benchmarks/router_quality.py [--quick] [--out docs/benchmarks.md]
        [--json benchmarks/results/router_quality.json] [--before ROUTER_FOLDER]

``--before`` measures another router (a folder written by ``train-router``, e.g. the one a
commit shipped: ``git show COMMIT:src/azuraforge/assist/data/router/router.json``, and its
``weights.npz``) beside the shipped one, on the messages of the intents it knows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import ROOT, environment_block, run_numpy_report

START, END = "<!-- router_quality:start -->", "<!-- router_quality:end -->"
SIZES: dict[str, dict[str, Any]] = {"quick": {}, "full": {}}
"""Both sizes route every message: the sets are small and routing is fast."""
DATA = ROOT / "tests" / "assist" / "data"
SETS = {
    "in distribution": DATA / "router_frozen_test.jsonl",
    "general questions": DATA / "router_general_frozen.jsonl",
}
BINS = 10
BAR = 0.90


def expected_calibration_error(
    confidence: np.ndarray, right: np.ndarray, bins: int = BINS
) -> float:
    """The weighted mean gap between confidence and accuracy over equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.mean() * abs(confidence[members].mean() - right[members].mean())
    return float(gap)


def judged(router: Any, path: Path) -> dict[str, Any]:
    """Each message's route, top probability and whether the top intent is right."""
    from azuraforge.assist.intents import load_examples

    examples = [e for e in load_examples(path) if e.label in router.labels]
    routes = [router.route(e.text) for e in examples]
    model = [r.source != "rule" for r in routes]
    top = [max(r.scores, key=r.scores.__getitem__) if r.scores else r.intent for r in routes]
    return {
        "labels": [e.label for e in examples],
        "routed": [r.intent for r in routes],
        "top": top,
        "confidence": [max(r.scores.values()) if r.scores else 1.0 for r in routes],
        "model": model,
        "texts": [e.text for e in examples],
    }


def scores(found: list[dict[str, Any]]) -> dict[str, Any]:
    labels = np.array([x for f in found for x in f["labels"]])
    routed = np.array([x for f in found for x in f["routed"]])
    top = np.array([x for f in found for x in f["top"]])
    confidence = np.array([x for f in found for x in f["confidence"]])
    model = np.array([x for f in found for x in f["model"]])
    return {
        "messages": len(labels),
        "accuracy": float(np.mean(routed == labels)),
        "ece": expected_calibration_error(confidence[model], (top == labels)[model]),
        "mean_confidence": float(confidence[model].mean()),
        "top_accuracy": float(np.mean((top == labels)[model])),
        "sure": int(np.sum(confidence[model] >= 0.995)),
        "sure_right": int(np.sum((confidence[model] >= 0.995) & (top == labels)[model])),
    }


def measure(size: dict[str, Any], before: Path | None = None) -> dict[str, Any]:
    from azuraforge.assist.routing import SHIPPED_ROUTER, IntentRouter, default_router

    started = time.perf_counter()
    found = {"shipped": _routed(default_router(), str(SHIPPED_ROUTER.relative_to(ROOT)))}
    if before is not None:
        earlier = IntentRouter.load(before)
        found["before"] = _routed(earlier, str(before))
    return {**found, "seconds": time.perf_counter() - started}


def _routed(router: Any, folder: str) -> dict[str, Any]:
    found = {name: judged(router, path) for name, path in SETS.items()}
    general = found["general questions"]
    wrong = [f"{t} -> {r}" for t, r in zip(general["texts"], general["routed"], strict=True)
             if r != "general_chat"]  # fmt: skip
    return {
        "router": {"temperature": router.temperature, "threshold": router.threshold,
                   "labels": router.labels, "info": router.info, "folder": folder},
        "sets": {name: scores([f]) for name, f in found.items()},
        "both": scores(list(found.values())),
        "general_elsewhere": wrong,
    }  # fmt: skip


def section(report: dict[str, Any]) -> str:
    r = report["results"]
    lines = [
        START,
        "## Assistant: where the router sends what it never saw, and what its confidence means",
        "",
        f"Generated by `{report['command']}` (`benchmarks/router_quality.py` says how).",
        "",
        '"Routed right" is the routed intent (after the threshold\'s fallback); the ECE and the '
        "sure answers are the classifier's top intent and its probability "
        f"({BINS} equal-width bins; messages the code rule stopped left out). A router is "
        "judged on the messages of the intents it knows.",
        "",
        "| router | set | messages | routed right | mean top probability | top intent right | "
        "ECE | top probability >= 0.995 (right) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in ("before", "shipped"):
        if key not in r:
            continue
        found, info = r[key], r[key]["router"]
        name = (
            f"{'before' if key == 'before' else 'shipped'}: {len(info['labels'])} intents, "
            f"temperature {info['temperature']:.3f}, threshold {info['threshold']:g}"
        )
        for set_name, s in [*found["sets"].items(), ("both", found["both"])]:
            lines.append(
                f"| {name} | {set_name} | {s['messages']} | **{s['accuracy']:.1%}** "
                f"| {s['mean_confidence']:.3f} | {s['top_accuracy']:.1%} | **{s['ece']:.3f}** "
                f"| {s['sure']} ({s['sure_right']}) |"
            )
    elsewhere = r["shipped"]["general_elsewhere"]
    lines += [
        "",
        f"Bars (the shipped router): in distribution >= {BAR:.0%}, general questions to "
        f"general_chat >= {BAR:.0%} ({_met(r)}). General questions sent elsewhere: "
        + ("; ".join(f"`{w}`" for w in elsewhere) if elsewhere else "none")
        + f". {r['seconds']:.1f} s for the run.",
        "",
        environment_block(report["environment"]),
        END,
    ]
    return "\n".join(lines)


def _met(results: dict[str, Any]) -> str:
    return "met" if not _missed(results) else "**not met**"


def _missed(results: dict[str, Any]) -> list[str]:
    sets = results["shipped"]["sets"]
    return [
        f"{name} {sets[name]['accuracy']:.1%} < {BAR:.0%}"
        for name in SETS
        if sets[name]["accuracy"] < BAR
    ]


def main(argv: list[str] | None = None) -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--before", type=Path, help="a router folder to measure beside")
    known, rest = extra.parse_known_args(argv)
    _, report = run_numpy_report(
        "router_quality", __doc__.splitlines()[0], rest, SIZES,
        lambda size: measure(size, known.before), section, (START, END),
    )  # fmt: skip
    missed = _missed(report["results"])
    if missed:
        sys.exit("the router missed its bars: " + "; ".join(missed))


if __name__ == "__main__":
    main()

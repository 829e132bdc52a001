"""The hub's loop, measured: on a stream with a known shift, how soon drift opens a candidate
and the paired test promotes it, and how many promotions come before the shift; on the
project's real streams, how often the loop changes anything, and what the served predictions
score beside a champion never replaced and the best trivial rule.

- **Synthetic shift.** Prices whose next direction repeats the last with probability
  ``keep`` for 3,000 events, then reverses it with that probability (``azuraforge.testing.
  streams``), ``seeds`` streams a setting; the loop with its defaults (ADWIN on the
  champion's log-losses, candidates warmed on the last 500 outcomes, alpha 0.05 spent over the
  candidates) around the stream library's Adam logistic regression.
- **Real streams.** BTC hourly and S&P 500 daily, whole, the same loop, the same with a
  fresh candidate every ``every`` events besides, and with a tuning every ``every`` events
  instead (the stream service's: an Optuna study on the kept outcomes, its best the
  candidate).
- **Candidates as retrain runs** (``retrain_as: run``), on both: each trained by the retrain
  runs' code on the kept outcomes, opening ``RETRAIN_DELAY`` events after the loop asked.

The accuracy of *served* predictions counts each prediction of the model that was champion
when it was made; the champion never replaced is the same learner with no loop.

Usage::

    .venv/bin/python benchmarks/hub_loop.py [--quick] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from azuraforge.learn.datasets.fetching import fetch
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.loop import tuned_candidate
from azuraforge.platform.services.streams.retrain import RetrainConfig, retrain_config, train
from azuraforge.stream import CsvReplay, Event
from azuraforge.stream.direction import baseline_rules, make_learner
from azuraforge.stream.shadow import ShadowLoop, ShadowRules
from azuraforge.testing.streams import write_shifted_csv
from harness import environment_block, run_numpy_report

START, END = "<!-- hub-loop:start -->", "<!-- hub-loop:end -->"
LEARNER = "logreg-adam"
SHIFT, EVENTS = 3000, 6000
KEEPS = (0.8, 0.65)
TRIALS = 20
RETRAIN_DELAY = 10
"""Events between a retrain's ask and the end of its run: a run takes about a second here,
so on hourly or daily bars it ends before the next event; ten leave room for a busy worker
(a replay at full speed would leave hundreds: docs/hub.md)."""
CANDIDATES = {"warm": ShadowRules(), "run": ShadowRules(trained_out=True)}
"""The loop's rules by how it makes candidates: fresh learners warmed on the kept outcomes;
retrain runs."""
CANDIDATE_LABELS = {"warm": "warmed in the stream", "run": "retrain runs"}
REAL = {
    "BTC hourly": ("btc-hourly", "close", 5000),
    "S&P 500 daily": ("sp500-daily", "Close", 2000),
}
SIZES = {"quick": {"seeds": 2, "events": 6000}, "full": {"seeds": 40, "events": None}}
"""Seeds of each synthetic setting; the real streams' first events (None: all)."""


def served(
    events: list[Event], rules: ShadowRules, column: str, tuning: StreamConfig | None = None
) -> dict[str, Any]:
    """Run the loop over ``events`` (with the stream service's tunings as ``tuning`` says;
    with retrains trained as the retrain runs train them, :data:`RETRAIN_DELAY` events after
    the ask, when ``rules.trained_out``): its changes by kind, the promotions' events, and the
    accuracy of the predictions served (by the champion of their event) and of each rule."""
    loop = ShadowLoop(lambda kind, n: make_learner(kind, n - 1), LEARNER, rules, column=column)
    champion_at: dict[int, str] = {}
    right = Counter[str]()
    count = 0
    changes = []
    training: tuple[int, RetrainConfig] | None = None
    seconds: list[float] = []  # each retrain's training
    for event in events:
        scored, found = loop.step(event)
        changes += found + (tuned_candidate(tuning, loop) if tuning else [])
        if loop.asked is not None and training is None:  # a run queued now
            training = (loop.events + RETRAIN_DELAY, retrain_config(loop, 0, epochs=20, seed=0))
            loop.sent(0)
        if training is not None and loop.events >= training[0]:  # and ended
            started = time.perf_counter()
            trained = train(training[1])
            seconds.append(time.perf_counter() - started)
            changes.append(loop.adopt(trained.model, evidence=trained.figures()))
            training = None
        champion_at[loop.events - 1] = loop.champion
        for one in scored:
            count += 1
            for name, p in one.probabilities.items():
                if name in baseline_rules() or name == champion_at[one.event]:
                    key = name if name in baseline_rules() else "served"
                    right[key] += (p >= 0.5) == one.up
    rules_best = max(right[name] for name in baseline_rules()) / count
    return {
        "kinds": dict(Counter(change.kind for change in changes)),
        "promotions": [c.event for c in changes if c.kind == "promote"],
        "rollbacks": sum(c.kind == "rollback" for c in changes),
        "served_accuracy": right["served"] / count,
        "best_rule_accuracy": rules_best,
        "outcomes": count,
        "retrain_seconds": seconds,
    }


def shifted(seeds: int) -> dict[str, Any]:
    """The loop on synthetic streams with a known shift, by how it makes candidates, and the
    champion never replaced."""
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for keep in KEEPS:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CANDIDATES}
            fixed = []
            for seed in range(seeds):
                path = write_shifted_csv(
                    Path(folder) / "s.csv", EVENTS, SHIFT, keep=keep, seed=seed
                )
                events = list(CsvReplay(path, columns=["close"], price_column="close"))
                for name, rules in CANDIDATES.items():
                    runs[name].append(served(events, rules, "close"))
                fixed.append(served(events, ShadowRules(drift=None), "close"))
            found[str(keep)] = {name: _shift_figures(runs[name], fixed) for name in CANDIDATES}
    return found


def _shift_figures(runs: list[dict[str, Any]], fixed: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of ``runs`` (one a seed) beside the champion never replaced (``fixed``)."""
    after = [[e for e in run["promotions"] if e >= SHIFT] for run in runs]
    delays = [events[0] - SHIFT for events in after if events]
    return {
        "promoted_after_shift": sum(bool(e) for e in after) / len(runs),
        "median_delay": statistics.median(delays) if delays else None,
        "promotions_before_shift": sum(sum(e < SHIFT for e in run["promotions"]) for run in runs)
        / len(runs),
        "rollbacks": sum(run["rollbacks"] for run in runs) / len(runs),
        "served_accuracy": statistics.median(run["served_accuracy"] for run in runs),
        "fixed_accuracy": statistics.median(run["served_accuracy"] for run in fixed),
        "best_rule_accuracy": statistics.median(run["best_rule_accuracy"] for run in runs),
        "retrain_seconds": [t for run in runs for t in run["retrain_seconds"]],
    }


def real(most: int | None) -> dict[str, Any]:
    """The loop on the project's streams (their first ``most`` events), with drift only and
    with a schedule besides."""
    found: dict[str, Any] = {}
    for name, (dataset, column, every) in REAL.items():
        path = next(iter(fetch(dataset).values()))
        events = list(CsvReplay(path, columns=[column], price_column=column))[:most]
        started = time.perf_counter()
        found[name] = {
            "events": len(events),
            "every": every,
            "fixed": served(events, ShadowRules(drift=None), column),
            "drift": served(events, ShadowRules(), column),
            "schedule": served(events, ShadowRules(every=every), column),
            "tuning": served(events, ShadowRules(), column, _tuning(every, column)),
            "run": served(events, ShadowRules(every=every, trained_out=True), column),
            "seconds": time.perf_counter() - started,
        }
    return found


def _tuning(every: int, column: str) -> StreamConfig:
    """A stream's config whose tunings (:func:`tuned_candidate`) come every ``every`` events."""
    return StreamConfig.model_validate(
        {"source": "x.csv", "price_column": column, "tune_every": every, "tune_trials": TRIALS}
    )


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"


def section(report: dict[str, Any]) -> str:
    results, seeds = report["results"], report["size"]["seeds"]
    lines = [START, "## The hub's loop: a known shift, and the real streams", "",
             f"Synthetic streams with a shift at event {SHIFT:,} of {EVENTS:,} ({seeds} seeds "
             "a setting; medians):", "",
             "| direction kept with probability | candidates | promoted after the shift | "
             "events from the shift to it | promotions before it (per stream) | rollbacks (per "
             "stream) | accuracy served | champion never replaced | best rule |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for keep, by_candidates in results["shifted"].items():
        for name, at in by_candidates.items():
            delay = "-" if at["median_delay"] is None else f"{at['median_delay']:,.0f}"
            lines.append(
                f"| {keep} | {CANDIDATE_LABELS[name]} | {at['promoted_after_shift']:.0%} | "
                f"{delay} | {at['promotions_before_shift']:.2f} | {at['rollbacks']:.2f} | "
                f"{at['served_accuracy']:.3f} | {at['fixed_accuracy']:.3f} | "
                f"{at['best_rule_accuracy']:.3f} |"
            )
    lines += ["", "| stream | loop | changes | accuracy served | champion never replaced | "
              "best rule |", "| --- | --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for name, at in results["real"].items():
        for loop, label in (
            ("drift", "drift (ADWIN)"),
            ("schedule", f"drift + every {at['every']:,}"),
            ("tuning", f"drift + a tuning every {at['every']:,} ({TRIALS} trials)"),
            ("run", f"drift + every {at['every']:,}, as retrain runs"),
        ):
            run = at[loop]
            lines.append(
                f"| {name} ({at['events']:,} events) | {label} | {_kinds(run['kinds'])} | "
                f"{run['served_accuracy']:.4f} | {at['fixed']['served_accuracy']:.4f} | "
                f"{run['best_rule_accuracy']:.4f} |"
            )
    timings = [t for by in results["shifted"].values() for t in by["run"]["retrain_seconds"]]
    timings += [t for at in results["real"].values() for t in at["run"]["retrain_seconds"]]
    lines += ["", f"Learner: `{LEARNER}`; the loop's defaults otherwise (docs/hub.md). A retrain "
              "run's candidate is trained by the retrain runs' code (up to 20 passes over the "
              f"kept outcomes, early stopped on the newest fifth) and opens {RETRAIN_DELAY} "
              f"events after the ask. Its training (the run's work, without a worker's claim "
              f"and fork): median {statistics.median(timings) * 1000:.0f} ms, at most "
              f"{max(timings) * 1000:.0f} ms, over {len(timings)} retrains of 500 outcomes.", "",
              f"Command: `{report['command']}`", "", environment_block(report["environment"]),
              END]  # fmt: skip
    return "\n".join(lines)


def measure(size: dict[str, Any]) -> dict[str, Any]:
    return {"shifted": shifted(size["seeds"]), "real": real(size["events"])}


def main(argv: list[str] | None = None) -> None:
    _, report = run_numpy_report(
        "hub_loop", __doc__.splitlines()[0], argv, SIZES, measure, section, (START, END)
    )
    strong = report["results"]["shifted"][str(KEEPS[0])]["warm"]
    if strong["promoted_after_shift"] < 0.5:
        sys.exit(f"the loop promoted after a strong shift in {strong['promoted_after_shift']:.0%}")


if __name__ == "__main__":
    main()

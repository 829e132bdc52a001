"""Promotion and drift, measured on the project's streams: how often the sequential paired
test promotes a candidate no better than the champion, how soon it promotes a better one, and
how often the drift detectors raise an alarm on a stream with no drift, and how late on one
with a known shift.

Streams: the BTC hourly and S&P 500 daily files (the next event's direction, the stream
library's default features), and a synthetic stream whose error rate steps up at a known
event.

- **False promotions (A/A).** The champion and the candidate are the same model: the
  stream library's MLP (`mlp` of `default_learners`) with two different seeds, each replayed
  test-then-train over the whole file once. A simulated shadow takes a random pair of seeds and
  a random stretch of ``window`` events and feeds their paired per-event log-losses to
  :class:`~azuraforge.stream.promotion.PairedTest` (alpha 0.05), read after every event.
  Beside it, in the same shadows, the rules people use: a one-sided z-test at 5 % read after
  every event (from the 30th), and "promote when the candidate's mean loss is lower by a
  margin" checked every 500 events.
- **Power.** The same shadows with the candidate's losses lowered by ``advantage`` nats per
  event: the share promoted and the median events to the promotion.
- **Drift detectors, false alarms.** Each detector (ADWIN and Page-Hinkley on the
  champion's per-event log-loss, DDM on its 0/1 errors) over the champion's losses in a random
  order (shuffling leaves no drift): alarms per 100,000 events, over enough shuffles to pass
  100,000 events (20,000 in a quick run).
- **Drift detectors, delay.** The synthetic stream: 0/1 errors at rate 0.3 (log-losses of a
  matching probability) for 5,000 events, then at 0.5; the median events from the shift to
  the first alarm after it, over 20 seeds.

Usage::

    .venv/bin/python benchmarks/promotion.py [--quick] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from azuraforge.learn.datasets.fetching import fetch
from azuraforge.stream import CsvReplay
from azuraforge.stream.direction import default_learners, direction_task
from azuraforge.stream.drift import ADWIN, DDM, PageHinkley
from azuraforge.stream.evaluate import Prequential
from azuraforge.stream.promotion import PROMOTE, RUNNING, PairedTest, log_loss_bound
from harness import environment_block, run_numpy_report

START, END = "<!-- promotion:start -->", "<!-- promotion:end -->"
ALPHA = 0.05
FLOORS = (0.2, 0.4)
"""The losses the rules compare: log-losses of the predictions kept in [floor, 1 - floor]
(the paired test's bound: log_loss_bound(floor))."""
STREAMS = {"btc": ("btc-hourly", ("Volume BTC", "Volume USD")), "sp500": ("sp500-daily", None)}
SIZES = {
    "quick": {
        "seeds": 3,
        "shadows": 30,
        "window": 1000,
        "events": 2000,
        "delay_seeds": 5,
        "alarm_events": 20_000,
    },
    "full": {
        "seeds": 6,
        "shadows": 1000,
        "window": 3000,
        "events": None,
        "delay_seeds": 20,
        "alarm_events": 100_000,
    },
}
ADVANTAGES = (0.005, 0.01, 0.02)
TEST_MARGIN = 0.002
"""A margin for the paired test about the gap between two seeds of one model over a shadow."""
MARGIN_RULE = (0.005, 500)
"""The margin rule: promote when the candidate's mean loss is this much lower, checked every
this many events."""


def predictions_by_seed(
    stream: str, seeds: int, events: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """The probability of up of the MLP with each seed (one row a seed) and the outcomes, over
    the stream's examples, replayed test-then-train."""
    name, volume_pair = STREAMS[stream]
    path = next(iter(fetch(name).values()))
    columns = ["close", *(volume_pair or ())]
    replay = CsvReplay(path, columns=columns, price_column="close", volume_pair=volume_pair)
    examples = direction_task(replay).examples[:events]
    models = {str(seed): default_learners(seed)["mlp"] for seed in range(seeds)}
    run = Prequential(models)
    for example in examples:
        run.step(example)
    run.finish()
    rows = [run.logs[str(seed)].arrays()[1] for seed in range(seeds)]
    return np.array(rows), run.logs["0"].arrays()[2].astype(bool)


def log_losses(p: np.ndarray, up: np.ndarray, floor: float) -> np.ndarray:
    """Per-event log-losses of the probabilities ``p`` kept in [floor, 1 - floor]."""
    kept = np.clip(p, floor, 1 - floor)
    return np.where(up, -np.log(kept), -np.log1p(-kept))


def seed_gap(losses: np.ndarray, window: int) -> float:
    """The median, over the replay's stretches of ``window`` events, of the gap between the
    best and the worst seed's mean loss there: how far apart "the same model" with two seeds
    is over a shadow's length."""
    starts = range(0, losses.shape[1] - window + 1, window)
    gaps = [np.ptp(losses[:, start : start + window].mean(axis=1)) for start in starts]
    return float(np.median(gaps))


def stretches(
    seeds: int, events: int, shadows: int, window: int, rng: random.Random
) -> list[tuple[int, int, int]]:
    """``shadows`` random (champion seed, candidate seed, start): two different seeds, one
    stretch of ``window`` events."""
    return [(*rng.sample(range(seeds), 2), rng.randrange(0, events - window + 1))
            for _ in range(shadows)]  # fmt: skip


def shadow_pairs(
    losses: np.ndarray, found: Sequence[tuple[int, int, int]], window: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (champion, candidate) loss stretches of ``found``."""
    return [(losses[a, start : start + window], losses[b, start : start + window])
            for a, b, start in found]  # fmt: skip


def swapped(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``pairs`` with each event's two losses swapped at random: an exact null (neither side
    is better at any event in expectation) with the real losses' scale and tails."""
    found = []
    for champion, candidate in pairs:
        flip = rng.random(len(champion)) < 0.5
        found.append((np.where(flip, candidate, champion), np.where(flip, champion, candidate)))
    return found


def paired_test(
    champion: np.ndarray, candidate: np.ndarray, floor: float, margin: float = 0.0
) -> tuple[bool, int]:
    """Whether :class:`PairedTest` promoted, and after how many events."""
    test = PairedTest(alpha=ALPHA, bound=log_loss_bound(floor), margin=margin)
    decision = test.decision
    for a, b in zip(champion.tolist(), candidate.tolist(), strict=True):
        decision = test.update(a, b)
        if decision.state != RUNNING:
            break
    return decision.state == PROMOTE, decision.events


def z_test_peeking(champion: np.ndarray, candidate: np.ndarray, _: float) -> tuple[bool, int]:
    """A one-sided z-test at 5 % on the mean difference, read after every event from the
    30th: whether it ever promoted, and when."""
    d = champion - candidate
    n = np.arange(1, len(d) + 1)
    mean = np.cumsum(d) / n
    variance = (np.cumsum(d * d) - n * mean**2) / np.maximum(n - 1, 1)
    z = mean / np.sqrt(np.maximum(variance, 1e-12) / n)
    hits = np.nonzero((z > 1.645) & (n >= 30))[0]
    return (True, int(hits[0]) + 1) if len(hits) else (False, len(d))


def z_test_at_the_end(champion: np.ndarray, candidate: np.ndarray, _: float) -> tuple[bool, int]:
    """A one-sided z-test at 5 % read once, after the whole shadow: valid, but it decides
    only at the end."""
    d = champion - candidate
    z = d.mean() / math.sqrt(max(d.var(ddof=1), 1e-12) / len(d))
    return bool(z > 1.645), len(d)


def margin_rule(champion: np.ndarray, candidate: np.ndarray, _: float) -> tuple[bool, int]:
    """Promote when the candidate's mean loss is lower by the margin, checked every few
    hundred events: whether it ever did, and when."""
    margin, every = MARGIN_RULE
    for end in range(every, len(champion) + 1, every):
        if champion[:end].mean() - candidate[:end].mean() > margin:
            return True, end
    return False, len(champion)


RULES: dict[str, Callable[[np.ndarray, np.ndarray, float], tuple[bool, int]]] = {
    "sequential paired test (ours, alpha 0.05)": paired_test,
    f"the same, margin {TEST_MARGIN}": lambda a, b, floor: paired_test(a, b, floor, TEST_MARGIN),
    "z-test at 5 %, read every event": z_test_peeking,
    "z-test at 5 %, read once at the end": z_test_at_the_end,
    f"mean lower by {MARGIN_RULE[0]}, checked every {MARGIN_RULE[1]} events": margin_rule,
}


def promotions(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], floor: float, advantage: float
) -> dict[str, dict[str, float]]:
    """Each rule's share of ``pairs`` promoted (the candidate's losses lowered by
    ``advantage``, never below the least loss there can be) and the median events to a
    promotion."""
    least = -math.log(1 - floor)
    found = {}
    for name, rule in RULES.items():
        outcomes = [rule(champion, np.maximum(candidate - advantage, least), floor)
                    for champion, candidate in pairs]  # fmt: skip
        promoted = [events for done, events in outcomes if done]
        found[name] = {
            "promoted": len(promoted) / len(outcomes),
            "median_events": statistics.median(promoted) if promoted else None,
        }
    return found


def detectors() -> dict[str, Callable[[], Any]]:
    """The detectors measured, with the settings docs/stream.md gives."""
    return {
        "ADWIN (log-loss)": lambda: ADWIN(),
        "Page-Hinkley (log-loss)": lambda: PageHinkley(delta=0.05, threshold=25.0, alpha=1.0),
        "DDM (0/1 errors)": lambda: DDM(),
    }


def false_alarms(
    losses: np.ndarray, errors: np.ndarray, rng: np.random.Generator, events: int
) -> dict:
    """Each detector's alarms per 100,000 events over shuffles of the stream's losses (at
    least ``events`` of them)."""
    found = {}
    for name, make in detectors().items():
        values = errors if name.startswith("DDM") else losses
        alarms = seen = 0
        while seen < events:
            detector = make()
            for value in rng.permutation(values).tolist():
                detector.update(value)
                alarms += detector.drift_detected
            seen += len(values)
        found[name] = {"per_100k": alarms * 100_000 / seen, "events": seen}
    return found


def delays(seeds: int) -> dict[str, float | None]:
    """Each detector's median delay from a known shift (error rate 0.3 -> 0.5 at event
    5,000 of 10,000) to its first alarm after it, over ``seeds`` synthetic streams."""
    found = {}
    for name, make in detectors().items():
        late = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            rate = np.where(np.arange(10_000) < 5_000, 0.3, 0.5)
            wrong = rng.random(10_000) < rate
            loss = np.where(wrong, -math.log(0.4), -math.log(0.6))  # p(right) 0.6
            values = wrong.astype(float) if name.startswith("DDM") else loss
            detector = make()
            for index, value in enumerate(values.tolist()):
                detector.update(value)
                if detector.drift_detected and index >= 5_000:
                    late.append(index - 5_000)
                    break
        found[name] = statistics.median(late) if late else None
    return found


def measure(size: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(0)
    results: dict[str, Any] = {"streams": {}}
    for stream in STREAMS:
        started = time.perf_counter()
        p, up = predictions_by_seed(stream, size["seeds"], size["events"])
        window = min(size["window"], p.shape[1] // 2)
        found = stretches(p.shape[0], p.shape[1], size["shadows"], window, rng)
        by_floor = {}
        for floor in FLOORS:
            losses = log_losses(p, up, floor)
            pairs = shadow_pairs(losses, found, window)
            by_floor[str(floor)] = {
                "bound": log_loss_bound(floor),
                "mean_loss": float(losses.mean()),
                "seed_mean_losses": [float(row.mean()) for row in losses],
                "seed_gap_by_stretch": seed_gap(losses, window),
                "a_a": promotions(pairs, floor, 0.0),
                "a_a_swapped": promotions(swapped(pairs, np.random.default_rng(1)), floor, 0.0),
                "power": {str(a): promotions(pairs, floor, a) for a in ADVANTAGES},
            }
        errors = ((p[0] >= 0.5) != up).astype(float)
        results["streams"][stream] = {
            "events": int(p.shape[1]),
            "window": window,
            "floors": by_floor,
            "false_alarms": false_alarms(
                log_losses(p[0], up, 0.01),
                errors,
                np.random.default_rng(0),
                size["alarm_events"],
            ),
            "seconds": time.perf_counter() - started,
        }
        print(f"{stream}: {results['streams'][stream]['seconds']:.0f} s", file=sys.stderr)
    results["delays"] = delays(size["delay_seeds"])
    return results


def _share(value: float) -> str:
    return f"{value:.1%}"


def section(report: dict[str, Any]) -> str:
    size = report["size"]
    lines = [START, "## Promotion and drift on the project's streams", ""]
    for stream, found in report["results"]["streams"].items():
        lines += [f"**{stream}** ({found['events']:,} events, shadows of {found['window']:,} "
                  "events):", ""]  # fmt: skip
        for floor, at in found["floors"].items():
            seeds = at["seed_mean_losses"]
            lines += [
                f"Log-losses of predictions kept in [{floor}, {1 - float(floor):g}] (the test's "
                f"bound {at['bound']:.2f} nats; mean {at['mean_loss']:.4f}; the seeds' means "
                f"over the replay {min(seeds):.4f}-{max(seeds):.4f}, over a shadow's length the "
                f"best and worst seed {at['seed_gap_by_stretch']:.4f} apart at the median):",
                "",
                "| rule | A/A: promoted (false) | A/A, pairs swapped at random | " + " | ".join(
                    f"better by {a}: promoted (median events)" for a in ADVANTAGES) + " |",
                "| --- | ---: | ---: | " + " | ".join("---:" for _ in ADVANTAGES) + " |",
            ]  # fmt: skip
            for rule in RULES:
                cells = [_share(at[key][rule]["promoted"]) for key in ("a_a", "a_a_swapped")]
                for advantage in ADVANTAGES:
                    power = at["power"][str(advantage)][rule]
                    median = power["median_events"]
                    when = "-" if median is None else f"{median:,.0f}"
                    cells.append(f"{_share(power['promoted'])} ({when})")
                lines.append(f"| {rule} | " + " | ".join(cells) + " |")
            lines.append("")
        lines += ["| detector | false alarms per 100k events (shuffled losses) |",
                  "| --- | ---: |"]  # fmt: skip
        for name, alarms in found["false_alarms"].items():
            lines.append(f"| {name} | {alarms['per_100k']:.1f} |")
        lines.append("")
    lines += ["| detector | median delay after the shift (synthetic, events) |", "| --- | ---: |"]
    for name, delay in report["results"]["delays"].items():
        lines.append(f"| {name} | {'never' if delay is None else f'{delay:,.0f}'} |")
    lines += [
        "",
        f"{size['shadows']:,} shadows a stream, the same stretches for every loss and rule; "
        f"the MLP with {size['seeds']} seeds; alpha {ALPHA}. The detectors see the log-loss "
        "of predictions kept in [0.01, 0.99]. The shadows of a stream overlap (they are "
        "stretches of one replay per seed), so each figure is a share of dependent shadows, "
        "not of independent ones.",
        "",
        f"Command: `{report['command']}`",
        "",
        environment_block(report["environment"]),
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args, report = run_numpy_report(
        "promotion", __doc__.splitlines()[0], argv, SIZES, measure, section, (START, END)
    )
    results = report["results"]
    floors = [at for found in results["streams"].values() for at in found["floors"].values()]
    a_a = max(at["a_a_swapped"][next(iter(RULES))]["promoted"] for at in floors)
    # The full run holds the bar itself; a quick run's few shadows, alpha plus 3 standard errors.
    shadows = report["size"]["shadows"]
    most = ALPHA + (3 * math.sqrt(ALPHA * (1 - ALPHA) / shadows) if args.quick else 0.0)
    if a_a > most:
        sys.exit(f"the paired test promoted {a_a:.1%} of exact-null shadows, over {most:.1%}")


if __name__ == "__main__":
    main()

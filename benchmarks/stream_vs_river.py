"""The stream library against River (and pandas), on the same stream in one run.

Four parts, each on seeded or real inputs shared by both sides, with the settings in one
constant (:data:`LEARNING_RATE`, :data:`DETECTORS`) passed to both:

1. One event at a time: scaler + logistic regression, predict then learn each event of the
   BTC hourly direction task (``azuraforge.stream.direction.direction_task`` of the
   Bitstamp file): ours ``Pipeline(StandardScaler(), LogisticRegression())`` against River's
   ``preprocessing.StandardScaler() | linear_model.LogisticRegression()``; a ``[baseline]``
   row, the no-change classifier (``LastLabel``: the last outcome again).
2. The same in batches of :data:`BATCH` events: ``predict_proba_many`` then ``learn_many``
   of each batch, ours on a dict of NumPy columns, River's on a ``pandas.DataFrame`` (each
   side's batches built before timing); a ``[baseline]`` mean predictor.
3. Drift detectors: ADWIN, DDM and Page-Hinkley, ours (``azuraforge.stream.drift``) against
   River's, ``update`` then ``drift_detected`` on a seeded stream of normal values whose mean
   shifts by :data:`SHIFT` halfway (DDM reads the values above :data:`ERROR_LEVEL` as
   errors: 20 % of them before the shift, 37 % after); a ``[baseline]`` detector that does
   nothing (the loop's own cost).
4. Features: ``default_features()`` (returns over 1-24 steps, RSI(14), Bollinger(20))
   updated event by event and computed in batch over the close column, beside the same
   indicators written with pandas' ``pct_change``, ``ewm`` and ``rolling``; a ``[baseline]``
   loop reading each event's close.

Correctness first, or the script exits with status 1: the predicted probabilities of ours
and River's agree within :data:`TOLERANCE` (one at a time and in batches, every event's
probability predicted before it is learned), the detectors find the same drift indices, and
the features agree event by event = in batch = pandas. Then timing: a warm-up pass, then
``repeats`` passes of each target taking turns (``harness.take_turns``), median reported.
Then memory: one more pass of each target under ``tracemalloc`` (the most it held at once:
model state and temporaries; River's ADWIN keeps its window in Rust, which tracemalloc does
not see). BLAS is limited to one thread for both sides (threadpoolctl). Speed never fails the run.

The table goes to stdout; the full size writes the "Stream vs River" section of
docs/benchmarks.md and benchmarks/results/stream_vs_river.json (``--out``/``--json`` to
write elsewhere, or at the quick size). Needs ``AZURAFORGE_DATA_MIRROR`` (or a download).

Usage::

    .venv/bin/python benchmarks/stream_vs_river.py [--quick] [--repeats N]
        [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from river import drift as river_drift
from river import linear_model, optim, preprocessing
from river.drift import binary as river_binary
from threadpoolctl import threadpool_limits

from azuraforge.learn.datasets.fetching import fetch
from azuraforge.stream import (
    RSI,
    Bollinger,
    CsvReplay,
    LogisticRegression,
    Pipeline,
    Returns,
    StandardScaler,
)
from azuraforge.stream import drift as ours_drift
from azuraforge.stream.baselines import LastLabel
from azuraforge.stream.direction import default_features, direction_task, price_column
from harness import (
    blas_line,
    blas_pools,
    command_line,
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    parse_platform_args,
    peak_rss_mb,
    take_turns,
    write_outputs,
)

START, END = "<!-- stream_vs_river:start -->", "<!-- stream_vs_river:end -->"
SEED = 0
SIZES = {
    "quick": {"events": 3_000, "values": 10_000, "repeats": 3, "warmup": 1},
    "full": {"events": None, "values": 100_000, "repeats": 7, "warmup": 1},
}
DATASET, FILE = "btc-hourly", "Bitstamp_BTCUSD_1h_2018_2022.csv"
VOLUMES = ("Volume BTC", "Volume USD")
BATCH = 1_000
LEARNING_RATE = 0.01
"""SGD's step for the weights and the intercept, both sides (River's default)."""
SHIFT = 0.5
"""How far the drift stream's mean moves halfway, in standard deviations."""
ERROR_LEVEL = NormalDist().inv_cdf(0.8)
"""DDM's errors: the values above the 80th percentile of N(0, 1)."""
DETECTORS: dict[str, dict[str, Any]] = {
    "ADWIN": {"delta": 0.002, "clock": 32, "max_buckets": 5, "min_window_length": 5,
              "grace_period": 10},
    "DDM": {"warm_start": 30, "warning_threshold": 2.0, "drift_threshold": 3.0},
    # The classic test (no fading), ignoring changes below a fifth of the shift: River's
    # defaults (delta 0.005, alpha 0.9999) signal dozens of drifts in unit noise.
    "PageHinkley": {"min_instances": 30, "delta": 0.1, "threshold": 50.0, "alpha": 1.0,
                    "mode": "both"},
}  # fmt: skip
TOLERANCE = {
    "proba_one": 1e-9,  # ours vs River, each event's probability of True
    "proba_many": 1e-9,  # the same in batches, and the final weights and intercept
    "features_rel": 1e-12,  # event by event vs batch (the features' own promise)
    "pandas_rtol": 1e-7,  # batch vs pandas: pandas' rolling variance keeps running sums
    "pandas_atol": 1e-8,
}
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
PACKAGES = ["azuraforge", "river", "numpy", "pandas", "narwhals"]
PARTS = {
    "one": "1. scaler + logistic regression, one event at a time (predict, then learn)",
    "many": f"2. the same in batches of {BATCH:,} (predict_proba_many, then learn_many)",
    "drift": "3. drift detectors (update, then drift_detected)",
    "features": "4. features of the close (default_features: 6 returns, RSI 14, Bollinger 20)",
}


@dataclass
class Target:
    """One thing to time: a whole pass over its part's inputs, and what it found."""

    part: str
    name: str
    side: str  # "ours", "peer" or "baseline"
    run: Callable[[], Any]
    items: int  # events, values or batches' events per pass
    unit: str
    peer: str | None = None  # for ours: the target it is compared with
    result: str = ""
    times_ms: list[float] = field(default_factory=list)
    peak_kib: float = math.nan


# ---- the inputs -------------------------------------------------------------------------


def load_stream(limit: int | None) -> tuple[list[Any], Any]:
    """The BTC hourly events (the first ``limit``) and their direction task."""
    path = fetch(DATASET)[FILE]
    events = list(islice(CsvReplay(path, volume_pair=VOLUMES), limit))
    return events, direction_task(events)


def drift_stream(size: int) -> tuple[list[float], list[int]]:
    """Seeded N(0, 1) values whose mean moves to :data:`SHIFT` halfway, and DDM's errors."""
    rng = np.random.default_rng(SEED)
    half = size // 2
    values = np.concatenate([rng.normal(0.0, 1.0, half), rng.normal(SHIFT, 1.0, size - half)])
    return values.tolist(), (values > ERROR_LEVEL).astype(int).tolist()


# ---- 1 and 2: scaler + logistic regression ----------------------------------------------


def ours_model() -> Any:
    return Pipeline(StandardScaler(), LogisticRegression(lr=LEARNING_RATE))


def river_model() -> Any:
    model = linear_model.LogisticRegression(
        optimizer=optim.SGD(LEARNING_RATE), intercept_lr=LEARNING_RATE
    )
    return preprocessing.StandardScaler() | model


class MeanPredictor:
    """The share of ``True`` among the outcomes learned so far (0.5 before any), in batches."""

    def __init__(self) -> None:
        self.up, self.seen = 0, 0

    def learn_many(self, X: Any, y: np.ndarray) -> None:
        self.up, self.seen = self.up + int(np.sum(y)), self.seen + len(y)

    def predict_proba_many(self, X: Any) -> np.ndarray:
        size = len(next(iter(X.values())))
        return np.full(size, self.up / self.seen if self.seen else 0.5)


def one_at_a_time(
    make: Callable[[], Any], examples: list[Any], keep: bool = False
) -> Callable[[], list[float]]:
    """A pass of predict-then-learn over ``examples``; with ``keep``, returns each
    probability of True (timed passes keep nothing, as a stream does)."""

    def run() -> list[float]:
        model, found = make(), []
        for example in examples:
            proba = model.predict_proba_one(example.x)
            if keep:
                found.append(proba.get(True, 0.0))
            model.learn_one(example.x, example.y)
        return found

    return run


def in_batches(
    make: Callable[[], Any], batches: list[tuple[Any, Any]], keep: bool = False
) -> Callable[[], Any]:
    """A pass of predict-then-learn over ``batches``; returns the model and, with ``keep``,
    the probabilities of True (River's come as a DataFrame with a ``True`` column)."""

    def run() -> tuple[Any, np.ndarray]:
        model, found = make(), []
        for X, y in batches:
            proba = model.predict_proba_many(X)
            if keep:
                found.append(proba[True].to_numpy() if hasattr(proba, "columns") else proba)
            model.learn_many(X, y)
        return model, np.concatenate(found) if keep else np.array([])

    return run


def scores(p: np.ndarray, y: np.ndarray, hard: bool = False) -> str:
    """Accuracy (p > 0.5 read as True) and log-loss (not for a rule that says 0 or 100 %)."""
    accuracy = float(np.mean((p > 0.5) == y))
    if hard:
        return f"accuracy {accuracy:.4f}"
    loss = float(-np.log(np.clip(np.where(y, p, 1 - p), 1e-15, 1.0)).mean())
    return f"accuracy {accuracy:.4f}, log-loss {loss:.4f}"


def learner_targets(examples: list[Any]) -> tuple[list[Target], dict[str, Any]]:
    """Parts 1 and 2, checked: ours and River's probabilities must agree."""
    y = np.array([e.y for e in examples], dtype=bool)
    makers = {"ours": ours_model, "peer": river_model, "baseline": LastLabel}
    one = {name: one_at_a_time(make, examples) for name, make in makers.items()}
    found = {
        name: np.array(one_at_a_time(make, examples, keep=True)()) for name, make in makers.items()
    }
    diff_one = float(np.max(np.abs(found["ours"] - found["peer"])))
    names = list(examples[0].x)
    columns = {n: np.array([e.x[n] for e in examples]) for n in names}
    spans = [slice(at, at + BATCH) for at in range(0, len(examples), BATCH)]
    ours_batches = [({n: c[s] for n, c in columns.items()}, y[s]) for s in spans]
    river_batches = [(pd.DataFrame(X), pd.Series(t)) for X, t in ours_batches]
    inputs = {
        "ours": (ours_model, ours_batches),
        "peer": (river_model, river_batches),
        "baseline": (MeanPredictor, ours_batches),
    }
    many = {name: in_batches(*given) for name, given in inputs.items()}
    batch_found = {name: in_batches(*given, keep=True)() for name, given in inputs.items()}
    ours_final = batch_found["ours"][0].final
    river_final = batch_found["peer"][0]["LogisticRegression"]
    weights = max(abs(w - river_final.weights[n]) for n, w in ours_final.weights.items())
    check = {
        "features": names,
        "events": len(examples),
        "batches": len(spans),
        "proba_one_max_abs_diff": diff_one,
        "proba_many_max_abs_diff": float(
            np.max(np.abs(batch_found["ours"][1] - batch_found["peer"][1]))
        ),
        "weights_many_max_abs_diff": max(
            weights, abs(ours_final.intercept - river_final.intercept)
        ),
    }
    check["ok"] = (
        check["proba_one_max_abs_diff"] <= TOLERANCE["proba_one"]
        and check["proba_many_max_abs_diff"] <= TOLERANCE["proba_many"]
        and check["weights_many_max_abs_diff"] <= TOLERANCE["proba_many"]
    )
    labels = {
        "ours": "ours `Pipeline(StandardScaler(), LogisticRegression())`",
        "peer": "River `StandardScaler() | LogisticRegression()`",
    }
    targets = []
    for part, runs, results, baseline in (
        ("one", one, found, "[baseline] no change (`LastLabel`)"),
        ("many", many, {k: v[1] for k, v in batch_found.items()}, "[baseline] mean predictor"),
    ):
        for side, run in runs.items():
            targets.append(
                Target(
                    part, labels.get(side, baseline), side, run, len(examples), "events",
                    peer=labels["peer"] if side == "ours" else None,
                    result=scores(results[side], y, hard=part == "one" and side == "baseline"),
                )
            )  # fmt: skip
    return targets, check


# ---- 3: drift detectors -----------------------------------------------------------------


class NoDetector:
    """Takes each value and finds nothing: what the loop around a detector costs."""

    drift_detected = False

    def update(self, value: float) -> None:
        pass


def detecting(make: Callable[[], Any], values: list[Any]) -> Callable[[], list[int]]:
    """A pass of ``update`` then ``drift_detected`` over ``values``; the drift indices."""

    def run() -> list[int]:
        detector, found = make(), []
        for at, value in enumerate(values):
            detector.update(value)
            if detector.drift_detected:
                found.append(at)
        return found

    return run


def drift_targets(size: int) -> tuple[list[Target], dict[str, Any]]:
    """Part 3, checked: ours and River's detectors must find the same drift indices."""
    values, errors = drift_stream(size)
    river = {"ADWIN": ("drift.ADWIN", river_drift.ADWIN),
             "DDM": ("drift.binary.DDM", river_binary.DDM),
             "PageHinkley": ("drift.PageHinkley", river_drift.PageHinkley)}  # fmt: skip
    targets, check = [], {"values": size, "shift_at": size // 2, "found": {}, "ok": True}
    for name, params in DETECTORS.items():
        stream = errors if name == "DDM" else values
        ours = detecting(lambda n=name, p=params: getattr(ours_drift, n)(**p), stream)
        peer = detecting(lambda n=name, p=params: river[n][1](**p), stream)
        found = {"ours": ours(), "river": peer()}
        check["found"][name] = found
        check["ok"] = check["ok"] and found["ours"] == found["river"]
        shown = f"drifts at {found['ours']}" if len(found["ours"]) <= 4 else (
            f"{len(found['ours'])} drifts, first {found['ours'][:3]}")  # fmt: skip
        peer_name = f"River `{river[name][0]}`"
        targets += [
            Target("drift", f"ours `{name}`", "ours", ours, size, "updates", peer_name,
                   shown + (" (= River's)" if found["ours"] == found["river"] else "")),
            Target("drift", peer_name, "peer", peer, size, "updates",
                   result=f"drifts at {found['river']}" if len(found["river"]) <= 4 else ""),
        ]  # fmt: skip
    loop = detecting(NoDetector, values)
    targets.append(Target("drift", "[baseline] a detector that does nothing", "baseline", loop,
                          size, "updates"))  # fmt: skip
    return targets, check


# ---- 4: features ------------------------------------------------------------------------


def pandas_features(closes: np.ndarray, features: Any) -> dict[str, np.ndarray]:
    """The outputs of ``features`` (Returns, RSI and Bollinger, their settings read from it)
    written with pandas: ``pct_change``; Wilder's averages as an ``ewm`` with alpha 1/n from
    the mean of the first n changes; ``rolling`` mean and population std for the bands."""
    series, out = pd.Series(closes), {}
    change = series.diff()
    for feature in features.features:
        if isinstance(feature, Returns):
            for h in feature.horizons:
                out[f"return_{h}"] = series.pct_change(h, fill_method=None).to_numpy()
        elif isinstance(feature, RSI):
            n, averages = feature.period, []
            for moves in (change.clip(lower=0), (-change).clip(lower=0)):
                seeded = moves.iloc[n:].copy()
                seeded.iloc[0] = moves.iloc[1 : n + 1].mean()
                averages.append(seeded.ewm(alpha=1 / n, adjust=False).mean())
            rsi = 100 - 100 / (1 + averages[0] / averages[1])
            out[f"rsi_{n}"] = rsi.reindex(series.index).to_numpy()
        elif isinstance(feature, Bollinger):
            rolling = series.rolling(feature.window)
            mean, spread = rolling.mean(), 2 * feature.k * rolling.std(ddof=0)
            out["bb_pct_b"] = ((series - mean) / spread + 0.5).to_numpy()
            out["bb_width"] = (spread / mean).to_numpy()
        else:
            sys.exit(f"no pandas version of {type(feature).__name__}")
    return out


def feature_targets(events: list[Any]) -> tuple[list[Target], dict[str, Any]]:
    """Part 4, checked: event by event = batch = pandas."""
    column = price_column(events[0])
    closes = np.array([event.values[column] for event in events])

    def per_event() -> None:
        features = default_features(column)
        for event in events:
            features.update(event)

    def read_only() -> None:
        for event in events:
            event.values[column]

    names = default_features(column).names
    features = default_features(column)
    stepped = [features.update(event) for event in events]
    incremental = {n: np.array([row.get(n, np.nan) for row in stepped]) for n in names}
    batch = default_features(column).batch(closes)
    reference = pandas_features(closes, default_features(column))
    rel, tol = TOLERANCE["features_rel"], TOLERANCE
    check = {
        "features": list(names),
        "events": len(events),
        "step_vs_batch_ok": all(
            np.allclose(incremental[n], batch[n], rtol=rel, atol=rel, equal_nan=True)
            for n in names
        ),
        "batch_vs_pandas_ok": sorted(reference) == sorted(names) and all(
            np.allclose(batch[n], reference[n], rtol=tol["pandas_rtol"],
                        atol=tol["pandas_atol"], equal_nan=True)
            for n in names
        ),
        "batch_vs_pandas_max_abs_diff": {
            n: float(np.nanmax(np.abs(batch[n] - reference[n]))) for n in names
        },
    }  # fmt: skip
    check["ok"] = check["step_vs_batch_ok"] and check["batch_vs_pandas_ok"]
    size, pandas_name = len(events), "pandas `pct_change`, `ewm`, `rolling` (batch)"
    return [
        Target("features", "ours `FeatureSet.update(event)`, event by event", "ours", per_event,
               size, "events"),
        Target("features", "ours `FeatureSet.batch(closes)`", "ours",
               lambda: default_features(column).batch(closes), size, "events", pandas_name),
        Target("features", pandas_name, "peer", lambda: pandas_features(
            closes, default_features(column)), size, "events"),
        Target("features", "[baseline] read each event's close", "baseline", read_only, size,
               "events"),
    ], check  # fmt: skip


# ---- timing and memory ------------------------------------------------------------------


def traced_peak_kib(run: Callable[[], Any]) -> float:
    """The most memory (KiB) one pass held at once under tracemalloc, beyond what was held
    before it (its return value included)."""
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def measure(targets: list[Target], repeats: int, warmup: int) -> None:
    """Each part's targets take turns; then one traced pass each."""
    for part in PARTS:
        mine = {t.name: t for t in targets if t.part == part}
        times = take_turns({name: t.run for name, t in mine.items()}, repeats, warmup)
        for name, t in mine.items():
            t.times_ms = times[name]
            t.peak_kib = traced_peak_kib(t.run)
        print(f"timed {part}: " + ", ".join(
            f"{name} {np.median(t.times_ms):.1f} ms" for name, t in mine.items()))  # fmt: skip


def figures(targets: list[Target]) -> list[dict[str, Any]]:
    """Each target's medians, throughput and, for ours, speed against its peer."""
    medians = {(t.part, t.name): float(np.median(t.times_ms)) for t in targets}
    rows = []
    for t in targets:
        median = medians[t.part, t.name]
        rows.append({
            "part": t.part, "target": t.name, "side": t.side, "items": t.items,
            "unit": t.unit, "median_ms": median,
            "quartiles_ms": np.percentile(t.times_ms, [25, 75]).tolist(),
            "us_per_item": median * 1e3 / t.items, "items_per_s": t.items / median * 1e3,
            "peer": t.peer,
            "speed_vs_peer": medians[t.part, t.peer] / median if t.peer else None,
            "tracemalloc_peak_kib": t.peak_kib, "result": t.result, "times_ms": t.times_ms,
        })  # fmt: skip
    return rows


# ---- the report -------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown results table."""
    lines = [
        "| part | target | median ms per pass | µs per item | items/s | ours speed ÷ peer's "
        "| peak KiB (tracemalloc) | found |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    shown = None
    for r in rows:
        part = "" if r["part"] == shown else f"{PARTS[r['part']]}: {r['items']:,} {r['unit']}"
        shown = r["part"]
        speed = f"**{r['speed_vs_peer']:.2f}x**" if r["speed_vs_peer"] else ""
        target = r["target"].replace("|", "\\|")
        lines.append(
            f"| {part} | {target} | {r['median_ms']:,.1f} | {r['us_per_item']:.2f} "
            f"| {r['items_per_s']:,.0f} | {speed} | {r['tracemalloc_peak_kib']:,.1f} "
            f"| {r['result']} |"
        )
    return "\n".join(lines)


def section(report: dict[str, Any]) -> str:
    """The Markdown that goes between the markers."""
    checks, cfg = report["checks"], report["config"]
    learners, drift, feats = checks["learners"], checks["drift"], checks["features"]
    found = "; ".join(f"{name} at {f['ours']}" for name, f in drift["found"].items())
    worst = max(feats["batch_vs_pandas_max_abs_diff"].items(), key=lambda kv: kv[1])
    block = environment_block(report["environment"]).splitlines()
    block = [blas_line(report) if line.startswith("no BLAS") else line for line in block]
    return "\n".join([
        START,
        "## Stream vs River",
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        table(report["results"]),
        "",
        f"Median of {cfg['repeats']} passes of each target after {cfg['warmup']} warm-up "
        "pass, the targets of a part taking turns (their order alternating between passes). "
        "Speed ÷ peer's: the peer's median time over ours, so above 1 ours is faster. Peak "
        "KiB: the most memory one more pass held at once under tracemalloc: the model or "
        "detector and its temporaries (a pass keeps no predictions, as a stream does not; the "
        "batch features return their columns, 9 floats an event). River's ADWIN keeps its "
        "window in Rust, which tracemalloc does not see.",
        "",
        f"Inputs. Parts 1, 2 and 4: the `{DATASET}` file `{FILE}` replayed by `CsvReplay` "
        f"({cfg['events']:,} events); parts 1 and 2 learn its direction task "
        f"(`direction_task`: will the next close be higher?), {learners['events']:,} "
        f"examples of {len(learners['features'])} features "
        f"({', '.join(learners['features'])}). Both learners use SGD with step "
        f"{LEARNING_RATE} for the weights and the intercept, no L2 (River's defaults); each "
        "event is predicted before it is learned. In batches, each side gets its batches "
        "built before timing (ours: a dict of NumPy columns; River: a DataFrame and a "
        "Series). Part 3: "
        f"{drift['values']:,} seeded N(0, 1) values whose mean moves by {SHIFT} at value "
        f"{drift['shift_at']:,}; DDM reads those above {ERROR_LEVEL:.4f} as errors (an error "
        f"rate of 0.20, then 0.37). Settings, both sides: "
        + "; ".join(f"{n} {p}" for n, p in DETECTORS.items()) + ".",
        "",
        "Correctness, checked before timing (else the script fails): probabilities of True "
        f"ours vs River differ by at most {learners['proba_one_max_abs_diff']:.1e} one at a "
        f"time and {learners['proba_many_max_abs_diff']:.1e} in batches (tolerance "
        f"{TOLERANCE['proba_one']:.0e}: the same maths; each batch is one SGD step on the "
        "batch's mean gradient on both sides), the weights and intercept after the last "
        f"batch by {learners['weights_many_max_abs_diff']:.1e}. The detectors find the same "
        f"drift indices as River's: {found}. The features event by event equal the batch "
        f"within {TOLERANCE['features_rel']:.0e} and pandas within "
        f"{TOLERANCE['pandas_rtol']:.0e} relative (largest difference {worst[1]:.1e}, "
        f"{worst[0]}).",
        "",
        "Where the time goes. Drift: ours DDM and Page-Hinkley write their `update` out in "
        "full (the value's check, a few float operations, the flags as plain attributes), "
        "where River's call a `stats.Mean` and read properties. River's ADWIN is a Python "
        "`update` around one call into compiled Rust; in ours, keeping, inserting (Welford's "
        "sums in River's order, which the same drift indices need) and merging each value "
        "cost more than River's whole update before any cut is tested: the table by stage "
        "below the section (`benchmarks/adwin_stages.py`). Features in batch: `RSI.batch` "
        "replays `update` value by value in Python "
        "(Wilder's recursion), about 95 % of `FeatureSet.batch`; the returns and Bollinger "
        "columns are vectorised NumPy. pandas runs the same recursion as a compiled `ewm`.",
        "",
        f"River {report['environment']['packages']['river']} runs its ADWIN in Rust and the "
        "rest in Python; ours is Python and NumPy. BLAS is limited to one thread for both "
        "sides (only part 2 reaches it). Every pass, check and version is in "
        "`benchmarks/results/stream_vs_river.json`.",
        "",
        "\n".join(block),
        END,
    ])  # fmt: skip


# ---- driver -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 3,000 events, 3 passes")
    parser.add_argument("--repeats", type=int, help="timed passes of each target")
    parser.add_argument("--out", type=Path, help="Markdown to update (full size default: docs)")
    parser.add_argument("--json", type=Path, help="where the numbers go")
    return parse_platform_args(parser, argv, ("repeats",), "stream_vs_river")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    exit_on_sigterm()
    size = SIZES["quick" if args.quick else "full"]
    repeats = args.repeats or size["repeats"]
    load, ticks = os.getloadavg(), cpu_ticks()
    with threadpool_limits(limits=1):
        events, task = load_stream(size["events"])
        learners, learner_check = learner_targets(task.examples)
        drifts, drift_check = drift_targets(size["values"])
        features, feature_check = feature_targets(events)
        checks = {"learners": learner_check, "drift": drift_check, "features": feature_check}
        failed = [name for name, check in checks.items() if not check["ok"]]
        if failed:
            sys.exit(f"ours and the peer disagree ({', '.join(failed)}): {checks}")
        targets = learners + drifts + features
        measure(targets, repeats, size["warmup"])
        pools = blas_pools()
    report = {
        "benchmark": "stream_vs_river",
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {"quick": args.quick, "repeats": repeats, "warmup": size["warmup"],
                   "events": len(events), "batch": BATCH, "learning_rate": LEARNING_RATE,
                   "detectors": DETECTORS, "tolerance": TOLERANCE, "seed": SEED},
        "checks": checks,
        "results": figures(targets),
        "blas": pools,
        "env": {k: os.environ.get(k) for k in ENV_VARS},
        "environment": environment(load, ticks, None, PACKAGES),
        "peak_rss_mb": peak_rss_mb(),
    }  # fmt: skip
    print(table(report["results"]))
    print(blas_line(report))
    write_outputs(report, section(report), (START, END), args.out, args.json)


if __name__ == "__main__":
    main()

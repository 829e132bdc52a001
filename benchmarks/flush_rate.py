"""The run context's write rate: a run logging many points as fast as it can.

A :class:`~azuraforge.platform.jobs.context.StoreContext` on a fresh store (an SQLite file;
a throw-away PostgreSQL database) takes ``points`` calls of ``log_metrics`` (one metric a
call) as fast as the loop goes, then :meth:`close` writes what is left. Points a second are
counted from the first call to ``close``'s return; transactions are the run's ``metrics``
events (the flusher writes one per transaction). The peer, in the same run, taking turns:
the flusher as it was before issue 67 (:class:`FixedDelayContext`: it waits
``flush_interval`` = 0.05 s, that setting's default then, after each batch's first point,
even a lone one); ours runs with today's default. Correctness first: every point stored once
with its value, none dropped, or the script exits 1. Then, per round, a steady run: 200
points at 40 a second (platform_live's pace), each timed from ``log_metrics`` to the return
of the write that stored it (the flusher's leg of a live curve's latency), p50 and p95; and
a busy run: 2,000 points at 1,000 a second, the transactions that stored them (what a
fast-logging run costs the store).

Usage::

    .venv/bin/python benchmarks/flush_rate.py [--points N] [--rounds N]
        [--postgres URL | --no-postgres] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import JobWrites, Store, upgrade_database
from harness import DEFAULT_POSTGRES, postgres_database, usable_postgres

FLUSH_INTERVAL = Settings.model_fields["flush_interval"].default  # ours: the setting's default
FIXED_INTERVAL = 0.05  # the peer's: the default before issue 67
STEADY_S, STEADY_POINTS = 0.025, 200  # the steady part: 40 points a second, platform_live's
BUSY_S, BUSY_POINTS = 0.001, 2_000  # the busy part: 1,000 points a second


class FixedDelayContext(StoreContext):
    """The peer: the flusher before issue 67, which waited ``flush_interval`` after every
    batch's first point (a close cut the wait short)."""

    def _coalesce(self) -> None:
        if not self._closed.is_set():
            self._closed.wait(self._flush_interval)


FLUSHERS: dict[str, tuple[type[StoreContext], float]] = {
    "adaptive": (StoreContext, FLUSH_INTERVAL),
    "fixed": (FixedDelayContext, FIXED_INTERVAL),
}


def one_run(store: Store, name: str, points: int, work: Path) -> dict[str, Any]:
    """Log ``points`` points as fast as possible through the flusher ``name``; its rates,
    checked."""
    record = store.create_experiment("flush-rate", {})
    lease = store.claim(record.id, "bench", 300.0)
    assert lease is not None
    flusher, interval = FLUSHERS[name]
    ctx = flusher(store, lease, work / str(record.id), flush_interval=interval)
    started = time.perf_counter()
    for step in range(points):
        ctx.log_metrics({"loss": step * 0.5}, step)
    logged = time.perf_counter()
    if not ctx.close(timeout=300) or ctx.dropped_points:
        sys.exit(f"{flusher.__name__}: not every point was written")
    closed = time.perf_counter()
    stored = store.get_metrics(record.id)["loss"]
    if [(s, v) for s, v, _ in stored] != [(s, s * 0.5) for s in range(points)]:
        sys.exit(f"{flusher.__name__}: the stored points differ from those logged")
    batches = store.list_events(experiment_id=record.id, kinds=["metrics"], limit=points)
    store.finish(lease, "completed", error=None, result=None)
    seconds = closed - started
    return {
        "points_per_s": points / seconds,
        "transactions": len(batches),
        "transactions_per_s": len(batches) / seconds,
        "logging_s": logged - started,
    }


def paced_run(
    store: Store, name: str, points: int, pace: float, work: Path
) -> tuple[list[float], int]:
    """Log ``points`` points one every ``pace`` seconds through the flusher ``name``; each
    point's milliseconds from ``log_metrics`` to the return of the write that stored it, and
    the transactions that stored them."""
    record = store.create_experiment("flush-latency", {})
    lease = store.claim(record.id, "bench", 300.0)
    assert lease is not None
    flusher, interval = FLUSHERS[name]
    ctx = flusher(store, lease, work / str(record.id), flush_interval=interval)
    latencies: list[float] = []
    transactions = 0
    write = ctx.writer.write

    def timed(writes: JobWrites) -> None:
        nonlocal transactions
        write(writes)
        done = time.time()
        latencies.extend((done - logged) * 1e3 for _, _, _, logged in writes.points)
        transactions += bool(writes.points)

    ctx.writer.write = timed  # type: ignore[method-assign]
    for step in range(points):
        ctx.log_metrics({"loss": float(step)}, step)
        time.sleep(pace)
    if not ctx.close(timeout=60) or len(latencies) != points:
        sys.exit(f"{name}: {len(latencies)} of {points} points written")
    store.finish(lease, "completed", error=None, result=None)
    return latencies, transactions


def measure(url: str, points: int, rounds: int, work: Path) -> dict[str, Any]:
    """``rounds`` turns of each flusher on the store at ``url``; medians and the ratio."""
    upgrade_database(url)
    store = Store(url)
    try:
        one_run(store, "adaptive", 1_000, work)  # warm-up
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in FLUSHERS}
        steady: dict[str, list[float]] = {name: [] for name in FLUSHERS}
        busy: dict[str, list[int]] = {name: [] for name in FLUSHERS}
        for _ in range(rounds):
            for name in FLUSHERS:
                runs[name].append(one_run(store, name, points, work))
                steady[name].extend(paced_run(store, name, STEADY_POINTS, STEADY_S, work)[0])
                busy[name].append(paced_run(store, name, BUSY_POINTS, BUSY_S, work)[1])
    finally:
        store.engine.dispose()
    medians = {
        name: {key: statistics.median(r[key] for r in done) for key in done[0]}
        for name, done in runs.items()
    }
    return {
        "runs": runs,
        "steady_ms": {
            name: {f"p{q}": float(statistics.quantiles(done, n=100)[q - 1]) for q in (50, 95)}
            for name, done in steady.items()
        },
        "busy_transactions": {name: statistics.median(done) for name, done in busy.items()},
        "median": medians,
        "points_ratio": medians["adaptive"]["points_per_s"] / medians["fixed"]["points_per_s"],
    }


def main(argv: list[str] | None = None) -> None:
    """Measure both flushers on SQLite and (if reachable) PostgreSQL; print, save JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points logged a run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each flusher a store")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="a PostgreSQL URL to create databases from"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    skipped: dict[str, str] = {}
    postgres = usable_postgres(args, skipped)
    load = os.getloadavg()
    results = {}
    with tempfile.TemporaryDirectory(prefix="af-flush-rate-") as folder, ExitStack() as stack:
        stores = {"sqlite": f"sqlite:///{Path(folder) / 'azuraforge.db'}"}
        if postgres:
            stores["postgresql"] = stack.enter_context(postgres_database(postgres))
        for name, url in stores.items():
            results[name] = measure(url, args.points, args.rounds, Path(folder))
            m = results[name]["median"]
            print(
                f"{name}: adaptive {m['adaptive']['points_per_s']:,.0f} points/s, "
                f"{m['adaptive']['transactions']:.0f} transactions; fixed (peer) "
                f"{m['fixed']['points_per_s']:,.0f} points/s, {m['fixed']['transactions']:.0f} "
                f"transactions; ratio {results[name]['points_ratio']:.2f}x",
                flush=True,
            )
            print(f"{name}: log_metrics to stored at 40 points/s: {results[name]['steady_ms']}")
            print(
                f"{name}: transactions for {BUSY_POINTS:,} points at 1,000 a second: "
                f"{results[name]['busy_transactions']}"
            )
    print(f"load average before: {load[0]:.2f} {load[1]:.2f}; after: {os.getloadavg()[0]:.2f}")
    if args.json:
        report = {"points": args.points, "rounds": args.rounds, "load": load,
                  "skipped": skipped, "results": results}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

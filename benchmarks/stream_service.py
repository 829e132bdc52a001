"""Events a second through a supervised stream, end to end, beside the same loop in one
process and River's ``progressive_val_score``, on the same BTC hourly events in one run.

- **The loop in one process**: :class:`~azuraforge.stream.shadow.ShadowLoop` over the
  events (features, the learner, the four trivial rules, ADWIN on the champion's errors), no
  store: what a stream's job computes.
- **A supervised stream** on SQLite and on PostgreSQL: ``start_stream`` on the local
  transport and one worker taking it (its job forked as every job is), the same loop, with
  the running scores as metric points, one row a model a scored prediction, and the loop's
  state checkpointed every ``checkpoint_every`` (100) events in their transaction. Timed from
  the worker taking it to its end (the job's own ``started_at`` to ``finished_at``).
- **River**: ``evaluate.progressive_val_score`` of ``StandardScaler | LogisticRegression``
  (SGD, the same rate as ``logreg-sgd``) on the same features, computed on the fly by our
  ``FeatureSet`` (River has no such features; they are in its time too), with its
  ``Accuracy``: one model, no rules, no store.

Each target runs ``repeats`` times, taking turns; the median is reported, with the service's
ratio to the loop in one process (its overhead) and River's. BLAS: one thread (threadpoolctl).

Usage::

    .venv/bin/python benchmarks/stream_service.py [--quick] [--repeats N] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

from river import evaluate, linear_model, metrics, optim, preprocessing
from threadpoolctl import threadpool_limits

from azuraforge.learn.datasets.fetching import fetch
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, upgrade_database
from azuraforge.stream import CsvReplay, Event
from azuraforge.stream.direction import default_features, make_learner
from azuraforge.stream.shadow import ShadowLoop, ShadowRules
from harness import (
    add_platform_options,
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    parse_platform_args,
    postgres_database,
    publish,
    usable_postgres,
)

START, END = "<!-- stream-service:start -->", "<!-- stream-service:end -->"
LEARNER = "logreg-sgd"
RATE = 0.01
"""The learning rate of ``logreg-sgd`` (``default_learners``), given to River's too."""
SIZES = {"quick": {"events": 2000, "repeats": 1}, "full": {"events": 20_000, "repeats": 3}}


def btc_events(count: int) -> list[Event]:
    path = next(iter(fetch("btc-hourly").values()))
    return list(islice(CsvReplay(path, columns=["close"], price_column="close"), count))


def in_one_process(events: list[Event]) -> Callable[[], float]:
    def run() -> float:
        loop = ShadowLoop(lambda kind, n: make_learner(kind, n - 1), LEARNER, ShadowRules())
        started = time.perf_counter()
        for event in events:
            loop.step(event)
        return time.perf_counter() - started

    return run


def supervised(database_url: str, home: Path, count: int) -> Callable[[], float]:
    """One stream of ``count`` events on the store at ``database_url``, run by a worker;
    the seconds from its start to its end as the job recorded them."""
    upgrade_database(database_url)
    settings = Settings(home=home, database_url=database_url, flush_interval=0.5)
    store = Store(database_url)

    def run() -> float:
        config = {"source": "btc-hourly", "learner": LEARNER, "max_events": count}
        record = start_stream(store, LocalTransport(), settings, config)
        Worker(settings, store).run_next()
        done = store.get_experiment(record.id)
        if done.status != "completed" or done.result is None or done.result["events"] != count:
            sys.exit(f"the stream ended {done.status}: {done.error}")
        assert done.started_at is not None and done.finished_at is not None
        return done.finished_at - done.started_at

    return run


def river_features(events: list[Event]) -> Iterator[tuple[dict[str, float], bool]]:
    """Our features of each event (once ready) and whether the next close is higher."""
    features = default_features("close")
    for event, after in pairwise(events):
        x = features.update(event)
        if len(x) == len(features.names):
            yield x, after.values["close"] > event.values["close"]


def river(events: list[Event]) -> Callable[[], float]:
    def run() -> float:
        model = preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(RATE), intercept_lr=RATE
        )
        started = time.perf_counter()
        evaluate.progressive_val_score(river_features(events), model, metrics.Accuracy())
        return time.perf_counter() - started

    return run


def measure(size: dict[str, Any], postgres: str | None) -> dict[str, Any]:
    events = btc_events(size["events"])
    count = len(events)
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        targets = {"loop in one process": in_one_process(events)}
        targets["supervised stream, SQLite"] = supervised(
            f"sqlite:///{Path(folder) / 'af.db'}", Path(folder) / "home", count
        )
        if postgres is not None:
            url = stack.enter_context(postgres_database(postgres))
            targets["supervised stream, PostgreSQL"] = supervised(
                url, Path(folder) / "home-pg", count
            )
        targets["River progressive_val_score"] = river(events)
        seconds: dict[str, list[float]] = {name: [] for name in targets}
        names = list(targets)
        for repeat in range(size["repeats"]):
            for name in names if repeat % 2 == 0 else names[::-1]:
                with threadpool_limits(1):
                    seconds[name].append(targets[name]())
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    base = medians["loop in one process"]
    return {
        "events": count,
        "targets": {
            name: {
                "seconds": seconds[name],
                "median_s": median,
                "events_per_s": count / median,
                "ratio_to_loop": median / base,
            }
            for name, median in medians.items()
        },
    }


def section(report: dict[str, Any]) -> str:
    results = report["results"]
    lines = [START, "## Events a second through a supervised stream", "",
             f"{results['events']:,} BTC hourly events; `{LEARNER}`; medians of "
             f"{report['size']['repeats']} runs taking turns:", "",
             "| target | seconds | events/s | time / the loop in one process |",
             "| --- | ---: | ---: | ---: |"]  # fmt: skip
    for name, found in results["targets"].items():
        lines.append(f"| {name} | {found['median_s']:.2f} | {found['events_per_s']:,.0f} | "
                     f"{found['ratio_to_loop']:.2f}x |")  # fmt: skip
    skipped = report.get("skipped") or {}
    lines += [""] + [f"Not run: {name} ({why})." for name, why in skipped.items()]
    lines += [
        "",
        "The loop runs the learner, four trivial rules and ADWIN, and keeps a candidate when "
        "one opens; the service adds the forked job, a checkpoint every 100 events (the loop's "
        "state as JSON, the running scores as metric points, six rows a scored prediction, in "
        "one transaction) and the look for triggers every second. River runs one model.",
        "",
        f"Command: `{report['command']}`",
        "",
        environment_block(report["environment"]),
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size")
    parser.add_argument("--repeats", type=int, help="runs of each target")
    add_platform_options(parser)
    args = parse_platform_args(parser, argv, ["repeats"], "stream_service")
    exit_on_sigterm()
    size = dict(SIZES["quick" if args.quick else "full"])
    size["repeats"] = args.repeats or size["repeats"]
    skipped: dict[str, str] = {}
    postgres = usable_postgres(args, skipped)
    load, ticks = os.getloadavg(), cpu_ticks()
    results = measure(size, postgres)
    publish("stream_service", args, section, (START, END), size=size, results=results,
            skipped=skipped,
            environment=environment(load, ticks, postgres, ["numpy", "river", "sqlalchemy"]),
            )  # fmt: skip


if __name__ == "__main__":
    main()

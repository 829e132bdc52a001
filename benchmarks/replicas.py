"""Replicas that lose nothing (issue 65 §1): three API replicas behind HAProxy, one killed.

On loopback, with the settings of ``deploy/compose.yaml`` and its ``deploy/haproxy.cfg``
(:mod:`replicas_cluster`): ``azuraforge db upgrade``, three ``serve --workers 0`` replicas
behind HAProxy (TLS ended there with a certificate made by the run, health checks on
``/api/v1/health``, retries and redispatch as configured), two Celery worker pools
(concurrency 2), PostgreSQL, Redis and the tests' S3 server; a webhook receiver for alerts.

A tiny weather model is trained and registered first. Then three phases, each with a third
of ``jobs`` submitted through the balancer by ``lanes`` clients (a study of a fifth of them
as trials, a fifth prediction jobs each on a CSV uploaded just before, the rest sleeper
runs), a client predicting synchronously all along and ``followers`` WebSocket clients on
``/api/v1/events`` throughout. Half-way through each phase's submissions one process is
SIGKILLed with its group, and started again at once (as ``restart: unless-stopped`` does):

1. a replica;
2. a Celery worker pool (its jobs' leases lapse, other workers take them back);
3. the holder of the streams' duty (from the ``duties`` table), once an alert of a stream
   started for it is firing.

Checked, each printed with its figure (the run exits 1 if one fails):

- **jobs**: every job ended exactly once: one terminal ``status`` event each in the store,
  every row ``completed``, each study's trials as many as asked, nothing made twice;
- **followers**: each got exactly the store's ``status`` and ``progress`` events in commit
  order (``ORDER BY tx, id``, what the stream sends), from the first to the last: no gap,
  no duplicate, no reset, across every reconnection (``?after=`` the last id got);
- **uploads**: every file uploaded through the balancer reads back, byte for byte, from
  every replica directly;
- **alerts**: each alert's ``firing`` and ``resolved`` were each owed once and delivered, and
  the receiver got every delivery the store holds (repeats of one delivery id, which
  delivery at least once allows, are counted);
- **5xx**: the longest time clients were answered 5xx with no other answer between is at
  most the balancer's retry window (``fall`` × ``inter`` of the health checks);
- reconnection p99 (at most 2 s).

Measured in the same run, with all three replicas up: synchronous predictions a second
through the balancer beside one replica alone (``connections`` clients, ``throughput_s``
seconds, ``rounds`` rounds in turn; medians).

Usage::

    .venv/bin/python benchmarks/replicas.py [--quick] [--jobs N] [--followers N]
        [--out docs/benchmarks.md] [--json benchmarks/results/replicas.json]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from harness import (
    ROOT,
    add_platform_options,
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    parse_platform_args,
    postgres_database,
    publish,
    signed_headers,
)
from platform_live import ProcessGroups, azuraforge
from replicas_cluster import (
    LEASES,
    Cluster,
    Member,
    certificate,
    cluster_environment,
    redis_database,
    retry_window_s,
    start_haproxy,
    wait_ready,
)
from replicas_load import (
    RUN_CONFIG,
    Api,
    Follower,
    closed_loop,
    follow,
    follower_faults,
    longest_5xx_s,
    made_once,
    prediction_of,
    run_named,
    study_named,
    upload,
)

SIZES = {
    "full": {
        "jobs": 1000,
        "followers": 50,
        "lanes": 6,
        "throughput_s": 5.0,
        "rounds": 3,
        "connections": 8,
    },
    "quick": {
        "jobs": 15,
        "followers": 4,
        "lanes": 3,
        "throughput_s": 1.0,
        "rounds": 1,
        "connections": 4,
    },
}
FAULTS = ("replica", "worker", "duty holder")
START, END = "<!-- replicas:start -->", "<!-- replicas:end -->"
MODEL = "replicas-weather"
PIPELINE = "sleeper-requeued"
REQUEUED = f"""

class Requeued(Sleeper):
    name = "{PIPELINE}"
    description = "The tests' sleeper, its runs queued again when their worker is lost."
    requeue_lost = True
"""
"""The runs' pipeline: the platform tests' sleeper, re-run when its worker dies (as a
pipeline that may run again says; a plain pipeline's run ends ``lost`` then)."""
RECONNECT_P99_S = 2.0
ENDS_WITHIN = 1800.0
"""Seconds a phase's jobs have to end once submitted."""


@dataclass
class Run:
    """What the run holds: the cluster, the clients, the store, what was submitted."""

    cluster: Cluster
    store: Any
    balancer: Api
    headers: dict[str, str]
    trust: ssl.SSLContext
    receiver: Any
    rows: list[dict[str, Any]]
    csv_rows: bytes
    jobs: list[int] = field(default_factory=list)
    studies: dict[int, int] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    retries: int = 0
    phases: list[dict[str, Any]] = field(default_factory=list)


# ---- the phases ------------------------------------------------------------------------------


def split(jobs: int, phase: int) -> tuple[int, int, int]:
    """A phase's trials, prediction jobs and runs: a third of ``jobs`` (the first phases
    take what the division leaves), a fifth of it trials, a fifth predictions."""
    share = jobs // 3 + (phase < jobs % 3)
    return share // 5, share // 5, share - 2 * (share // 5)


async def submit_phase(run: Run, phase: int, size: dict[str, Any], halfway: asyncio.Event) -> None:
    """Submit the phase's study, prediction jobs (each after its upload) and runs through
    the balancer with ``size["lanes"]`` clients; ``halfway`` set once half were."""
    trials, predictions, runs = split(size["jobs"], phase)
    if trials:
        study = {
            "pipeline": PIPELINE,
            "config": RUN_CONFIG,
            "n_trials": trials,
            "space": {"sleep": {"type": "float", "low": 0.01, "high": 0.05}},
            "parallelism": 4,
            "sampler": "random",
            "pruner": "none",
            "seed": phase,
            "name": (name := f"study-{phase}"),
        }
        made, retries = await made_once(
            run.balancer,
            "POST",
            "/studies",
            study,
            201,
            study_named(run.store, name),
            "study",
        )
        run.studies[made], run.retries = trials, run.retries + retries
    tasks = [f"p{phase}-{n}.csv" for n in range(predictions)]
    tasks += [f"r{phase}-{n}" for n in range(runs)]
    total, done = len(tasks), 0

    async def lane() -> None:
        nonlocal done
        while tasks:
            await submit_one(run, tasks.pop(0))
            done += 1
            if done >= total // 2:
                halfway.set()

    await asyncio.gather(*(lane() for _ in range(size["lanes"])))
    halfway.set()


async def submit_one(run: Run, key: str) -> None:
    """Submit the run ``key``, or upload the file ``key`` and a prediction job on it."""
    if key.endswith(".csv"):
        run.retries += await upload(run.balancer, key, run.csv_rows)
        run.uploads[key] = run.csv_rows
        path, body, expected = f"/models/{MODEL}/1/predictions", {"inputs": key}, 202
        lookup = prediction_of(run.store, key)
    else:
        path, body, expected = (
            "/experiments",
            {"pipeline": PIPELINE, "config": RUN_CONFIG, "name": key},
            201,
        )
        lookup = run_named(run.store, key)
    made, retries = await made_once(run.balancer, "POST", path, body, expected, lookup, key)
    run.jobs.append(made)
    run.retries += retries


async def kill_replica(run: Run) -> Member:
    return run.cluster.replicas()[0]


async def kill_worker(run: Run) -> Member:
    return run.cluster.workers()[0]


async def kill_duty_holder(run: Run) -> Member:
    """The holder of the streams' duty, once an alert of the streams started is firing."""
    from azuraforge.platform.jobs.duties import STREAMS

    def firing() -> bool:
        return any(a.state == "firing" for a in run.store.list_alerts())

    await until(firing, 120, "no stream's alert fired")
    with run.store.engine.connect() as connection:
        holder = connection.execute(
            text("SELECT holder FROM duties WHERE name = :n"), {"n": STREAMS}
        ).scalar_one()
    return run.cluster.holding(int(holder.split(":")[1]))


FAULT_OF: dict[str, Callable[[Run], Awaitable[Member]]] = {
    "replica": kill_replica,
    "worker": kill_worker,
    "duty holder": kill_duty_holder,
}


async def until(condition: Callable[[], object], seconds: float, why: str) -> None:
    """Wait until ``condition()`` (in a thread) holds; exit saying ``why`` after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise SystemExit(f"{why} within {seconds:.0f} s")
        await asyncio.sleep(0.2)


async def phase(run: Run, number: int, fault: str, size: dict[str, Any]) -> None:
    """One phase: its submissions, its fault half-way (the member killed, then started again
    on its port and home), until every job submitted so far ended."""
    began, halfway = time.monotonic(), asyncio.Event()
    if fault == "duty holder":
        await start_streams(run, 2 if size["jobs"] >= 300 else 1)
    submitting = asyncio.create_task(submit_phase(run, number, size, halfway))
    await halfway.wait()
    victim = await FAULT_OF[fault](run)
    killed_at = time.monotonic()
    run.cluster.kill(victim)
    print(f"phase {number + 1}: killed {victim.role} {victim.number} ({fault})", flush=True)
    replacement = run.cluster.start(victim.role, victim.number, victim.port)
    await submitting
    await asyncio.to_thread(wait_ready, [replacement])
    await until(lambda: ended(run), ENDS_WITHIN, f"phase {number + 1}'s jobs did not end")
    answers = [a for a in run.balancer.answers if a.end >= began]
    run.phases.append(
        {
            "fault": fault,
            "killed": f"{victim.role} {victim.number}",
            "killed_after_s": round(killed_at - began, 2),
            "took_s": round(time.monotonic() - began, 1),
            "requests": len(answers),
            "answered_5xx": sum(a.status >= 500 for a in answers),
            "unanswered": sum(a.status == 0 for a in answers),
            "failed_requests": sorted(
                {a.what for a in answers if a.status >= 500 or not a.status}
            ),
            "longest_5xx_s": round(longest_5xx_s(answers), 3),
        }
    )


def ended(run: Run) -> bool:
    """Whether every job submitted ended, each study and every stream too."""
    from azuraforge.platform.store.studies import STUDY_RUNNING

    if any(run.store.get_study(s).status == STUDY_RUNNING for s in run.studies):
        return False
    with run.store.engine.connect() as connection:
        left = connection.execute(
            text("SELECT count(*) FROM experiments WHERE finished_at IS NULL")
        ).scalar_one()
    return int(left) == 0


async def start_streams(run: Run, count: int) -> None:
    """``count`` streams whose champion's accuracy alert fires, then resolves at their end
    (the many-machines cluster test's stream)."""
    from tests.platform.test_many_machines_cluster import STREAM

    for _ in range(count):
        answer = await run.balancer.ask("POST", "/streams", "stream", json={"config": STREAM})
        if answer is None or answer.status_code != 201:
            raise SystemExit(f"a stream was not made: {answer and answer.text[:300]}")


async def predicting(run: Run) -> None:
    """Synchronous predictions through the balancer, one after another, until cancelled."""
    body = {"rows": run.rows}
    while True:
        await run.balancer.ask("POST", f"/models/{MODEL}/1/predict", "predict", json=body)
        await asyncio.sleep(0.05)


# ---- the checks ------------------------------------------------------------------------------


def job_checks(run: Run) -> dict[str, Any]:
    """Every job of the run (its runs, prediction jobs and studies' trials) ended exactly
    once, ``completed``; each study made as many trials as asked."""
    trials = {s: run.store.list_trial_runs(s) for s in run.studies}
    ids = run.jobs + [t.id for found in trials.values() for t in found]
    with run.store.engine.connect() as connection:
        ends = dict(
            connection.execute(
                text(
                    "SELECT experiment_id, count(*) FROM events WHERE kind = 'status' AND "
                    "experiment_id = ANY(:ids) AND CAST(payload AS jsonb) ->> 'status' IN "
                    "('completed', 'failed', 'cancelled', 'lost', 'pruned') GROUP BY experiment_id"
                ),
                {"ids": ids},
            ).all()
        )
        statuses = dict(
            connection.execute(
                text(
                    "SELECT status, count(*) FROM experiments WHERE id = ANY(:ids) GROUP BY status"
                ),
                {"ids": ids},
            ).all()
        )
        taken_back = connection.execute(
            text(
                "SELECT count(*) FROM experiments WHERE id = ANY(:ids) AND CASE WHEN jsonb_typeof("
                "CAST(restart_history AS jsonb)) = 'array' THEN jsonb_array_length(CAST("
                "restart_history AS jsonb)) ELSE 0 END > 0"
            ),
            {"ids": ids},
        ).scalar_one()
    return {
        "jobs": len(ids),
        "distinct": len(set(ids)),
        "ended_once": sum(ends.get(i) == 1 for i in ids),
        "ended_twice_or_more": sum((ends.get(i) or 0) > 1 for i in ids),
        "statuses": {str(k): int(v) for k, v in statuses.items()},
        "trials_as_asked": all(len(trials[s]) == n for s, n in run.studies.items()),
        "taken_back_from_a_lost_worker": int(taken_back),
        "not_completed": not_completed(run, ids),
        "client_retries": run.retries,
    }


def not_completed(run: Run, ids: list[int]) -> list[dict[str, Any]]:
    """The first ten jobs that did not complete: their id, kind, status and error."""
    with run.store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, kind, status, error FROM experiments WHERE id = ANY(:ids) AND "
                "status != 'completed' ORDER BY id LIMIT 10"
            ),
            {"ids": ids},
        ).all()
    return [{"id": r.id, "kind": r.kind, "status": r.status, "error": r.error} for r in rows]


def expected_events(run: Run) -> list[int]:
    """The ids of the store's ``status`` and ``progress`` events, in the order the project's
    stream sends them (commit order: transaction id, then id)."""
    with run.store.engine.connect() as connection:
        found = (
            connection.execute(
                text("SELECT id FROM events WHERE kind IN ('status', 'progress') ORDER BY tx, id")
            )
            .scalars()
            .all()
        )
    return [int(i) for i in found]


async def follower_checks(run: Run, followers: list[Follower]) -> dict[str, Any]:
    """The followers once each got the last event (or 60 s passed): their faults, and how
    long their reconnections took."""
    expected = await asyncio.to_thread(expected_events, run)
    deadline = time.monotonic() + 120
    while any(f.after != expected[-1] for f in followers) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    late = [len(expected) - expected.index(f.after) - 1 for f in followers if f.after in expected]
    took = [s for f in followers for s in f.reconnects]
    return {
        "followers": len(followers),
        "events": len(expected),
        "faults": follower_faults(followers, expected),
        "most_events_behind": max(late, default=len(expected)),
        "reconnects": len(took),
        "reconnect_p99_s": round(float(np.percentile(took, 99)), 3) if took else None,
        "reconnect_max_s": round(max(took), 3) if took else None,
    }


async def upload_checks(run: Run) -> dict[str, Any]:
    """Every upload read back from every replica directly (not through the balancer)."""
    unreadable = 0
    for member in run.cluster.replicas():
        direct = Api(f"http://127.0.0.1:{member.port}", run.headers, False)
        for name, body in run.uploads.items():
            answer = await direct.ask(
                "GET", f"/data/{name}", "read back", params={"download": "true"}
            )
            unreadable += answer is None or answer.status_code != 200 or answer.content != body
        await direct.close()
    return {
        "uploads": len(run.uploads),
        "replicas": len(run.cluster.replicas()),
        "unreadable": unreadable,
    }


def alert_checks(run: Run) -> dict[str, Any]:
    """Each alert's firing and resolved owed once and delivered; the receiver got each
    delivery the store holds, none other."""
    alerts = run.store.list_alerts()
    owed = [d for a in alerts for d in run.store.list_deliveries(a.id)]
    per_transition = Counter((d.alert_id, d.event) for d in owed)
    got = Counter(headers["X-AzuraForge-Delivery"] for headers, _ in run.receiver.posts)
    ids = {str(d.id) for d in owed}
    return {
        "alerts": len(alerts),
        "resolved": sum(a.state == "resolved" for a in alerts),
        "deliveries": len(owed),
        "transitions_owed_twice": sum(n > 1 for n in per_transition.values()),
        "undelivered": sum(d.delivered_at is None for d in owed),
        "received": len(set(got) & ids),
        "received_unknown": len(set(got) - ids),
        "repeated_posts": sum(n - 1 for n in got.values()),
    }


def failures(report: dict[str, Any], window_s: float) -> list[str]:
    """What the run got wrong, each in a sentence (none: it lost nothing)."""
    jobs, follow_, uploads, alerts = (report[k] for k in ("jobs", "follow", "uploads", "alerts"))
    checks = {
        "jobs ended exactly once": jobs["ended_once"]
        == jobs["jobs"]
        == jobs["distinct"]
        == report["size"]["jobs"]
        and jobs["trials_as_asked"],
        "every job completed": jobs["statuses"] == {"completed": jobs["jobs"]},
        "followers saw no gap, duplicate or reset": not any(
            follow_["faults"][k] for k in ("gap", "duplicate", "order", "reset")
        ),
        "followers got every event": follow_["faults"]["behind"] == 0,
        "reconnections within 2 s (p99)": (follow_["reconnect_p99_s"] or 0) <= RECONNECT_P99_S,
        "5xx no longer than the retry window": report["longest_5xx_s"] <= window_s,
        "uploads readable through every replica": uploads["unreadable"] == 0,
        "alerts fired, resolved and delivered once": alerts["alerts"] > 0
        and alerts["resolved"] == alerts["alerts"]
        and alerts["transitions_owed_twice"] == 0
        and alerts["undelivered"] == 0
        and alerts["received"] == alerts["deliveries"]
        and alerts["received_unknown"] == 0,
    }
    return [name for name, held in checks.items() if not held]


# ---- throughput ------------------------------------------------------------------------------


async def throughput(run: Run, size: dict[str, Any]) -> dict[str, Any]:
    """Synchronous predictions a second through the balancer and to one replica alone,
    taking turns for ``rounds`` rounds; the medians."""
    one = run.cluster.replicas()[0]
    targets = {
        "balancer": Api(run.cluster.balancer, run.headers, run.trust),
        "one replica": Api(f"http://127.0.0.1:{one.port}", run.headers, False),
    }
    path, body = f"/models/{MODEL}/1/predict", {"rows": run.rows}
    rates: dict[str, list[float]] = {name: [] for name in targets}
    for turn in range(size["rounds"] * 2):
        name = list(targets)[turn % 2 if size["rounds"] % 2 or turn < 2 else 1 - turn % 2]
        rate = await closed_loop(
            targets[name], path, body, size["connections"], size["throughput_s"]
        )
        rates[name].append(rate)
    for api in targets.values():
        await api.close()
    return {name: round(statistics.median(r), 1) for name, r in rates.items()}


# ---- the set-up ------------------------------------------------------------------------------


def beijing_rows() -> tuple[list[dict[str, Any]], bytes]:
    """40 rows of the real Beijing hourly file: as JSON objects (a predict body) and as the
    CSV file uploaded for each prediction job."""
    from azuraforge.learn.datasets import fetch

    path = fetch("beijing-hourly")["beijing_hourly_2010_2014.csv"]
    lines = path.read_text().splitlines(keepends=True)
    chosen = [lines[0], *lines[1001:1041]]
    rows = [{k: number(v) for k, v in row.items()} for row in csv.DictReader(chosen)]
    return rows, "".join(chosen).encode()


def number(value: str) -> Any:
    """``value`` as an int or a float when it is one, else as it is."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


async def register_model(run: Run) -> None:
    """A tiny weather forecaster trained through the balancer and registered as
    :data:`MODEL` version 1."""
    from tests.platform.registry.conftest import TINY, WEATHER

    body = {"pipeline": WEATHER, "config": TINY, "name": "weather"}
    made, _ = await made_once(
        run.balancer, "POST", "/experiments", body, 201, run_named(run.store, "weather"), "train"
    )
    await until(lambda: run.store.get_experiment(made).finished_at, 300, "training did not end")
    if run.store.get_experiment(made).status != "completed":
        raise SystemExit(f"training failed: {run.store.get_experiment(made).error}")
    for path, sent in (
        ("/models", {"name": MODEL}),
        (f"/models/{MODEL}/versions", {"experiment": made}),
    ):
        answer = await run.balancer.ask("POST", path, "register", json=sent)
        if answer is None or answer.status_code != 201:
            raise SystemExit(f"POST {path}: {answer and answer.text[:300]}")


def start_cluster(stack: ExitStack, work: Path, postgres: str, receiver_url: str) -> Cluster:
    """The database migrated, three replicas, two worker pools, HAProxy; ready."""
    from tests.helpers import write_pipeline_plugin
    from tests.platform.fixtures import SLEEPER
    from tests.platform.s3_server import shared_server

    (work / "plugin").mkdir()
    plugin = write_pipeline_plugin(
        work / "plugin",
        "sleeper_plugin",
        SLEEPER + REQUEUED,
        {PIPELINE: "sleeper_plugin:Requeued"},
    )
    database = stack.enter_context(postgres_database(postgres))
    broker = stack.enter_context(redis_database())
    s3 = stack.enter_context(shared_server()).environment(f"replicas-{uuid.uuid4().hex[:10]}")
    env = cluster_environment(database, broker, s3, plugin, alert_webhooks=receiver_url)
    groups = stack.enter_context(ProcessGroups())
    cluster = Cluster(work, groups, env)
    migrate = groups.start(
        azuraforge("db", "upgrade"), {**env, "AZURAFORGE_HOME": str(work)}, work / "migrate.log"
    )
    if migrate.wait(300) != 0:
        raise SystemExit((work / "migrate.log").read_text()[-3000:])
    pem, cluster.cert = certificate(work)
    members = [cluster.start("api", n) for n in (1, 2, 3)]
    members += [cluster.start("worker", n) for n in (1, 2)]
    wait_ready(members)
    start_haproxy(cluster, pem)
    return cluster


# ---- the run ---------------------------------------------------------------------------------


async def scenario(run: Run, size: dict[str, Any]) -> dict[str, Any]:
    """The model, then the three phases with followers and predictions all along; the
    checks and the throughput."""
    await register_model(run)
    url = f"wss://127.0.0.1:{run.cluster.https}/api/v1/events"
    followers = [Follower() for _ in range(size["followers"])]
    background = [asyncio.create_task(follow(url, run.headers, run.trust, f)) for f in followers]
    background.append(asyncio.create_task(predicting(run)))
    began = time.monotonic()
    for number, fault in enumerate(FAULTS):
        await phase(run, number, fault, size)
    took = time.monotonic() - began
    follow_ = await follower_checks(run, followers)
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    await until(lambda: alerts_settled(run), 60, "the alerts were not all delivered")
    report = {
        "phases": run.phases,
        "jobs": await asyncio.to_thread(job_checks, run),
        "jobs_per_s": round(size["jobs"] / took, 2),
        "follow": follow_,
        "uploads": await upload_checks(run),
        "alerts": alert_checks(run),
        "longest_5xx_s": max(p["longest_5xx_s"] for p in run.phases),
        "retry_window_s": retry_window_s(run.cluster.config),
    }
    await asyncio.sleep(5)  # the restarted replicas back in rotation: 2 checks 2 s apart
    report["predictions_per_s"] = await throughput(run, size)
    await run.balancer.close()
    return report


def alerts_settled(run: Run) -> bool:
    """Whether every alert resolved and each of its deliveries was made."""
    alerts = run.store.list_alerts()
    return all(a.state == "resolved" for a in alerts) and all(
        d.delivered_at is not None for a in alerts for d in run.store.list_deliveries(a.id)
    )


def measure(args: argparse.Namespace, size: dict[str, Any], work: Path) -> dict[str, Any]:
    """The cluster started, the scenario run against it; the report's figures."""
    from tests.platform.streams.test_alerts import Receiver

    from azuraforge.platform.store import Store

    receiver = Receiver()
    with ExitStack() as stack:
        stack.callback(receiver.server.shutdown)
        cluster = start_cluster(stack, work, args.postgres, receiver.url)
        database = cluster.environment["AZURAFORGE_DATABASE_URL"]
        store = Store(database)
        stack.callback(store.close)
        headers = signed_headers(database)
        trust = ssl.create_default_context(cafile=str(cluster.cert))
        rows, csv_rows = beijing_rows()
        balancer = Api(cluster.balancer, headers, trust)
        run = Run(cluster, store, balancer, headers, trust, receiver, rows, csv_rows)
        return asyncio.run(scenario(run, size))


def check_rows(report: dict[str, Any]) -> list[str]:
    """The rows of the checks' table: each check and its figure."""
    size, jobs, follow_ = report["size"], report["jobs"], report["follow"]
    uploads, alerts, rates = report["uploads"], report["alerts"], report["predictions_per_s"]
    faults = follow_["faults"]
    return [
        f"| jobs ended exactly once | {jobs['ended_once']} of {size['jobs']} "
        f"({', '.join(f'{n} {s}' for s, n in jobs['statuses'].items())}; "
        f"{jobs['taken_back_from_a_lost_worker']} taken back from a lost worker, "
        f"{jobs['client_retries']} requests sent again after a lost answer) |",
        f"| followers with a gap / a duplicate / another order / a reset | {faults['gap']} / "
        f"{faults['duplicate']} / {faults['order']} / {faults['reset']} of "
        f"{follow_['followers']} ({follow_['events']} events each) |",
        f"| followers behind 120 s after the last job ended | {faults['behind']} (at most "
        f"{follow_['most_events_behind']} events) |",
        f"| reconnections, p99 / longest | {follow_['reconnects']}: "
        f"{follow_['reconnect_p99_s']} s / {follow_['reconnect_max_s']} s (at most 2 s) |",
        f"| longest 5xx stretch seen by clients | {report['longest_5xx_s']} s (retry window "
        f"{report['retry_window_s']:g} s) |",
        f"| uploads unreadable from a replica | {uploads['unreadable']} of "
        f"{uploads['uploads']} × {uploads['replicas']} replicas |",
        f"| alerts: resolved / deliveries received of owed / owed twice / repeated posts | "
        f"{alerts['resolved']} of {alerts['alerts']} / {alerts['received']} of "
        f"{alerts['deliveries']} / {alerts['transitions_owed_twice']} / "
        f"{alerts['repeated_posts']} |",
        f"| jobs a second, the three phases | {report['jobs_per_s']} |",
        f"| synchronous predictions a second: balancer (TLS) / one replica | "
        f"{rates['balancer']} / {rates['one replica']} |",
    ]


def section(report: dict[str, Any]) -> str:
    """The Markdown section of docs/benchmarks.md."""
    size = report["size"]
    phases = [
        f"| {n} | {p['killed']} ({p['fault']}) after {p['killed_after_s']} s | {p['took_s']} s "
        f"| {p['requests']} | {p['answered_5xx']} | {p['unanswered']} | {p['longest_5xx_s']} s |"
        for n, p in enumerate(report["phases"], 1)
    ]
    return "\n".join(
        [
            START,
            "## Replicas behind HAProxy: one killed, nothing lost",
            "",
            f"Three `serve --workers 0` replicas behind HAProxy (TLS), two Celery worker pools, "
            f"PostgreSQL, Redis and SeaweedFS on loopback (`benchmarks/replicas.py`): "
            f"{size['jobs']} jobs (runs, prediction jobs on uploads, study trials) through the "
            f"balancer, {size['followers']} WebSocket followers, predictions all along; a "
            "replica, a worker pool and the streams' duty holder SIGKILLed in turn, each "
            "started again at once. The compose file's settings with loopback addresses, and "
            f"shorter intervals: {', '.join(f'`{k}` {v:g} s' for k, v in LEASES.items())}. "
            f"Runs are of `{PIPELINE}` (the tests' sleeper, 2 steps, its runs queued again "
            "when their worker is lost); clients send a submission again after a 5xx once "
            "the store shows it was not made (each job is named by its client). The project's "
            "event stream reads only transactions older than every one open on the PostgreSQL "
            "server (docs/platform.md), so the run wants a server of its own (`--postgres`): "
            "on a shared one, another session's transaction left open holds every follower "
            "back.",
            "",
            "| check | figure |",
            "| --- | --- |",
            *check_rows(report),
            "",
            "| phase | killed | took | requests | 5xx | unanswered | longest 5xx |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *phases,
            "",
            f"Result: {'; '.join(report['failed']) or 'nothing lost, nothing doubled'}.",
            "",
            environment_block(report["environment"]),
            "",
            f"`{report['command']}`",
            END,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI size")
    parser.add_argument("--jobs", type=int, help="jobs submitted (the size's by default)")
    parser.add_argument("--followers", type=int, help="WebSocket followers")
    add_platform_options(parser)
    args = parse_platform_args(parser, argv, ["jobs", "followers"], "replicas")
    exit_on_sigterm()
    size = dict(SIZES["quick" if args.quick else "full"])
    size.update({k: getattr(args, k) for k in ("jobs", "followers") if getattr(args, k)})
    os.environ.setdefault("AZURAFORGE_DATA_MIRROR", str(ROOT.parent / "shared" / "data"))
    sys.path.insert(0, str(ROOT))  # the tests' helpers: the S3 server, the sleeper plugin
    load, ticks = os.getloadavg(), cpu_ticks()
    with tempfile.TemporaryDirectory(prefix="af-replicas-") as work:
        results = measure(args, size, Path(work))
    env = environment(
        load, ticks, args.postgres, ["httpx", "websockets"], servers={"HAProxy": haproxy_version()}
    )
    failed = failures({**results, "size": size}, results["retry_window_s"])
    report = publish(
        "replicas",
        args,
        section,
        (START, END),
        size=size,
        **results,
        failed=failed,
        environment=env,
    )
    return 1 if report["failed"] else 0


def haproxy_version() -> str:
    import subprocess

    said = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
    return said.split()[2] if said.startswith("HAProxy version") else "unknown"


if __name__ == "__main__":
    sys.exit(main())

"""The live platform: event latency to a WebSocket client, and the round trip of a job.

Everything is real and started here: ``azuraforge serve`` on 127.0.0.1 (a free port), its
local worker processes, ``azuraforge worker --transport celery``, each on a fresh store (an
SQLite file: embedded; a throw-away PostgreSQL database: cluster mode). The runs are those of
a tiny pipeline plugin, ``bench-ticker``, that this script writes into a temporary folder as
a distribution (a package and its ``*.dist-info`` declaring the entry point in group
``azuraforge.pipelines``) and puts on the ``PYTHONPATH`` of every process it starts.

1. Event latency: a run logs ``events`` points, one every :data:`INTERVAL_S`, through
   ``ctx.log_metrics`` in the worker; each point's value is the wall-clock time
   (``time.time()``) at which it was logged. A WebSocket client on
   ``/api/v1/experiments/{id}/events`` stamps each point's arrival with the same clock (same
   machine); latency = arrival - value. The peer, on the same runs at the same time: a client
   polling ``GET /api/v1/experiments/{id}/metrics`` every second (a refresh-loop dashboard,
   as trackers without a push channel such as MLflow's have), latency = arrival of the
   first answer that shows the point - value. Correctness first: the WebSocket stream must
   carry every logged point (the run's own record, read back through the API) exactly once
   and in order and end with ``end`` ``completed``; the poller must see every point with its
   value; else the script exits with status 1. The API process's peak RSS (``VmHWM``) is
   read after these runs.
2. Job round trip: a trivial run (one point, no sleep) from ``POST /api/v1/experiments``
   until a WebSocket client sees its ``end`` event, on the local transport (``serve
   --workers 1``) on SQLite and PostgreSQL, and on the Celery transport (``serve --workers
   0`` with ``AZURAFORGE_TRANSPORT=celery``, one ``azuraforge worker --transport celery
   --concurrency 1``) on PostgreSQL, with Redis as broker. The peer: a bare Celery task (a
   no-op echo) on the same Redis, same worker options, ``send_task(...).get()``. Warm-up,
   then the targets take turns, each round trip after ``poll_interval`` + 0.1 s of rest (the
   workers idle) and a random share of ``poll_interval`` (not in step with the workers'
   polls); every run must end ``completed`` with its point stored. Its legs (POST,
   waiting for a worker, running, the end reaching the client) come from the run's row.

Default platform settings throughout (what a user gets); the report states them. Speed never
fails the run, only correctness. Every process started here is killed with its process
group at the end, on failure too; a process group still alive then fails the run. The table
goes to stdout and, for the full size, between this benchmark's markers in ``--out``; every
number, version and machine detail goes to ``--json``.

Usage::

    .venv/bin/python benchmarks/platform_live.py [--quick] [--events N] [--runs N]
        [--round-trips N] [--postgres URL | --no-postgres] [--redis URL | --no-celery]
        [--latency-only] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    add_platform_options,
    command_line,
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    exported_source,
    free_port,
    parse_platform_args,
    percentiles_ms,
    postgres_database,
    proc_status_mb,
    signed_headers,
    take_turns,
    usable_postgres,
    write_outputs,
)

PIPELINE = "bench-ticker"
KEY = "logged_at"  # the one metric: its value is the time.time() at which it was logged
RECORD = "logged.json"  # the run's own list of [step, value] it logged (an artifact)
INTERVAL_S = 0.025  # between two logged points: 40 per second, a fast training loop
DELAY_S = 0.5  # before the first point, so the client is listening when it comes
POLL_PEER_S = 1.0  # the refresh-loop peer's period
SIZES = {
    "full": {"events": 500, "runs": 3, "round_trips": 60, "warmup_round_trips": 3},
    "quick": {"events": 60, "runs": 1, "round_trips": 3, "warmup_round_trips": 1},
}
WARMUP_EVENTS = 20  # the untimed first run on each store
PAUSE_MARGIN_S = 0.1  # rest before a round trip: poll_interval + this (the worker is idle)
# plus a random share of poll_interval, so submissions do not fall in step with the polls
BARS = {"event_p95_ms": 100.0}
TIMEOUT_S = 60.0  # for any one thing to happen (a server to answer, a run to end)
STOP_S = 20.0  # for a process group to exit after SIGTERM, before SIGKILL
START, END = "<!-- platform_live:start -->", "<!-- platform_live:end -->"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
REDIS_DBS = range(9, 16)  # the first empty one is claimed (the tests take 15 downwards)
REDIS_OWNER_KEY = "azuraforge-bench:owner"
PEER_QUEUE, PEER_TASK = "bench-peer", "bench.echo"
CELERY_TARGETS = {"celery_postgresql": "PostgreSQL", "celery_sqlite": "SQLite"}  # and store
BACKEND_TITLES = {
    "sqlite": "SQLite (embedded)",
    "postgresql": "PostgreSQL (cluster: LISTEN/NOTIFY)",
}
BASELINE = "1c3039f"
"""The commit ours is measured beside (issue 67: before runs started from a ready process)."""
BASELINE_PREFIX = "baseline_"
"""Before a store's or a target's name: the same, served by the baseline commit's code."""
AIMS = {"round_trip_median_ms": 25.0}

PLUGIN = '''
"""The pipeline of benchmarks/platform_live.py: logs its own wall-clock time, steadily."""

import json
import time

from pydantic import Field

from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.learn import TrainingSummary


class TickerConfig(PipelineConfig):
    events: int = Field(1, ge=1, description="Points to log, one per step.")
    interval: float = Field(0.0, ge=0, description="Seconds between two points.")
    delay: float = Field(0.0, ge=0, description="Seconds before the first point.")
    record: bool = Field(False, description="Save the logged [step, value] list.")


class Ticker(Pipeline[TickerConfig]):
    name = "bench-ticker"
    description = "Logs the time.time() of each step as its value, one step per interval."
    Config = TickerConfig

    def run(self, config, ctx):
        start, logged = time.time() + config.delay, []
        for step in range(1, config.events + 1):
            if ctx.should_stop():
                break
            pause = start + (step - 1) * config.interval - time.time()
            if pause > 0:
                time.sleep(pause)
            now = time.time()
            ctx.log_metrics({"__KEY__": now}, step=step)
            logged.append([step, now])
        if config.record:
            path = ctx.output_dir / "__RECORD__"
            path.write_text(json.dumps(logged))
            ctx.log_artifact(path)
        status = "completed" if len(logged) == config.events else "cancelled"
        return RunResult(metrics={}, training=TrainingSummary(status, len(logged), config.events))
'''.replace("__KEY__", KEY).replace("__RECORD__", RECORD)


def write_plugin(folder: Path) -> Path:
    """Distribution ``af-bench-live`` declaring pipeline ``bench-ticker`` in ``folder``, the
    path to put on ``PYTHONPATH``."""
    (folder / "af_bench_live").mkdir(parents=True)
    (folder / "af_bench_live" / "__init__.py").write_text(textwrap.dedent(PLUGIN).lstrip())
    info = folder / "af_bench_live-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: af-bench-live\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[azuraforge.pipelines]\n{PIPELINE} = af_bench_live:Ticker\n"
    )
    return folder


# ---- processes ----------------------------------------------------------------------------

LEAKED: list[str] = []  # process groups still alive after they were stopped


def settings_defaults() -> dict[str, Any]:
    """The platform's default settings (and the SQLite event watcher's period) as used."""
    from azuraforge.platform.events import POLL_SECONDS
    from azuraforge.platform.settings import Settings

    names = ("flush_interval", "poll_interval", "heartbeat_interval", "workers")
    defaults = {name: Settings.model_fields[name].default for name in names}
    return {**defaults, "event_watch_seconds": POLL_SECONDS}


def child_environment(plugin: Path, home: Path, **settings: Any) -> dict[str, str]:
    """This environment without any AzuraForge setting, then ``home``, ``settings``
    (``AZURAFORGE_<NAME>``) and the plugin on ``PYTHONPATH``."""
    from azuraforge.platform.settings import Settings

    ours = {f"AZURAFORGE_{name.upper()}" for name in Settings.model_fields}
    ours |= {"AZURAFORGE_SETTINGS_FILE", "AZURAFORGE_API_URL"}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin), env.get("PYTHONPATH")]))
    env["AZURAFORGE_HOME"] = str(home)
    env.update({f"AZURAFORGE_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def azuraforge(*arguments: str) -> list[str]:
    """The ``azuraforge`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("azuraforge")
    if script.exists():
        return [str(script), *arguments]
    return [sys.executable, "-c", "from azuraforge.cli.main import main; main()", *arguments]


class ProcessGroups:
    """Processes started here, each in a new session (its own process group) with its
    output in a log file. Leaving stops them all at once: SIGTERM to every group, SIGKILL
    to what is left after :data:`STOP_S`; a group still alive then is recorded in
    :data:`LEAKED`."""

    def __init__(self) -> None:
        self.started: list[tuple[subprocess.Popen[bytes], str, Any]] = []

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        out = log.open("w")
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((process, " ".join(command[:4]), out))
        return process

    def __enter__(self) -> ProcessGroups:
        return self

    def __exit__(self, *exc: object) -> None:
        for process, _, _ in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_S
        for process, _, _ in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(deadline - time.monotonic(), 0.01))
        for process, what, out in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # what the leader left, or the leader
            process.wait()
            out.close()
            if not group_ended(process.pid):
                LEAKED.append(f"{what}... (process group {process.pid})")


def group_ended(group: int, timeout: float = 5.0) -> bool:
    """Whether process group ``group`` is empty (waiting up to ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def log_tail(log: Path, lines: int = 30) -> str:
    """The last lines a process wrote."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Api:
    """An ``azuraforge serve`` process and a kept-alive HTTP client on it."""

    name: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    http: Any = field(repr=False)
    rss_at_start_mb: float | None = None
    signed: dict[str, str] = field(default_factory=dict, repr=False)
    """The credential its requests carry."""

    def events_url(self, experiment_id: int) -> str:
        return (
            "ws" + self.base.removeprefix("http") + f"/api/v1/experiments/{experiment_id}/events"
        )

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        if response.status_code != 200:
            sys.exit(f"{self.name}: GET {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def submit(self, config: dict[str, Any]) -> int:
        response = self.http.post(
            "/api/v1/experiments", json={"pipeline": PIPELINE, "config": config}
        )
        if response.status_code != 201:
            sys.exit(f"{self.name}: POST: {response.status_code} {response.text[:300]}")
        experiment_id: int = response.json()["data"][0]["id"]
        return experiment_id


def serve(groups: ProcessGroups, name: str, env: dict[str, str], work: Path, workers: int) -> Api:
    """``azuraforge serve --workers N`` on a free port, once ``/api/v1/health`` answers."""
    import httpx

    port = free_port()
    log = work / f"serve-{name}.log"
    command = azuraforge("serve", "--port", str(port), "--workers", str(workers))
    process = groups.start(command, env, log)
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base, timeout=30)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            if http.get("/api/v1/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            http.close()
            sys.exit(f"{name}: azuraforge serve did not start:\n{log_tail(log)}")
        time.sleep(0.1)
    signed = signed_headers(env["AZURAFORGE_DATABASE_URL"])
    http.headers.update(signed)
    return Api(name, base, process, log, http, proc_status_mb("VmRSS", process.pid), signed)


# ---- Redis and the bare Celery peer -------------------------------------------------------


def redis_reason(server: str | None) -> str | None:
    """Why Redis cannot be used (``None`` when it can)."""
    if server is None:
        return "--no-celery"
    try:
        import redis

        redis.Redis.from_url(server, socket_connect_timeout=5).ping()
        return None
    except Exception as e:  # unreachable server, missing client
        return f"{server} unreachable: {str(e).strip().splitlines()[0]}"


@contextmanager
def redis_database(server: str) -> Iterator[str]:
    """The first empty database of :data:`REDIS_DBS` on ``server``, claimed with a key that
    expires in an hour (should this script die), emptied at the end."""
    import redis

    token = uuid.uuid4().hex
    for db in REDIS_DBS:
        client = redis.Redis.from_url(f"{server}/{db}")
        if client.dbsize() == 0 and client.set(REDIS_OWNER_KEY, token, nx=True, ex=3600):
            break
        client.close()
    else:
        sys.exit(
            f"no empty Redis database among {REDIS_DBS.start}-{REDIS_DBS.stop - 1} at {server}"
        )
    try:
        yield f"{server}/{db}"
    finally:
        client.flushdb()
        client.close()


def peer_app(broker: str) -> Any:
    """A plain Celery app on ``broker`` (results there too) with one no-op task that echoes
    its argument, with the options our transport sets (JSON, late acks, prefetch 1), on its
    own queue."""
    from celery import Celery

    app = Celery("bench-peer", broker=broker, backend=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_default_queue=PEER_QUEUE,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )

    @app.task(name=PEER_TASK, shared=False)  # type: ignore[untyped-decorator]
    def echo(value: int) -> int:
        return value

    return app


def run_peer_worker(broker: str) -> None:
    """Hidden mode: a Celery worker of :func:`peer_app`, started as ours is (prefork,
    concurrency 1, no mingle, gossip or heartbeat)."""
    worker = peer_app(broker).Worker(
        hostname=f"bench-peer-{os.getpid()}@localhost", concurrency=1, pool="prefork",
        loglevel="WARNING", optimization="fair", without_mingle=True, without_gossip=True,
        without_heartbeat=True,
    )  # fmt: skip
    worker.start()


# ---- following a run -----------------------------------------------------------------------


@dataclass
class Followed:
    """What a WebSocket client saw of one run."""

    history: list[tuple[int, float]]  # points already there on connect
    live: list[tuple[int, float, float, float]]  # step, value, arrival, event row's time
    status: str


def follow(url: str, deadline: float, signed: dict[str, str]) -> Followed:
    """Read a run's event stream to its ``end`` (and the close after it); exit 1 if it does
    not end by ``deadline`` (``time.monotonic()``) or says anything after ``end``."""
    from websockets.exceptions import ConnectionClosed, ConnectionClosedOK
    from websockets.sync.client import connect

    history: list[tuple[int, float]] = []
    live: list[tuple[int, float, float, float]] = []
    try:
        with connect(url, open_timeout=TIMEOUT_S, max_size=None, additional_headers=signed) as ws:
            while True:
                raw = ws.recv(timeout=max(deadline - time.monotonic(), 0.001))
                arrival = time.time()
                message = json.loads(raw)
                kind = message["type"]
                if kind == "history":
                    curve = message["metrics"].get(KEY, {"steps": [], "values": []})
                    history = list(zip(curve["steps"], curve["values"], strict=True))
                elif kind == "metrics":
                    live += [
                        (s, v, arrival, message["time"])
                        for k, s, v in message["points"]
                        if k == KEY
                    ]
                elif kind == "end":
                    status = message["status"]
                    break
            with contextlib.suppress(ConnectionClosedOK):
                sys.exit(f"{url}: a message after the end: {ws.recv(timeout=TIMEOUT_S)!r:.200}")
    except TimeoutError:
        sys.exit(f"{url}: no end event within the time allowed")
    except ConnectionClosed as e:
        sys.exit(f"{url}: the stream did not end cleanly (an end event, then close): {e}")
    return Followed(history, live, status)


class Poller(threading.Thread):
    """The refresh-loop peer: ``GET /metrics`` every ``period`` seconds until it has seen
    ``expected`` points; the arrival of the first answer showing each step."""

    def __init__(self, api: Api, experiment_id: int, expected: int, period: float) -> None:
        super().__init__(name="poller", daemon=True)
        self.base, self.path = api.base, f"/api/v1/experiments/{experiment_id}/metrics"
        self.signed = api.signed
        self.expected, self.period = expected, period
        self.seen: dict[int, tuple[float, float]] = {}  # step: (value, arrival)
        self.polls = 0
        self.error: str | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        import httpx

        params: dict[str, str | int] = {"keys": KEY, "max_points": max(self.expected, 2)}
        try:
            with httpx.Client(base_url=self.base, timeout=30, headers=self.signed) as client:
                next_at = time.monotonic()
                while len(self.seen) < self.expected and not self.stop.is_set():
                    response = client.get(self.path, params=params)
                    arrival = time.time()
                    response.raise_for_status()
                    self.polls += 1
                    curve = response.json()["metrics"].get(KEY, {"steps": [], "values": []})
                    for step, value in zip(curve["steps"], curve["values"], strict=True):
                        self.seen.setdefault(step, (value, arrival))
                    next_at += self.period
                    self.stop.wait(max(next_at - time.monotonic(), 0.0))
        except Exception as e:  # reported by the caller, which exits 1
            self.error = f"{type(e).__name__}: {e}"


# ---- event latency -------------------------------------------------------------------------


def latency_run(api: Api, events: int) -> dict[str, Any]:
    """One run of ``events`` points followed by a WebSocket client and the poller; exit 1
    unless both saw exactly what the run logged."""
    config = {"events": events, "interval": INTERVAL_S, "delay": DELAY_S, "record": True}
    experiment_id = api.submit(config)
    poller = Poller(api, experiment_id, events, POLL_PEER_S)
    poller.start()
    deadline = time.monotonic() + DELAY_S + events * INTERVAL_S + TIMEOUT_S
    seen = follow(api.events_url(experiment_id), deadline, api.signed)
    poller.join(POLL_PEER_S + TIMEOUT_S)
    poller.stop.set()
    poller.join()
    where = f"{api.name}, experiment {experiment_id}"
    if seen.status != "completed":
        sys.exit(f"{where}: the run ended {seen.status!r}, not completed")
    response = api.http.get(f"/api/v1/experiments/{experiment_id}/artifacts/{RECORD}")
    if response.status_code != 200:
        sys.exit(f"{where}: its record {RECORD} cannot be read: {response.status_code}")
    logged = [(int(s), float(v)) for s, v in response.json()]
    streamed = seen.history + [(s, v) for s, v, _, _ in seen.live]
    if len(logged) != events or streamed != logged:
        wrong = next(
            (i for i, (a, b) in enumerate(zip(streamed, logged, strict=False)) if a != b), None
        )
        sys.exit(
            f"{where}: the WebSocket stream is not what the run logged: {len(streamed)} points "
            f"streamed, {len(logged)} logged, {events} asked for; first difference at index "
            f"{wrong if wrong is not None else min(len(streamed), len(logged))}"
        )
    polled = sorted((step, value) for step, (value, _) in poller.seen.items())
    if poller.error or polled != logged:
        sys.exit(
            f"{where}: the poller did not see what the run logged "
            f"({poller.error or f'{len(polled)} points'})"
        )
    return {
        "experiment_id": experiment_id,
        "points": events,
        "in_history": len(seen.history),
        "websocket_ms": [(arrival - value) * 1e3 for _, value, arrival, _ in seen.live],
        "stored_ms": [(stamped - value) * 1e3 for _, value, _, stamped in seen.live],
        "pushed_ms": [(arrival - stamped) * 1e3 for _, _, arrival, stamped in seen.live],
        "poll_ms": [
            (arrival - value) * 1e3 for _, (value, arrival) in sorted(poller.seen.items())
        ],
        "polls": poller.polls,
    }


def latency_stats(values_ms: list[float]) -> dict[str, Any]:
    """Count, p50/p95/p99, max and whether p95 is under the bar."""
    stats = percentiles_ms(values_ms, 50, 95, 99)
    return {
        "count": len(values_ms),
        **stats,
        "max_ms": float(np.max(values_ms)),
        "meets_bar": stats["p95_ms"] < BARS["event_p95_ms"],
    }


def run_latency(apis: dict[str, Api], events: int, runs: int) -> dict[str, Any]:
    """A checked warm-up run on each store, then ``runs`` runs each, the stores taking
    turns; the pooled latencies of each client, and each API process's memory."""
    with ThreadPoolExecutor(len(apis)) as pool:  # untimed: the stores warm up side by side
        list(pool.map(lambda api: latency_run(api, WARMUP_EVENTS), apis.values()))
    done: dict[str, list[dict[str, Any]]] = {name: [] for name in apis}
    names = list(apis)
    for repeat in range(runs):
        for name in names if repeat % 2 == 0 else names[::-1]:
            done[name].append(latency_run(apis[name], events))
    results = {}
    for name, api in apis.items():
        pooled = {
            part: [x for run in done[name] for x in run[part]]
            for part in ("websocket_ms", "stored_ms", "pushed_ms", "poll_ms")
        }
        results[name] = {
            "title": title_of(name, BACKEND_TITLES),
            "runs": [
                {k: v for k, v in run.items() if not k.endswith("_ms")}
                | {"websocket_p95_ms": float(np.percentile(run["websocket_ms"], 95))}
                for run in done[name]
            ],
            "websocket": latency_stats(pooled["websocket_ms"]),
            "poll": latency_stats(pooled["poll_ms"]),
            "stored_p50_ms": float(np.median(pooled["stored_ms"])),
            "pushed_p50_ms": float(np.median(pooled["pushed_ms"])),
            "pushed_p95_ms": float(np.percentile(pooled["pushed_ms"], 95)),
            "api_rss_at_start_mb": api.rss_at_start_mb,
            "api_peak_rss_mb": proc_status_mb("VmHWM", api.process.pid),
        }
    return {"events": events, "runs": runs, "results": results}


# ---- job round trip ------------------------------------------------------------------------


PHASES = ("accepted", "claimed", "ran", "seen")  # the four legs of a round trip, in order


def ours_round_trip(api: Api, done: list[tuple[int, float, float]]) -> Callable[[], None]:
    """A trivial run through ``api``, from POST until its ``end`` event; (id, wall-clock
    time sent, wall-clock time seen) kept for the check afterwards."""

    def run() -> None:
        sent = time.time()
        experiment_id = api.submit({})
        seen = follow(api.events_url(experiment_id), time.monotonic() + TIMEOUT_S, api.signed)
        if seen.status != "completed":
            sys.exit(f"{api.name}, experiment {experiment_id}: ended {seen.status!r}")
        done.append((experiment_id, sent, time.time()))

    return run


def peer_round_trip(app: Any) -> Callable[[], None]:
    """One bare Celery task: sent, executed by the peer worker, its result fetched."""
    counter = itertools.count()

    def run() -> None:
        value = next(counter)
        answer = app.send_task(PEER_TASK, args=[value]).get(timeout=TIMEOUT_S)
        if answer != value:
            sys.exit(f"bare Celery: task echoed {answer!r}, sent {value!r}")

    return run


def check_round_trips(
    api: Api, done: list[tuple[int, float, float]], warmup: int
) -> dict[str, float]:
    """Every run of ``api`` ended completed with its one point stored; the median ms of each
    leg of the timed round trips (after the warm-up): POST to the queued row, to the claim,
    to the recorded end, to the client seeing it."""
    legs: list[list[float]] = []
    for index, (experiment_id, sent, seen) in enumerate(done):
        detail = api.get(f"/api/v1/experiments/{experiment_id}")
        summary = detail["summaries"].get(KEY, {})
        if detail["status"] != "completed" or summary.get("count") != 1:
            sys.exit(f"{api.name}, experiment {experiment_id}: {detail['status']}, {summary}")
        moments = (sent, detail["created_at"], detail["started_at"], detail["finished_at"], seen)
        if index >= warmup:
            legs.append([(b - a) * 1e3 for a, b in itertools.pairwise(moments)])
    return {
        f"{phase}_ms": float(np.median(leg))
        for phase, leg in zip(PHASES, zip(*legs, strict=True), strict=True)
    }


def run_round_trips(
    apis: dict[str, Api],
    peer: Any | None,
    repeats: int,
    warmup: int,
    pause_s: float,
    jitter_s: float,
) -> dict[str, Any]:
    """``warmup`` round trips, then ``repeats`` timed ones of each target, the targets taking
    turns, each after ``pause_s`` of rest and a random share of ``jitter_s``."""
    done: dict[str, list[tuple[int, float, float]]] = {name: [] for name in apis}
    targets = {name: ours_round_trip(api, done[name]) for name, api in apis.items()}
    if peer is not None:
        targets["celery_bare"] = peer_round_trip(peer)
    times = take_turns(targets, repeats, warmup, pause_s, jitter_s)
    legs = {name: check_round_trips(api, done[name], warmup) for name, api in apis.items()}
    stats = {
        name: {"median_ms": float(np.median(t)), **percentiles_ms(t, 95), **legs.get(name, {})}
        for name, t in times.items()
    }
    if "celery_bare" in stats:
        bare = stats["celery_bare"]["median_ms"]
        for s in stats.values():
            s["ratio_to_bare_celery"] = s["median_ms"] / bare
    for name, s in stats.items():
        if (theirs := stats.get(BASELINE_PREFIX + name)) is not None:
            s["ratio_to_baseline"] = s["median_ms"] / theirs["median_ms"]
    return {
        "repeats": repeats,
        "warmup": warmup,
        "pause_s": pause_s,
        "jitter_s": jitter_s,
        "times_ms": times,
        "stats": stats,
    }


# ---- report ----------------------------------------------------------------------------------

TARGET_TITLES = {
    "local_sqlite": "ours: local transport (`serve --workers 1`), SQLite",
    "local_postgresql": "ours: local transport (`serve --workers 1`), PostgreSQL",
    "celery_postgresql": "ours: Celery transport (`worker --transport celery`), PostgreSQL",
    "celery_sqlite": "ours: Celery transport (`worker --transport celery`), SQLite",
    "celery_bare": "bare Celery: no-op task, `send_task(...).get()`, same Redis",
}


def title_of(name: str, titles: dict[str, str]) -> str:
    """The title of a store or target in ``titles``, or of the baseline commit's same one.

    >>> title_of("baseline_local_sqlite", TARGET_TITLES)
    'baseline commit: local transport (`serve --workers 1`), SQLite'
    >>> title_of("baseline_sqlite", BACKEND_TITLES)
    'SQLite (embedded), baseline commit'
    """
    if not name.startswith(BASELINE_PREFIX):
        return titles[name]
    title = titles[name.removeprefix(BASELINE_PREFIX)]
    if title.startswith("ours: "):
        return "baseline commit: " + title.removeprefix("ours: ")
    return f"{title}, baseline commit"


def latency_table(latency: dict[str, Any]) -> str:
    """The Markdown table of the event latency part."""
    rows = [
        "| store | client | points | p50 ms | p95 ms | p99 ms | max ms | p95 < 100 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in latency["results"].values():
        for client, title in (
            ("websocket", "ours: WebSocket `/events`"),
            ("poll", f"peer: `GET /metrics` every {POLL_PEER_S:g} s"),
        ):
            s = r[client]
            meets = ("yes" if s["meets_bar"] else "no") if client == "websocket" else "-"
            rows.append(
                f"| {r['title']} | {title} | {s['count']:,} | {s['p50_ms']:.1f} "
                f"| {s['p95_ms']:.1f} | {s['p99_ms']:.1f} | {s['max_ms']:.1f} | {meets} |"
            )
    return "\n".join(rows)


def round_trip_table(round_trips: dict[str, Any]) -> str:
    """The Markdown table of the round-trip part."""
    rows = [
        "| target | round trips | median ms | p95 ms | median / bare Celery "
        "| median / baseline | legs, median ms: POST, wait for a worker, run, event to client |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in round_trips["stats"].items():
        ratio = f"{s['ratio_to_bare_celery']:.1f}x" if "ratio_to_bare_celery" in s else "-"
        beside = f"{s['ratio_to_baseline']:.2f}x" if "ratio_to_baseline" in s else "-"
        legs = " / ".join(f"{s[f'{p}_ms']:.0f}" for p in PHASES) if "ran_ms" in s else "-"
        rows.append(
            f"| {title_of(name, TARGET_TITLES)} | {len(round_trips['times_ms'][name])} "
            f"| {s['median_ms']:.1f} | {s['p95_ms']:.1f} | {ratio} | {beside} | {legs} |"
        )
    return "\n".join(rows)


def aims_line(trips: dict[str, Any], baseline: str) -> str:
    """Whether each of ours meets issue 67's aim for a trivial run's round trip, and against
    what the baseline commit was measured."""
    bar = AIMS["round_trip_median_ms"]
    verdicts = "; ".join(
        f"{title_of(name, TARGET_TITLES).removeprefix('ours: ')}: {s['median_ms']:.1f} ms, "
        + ("met" if s["median_ms"] <= bar else "not met")
        for name, s in trips["stats"].items()
        if not name.startswith(BASELINE_PREFIX) and name != "celery_bare"
    )
    beside = (
        f"The baseline rows are commit `{baseline}`'s code (its `src` first on `PYTHONPATH`) "
        "serving the same targets on stores and a Redis database of their own, taking turns "
        "with ours in the same run."
        if baseline
        else "No baseline commit was measured (`--baseline ''`)."
    )
    aim = f"**Aim (issue 67): median <= {bar:g} ms on the local transport and on Celery.**"
    return f"{aim} {verdicts}. {beside}"


def section(report: dict[str, Any]) -> str:
    """The Markdown that goes between the markers of the --out file."""
    latency, trips, cfg = report["latency"], report["round_trips"], report["config"]
    defaults = cfg["settings"]
    skipped = "; ".join(f"{k}: {v}" for k, v in report["skipped"].items()) or "nothing"
    embedded = latency["results"].get("sqlite")
    celery_store = next(
        (store for target, store in CELERY_TARGETS.items() if target in trips["stats"]),
        "not measured",
    )
    memory = "; ".join(
        f"{r['title']}: {r['api_rss_at_start_mb']:.0f} MB at start, "
        f"peak {r['api_peak_rss_mb']:.0f} MB"
        for r in latency["results"].values()
    )
    split = "; ".join(
        f"{r['title']}: {r['stored_p50_ms']:.1f} ms to the event row, then "
        f"{r['pushed_p50_ms']:.1f} ms (p95 {r['pushed_p95_ms']:.1f} ms) to the client"
        for r in latency["results"].values()
    )
    return "\n".join([
        START,
        "## The live platform: event latency and job round trip",
        "",
        "Real `azuraforge serve` and worker processes on 127.0.0.1, each on a fresh store, "
        "running a tiny pipeline plugin; the peers in the same run.",
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        "### Event latency: `log_metrics` in a worker to a WebSocket client",
        "",
        latency_table(latency),
        "",
        f"A run of the plugin `{PIPELINE}` (found through the entry-point group "
        "`azuraforge.pipelines`) logs one point every "
        f"{INTERVAL_S * 1e3:g} ms with `ctx.log_metrics` in the worker's run process, its value "
        "the `time.time()` at which it was logged; a WebSocket client on "
        "`/api/v1/experiments/{id}/events` stamps each point's arrival with the same clock "
        f"(same machine). {latency['runs']} runs of {latency['events']:,} points per store after "
        f"a warm-up run of {WARMUP_EVENTS}, the stores taking turns; percentiles over all "
        "points. The peer, on the same runs at the same time: a client polling "
        f"`GET /api/v1/experiments/{{id}}/metrics` every {POLL_PEER_S:g} s, as a refresh-loop "
        "dashboard does; a point's latency is the arrival of the first answer showing it. "
        "**Embedded p95: "
        + (
            f"{embedded['websocket']['p95_ms']:.1f} ms** (target < {BARS['event_p95_ms']:.0f} ms: "
            f"{'met' if embedded['websocket']['meets_bar'] else 'not met'})."
            if embedded
            else "not measured**."
        ),
        "",
        "Default settings, as a user gets them: `azuraforge serve --workers 1`; the run "
        "context writes a point at once, unless the run logged while its last write was under "
        "way: then it waits until `flush_interval` = "
        f"{defaults['flush_interval']} s after that write began, with what came meanwhile (at "
        "40 points a second each point is written at once); the API looks for new events every "
        f"{defaults['event_watch_seconds']['sqlite'] * 1e3:g} ms on SQLite, and is woken by "
        "`NOTIFY` on PostgreSQL (looking every "
        f"{defaults['event_watch_seconds']['postgresql']:g} s in case one was lost). Where the "
        f"time goes (medians): {split}. API process memory (`VmRSS` after start, `VmHWM` "
        f"after these runs): {memory}.",
        "",
        "Correctness (every run, before its numbers count): the run saves the list of "
        "(step, value) it logged as an artifact, read back through the API; the WebSocket "
        "stream (history on connect + live events) must carry exactly that list, each point "
        "once and in order, then `end` with status `completed`, then close; the poller must "
        "have seen every point with its value.",
        "",
        "### Job round trip",
        "",
        round_trip_table(trips),
        "",
        aims_line(trips, cfg["baseline"]),
        "",
        "A trivial run (one point, no sleep) from `POST /api/v1/experiments` until a WebSocket "
        "client on its events sees `end` (`completed`): the API validates and stores the run, "
        "a worker claims its lease and runs the pipeline in a child process, which records "
        "the end. Local transport: `azuraforge serve --workers 1`, whose worker is woken by "
        "a byte on the pipe `workers.wake` in the home folder when a run is queued, and "
        f"looks for queued runs every `poll_interval` = {defaults['poll_interval']} s anyway. "
        "Celery transport: "
        "`azuraforge serve --workers 0` with `AZURAFORGE_TRANSPORT=celery` and "
        "`AZURAFORGE_BROKER_URL` on Redis, and one `azuraforge worker --transport celery "
        f"--concurrency 1`, on a store of its own ({celery_store}). The peer: a plain Celery "
        "app on the same Redis database (its own queue, results in Redis) with a no-op task "
        "that echoes its argument, one worker with the same options (prefork, concurrency 1, "
        "late acks, prefetch 1, no mingle/gossip/heartbeat), timed from `send_task` until "
        f"`.get()` returns. {trips['warmup']} warm-up round trips per target, then "
        f"{trips['repeats']} each, the targets taking turns, each round trip after "
        f"{trips['pause_s']:g} s of rest (`poll_interval` + {PAUSE_MARGIN_S:g} s, so every "
        "round trip finds an idle worker: this measures one run's latency, not throughput) "
        f"and a random 0-{trips['jitter_s']:g} s more (seeded), so that "
        "submissions do not fall in step with the local workers' polls. The legs come from "
        "the run's row: POST sent to the row's `created_at`, to `started_at` (the claim), to "
        "`finished_at` (the end recorded by the run's process), to the client receiving "
        "`end`. Correctness: every run ended `completed` with its point stored (read back "
        "through the API), every echo matched.",
        "",
        f"Skipped: {skipped}.",
        "",
        environment_block(report["environment"]),
        END,
    ])  # fmt: skip


# ---- driver ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the Celery peer worker's is hidden: the script starts it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="CI size: 1 run of 60 events, 3 round trips"
    )
    parser.add_argument("--events", type=int, help="points per timed latency run")
    parser.add_argument("--runs", type=int, help="timed latency runs per store")
    parser.add_argument("--round-trips", type=int, help="timed round trips per target")
    add_platform_options(parser)
    parser.add_argument(
        "--redis", default=DEFAULT_REDIS, help="the Redis server (a free database 9-15 is used)"
    )
    parser.add_argument("--no-celery", action="store_true", help="skip the Celery targets")
    parser.add_argument(
        "--latency-only", action="store_true",
        help="only the event latency part, its table printed (nothing written to files)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline",
        help=f"the commit measured beside ours (default {BASELINE}; --quick: none; '' none)",
    )  # fmt: skip
    parser.add_argument("--celery-peer", help=argparse.SUPPRESS)
    args = parse_platform_args(parser, argv, ("events", "runs", "round_trips"), "platform_live")
    if args.baseline is None:
        args.baseline = "" if args.quick else BASELINE
    return args


def redis_version(server: str) -> str:
    """The Redis server's version."""
    import redis

    with redis.Redis.from_url(server) as client:
        return str(client.info("server").get("redis_version", "unknown"))


def measure(
    args: argparse.Namespace,
    size: dict[str, Any],
    work: Path,
    postgres: str | None,
    broker_server: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start everything (ours, and beside it the same served by the ``--baseline`` commit's
    code), run both parts, stop everything (on failure too)."""
    plugin = write_plugin(work / "plugin")
    sources: dict[str, Path | None] = {"": None}
    if args.baseline:
        sources[BASELINE_PREFIX] = exported_source(args.baseline, work)
    with ExitStack() as stack:
        # the stores and the brokers first: they outlive the processes that use them
        stores, brokers = {}, {}
        for prefix in sources:
            stores.update(local_stores(stack, work, prefix, postgres))
            if broker_server:
                brokers[prefix] = broker_and_store(stack, work, prefix, broker_server, postgres)
        groups = stack.enter_context(ProcessGroups())
        apis = {}
        for name, url in stores.items():
            env = versioned_environment(plugin, work / f"home-{name}", sources, name,
                                        database_url=url)  # fmt: skip
            apis[name] = serve(groups, f"local-{name}", env, work, workers=1)
            stack.callback(apis[name].http.close)
        latency = run_latency(apis, size["events"], size["runs"])
        print(latency_table(latency), flush=True)
        if args.latency_only:
            return latency, {}
        targets = {target_name(name, "local_"): api for name, api in apis.items()}
        peer = None
        for prefix, (broker, store, url) in brokers.items():
            name = f"{prefix}celery_{store}"
            settings = {"database_url": url, "transport": "celery", "broker_url": broker}
            home = work / f"home-{prefix}celery"
            env = versioned_environment(plugin, home, sources, name, **settings)
            targets[name] = start_celery(groups, stack, work, name, env)
        if brokers:
            broker = brokers[""][0]
            command = [sys.executable, str(Path(__file__).resolve()), "--celery-peer", broker]
            groups.start(command, child_environment(plugin, work / "home-peer"), work / "peer.log")
            peer = peer_app(broker)
            stack.callback(peer.close)
        poll = settings_defaults()["poll_interval"]
        round_trips = run_round_trips(
            targets, peer, size["round_trips"], size["warmup_round_trips"],
            poll + PAUSE_MARGIN_S, poll,
        )  # fmt: skip
        print(round_trip_table(round_trips), flush=True)
    return latency, round_trips


def local_stores(
    stack: ExitStack, work: Path, prefix: str, postgres: str | None
) -> dict[str, str]:
    """The stores of the local transport's servers whose names start with ``prefix``: an
    SQLite file, and a throw-away PostgreSQL database when one is at hand."""
    stores = {f"{prefix}sqlite": f"sqlite:///{work / f'home-{prefix}sqlite' / 'azuraforge.db'}"}
    if postgres:
        stores[f"{prefix}postgresql"] = stack.enter_context(postgres_database(postgres))
    return stores


def broker_and_store(
    stack: ExitStack, work: Path, prefix: str, broker_server: str, postgres: str | None
) -> tuple[str, str, str]:
    """A Redis database of its own for the Celery target whose name starts with ``prefix``
    (ours and the baseline's workers must not take each other's tasks), the store's kind and
    its URL."""
    broker = stack.enter_context(redis_database(broker_server))
    if postgres:
        return broker, "postgresql", stack.enter_context(postgres_database(postgres))
    return broker, "sqlite", f"sqlite:///{work / f'home-{prefix}celery' / 'azuraforge.db'}"


def start_celery(
    groups: ProcessGroups, stack: ExitStack, work: Path, name: str, env: dict[str, str]
) -> Api:
    """``serve --workers 0`` and one ``worker --transport celery --concurrency 1`` of
    ``env``; the API."""
    api = serve(groups, name, env, work, workers=0)  # makes the store
    stack.callback(api.http.close)
    command = azuraforge("worker", "--transport", "celery", "--concurrency", "1")
    groups.start(command, env, work / f"worker-{name}.log")
    return api


def versioned_environment(
    plugin: Path, home: Path, sources: dict[str, Path | None], name: str, **settings: Any
) -> dict[str, str]:
    """:func:`child_environment`, with the baseline commit's ``src`` first on ``PYTHONPATH``
    for a store or target whose ``name`` says it is the baseline's."""
    env = child_environment(plugin, home, **settings)
    source = sources.get(BASELINE_PREFIX) if name.startswith(BASELINE_PREFIX) else None
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), env["PYTHONPATH"]])
    return env


def target_name(store: str, transport: str) -> str:
    """The round-trip target of the local server on ``store``.

    >>> target_name("sqlite", "local_"), target_name("baseline_postgresql", "local_")
    ('local_sqlite', 'baseline_local_postgresql')
    """
    baseline = store.startswith(BASELINE_PREFIX)
    plain = store.removeprefix(BASELINE_PREFIX)
    return f"{BASELINE_PREFIX if baseline else ''}{transport}{plain}"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, or (hidden mode) the bare Celery peer's worker."""
    args = parse_args(argv)
    if args.celery_peer:
        run_peer_worker(args.celery_peer)
        return
    exit_on_sigterm()  # the processes started here run in sessions of their own
    size = dict(SIZES["quick" if args.quick else "full"])
    size.update(
        {k: getattr(args, k) for k in ("events", "runs", "round_trips") if getattr(args, k)}
    )
    load_before, ticks = os.getloadavg(), cpu_ticks()
    skipped: dict[str, str] = {}
    postgres = usable_postgres(args, skipped)
    celery_reason = redis_reason(None if args.no_celery or args.latency_only else args.redis)
    if celery_reason:
        skipped["Celery"] = celery_reason
    broker_server = None if celery_reason else args.redis
    try:
        with tempfile.TemporaryDirectory(prefix="af-bench-live-") as folder:
            latency, round_trips = measure(args, size, Path(folder), postgres, broker_server)
    finally:
        if LEAKED:
            print(
                "process groups still alive after being stopped: " + "; ".join(LEAKED),
                file=sys.stderr,
            )
    if LEAKED:
        sys.exit(1)
    if args.latency_only:
        print(f"load average: {load_before} before, {os.getloadavg()} after", flush=True)
        return
    packages = (
        "azuraforge", "SQLAlchemy", "psycopg", "fastapi", "uvicorn", "websockets", "httpx",
        "celery", "kombu", "redis", "numpy",
    )  # fmt: skip
    servers = {"Redis server": redis_version(broker_server)} if broker_server else None
    report = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {
            "quick": args.quick,
            **size,
            "interval_s": INTERVAL_S,
            "delay_s": DELAY_S,
            "poll_peer_s": POLL_PEER_S,
            "warmup_events": WARMUP_EVENTS,
            "baseline": args.baseline,
            "settings": settings_defaults(),
        },
        "bars": BARS,
        "skipped": skipped,
        "environment": environment(load_before, ticks, postgres, packages, servers),
        "latency": latency,
        "round_trips": round_trips,
    }
    write_outputs(report, section(report), (START, END), args.out, args.json)


if __name__ == "__main__":
    main()

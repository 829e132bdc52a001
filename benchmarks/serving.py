"""Serving: ``POST /api/v1/models/{ref}/predict`` on the weather model and ``POST
/api/v1/streams/{id}/predict`` on a stream's champion, beside a bare FastAPI endpoint
returning a constant, from a load generator on the same machine.

Everything is real and started here, on 127.0.0.1 (free ports), with the same server
settings: ``--api-workers`` uvicorn processes (default 2), each on its own ``SO_REUSEPORT``
socket of the port, on uvicorn's ``auto`` event loop and HTTP parser (uvloop and httptools,
installed with the platform), log level ``warning``:

- **bare**: a FastAPI app with one ``async def`` POST route returning a constant JSON
  object, served by the code that serves ``azuraforge serve``'s API processes
  (``azuraforge.platform.api.processes.serve_processes``; this script in a hidden mode,
  ``--bare-server PORT``). It is the ceiling of FastAPI and uvicorn here.
- **ours**: ``azuraforge serve --workers 0 --api-workers N`` on a fresh SQLite store (the
  default store)
  holding a real weather model: a small weather-forecaster run on ``beijing-hourly``
  (trained first by ``azuraforge serve --workers 1``), registered as model ``weather``
  version 1 with alias ``champion``. The requests are
  ``POST /api/v1/models/weather@champion/predict`` with the fewest raw rows of the dataset
  one forecast needs (found by asking with more rows until the API answers 200).
- **unchecked**, **list**, **list-unchecked**: the cost of checking a credential. Every
  request to ours carries a server admin's API token; *unchecked* is a second
  ``azuraforge serve`` like ours on the same store whose processes read no credential (a
  fixed identity, put in by a ``sitecustomize`` module: :data:`UNCHECKED`), asked the same
  predictions without a token;
  *list* and *list-unchecked* ask both ``GET /api/v1/experiments?limit=50``. Checking a
  token reads the store once and is then remembered by each API process for a second.
- **traced**: a second ``azuraforge serve`` like ours on the same store with tracing on
  (``OTEL_TRACES_EXPORTER=otlp``: every request's spans, FastAPI's and the predict's, sent
  over OTLP/HTTP to a sink this script serves in a hidden mode, ``--otlp-sink PORT``, which
  reads and drops them), asked the same predictions, right after ours in every round: the
  cost of tracing (docs/operations.md). Ours, with its Prometheus metrics, beside a baseline
  commit from before them (``--baseline 14f6eef``) is the cost of the metrics.
- **stream**: the same server, ``POST /api/v1/streams/{id}/predict`` with the last
  :data:`STREAM_CLOSES` closes of ``btc-hourly``, to the champion of a stream of
  :data:`STREAM_CONFIG` run to its end by the training server (its checkpoint read again
  at most once a second per API process).
- **search**: ``GET`` :data:`SEARCH_PATH` (runs filtered on a metric, sorted by it, a page
  of 50, counted up to 10,000) on the same server. Its store and the baseline's hold
  ``runs`` seeded finished runs (100,000; the listings' benchmark's, bulk-inserted before
  the servers start), so *list* and *search* list a crowded store.
- **baseline**, **baseline-list**, **baseline-search**: the same requests to the same
  ``azuraforge serve`` of an older commit (``--baseline``, default :data:`BASELINE`: its
  ``src`` exported by ``git archive`` into the run's folder and put first on
  ``PYTHONPATH``, the same interpreter and packages), on a store of its own holding the
  same runs and a weather model trained there with the same config, asked without a token
  (that commit checks none). Ours beside it in the same run is the ratio the report gives.

The load generator is this process: asyncio streams sending raw HTTP/1.1 keep-alive
requests (the same bytes each time), reading each response's status line, headers and
``Content-Length`` body, cheap per request because it shares the 2 cores with the server.
Every response must be a 200 whose body equals the first one's (the model is
deterministic), but for forecasts within :data:`FORECAST_TOLERANCE` of its own (a request
predicted in a batch with others may differ in the last float32 bits of the model's output);
anything else, a reset or a time-out counts as an error. Two loads (and, for the predict of
ours and of the baseline, a third: one connection asking back to back, one client's
latency, after each round's closed loops, the two back to back; medians over rounds):

1. **closed loop**: ``connections`` connections, one request in flight on each, as fast as
   the server answers: the throughput. Warm-up, then ``duration`` seconds measured; the
   targets take turns over ``repeats`` rounds (order alternating); medians over rounds.
2. **open loop** at the bar's rate (1,000 requests/s): requests are due on a fixed schedule
   whatever the server does, sent on an idle connection (a new one when none is idle, up to
   :data:`OPEN_CONNECTIONS`), and each latency counts from the time the request was *due*,
   so a stalled server is not hidden by a client that waited (no coordinated omission).

Latency per request by ``time.perf_counter`` in the client. Also measured: each server's CPU
time per request and peak resident set (``VmHWM``), both summed over its processes, and the
client's own CPU share. Speed
never fails the run, only correctness (errors, wrong bodies). The table goes to stdout and,
for the full size, between this benchmark's markers in ``--out``; every number to ``--json``.

Usage::

    .venv/bin/python benchmarks/serving.py [--quick] [--duration S] [--repeats N]
        [--connections N] [--api-workers N] [--runs N] [--baseline COMMIT]
        [--out docs/benchmarks.md] [--json PATH] [--only list,search]

``--only list,search`` measures those listing targets alone: ours and the baseline commit's
serve, each on its own store of ``runs`` runs, nothing trained, no Markdown written (the
table and the listings' aims printed, the numbers to ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    ROOT,
    command_line,
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    exported_source,
    free_port,
    percentiles_ms,
    proc_status_mb,
    signed_headers,
    write_outputs,
)
from platform_live import LEAKED, ProcessGroups, azuraforge, child_environment, log_tail

SIZES = {
    "full": {"duration_s": 10.0, "warmup_s": 2.0, "repeats": 3, "connections": 16,
             "runs": 100_000},
    "quick": {"duration_s": 1.0, "warmup_s": 0.5, "repeats": 1, "connections": 8, "runs": 1_000},
}  # fmt: skip
BARS = {"requests_per_s": 1000.0, "p99_ms": 50.0, "aim_requests_per_s": 3000.0,
        "aim_p99_ms": 20.0, "list_requests_per_s": 1000.0, "search_p95_ms": 20.0}  # fmt: skip
BASELINE = "2db990a"
"""The commit ours is measured beside (issue 48: serving was faster there)."""
API_WORKERS = 2  # uvicorn processes of each server: one per core of the 2-core machine
OPEN_RATE = 1000.0  # requests/s of the open-loop load: the bar
OPEN_CONNECTIONS = 64  # the most connections the open loop opens
TIMEOUT_S = 180.0  # for a server to start (slow on a crowded machine), a request answered
TRAIN_TIMEOUT_S = 600.0  # for the weather run to train
DATASET = "beijing-hourly"
MODEL, ALIAS = "weather", "champion"
PREDICT_PATH = f"/api/v1/models/{MODEL}@{ALIAS}/predict"
LIST_PATH = "/api/v1/experiments?limit=50"
SEARCH_PATH = "/api/v1/experiments?limit=50&sort=metric:loss&order=asc&metric=loss&metric_max=0.5"
LISTINGS = {"list", "list-unchecked", "search", "baseline-list", "baseline-search"}
"""Targets whose second load is one connection, not the open loop (its rate is the predict
bar's): a listing's latency as one user sees it, without a queue."""
ONE_CONNECTION = {"ours", "baseline"}
"""Predict targets also asked by one connection back to back: one client's latency."""
SAME_LATENCY = 1.05
"""One connection's p50 counts as no worse than the baseline's up to this ratio."""
BARE_PATH = "/predict"
BARE_ANSWER = {"predictions": [{"forecast": 0.0}]}
WEATHER_CONFIG = {
    "full": {"max_rows": 4000, "epochs": 2, "hidden_size": 32, "sequence_length": 24},
    "quick": {"max_rows": 600, "epochs": 1, "hidden_size": 8, "sequence_length": 24},
}
STREAM_CONFIG = {"source": "btc-hourly", "max_events": 2000, "checkpoint_every": 500}
STREAM_CLOSES = 30
START, END = "<!-- serving:start -->", "<!-- serving:end -->"


# ---- the bare peer ---------------------------------------------------------------------------


def bare_app() -> Any:
    """The bare peer: one constant POST route (uvicorn's factory in each of its processes)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post(BARE_PATH)
    async def predict() -> dict[str, Any]:
        return BARE_ANSWER

    return app


def run_bare_server(port: int, api_workers: int) -> None:
    """The bare peer, served as ``azuraforge serve --api-workers N`` (N > 1) serves its API:
    one uvicorn process per ``SO_REUSEPORT`` socket."""
    from azuraforge.platform.api.processes import listen, serve_processes

    exit_on_sigterm()  # stops the processes through serve_processes' own clean-up
    serve_processes(f"{Path(__file__).stem}:bare_app", listen("127.0.0.1", port, api_workers))


def run_otlp_sink(port: int) -> None:
    """The traced serve's collector: answers each OTLP/HTTP export 200 after reading it, and
    writes how many it received to ``SINK_COUNT`` beside itself at each."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = 0
    count = Path(os.environ["SINK_COUNT"])

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            nonlocal received
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            received += 1
            count.write_text(str(received))

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    exit_on_sigterm()
    ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()


def exports_received(count: Path) -> int:
    """How many exports the OTLP sink received (it writes the count at each)."""
    return int(count.read_text()) if count.exists() else 0


def start_traced(
    groups: ProcessGroups,
    env: dict[str, str],
    work: Path,
    api_workers: int,
    token: str,
    predicted: tuple[bytes, bytes],
) -> Server:
    """Ours again on the same store, tracing to an OTLP sink (started here): its predict."""
    sink_port, count = free_port(), work / "sink-count"
    command = [sys.executable, str(Path(__file__).resolve()), "--otlp-sink", str(sink_port)]
    groups.start(command, {**env, "SINK_COUNT": str(count)}, work / "otlp-sink.log")
    traced_env = {**env, "OTEL_TRACES_EXPORTER": "otlp",
                  "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"}  # fmt: skip
    process, port = start_serve(groups, traced_env, work, "traced", 0, api_workers)
    body, answer = predicted
    return Server("traced", process.pid, Target(port, PREDICT_PATH, body, answer, token),
                  tree_status_mb("VmRSS", process.pid))  # fmt: skip


UNCHECKED = """\
# Written by benchmarks/serving.py: every process of this serve reads no credential.
from azuraforge.platform.api import access
from azuraforge.platform.services.access import FIRST_ADMIN, Identity

_ADMIN = Identity(FIRST_ADMIN, "default", "admin")


async def _identified(connection):
    return _ADMIN


access.caller = lambda connection: _ADMIN
access.identified = _identified
"""
"""A ``sitecustomize`` module replacing the API's credential reading (``access.identified``,
which every route's permission awaits, and ``access.caller``) by a fixed server admin of
the default project, in
every process of a serve started with its folder first on ``PYTHONPATH``: the "without a
credential check" side of the cost of checking one. The permission and the project's store
stay as they are; the product has no such mode."""


def server_settings(api_workers: int) -> dict[str, Any]:
    """What ``uvicorn.run`` (as ``azuraforge serve --api-workers N`` calls it) resolves to
    here: its ``auto`` loop and HTTP choices depend on what is installed."""
    uvloop = importlib.util.find_spec("uvloop") is not None
    httptools = importlib.util.find_spec("httptools") is not None
    return {
        "processes": api_workers,
        "loop": "uvloop" if uvloop else "asyncio",
        "http": "httptools" if httptools else "h11",
        "log_level": "warning",
        "serve_workers": 0,
        "store": "SQLite (default)",
    }


# ---- the load generator ----------------------------------------------------------------------


@dataclass
class Tally:
    """What a load saw: latencies of the answered requests, errors by kind."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


@dataclass(frozen=True)
class Target:
    """Where requests go and what every answer must be."""

    port: int
    path: str
    body: bytes
    expected: bytes = b""
    """The body every answer must have (empty: only a 200 is checked), but for forecasts
    within :data:`FORECAST_TOLERANCE` of its own (:func:`same_answer`)."""
    token: str = ""
    """The API token each request carries (none: a server that checks no credential)."""
    method: str = "POST"

    @property
    def request(self) -> bytes:
        head = f"{self.method} {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if self.token:
            head += f"Authorization: Bearer {self.token}\r\n"
        if self.method == "GET":
            return (head + "\r\n").encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n\r\n"
        return head.encode() + self.body


class Connection:
    """One keep-alive HTTP/1.1 connection: send a request, read its answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def ask(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request``; return the answer's status and body."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        marker = head.lower().find(b"content-length:")
        if marker < 0:
            raise ValueError("an answer without Content-Length")
        length = int(head[marker + 15 : head.index(b"\r\n", marker)])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


FORECAST_TOLERANCE = 1e-6
"""How far a forecast may be from the first answer's (relative, or absolute near 0): a
request predicted in a batch with others may differ from one predicted alone in the last
float32 bits of the model's output (the sums of its matrix products are grouped by the
batch's size)."""
_SAME: set[tuple[bytes, bytes]] = set()
"""Bodies found equal to an expected one but for their forecasts' last bits."""


def same_answer(body: bytes, expected: bytes) -> bool:
    """Whether ``body`` is ``expected``, or is it but for forecasts within
    :data:`FORECAST_TOLERANCE` (each distinct body read once)."""
    if body == expected or (body, expected) in _SAME:
        return True
    try:
        answer, wanted = json.loads(body), json.loads(expected)
        forecasts = answer["predictions"].pop("forecast")
        wanted_forecasts = wanted["predictions"].pop("forecast")
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    close = len(forecasts) == len(wanted_forecasts) and all(
        math.isclose(a, b, rel_tol=FORECAST_TOLERANCE, abs_tol=FORECAST_TOLERANCE)
        for a, b in zip(forecasts, wanted_forecasts, strict=True)
    )
    if close and answer == wanted:
        _SAME.add((body, expected))
        return True
    return False


async def timed_ask(connection: Connection, target: Target, tally: Tally, since: float) -> bool:
    """One request; its latency (from ``since``) into ``tally`` if it was answered right.
    ``False`` when the connection is no longer usable."""
    try:
        status, body = await connection.ask(target.request)
    except (OSError, ValueError, EOFError, asyncio.LimitOverrunError) as e:
        tally.error(type(e).__name__)
        return False
    if status != 200:
        tally.error(f"HTTP {status}")
    elif target.expected and not same_answer(body, target.expected):
        tally.error("wrong body")
    else:
        tally.latencies_ms.append((time.perf_counter() - since) * 1e3)
    return True


async def closed_loop(target: Target, connections: int, warmup_s: float, duration_s: float):
    """``connections`` connections asking back to back; only requests sent after the
    warm-up and answered before its end count. Returns the tally and the measured seconds."""
    opened = [await Connection.open(target.port) for _ in range(connections)]
    begin = time.perf_counter() + warmup_s
    end = begin + duration_s
    tally, warm = Tally(), Tally()

    async def keep_asking(connection: Connection) -> None:
        while (now := time.perf_counter()) < end:
            if not await timed_ask(connection, target, tally if now >= begin else warm, now):
                connection.close()
                connection = await Connection.open(target.port)
        connection.close()

    async with asyncio.timeout(warmup_s + duration_s + TIMEOUT_S):
        await asyncio.gather(*(keep_asking(c) for c in opened))
    return tally, warm, time.perf_counter() - begin


async def open_loop(target: Target, rate: float, warmup_s: float, duration_s: float):
    """Requests due every ``1 / rate`` seconds, each sent on an idle connection (opening one
    when none is, up to :data:`OPEN_CONNECTIONS`); latency from the time it was due. The
    measured seconds run until the last answer."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = 0
    tally, warm = Tally(), Tally()
    start = time.perf_counter()
    begin = start + warmup_s
    total = int((warmup_s + duration_s) * rate)

    async def send(due: float) -> None:
        nonlocal opened
        if idle.empty() and opened < OPEN_CONNECTIONS:
            opened += 1
            idle.put_nowait(await Connection.open(target.port))
        connection = await idle.get()
        if await timed_ask(connection, target, tally if due >= begin else warm, due):
            idle.put_nowait(connection)
        else:
            connection.close()
            idle.put_nowait(await Connection.open(target.port))

    pending: set[asyncio.Task[None]] = set()
    sent = 0
    while sent < total:
        now = time.perf_counter()
        due_now = min(total, int((now - start) * rate) + 1)
        for index in range(sent, due_now):
            task = asyncio.ensure_future(send(start + index / rate))
            pending.add(task)
            task.add_done_callback(pending.discard)
        sent = due_now
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    async with asyncio.timeout(TIMEOUT_S):
        await asyncio.gather(*pending)
    while not idle.empty():
        idle.get_nowait().close()
    # until the last answer: a server slower than the rate answers fewer per second
    return tally, warm, time.perf_counter() - begin


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants alive now (a server's uvicorn processes)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pending += [int(child) for child in task.read_text().split()]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` and its descendants have used
    (``/proc/<pid>/stat``)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def tree_status_mb(field: str, pid: int) -> float | None:
    """:func:`proc_status_mb` summed over ``pid`` and its descendants."""
    found = [proc_status_mb(field, member) for member in process_tree(pid)]
    return sum(mb for mb in found if mb is not None) or None


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_load(pid: int, load: Callable[[], Any]) -> dict[str, Any]:
    """Run ``load`` (a coroutine factory) and summarise what it saw, with the server's and
    this client's CPU use over the whole load (warm-up included)."""
    server_cpu, client_cpu, wall = cpu_seconds(pid), own_cpu_seconds(), time.perf_counter()
    tally, warm, seconds = asyncio.run(load())
    wall = time.perf_counter() - wall
    answered = len(tally.latencies_ms) + len(warm.latencies_ms)
    errors = sum(tally.errors.values()) + sum(warm.errors.values())
    stats = {
        "requests": len(tally.latencies_ms),
        "seconds": seconds,
        "requests_per_s": len(tally.latencies_ms) / seconds,
        "errors": errors,
        "error_kinds": {**warm.errors, **tally.errors},
        "server_cpu_ms_per_request": (cpu_seconds(pid) - server_cpu) * 1e3 / max(answered, 1),
        "client_cpu_share": (own_cpu_seconds() - client_cpu) / wall,
    }
    if tally.latencies_ms:
        stats |= percentiles_ms(tally.latencies_ms, 50, 95, 99)
        stats["max_ms"] = max(tally.latencies_ms)
    return stats


# ---- the servers -----------------------------------------------------------------------------


@dataclass
class Server:
    """A server process and the target its requests go to."""

    name: str
    pid: int
    target: Target
    rss_at_start_mb: float | None


def wait_until_up(process: Any, port: int, log: Path, what: str) -> None:
    """Wait until something answers HTTP on ``port`` (any status)."""
    import httpx

    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    sys.exit(f"{what} did not start:\n{log_tail(log)}")


def start_bare(groups: ProcessGroups, work: Path, body: bytes, api_workers: int) -> Server:
    port = free_port()
    log = work / "bare.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--bare-server", str(port),
               "--api-workers", str(api_workers)]  # fmt: skip
    process = groups.start(command, dict(os.environ), log)
    wait_until_up(process, port, log, "the bare FastAPI server")
    expected = json.dumps(BARE_ANSWER, separators=(",", ":")).encode()
    target = Target(port, BARE_PATH, body, expected)
    return Server("bare", process.pid, target, tree_status_mb("VmRSS", process.pid))


def start_serve(
    groups: ProcessGroups,
    env: dict[str, str],
    work: Path,
    name: str,
    workers: int,
    api_workers: int = 1,
) -> tuple[Any, int]:
    """``azuraforge serve --workers N --api-workers M`` on a free port, once it answers."""
    port = free_port()
    log = work / f"serve-{name}.log"
    command = azuraforge("serve", "--port", str(port), "--workers", str(workers),
                         "--api-workers", str(api_workers))  # fmt: skip
    process = groups.start(command, env, log)
    wait_until_up(process, port, log, f"azuraforge serve ({name})")
    return process, port


def load_runs(env: dict[str, str], count: int) -> None:
    """``count`` seeded finished runs bulk-inserted into the store of ``env`` by the code
    ``env`` runs (this script's hidden ``--load-runs``: ours, or the baseline's)."""
    url = env["AZURAFORGE_DATABASE_URL"]
    command = [sys.executable, str(Path(__file__).resolve()), "--load-runs", url, str(count)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"loading {count:,} runs into {url} failed:\n{done.stderr[-2000:]}")


def insert_listing_runs(url: str, count: int) -> None:
    """The hidden ``--load-runs`` mode: the listings' benchmark's seeded runs, its way."""
    from platform_vs_mlflow import listing_runs, load_ours

    Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    load_ours(url, listing_runs(count))


def start_baseline(
    groups: ProcessGroups, work: Path, size: dict[str, Any], weather: dict[str, Any], body: bytes
) -> list[Server]:
    """The baseline commit's ``azuraforge serve`` (its code first on ``PYTHONPATH``) on a
    store of its own: the same runs, a weather model trained there with the same config and
    a stream of the same config run there; its predict, list, search and stream targets,
    with a server admin's token when that commit checks credentials (:func:`credential_of`)."""
    import httpx

    home = work / "baseline-home"
    env = child_environment(work, home, database_url=f"sqlite:///{home / 'azuraforge.db'}")
    source = exported_source(size["baseline"], work)
    env["PYTHONPATH"] = os.pathsep.join([str(source), env["PYTHONPATH"]])
    load_runs(env, size["runs"])
    trainer, port = start_serve(groups, env, work, "baseline-train", workers=1)
    headers = credential_of(port, env["AZURAFORGE_DATABASE_URL"])
    token = headers.get("Authorization", "").removeprefix("Bearer ")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers=headers) as http:
        train_and_register(http, weather)
        stream_id = run_stream(http)
    trainer.terminate()
    trainer.wait(TIMEOUT_S)
    process, port = start_serve(groups, env, work, "baseline", 0, size["api_workers"])
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers=headers) as http:
        answer = http.post(
            PREDICT_PATH, content=body, headers={"content-type": "application/json"}
        )
        if answer.status_code != 200:
            sys.exit(f"the baseline's {PREDICT_PATH}: {answer.status_code} {answer.text[:500]}")
        stream = stream_request(http, stream_id)
    rss = tree_status_mb("VmRSS", process.pid)
    return [
        Server("baseline", process.pid,
               Target(port, PREDICT_PATH, body, answer.content, token), rss),
        Server("baseline-list", process.pid,
               Target(port, LIST_PATH, b"", b"", token, "GET"), rss),
        Server("baseline-search", process.pid,
               Target(port, SEARCH_PATH, b"", b"", token, "GET"), rss),
        Server("baseline-stream", process.pid, Target(port, *stream, token), rss),
    ]  # fmt: skip


def credential_of(port: int, database_url: str) -> dict[str, str]:
    """The headers a server's requests need: none for a commit that checks no credential
    (it answers a listing without one), else a server admin's token of its store."""
    import httpx

    if httpx.get(f"http://127.0.0.1:{port}{LIST_PATH}", timeout=60).status_code != 401:
        return {}
    return signed_headers(database_url)


def api_call(http: Any, method: str, path: str, expect: int, **kwargs: Any) -> Any:
    response = http.request(method, path, **kwargs)
    if response.status_code != expect:
        sys.exit(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


def train_and_register(http: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Train a weather-forecaster run, register it as ``weather`` v1, alias ``champion``;
    return the run's row."""
    body = {"pipeline": "weather-forecaster", "config": config}
    run_id = api_call(http, "POST", "/api/v1/experiments", 201, json=body)["data"][0]["id"]
    row = completed(http, f"/api/v1/experiments/{run_id}", f"the weather run {run_id}")
    api_call(http, "POST", "/api/v1/models", 201, json={"name": MODEL})
    version = api_call(
        http, "POST", f"/api/v1/models/{MODEL}/versions", 201, json={"experiment": run_id}
    )["version"]
    api_call(
        http, "PUT", f"/api/v1/models/{MODEL}/aliases/{ALIAS}", 200, json={"version": version}
    )
    return row


def run_stream(http: Any) -> int:
    """A stream of :data:`STREAM_CONFIG`, run to its end by the server's worker; its id."""
    stream_id = int(api_call(http, "POST", "/api/v1/streams", 201,
                             json={"config": STREAM_CONFIG})["id"])  # fmt: skip
    completed(http, f"/api/v1/streams/{stream_id}", f"the stream {stream_id}")
    return stream_id


def completed(http: Any, path: str, what: str) -> dict[str, Any]:
    """The job at ``path`` once it ended completed (exits saying how it ended otherwise, or
    that it did not end within :data:`TRAIN_TIMEOUT_S`)."""
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while (row := api_call(http, "GET", path, 200))["status"] in {"queued", "running"}:
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not end within {TRAIN_TIMEOUT_S:g} s")
        time.sleep(0.5)
    if row["status"] != "completed":
        sys.exit(f"{what} ended {row['status']}: {row['error']}")
    return dict(row)


def stream_request(http: Any, stream_id: int) -> tuple[str, bytes, bytes]:
    """The stream predict path, a body of the last closes of its source, and the answer."""
    from azuraforge.learn.datasets import fetch
    from azuraforge.stream import CsvReplay

    (path,) = fetch("btc-hourly").values()
    closes = [e.values["close"] for e in CsvReplay(path, columns=["close"])][-STREAM_CLOSES:]
    predict = f"/api/v1/streams/{stream_id}/predict"
    body = json.dumps({"closes": closes}).encode()
    answer = http.post(predict, content=body, headers={"content-type": "application/json"})
    if answer.status_code != 200:
        sys.exit(f"{predict}: {answer.status_code} {answer.text[:500]}")
    return predict, body, answer.content


def dataset_rows(count: int) -> list[dict[str, Any]]:
    """The last ``count`` raw rows of the weather dataset's file, as JSON objects (numbers
    as numbers, ``NA`` as it is written)."""
    import csv

    from azuraforge.learn.datasets import fetch

    (path,) = fetch(DATASET).values()
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return [{k: _number(v) for k, v in row.items()} for row in rows[-count:]]


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def fewest_rows(http: Any, start: int) -> tuple[bytes, int, bytes]:
    """The request body with the fewest dataset rows that gets a 200 (from ``start`` rows
    up), the row count, and the answer's body."""
    for count in range(start, start + 200):
        body = json.dumps({"rows": dataset_rows(count)}).encode()
        response = http.post(
            PREDICT_PATH, content=body, headers={"content-type": "application/json"}
        )
        if response.status_code == 200:
            return body, count, response.content
    sys.exit(
        f"{PREDICT_PATH} refused every body of {start} to {start + 199} rows: {response.text}"
    )


# ---- driver ----------------------------------------------------------------------------------


def run_rounds(servers: list[Server], size: dict[str, Any]) -> dict[str, Any]:
    """Closed-loop rounds, the servers taking turns (order alternating), predict's one
    connection (ours and the baseline's) after each round's closed loops in the same order,
    then one open-loop load per server (for a listing: one connection asking back to back, its
    latency without a queue)."""
    closed: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    alone: dict[str, list[dict[str, Any]]] = {
        s.name: [] for s in servers if s.name in ONE_CONNECTION
    }
    warmup, duration = size["warmup_s"], size["duration_s"]
    for repeat in range(size["repeats"]):
        turn = servers if repeat % 2 == 0 else servers[::-1]
        for server in turn:
            stats = measure_load(
                server.pid,
                lambda s=server: closed_loop(
                    s.target, size["connections"], size["warmup_s"], size["duration_s"]
                ),
            )
            closed[server.name].append(stats)
            print(f"{server.name} closed loop: {stats['requests_per_s']:,.0f} req/s, "
                  f"p99 {stats.get('p99_ms', float('nan')):.1f} ms, "
                  f"errors {stats['errors']}", flush=True)  # fmt: skip
        for server in (s for s in turn if s.name in alone):
            # Paired and repeated as the closed loop: one pass each was 10 % apart by noise.
            alone[server.name].append(
                measure_load(
                    server.pid, lambda s=server: closed_loop(s.target, 1, warmup, duration)
                )
            )
    opened = {}
    for server in servers:
        opened[server.name] = measure_load(
            server.pid,
            lambda s=server: (
                closed_loop(s.target, 1, warmup, duration)
                if s.name in LISTINGS
                else open_loop(s.target, OPEN_RATE, warmup, duration)
            ),
        )
    return {"closed": closed, "open": opened, "one": alone}


def summarise(rounds: dict[str, Any], servers: list[Server]) -> dict[str, Any]:
    """Medians over the closed-loop rounds, the open loop, memory, the ratio to bare."""
    summary: dict[str, Any] = {}
    for server in servers:
        alone = rounds["one"].get(server.name)
        summary[server.name] = {
            "closed": medians(rounds["closed"][server.name]),
            "open": rounds["open"][server.name],
            **({"one": medians(alone)} if alone else {}),
            "rss_at_start_mb": server.rss_at_start_mb,
            "peak_rss_mb": tree_status_mb("VmHWM", server.pid),
        }
    for name in set(summary) - {"bare"} if "bare" in summary else ():
        summary[name]["ratio_to_bare"] = (
            summary[name]["closed"]["requests_per_s"] / summary["bare"]["closed"]["requests_per_s"]
        )
    for ours, theirs in BESIDE.items():
        if theirs in summary:
            summary[ours]["ratio_to_baseline"] = paired_ratio(rounds, ours, theirs)
    if "traced" in summary:
        summary["traced"]["ratio_to_ours"] = paired_ratio(rounds, "traced", "ours")
    return summary


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure of ``runs`` (one load's rounds) as its median over them, errors summed."""
    median = {
        key: float(np.median([r[key] for r in runs]))
        for key in ("requests_per_s", "p50_ms", "p95_ms", "p99_ms",
                    "server_cpu_ms_per_request", "client_cpu_share")
    }  # fmt: skip
    return median | {"errors": sum(r["errors"] for r in runs)}


def paired_ratio(rounds: dict[str, Any], one: str, other: str) -> float:
    """The median over the closed-loop rounds of ``one``'s requests/s over ``other``'s."""
    paired = zip(rounds["closed"][one], rounds["closed"][other], strict=True)
    return float(np.median([a["requests_per_s"] / b["requests_per_s"] for a, b in paired]))


BESIDE = {"ours": "baseline", "list": "baseline-list", "search": "baseline-search",
          "stream": "baseline-stream"}  # fmt: skip
"""Each target of ours and the same requests to the baseline's server."""


def beside(servers: list[Server], baseline: list[Server]) -> list[Server]:
    """``servers`` with each baseline target right after its counterpart of ours: on a
    shared machine whose load comes and goes, a pair measured back to back sees the same
    load, and the ratio is the median of the rounds' ratios."""
    theirs = {s.name: s for s in baseline}
    return [t for s in servers for t in (s, theirs.get(BESIDE.get(s.name, ""))) if t]


def credential_cost(summary: dict[str, Any]) -> dict[str, float]:
    """The share of requests/s checking a token costs (closed loop, medians): on predict and
    on the experiment list, each against the same API without the check."""
    rate = {name: s["closed"]["requests_per_s"] for name, s in summary.items()}
    return {"predict": 1 - rate["ours"] / rate["unchecked"],
            "list": 1 - rate["list"] / rate["list-unchecked"]}  # fmt: skip


def measure(size: dict[str, Any], weather: dict[str, Any], work: Path) -> dict[str, Any]:
    """Set up both servers, run the loads, stop everything (on failure too)."""
    import httpx

    with ExitStack() as stack:
        groups = stack.enter_context(ProcessGroups())
        home = work / "home"
        env = child_environment(work, home, database_url=f"sqlite:///{home / 'azuraforge.db'}")
        load_runs(env, size["runs"])
        trainer, port = start_serve(groups, env, work, "train", workers=1)
        signed = signed_headers(env["AZURAFORGE_DATABASE_URL"])
        token = signed["Authorization"].removeprefix("Bearer ")
        http = stack.enter_context(
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers=signed)
        )
        run = train_and_register(http, weather)
        stream_id = run_stream(http)
        trainer.terminate()
        trainer.wait(TIMEOUT_S)
        process, port = start_serve(groups, env, work, "predict", 0, size["api_workers"])
        http = stack.enter_context(
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers=signed)
        )
        body, rows, answer = fewest_rows(http, weather["sequence_length"])
        ours = Server(
            "ours",
            process.pid,
            Target(port, PREDICT_PATH, body, answer, token),
            tree_status_mb("VmRSS", process.pid),
        )
        path, stream_body, stream_answer = stream_request(http, stream_id)
        stream = Server(
            "stream",
            process.pid,
            Target(port, path, stream_body, stream_answer, token),
            ours.rss_at_start_mb,
        )
        bare = start_bare(groups, work, body, size["api_workers"])
        (work / "unchecked").mkdir()
        (work / "unchecked" / "sitecustomize.py").write_text(UNCHECKED)
        paths = [str(work / "unchecked"), env.get("PYTHONPATH", "")]
        unchecked_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
        free, free_port_ = start_serve(groups, unchecked_env, work, "unchecked", 0,
                                       size["api_workers"])  # fmt: skip
        unchecked = Server("unchecked", free.pid, Target(free_port_, PREDICT_PATH, body, answer),
                           tree_status_mb("VmRSS", free.pid))  # fmt: skip
        listing = Server("list", process.pid, Target(port, LIST_PATH, b"", b"", token, "GET"),
                         ours.rss_at_start_mb)  # fmt: skip
        unchecked_listing = Server("list-unchecked", free.pid,
                                   Target(free_port_, LIST_PATH, b"", b"", "", "GET"),
                                   unchecked.rss_at_start_mb)  # fmt: skip
        search = Server("search", process.pid, Target(port, SEARCH_PATH, b"", b"", token, "GET"),
                        ours.rss_at_start_mb)  # fmt: skip
        traced = start_traced(groups, env, work, size["api_workers"], token, (body, answer))
        servers = [bare, ours, traced, stream, unchecked, listing, unchecked_listing, search]
        if size["baseline"]:
            servers = beside(servers, start_baseline(groups, work, size, weather, body))
        rounds = run_rounds(servers, size)
        return {
            "runs": size["runs"],
            "weather_run": {"id": run["id"], "config": run["config"], "scores": run["scores"]},
            "rows_per_request": rows,
            "request_bytes": len(body),
            "answer": json.loads(answer),
            "stream": {
                "id": stream_id,
                "config": STREAM_CONFIG,
                "answer": json.loads(stream_answer),
            },
            "rounds": rounds,
            "summary": summarise(rounds, servers),
            "sink_requests": exports_received(work / "sink-count"),
        }


def listing_servers(
    groups: ProcessGroups, work: Path, size: dict[str, Any], only: list[str], commit: str = ""
) -> list[Server]:
    """``--only``: ours (or ``commit``'s code, its ``src`` first on ``PYTHONPATH``) serving a
    store of its own holding the listings' runs, and the ``only`` targets on it (named
    ``baseline-<target>`` for ``commit``'s). No model is trained."""
    home = work / f"home-{commit or 'ours'}"
    env = child_environment(work, home, database_url=f"sqlite:///{home / 'azuraforge.db'}")
    if commit:
        source = exported_source(commit, work)
        env["PYTHONPATH"] = os.pathsep.join([str(source), env["PYTHONPATH"]])
    load_runs(env, size["runs"])
    label = f"baseline-{commit}" if commit else "ours"
    process, port = start_serve(groups, env, work, label, 0, size["api_workers"])
    token = credential_of(port, env["AZURAFORGE_DATABASE_URL"]).get("Authorization", "")
    rss = tree_status_mb("VmRSS", process.pid)
    target = {"list": LIST_PATH, "search": SEARCH_PATH}
    return [
        Server(f"baseline-{name}" if commit else name, process.pid,
               Target(port, target[name], b"", b"", token.removeprefix("Bearer "), "GET"), rss)
        for name in only
    ]  # fmt: skip


def measure_listings(size: dict[str, Any], work: Path, only: list[str]) -> dict[str, Any]:
    """``--only list,search``: those targets alone on ours, beside the baseline commit's
    (when one is given), stopped after (on failure too)."""
    with ProcessGroups() as groups:
        servers = listing_servers(groups, work, size, only)
        if size["baseline"]:
            baseline = listing_servers(groups, work, size, only, size["baseline"])
            servers = beside(servers, baseline)
        rounds = run_rounds(servers, size)
        return {"runs": size["runs"], "rounds": rounds, "summary": summarise(rounds, servers)}


def listing_aims(result: dict[str, Any]) -> str:
    """The listings' aims (issue 67) for the targets measured, met or not."""
    summary, shown = result["summary"], []
    if "list" in summary:
        rate = summary["list"]["closed"]["requests_per_s"]
        met = rate >= BARS["list_requests_per_s"]
        aim = f"aim ≥ {BARS['list_requests_per_s']:,.0f}"
        shown.append(f"the list {rate:,.0f} requests/s ({aim}): {'met' if met else 'not met'}")
    if "search" in summary:
        p95 = summary["search"]["open"]["p95_ms"]
        met = p95 < BARS["search_p95_ms"]
        aim = f"aim < {BARS['search_p95_ms']:.0f}; one connection, {result['runs']:,} runs"
        shown.append(f"the search p95 {p95:.1f} ms ({aim}): {'met' if met else 'not met'}")
    return "; ".join(shown)


TITLES = {
    "bare": "bare FastAPI: `async def` POST returning a constant",
    "ours": f"ours: `POST {PREDICT_PATH}` (weather LSTM)",
    "traced": "ours with tracing on (OTLP/HTTP to a sink): the same predict",
    "stream": "ours: `POST /api/v1/streams/ID/predict` "
    f"(a stream's champion, {STREAM_CLOSES} closes)",
    "unchecked": "ours without the credential check: the same predict",
    "list": f"ours: `GET {LIST_PATH}` (the experiment list)",
    "list-unchecked": "ours without the credential check: the same list",
    "search": "ours: `GET /api/v1/experiments?...metric=loss&metric_max=0.5` (the search)",
    "baseline": "baseline commit: the same predict",
    "baseline-list": "baseline commit: the same list",
    "baseline-search": "baseline commit: the same search",
    "baseline-stream": "baseline commit: the same stream predict",
}


def table(result: dict[str, Any]) -> str:
    """The Markdown table: closed loop (medians over rounds) and the open loop at the bar."""
    rows = [
        "| target | load | requests/s | ours / baseline | p50 ms | p95 ms | p99 ms | errors "
        "| server CPU ms/request | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in result["summary"].items():
        peak = f"{s['peak_rss_mb']:.0f}" if s["peak_rss_mb"] else "-"
        ratio = f"{s['ratio_to_baseline']:.2f}x" if "ratio_to_baseline" in s else ""
        second = "one connection" if name in LISTINGS else f"open loop at {OPEN_RATE:,.0f}/s"
        loads = [("closed loop", s["closed"]), (second, s["open"])]
        for load, stats in loads + ([("one connection", s["one"])] if "one" in s else []):
            rows.append(
                f"| {TITLES[name]} | {load} | {stats['requests_per_s']:,.0f} "
                f"| {ratio if load == 'closed loop' else ''} "
                f"| {stats.get('p50_ms', float('nan')):.1f} "
                f"| {stats.get('p95_ms', float('nan')):.1f} "
                f"| {stats.get('p99_ms', float('nan')):.1f} | {stats['errors']} "
                f"| {stats['server_cpu_ms_per_request']:.2f} | {peak} |"
            )
    return "\n".join(rows)


def aims(result: dict[str, Any]) -> str:
    """The compass's bars (issues 48 and 67): predict, one connection's latency, the
    stream's p99, the list and the search, met or not."""
    summary = result["summary"]
    predict, listing, search = summary["ours"], summary["list"]["closed"], summary["search"]
    p99 = predict["open"].get("p99_ms", float("inf"))
    checks = [
        (f"predict {predict['closed']['requests_per_s']:,.0f} requests/s (aim "
         f"≥ {BARS['aim_requests_per_s']:,.0f}), p99 {p99:.1f} ms at {OPEN_RATE:,.0f}/s "
         f"(aim < {BARS['aim_p99_ms']:.0f})",
         predict["closed"]["requests_per_s"] >= BARS["aim_requests_per_s"]
         and p99 < BARS["aim_p99_ms"]),
        *batch_aims(summary),
        (f"the list {listing['requests_per_s']:,.0f} requests/s (aim "
         f"≥ {BARS['list_requests_per_s']:,.0f})",
         listing["requests_per_s"] >= BARS["list_requests_per_s"]),
        (f"the search p95 {search['open']['p95_ms']:.1f} ms (aim < "
         f"{BARS['search_p95_ms']:.0f}; one connection, {result['runs']:,} runs)",
         search["open"]["p95_ms"] < BARS["search_p95_ms"]),
    ]  # fmt: skip
    return (
        "The compass's aims: "
        + "; ".join(f"{text}: **{'met' if met else 'not met'}**" for text, met in checks)
        + "."
    )


def batch_aims(summary: dict[str, Any]) -> list[tuple[str, bool]]:
    """Issue 67's aims beside predict's throughput: one connection's latency no worse than
    the baseline's (within :data:`SAME_LATENCY`, the machine's noise), when it ran, and the
    stream's p99 at the open loop's rate."""
    checks = []
    if "one" in summary.get("baseline", {}):
        mine, theirs = summary["ours"]["one"]["p50_ms"], summary["baseline"]["one"]["p50_ms"]
        checks.append((
            f"one connection's predict p50 {mine:.2f} ms (baseline {theirs:.2f} ms; aim no "
            f"worse, within {SAME_LATENCY - 1:.0%})", mine <= theirs * SAME_LATENCY,
        ))  # fmt: skip
    p99 = summary["stream"]["open"].get("p99_ms", float("inf"))
    checks.append((
        f"the stream's predict p99 {p99:.1f} ms at {OPEN_RATE:,.0f}/s (aim < "
        f"{BARS['aim_p99_ms']:.0f})", p99 < BARS["aim_p99_ms"],
    ))  # fmt: skip
    return checks


def verdict(result: dict[str, Any], name: str = "ours") -> str:
    """The bar, met or not by target ``name``, in one sentence."""
    ours = result["summary"][name]
    rate, p99 = ours["closed"]["requests_per_s"], ours["open"].get("p99_ms", float("inf"))
    errors = ours["closed"]["errors"] + ours["open"]["errors"]
    met = rate >= BARS["requests_per_s"] and p99 < BARS["p99_ms"] and errors == 0
    return (
        f"{TITLES[name].split(': ', 1)[1]}: "
        f"**{rate:,.0f} requests/s** (closed loop, {ours['ratio_to_bare']:.0%} of bare FastAPI), "
        f"**p99 {p99:.1f} ms at {OPEN_RATE:,.0f} requests/s**, {errors} errors: the bar "
        f"(≥ {BARS['requests_per_s']:,.0f} requests/s with p99 < {BARS['p99_ms']:.0f} ms, "
        f"0 errors) is {'met' if met else 'not met'}; the aim is "
        f"{BARS['aim_requests_per_s']:,.0f} requests/s."
    )


def section(report: dict[str, Any]) -> str:
    """The Markdown that goes between the markers of the --out file."""
    result, cfg, server = report["result"], report["config"], report["config"]["server"]
    ours = result["summary"]["ours"]
    return "\n".join([
        START,
        "## Serving: predictions over HTTP",
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        table(result),
        "",
        verdict(result),
        "",
        verdict(result, "stream"),
        "",
        aims(result),
        "",
        baseline_line(result, cfg),
        "",
        credential_line(result),
        "",
        traced_line(result),
        "",
        f"The model: a weather-forecaster run on `{DATASET}` "
        f"({json.dumps(cfg['weather'])}), registered as `{MODEL}` version 1 with alias "
        f"`{ALIAS}`. Each request carries the fewest raw rows one forecast needs: "
        f"{result['rows_per_request']} rows of the dataset's file "
        f"({result['request_bytes']:,} bytes of JSON); the answer is the forecast. Every "
        "answer must be a 200 with the same body as the first (the bare one: its constant; a "
        f"forecast may differ from the first's by {FORECAST_TOLERANCE:g} of it, the float32 "
        "rounding of a batch), else it counts as an error. *One connection* (ours and the "
        "baseline's predict): one connection asking back to back, one client's latency, "
        "after each round's closed loops in the same order (medians over the rounds).",
        "",
        f"Server settings, both targets: **{server['processes']} uvicorn "
        f"process{'es' if server['processes'] > 1 else ''}** on the port, each on a socket of "
        "its own bound with `SO_REUSEPORT` (the kernel spreads new connections over them), "
        "as `azuraforge serve --api-workers N` runs its API (`uvicorn.Server(Config(factory, "
        "factory=True, log_level=\"warning\")).run(sockets=[socket])` in each), uvicorn's "
        f"`auto` choices resolving to the **{server['loop']}** event loop and the "
        f"**{server['http']}** HTTP parser (uvloop and httptools are "
        f"{'not ' if server['http'] == 'h11' else ''}installed); ours is `azuraforge serve "
        f"--workers 0 --api-workers {server['processes']}` (no local workers: the API alone, "
        "each process with its own model cache) on an SQLite store; the bare peer is an "
        "`async def` route on the same uvicorn. Both servers run during the whole benchmark, "
        "idle when it is not their turn; CPU and memory are summed over each server's "
        "processes.",
        "",
        f"Load: this script, on the same 2 cores, with raw HTTP/1.1 keep-alive requests over "
        f"asyncio streams. Closed loop: {cfg['connections']} connections with one request in "
        f"flight each, {cfg['warmup_s']:g} s warm-up then {cfg['duration_s']:g} s measured, "
        f"{cfg['repeats']} rounds, the targets taking turns; requests/s and percentiles are "
        f"medians over rounds. Open loop: requests due every {1e3 / OPEN_RATE:g} ms whatever "
        f"the server does, on up to {OPEN_CONNECTIONS} connections, each latency counted from "
        "the time the request was due. The client used "
        f"{ours['closed']['client_cpu_share']:.0%} of a core during ours' closed loop (CPU the "
        "server did not have). Memory of ours: "
        f"{ours['rss_at_start_mb'] or 0:.0f} MB after start, peak {ours['peak_rss_mb'] or 0:.0f} "
        "MB after the loads.",
        "",
        environment_block(report["environment"]).replace(NO_BLAS, blas_line(report)),
        END,
    ])  # fmt: skip


def baseline_line(result: dict[str, Any], cfg: dict[str, Any]) -> str:
    """Ours beside the baseline commit, in the same run."""
    if not cfg["baseline"]:
        return "No baseline commit was measured (`--baseline ''`)."
    ratios = {name: result["summary"][name].get("ratio_to_baseline") for name in BESIDE}
    what = {"ours": "predict", "list": "the list", "search": "the search",
            "stream": "the stream's predict"}  # fmt: skip
    shown = ", ".join(
        f"{what[name]} **{ratio:.2f}x**" for name, ratio in ratios.items() if ratio is not None
    )
    return (
        f"Beside commit `{cfg['baseline']}` in the same run (its `src` first on `PYTHONPATH`, the "
        "same interpreter, packages, load generator and settings, a weather model trained there "
        "with the same config, a stream of the same config run there, the same "
        f"{result['runs']:,} runs in its store; each pair asked "
        "back to back in every round), requests/s of ours / the baseline's (closed loop, the "
        f"median of the rounds' ratios): {shown}."
    )


def traced_line(result: dict[str, Any]) -> str:
    """The cost of tracing: the traced serve beside ours, the same predictions."""
    ratio = result["summary"]["traced"]["ratio_to_ours"]
    return (
        "Tracing (`OTEL_TRACES_EXPORTER=otlp`, each request's spans sent over OTLP/HTTP to a "
        f"sink on this machine, {result['sink_requests']:,} exports received): the traced "
        f"serve answers **{ratio:.1%} of ours' predict requests/s** (closed loop, the median "
        "of the rounds' ratios, each pair asked back to back)."
    )


def credential_line(result: dict[str, Any]) -> str:
    """The cost of checking a credential, against the issue's bound (10 % of requests/s)."""
    cost = credential_cost(result["summary"])
    within = all(value <= 0.10 for value in cost.values())
    kept = {name: f"{1 - value:.1%}" for name, value in cost.items()}
    return (
        "The credential check (every route's: the token's row, its user and their membership, "
        "read from the store once a second per API process and from memory between): with "
        f"it, ours answers **{kept['predict']} of the requests/s on predict** and "
        f"**{kept['list']} on the experiment list** of the same serve without it (a second "
        "`azuraforge serve` on the same store whose processes read no credential; closed "
        "loop, medians, the rounds alternating); the bound, at most 10 % fewer, is "
        f"{'met' if within else 'not met'}."
    )


NO_BLAS = "no BLAS in these code paths (NumPy only computes the medians and percentiles)"


def blas_line(report: dict[str, Any]) -> str:
    """NumPy's BLAS (the model's matrix products run on it), as the report's line."""
    found = report["environment"]["numpy_blas"]
    shown = "; ".join(
        f"{p['internal_api']} {p['version']} ({p['architecture']} kernel, "
        f"{p['num_threads']} threads)"
        for p in found
    )
    return f"NumPy BLAS (threadpoolctl): {shown or 'none found'}"


ONLY = ("list", "search")
"""The targets ``--only`` may name."""


def comma_separated_targets(text: str) -> list[str]:
    """``--only``'s value: targets of :data:`ONLY`, comma-separated."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ONLY))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(ONLY)}, got {text!r}")
    return list(dict.fromkeys(names))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 1 round of 1 s each")
    parser.add_argument("--duration", type=float, help="measured seconds per load")
    parser.add_argument("--repeats", type=int, help="closed-loop rounds per target")
    parser.add_argument("--connections", type=int, help="closed-loop connections")
    parser.add_argument(
        "--api-workers", type=int, default=API_WORKERS,
        help=f"uvicorn processes of each server (default {API_WORKERS})",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, help="Markdown to update (full size default: docs/benchmarks.md)"
    )
    parser.add_argument("--json", type=Path, help="where the numbers go")
    parser.add_argument("--runs", type=int, help="finished runs in each store (list, search)")
    parser.add_argument(
        "--baseline",
        help=f"the commit measured beside ours (default {BASELINE}; --quick: none; '' none)",
    )  # fmt: skip
    parser.add_argument(
        "--only",
        type=comma_separated_targets,
        help="measure only these listing targets (list, search; comma-separated), on their "
        "own serve: nothing trained, no Markdown written",
    )  # fmt: skip
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--otlp-sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load-runs", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for option in ("duration", "repeats", "connections", "api_workers", "runs"):
        if getattr(args, option) is not None and getattr(args, option) <= 0:
            parser.error(f"--{option.replace('_', '-')} must be positive")
    if args.only and args.out:
        parser.error("--only writes no Markdown (its targets are not the section's whole run)")
    if args.baseline is None:
        args.baseline = "" if args.quick else BASELINE
    if not args.quick and not args.only:
        args.out = args.out or ROOT / "docs" / "benchmarks.md"
        args.json = args.json or ROOT / "benchmarks" / "results" / "serving.json"
    return args


def blas() -> list[dict[str, Any]]:
    """NumPy's BLAS as threadpoolctl sees it in this process (the server loads the same)."""
    from threadpoolctl import threadpool_info

    return [
        {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for p in threadpool_info()
        if p["user_api"] == "blas"
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.bare_server:
        run_bare_server(args.bare_server, args.api_workers)
        return
    if args.otlp_sink:
        run_otlp_sink(args.otlp_sink)
        return
    if args.load_runs:
        insert_listing_runs(args.load_runs[0], int(args.load_runs[1]))
        return
    exit_on_sigterm()
    size = dict(SIZES["quick" if args.quick else "full"], api_workers=args.api_workers,
                baseline=args.baseline)  # fmt: skip
    for option, key in (("duration", "duration_s"), ("repeats", "repeats"),
                        ("connections", "connections"), ("runs", "runs")):  # fmt: skip
        if getattr(args, option):
            size[key] = getattr(args, option)
    weather = WEATHER_CONFIG["quick" if args.quick else "full"]
    load_before, ticks = os.getloadavg(), cpu_ticks()
    try:
        with tempfile.TemporaryDirectory(prefix="af-bench-serving-") as folder:
            work = Path(folder)
            result = (measure_listings(size, work, args.only) if args.only
                      else measure(size, weather, work))  # fmt: skip
    finally:
        if LEAKED:
            print("process groups still alive after being stopped: " + "; ".join(LEAKED),
                  file=sys.stderr)  # fmt: skip
    errors = sum(s["closed"]["errors"] + s["open"]["errors"] for s in result["summary"].values())
    packages = ("azuraforge", "fastapi", "starlette", "uvicorn", "h11", "httptools", "uvloop",
                "pydantic", "numpy")  # fmt: skip
    env = environment(load_before, ticks, None, packages)
    env["numpy_blas"] = blas()
    report = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {"quick": args.quick, **size, "weather": weather, "open_rate": OPEN_RATE,
                   "open_connections": OPEN_CONNECTIONS,
                   "server": server_settings(size["api_workers"])},
        "bars": BARS,
        "environment": env,
        "result": result,
    }  # fmt: skip
    print(table(result))
    print(listing_aims(result) if args.only else verdict(result))
    text = "" if args.only else section(report)
    write_outputs(report, text, (START, END), args.out, args.json)
    if LEAKED or errors:
        sys.exit(f"{errors} errors" if errors else 1)


if __name__ == "__main__":
    main()

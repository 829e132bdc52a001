"""The object store's cost: a registered model's first predict and a run's report page served
from an S3-compatible object store against the local blob folder, and predict throughput
once the model is cached.

Everything is real and started here, on 127.0.0.1: two ``azuraforge serve --workers 0
--api-workers 1`` (as ``benchmarks/serving.py`` starts them), identical but for where they
keep their files:

- **local**: the blob store as it is by default, the folder ``home/blobs``;
- **s3**: ``blob_store = s3://azuraforge-tests/<a prefix of this run>`` on SeaweedFS's
  ``weed mini`` on loopback (the tests' server, ``tests/platform/s3_server.py``: the running
  one, else one started for this run and stopped after it), its key in ``AWS_*``.

Each has its own home and SQLite store, copies of one another: a weather-forecaster run
(serving.py's config) is trained by a first ``serve --workers 1`` on the local home and
registered as ``weather`` version 1 alias ``champion``; its store is then copied (SQLite's
backup) into the s3 home, which has no blob folder, and its blob folder into the bucket
(``BlobStore.put_folder``). Both must answer the same predict body and the same report.

Measured, the two servers taking turns (order alternating):

1. **cached**: one ``serve`` of each, its model loaded (the predict body found and both
   answers compared): ``report_gets`` report requests each (milliseconds per request), then
   predict throughput in serving.py's closed loop (``connections`` connections with a
   request in flight each, ``warmup_s`` then ``duration_s`` measured, ``rounds`` rounds);
   the ratio s3 / local is the median of the rounds' ratios.
2. **cold**, ``repeats`` times each: a fresh ``serve`` whose model cache (``home/cache``:
   this machine's copies of registered versions, kept across restarts) was deleted first,
   timed from its start until it answers; on one new keep-alive connection, the latency of
   its first ``POST /api/v1/models/weather@champion/predict`` (the version's files copied
   from the blob store to the cache, checked, loaded) and of the second (loaded). In
   another fresh ``serve``, its first ``GET /api/v1/experiments/{id}/report`` (the report
   read from the blob store: it is not cached), the page (the report, then each image it
   shows, one after another on the same connection) and the report once more. The server's
   peak resident set (``VmHWM``) at the end.

Medians over repeats. Speed never fails the run, only correctness (an error, a wrong body).
The table goes to stdout and, for the full size, between this benchmark's markers in
``--out``; every number to ``--json``.

Usage::

    .venv/bin/python benchmarks/object_store.py [--quick] [--repeats N] [--rounds N]
        [--duration S] [--connections N] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
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
    parse_platform_args,
    signed_headers,
    take_turns,
    write_outputs,
)
from platform_live import LEAKED, ProcessGroups, child_environment
from serving import (
    NO_BLAS,
    PREDICT_PATH,
    TIMEOUT_S,
    WEATHER_CONFIG,
    Connection,
    Target,
    blas,
    blas_line,
    closed_loop,
    fewest_rows,
    measure_load,
    start_serve,
    train_and_register,
    tree_status_mb,
)

SIZES = {
    "full": {"repeats": 5, "rounds": 6, "duration_s": 2.0, "warmup_s": 1.0, "connections": 8,
             "report_gets": 20},
    "quick": {"repeats": 1, "rounds": 1, "duration_s": 1.0, "warmup_s": 0.5, "connections": 4,
              "report_gets": 3},
}  # fmt: skip
STORES = ("local", "s3")
TITLES = {"local": "local folder", "s3": "S3 (SeaweedFS on loopback)"}
START, END = "<!-- object_store:start -->", "<!-- object_store:end -->"


@dataclass(frozen=True)
class Home:
    """One server's home and the environment its ``serve`` runs in."""

    name: str
    folder: Path
    env: dict[str, str]

    @property
    def cache(self) -> Path:
        """The model cache (``settings.cache_dir``)."""
        return self.folder / "cache"


@dataclass(frozen=True)
class Requests:
    """What both servers are asked, and what every answer must be."""

    token: str
    predict: bytes
    """The predict body (the fewest raw rows one forecast needs)."""
    forecast: bytes
    """The predict answer."""
    report_path: str
    report: bytes
    images: tuple[str, ...]
    """The paths of the images the report shows (its page's other requests)."""

    def target(self, port: int, path: str) -> Target:
        if path == PREDICT_PATH:
            return Target(port, path, self.predict, self.forecast, self.token)
        expected = self.report if path == self.report_path else b""
        return Target(port, path, b"", expected, self.token, "GET")


# ---- the object store ------------------------------------------------------------------------


@contextmanager
def s3_server() -> Iterator[Any]:
    """The tests' S3-compatible server (tests/platform/s3_server.py), shared with any test
    session using it: started if none runs, stopped afterwards if this run started it and
    nobody else uses it."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from tests.platform.s3_server import shared_server

    with shared_server() as server:
        yield server


def weed_version(server: Any) -> str:
    """The running SeaweedFS's version, as ``weed version`` gives it (``4.48``)."""
    weed = os.readlink(f"/proc/{server.pid}/exe")
    said = subprocess.run([weed, "version"], capture_output=True, text=True).stdout
    found = re.search(r"\b\d+\.\d+(\.\d+)?\b", said)
    return found.group() if found else "unknown"


def copied_to_s3(local: Home, server: Any, prefix: str, work: Path) -> Home:
    """The s3 home: ``local``'s store copied by SQLite's backup, its blob folder into
    ``prefix`` of the bucket; no blob folder of its own."""
    folder = work / "home-s3"
    folder.mkdir()
    database = folder / "azuraforge.db"
    with (
        sqlite3.connect(local.folder / "azuraforge.db") as source,
        sqlite3.connect(database) as target,
    ):
        source.backup(target)
    copied = server.blobs(prefix).put_folder(local.folder / "blobs", "")
    print(f"copied {copied} blobs into {server.blobs(prefix).url}", flush=True)
    env = child_environment(work, folder, database_url=f"sqlite:///{database}")
    return Home("s3", folder, env | server.environment(prefix))


# ---- the servers -----------------------------------------------------------------------------


def stop(process: Any) -> None:
    """SIGTERM to ``process``'s group, and wait until it ended (ProcessGroups kills what is
    left at the end)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    process.wait(TIMEOUT_S)


def trained_home(
    groups: ProcessGroups, work: Path, weather: dict[str, Any]
) -> tuple[Home, str, int]:
    """The local home holding the registered weather model; a server admin's token; the
    run's id."""
    import httpx

    folder = work / "home-local"
    env = child_environment(work, folder, database_url=f"sqlite:///{folder / 'azuraforge.db'}")
    trainer, port = start_serve(groups, env, work, "train", workers=1)
    headers = signed_headers(env["AZURAFORGE_DATABASE_URL"])
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, headers=headers) as http:
        run = train_and_register(http, weather)
    stop(trainer)
    print(f"trained and registered run {run['id']}", flush=True)
    token = headers["Authorization"].removeprefix("Bearer ")
    return Home("local", folder, env), token, int(run["id"])


async def asked(port: int, targets: list[Target]) -> list[float]:
    """Each target's request in turn on one new keep-alive connection: milliseconds each,
    each answer :func:`checked`."""
    connection = await Connection.open(port)
    took = []
    try:
        for target in targets:
            start = time.perf_counter()
            answer = await connection.ask(target.request)
            took.append((time.perf_counter() - start) * 1e3)
            checked(target, *answer)
    finally:
        connection.close()
    return took


def checked(target: Target, status: int, body: bytes) -> None:
    """Exits unless the answer is a 200 with the body ``target`` expects."""
    if status != 200 or (target.expected and body != target.expected):
        sys.exit(f"{target.method} {target.path} answered {status}: {body[:300]!r}")


def cold_start(
    groups: ProcessGroups, work: Path, home: Home, paths: list[str], requests: Requests, tag: str
) -> dict[str, Any]:
    """A fresh ``serve`` of ``home`` with its model cache deleted, asked ``paths`` in turn:
    milliseconds each, from its start until it answered, and its peak resident set."""
    shutil.rmtree(home.cache, ignore_errors=True)
    begin = time.perf_counter()
    process, port = start_serve(groups, home.env, work, f"{home.name}-{tag}", 0, 1)
    start_ms = (time.perf_counter() - begin) * 1e3
    try:
        took = asyncio.run(asked(port, [requests.target(port, path) for path in paths]))
        peak = tree_status_mb("VmHWM", process.pid)
    finally:
        stop(process)
    return {"ms": took, "start_ms": start_ms, "peak_rss_mb": peak}


def cold_rounds(
    groups: ProcessGroups, work: Path, homes: dict[str, Home], requests: Requests, repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """``repeats`` cold starts of each server for the first predict, and as many for the
    report page, the servers taking turns."""
    page = [requests.report_path, *requests.images, requests.report_path]
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in homes}
    for repeat in range(repeats):
        for name in STORES if repeat % 2 == 0 else STORES[::-1]:
            predict = cold_start(groups, work, homes[name], [PREDICT_PATH] * 2, requests,
                                 f"predict-{repeat}")  # fmt: skip
            report = cold_start(groups, work, homes[name], page, requests, f"report-{repeat}")
            found[name].append({
                "first_predict_ms": predict["ms"][0],
                "second_predict_ms": predict["ms"][1],
                "first_report_ms": report["ms"][0],
                "first_page_ms": sum(report["ms"][:-1]),
                "second_report_ms": report["ms"][-1],
                "start_ms": (predict["start_ms"] + report["start_ms"]) / 2,
                "peak_rss_mb": max(predict["peak_rss_mb"] or 0, report["peak_rss_mb"] or 0),
            })  # fmt: skip
            print(f"{name} cold: {found[name][-1]}", flush=True)
    return found


# ---- what both must answer -------------------------------------------------------------------


def requests_of(
    ports: dict[str, int], token: str, run_id: int, weather: dict[str, Any]
) -> Requests:
    """The predict body (the fewest rows each server takes) and the report; exits unless
    both servers answer them the same."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    answers = {}
    for name, port in ports.items():
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=60, headers=headers
        ) as http:
            body, rows, forecast = fewest_rows(http, weather["sequence_length"])
            answer = http.get(f"/api/v1/experiments/{run_id}/report")
            answers[name] = (body, forecast, answer.status_code, answer.content)
    if answers["local"] != answers["s3"]:
        sys.exit(f"the two servers answered differently: {answers}")
    body, forecast, status, report = answers["local"]
    if status != 200:
        sys.exit(f"the report of run {run_id}: {status} {report[:300]!r}")
    print(f"predict with {rows} rows; the report {len(report):,} bytes", flush=True)
    html = json.loads(report)["html"]
    images = tuple(re.findall(r'<img src="(/api/v1/experiments/[^"]+)"', html))
    return Requests(token, body, forecast, f"/api/v1/experiments/{run_id}/report", report, images)


# ---- once cached -----------------------------------------------------------------------------


def cached_rounds(
    pids: dict[str, int], ports: dict[str, int], requests: Requests, size: dict[str, Any]
) -> dict[str, Any]:
    """The servers (their pids and ports), each model loaded: the report's milliseconds (the
    servers alternating), then the closed-loop rounds of predict; their peak resident sets
    after."""
    report_ms = report_turns(ports, requests, size["report_gets"])
    loops = predict_rounds(pids, ports, requests, size)
    peaks = {name: tree_status_mb("VmHWM", pid) for name, pid in pids.items()}
    return {"report_ms": report_ms, "closed_loop": loops, "peak_rss_mb": peaks}


def report_turns(ports: dict[str, int], requests: Requests, gets: int) -> dict[str, list[float]]:
    """Milliseconds of ``gets`` report requests to each server (after one untimed), each on
    its keep-alive connection, the servers taking turns."""
    with asyncio.Runner() as runner:
        connections = {name: runner.run(Connection.open(port)) for name, port in ports.items()}

        def report(name: str) -> Callable[[], None]:
            target = requests.target(ports[name], requests.report_path)
            return lambda: checked(target, *runner.run(connections[name].ask(target.request)))

        try:
            return take_turns({name: report(name) for name in STORES}, gets, 1)
        finally:
            for connection in connections.values():
                connection.close()


def predict_rounds(
    pids: dict[str, int], ports: dict[str, int], requests: Requests, size: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """serving.py's closed loop of predict on each server, ``size["rounds"]`` rounds, the
    servers taking turns (order alternating)."""
    loops: dict[str, list[dict[str, Any]]] = {name: [] for name in STORES}
    for repeat in range(size["rounds"]):
        for name in STORES if repeat % 2 == 0 else STORES[::-1]:
            target = requests.target(ports[name], PREDICT_PATH)
            loop = partial(closed_loop, target, size["connections"], size["warmup_s"],
                           size["duration_s"])  # fmt: skip
            stats = measure_load(pids[name], loop)
            loops[name].append(stats)
            print(f"{name} closed loop: {stats['requests_per_s']:,.0f} req/s, "
                  f"errors {stats['errors']}", flush=True)  # fmt: skip
    return loops


# ---- the run ---------------------------------------------------------------------------------


def measure(size: dict[str, Any], weather: dict[str, Any]) -> dict[str, Any]:
    """Train, copy, start, ask, in a temporary folder; stop everything and delete this run's
    files and objects (on failure too)."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="af-bench-s3-")))
        server = stack.enter_context(s3_server())
        groups = stack.enter_context(ProcessGroups())
        prefix = f"bench-object-store-{secrets.token_hex(4)}"
        stack.callback(lambda: server.blobs(prefix).delete_prefix(""))
        local, token, run_id = trained_home(groups, work, weather)
        homes = {"local": local, "s3": copied_to_s3(local, server, prefix, work)}
        started = {name: start_serve(groups, homes[name].env, work, f"{name}-cached", 0, 1)
                   for name in STORES}  # fmt: skip
        try:
            ports = {name: port for name, (_, port) in started.items()}
            requests = requests_of(ports, token, run_id, weather)
            pids = {name: process.pid for name, (process, _) in started.items()}
            cached = cached_rounds(pids, ports, requests, size)
        finally:
            for process, _ in started.values():
                stop(process)
        cold = cold_rounds(groups, work, homes, requests, size["repeats"])
        return {
            "weather": weather,
            "run_id": run_id,
            "model_files": model_files(local),
            "request_bytes": len(requests.predict),
            "report_bytes": len(requests.report),
            "images": list(requests.images),
            "cold": cold,
            "cached": cached,
            "summary": summarise(cold, cached),
            "s3_server": {"endpoint": server.endpoint, "weed": weed_version(server)},
        }


def model_files(home: Home) -> dict[str, int]:
    """How many files the registered version has, and their bytes (what a cold start
    copies into the cache)."""
    files = [p for p in (home.folder / "blobs" / "models").rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def summarise(cold: dict[str, Any], cached: dict[str, Any]) -> dict[str, Any]:
    """Per server the median of each measure; s3 / local and s3 - local as the medians of
    the pairs' (each pair measured back to back: a repeat, a report request, a round)."""
    series = {name: paired_series(name, cold, cached) for name in STORES}
    local, s3 = series["local"], series["s3"]
    return {
        **{name: {key: float(np.median(values)) for key, values in series[name].items()}
           for name in STORES},
        "s3_over_local": {key: float(np.median(np.divide(s3[key], local[key])))
                          for key in local},
        "s3_minus_local_ms": {key: float(np.median(np.subtract(s3[key], local[key])))
                              for key in local if key.endswith("_ms")},
        "errors": sum(r["errors"] for name in STORES for r in cached["closed_loop"][name]),
    }  # fmt: skip


def paired_series(
    name: str, cold: dict[str, Any], cached: dict[str, Any]
) -> dict[str, list[float]]:
    """Server ``name``'s values of each measure, in the order they were taken (the other
    server's were taken beside each)."""
    found = {key: [r[key] for r in cold[name]] for key in cold[name][0]}
    loops = cached["closed_loop"][name]
    return found | {
        "cached_report_ms": cached["report_ms"][name],
        **{key: [r[key] for r in loops]
           for key in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_request")},
        "cached_peak_rss_mb": [cached["peak_rss_mb"][name]],
    }  # fmt: skip


# ---- the report ------------------------------------------------------------------------------

ROWS = {
    "start_ms": "`serve` started until it answers (ms, polled every 0.1 s)",
    "first_predict_ms": "first predict after start, cache deleted (ms)",
    "second_predict_ms": "the predict after it (ms)",
    "first_report_ms": "first `GET .../report` after start (ms)",
    "first_page_ms": "first report page: the report and its {images} images (ms)",
    "second_report_ms": "the report again, same process (ms)",
    "cached_report_ms": "the report, {gets} requests once warm (ms, median)",
    "requests_per_s": "predict once cached, closed loop (requests/s)",
    "p50_ms": "its p50 latency (ms)",
    "p99_ms": "its p99 latency (ms)",
    "server_cpu_ms_per_request": "its server CPU per request (ms)",
    "peak_rss_mb": "peak RSS of the API process, cold starts (MB)",
    "cached_peak_rss_mb": "peak RSS of the API process after the loads (MB)",
}


def table(report: dict[str, Any]) -> str:
    """The Markdown table: each measure on both servers, s3 / local and s3 - local."""
    result, config = report["result"], report["config"]
    summary = result["summary"]
    rows = [
        f"| measure | {TITLES['local']} | {TITLES['s3']} | S3 / local | S3 - local |",
        "|---|---|---|---|---|",
    ]
    for key, title in ROWS.items():
        difference = summary["s3_minus_local_ms"].get(key)
        shown = "" if difference is None else f"{difference:+.1f}"
        value_format = ",.0f" if key == "requests_per_s" else ".1f"
        title = title.format(images=len(result["images"]), gets=config["report_gets"])
        rows.append(
            f"| {title} | {summary['local'][key]:{value_format}} "
            f"| {summary['s3'][key]:{value_format}} "
            f"| **{summary['s3_over_local'][key]:.2f}x** | {shown} |"
        )
    return "\n".join(rows)


def verdict(report: dict[str, Any]) -> str:
    """What the table says, in one paragraph."""
    summary = report["result"]["summary"]
    ratio, extra = summary["s3_over_local"], summary["s3_minus_local_ms"]
    return (
        "From the object store, a registered model's first predict after start took "
        f"**{ratio['first_predict_ms']:.2f}x** the local folder's "
        f"({extra['first_predict_ms']:+.0f} ms: the version's files copied into the cache over "
        f"S3), a report's first page **{ratio['first_page_ms']:.2f}x** "
        f"({extra['first_page_ms']:+.0f} ms; the report alone "
        f"{ratio['first_report_ms']:.2f}x, and {ratio['cached_report_ms']:.2f}x once the "
        "process is warm: every report request reads the store, its size and then its bytes, "
        "two S3 requests); once the model is cached, predict throughput is "
        f"**{ratio['requests_per_s']:.2f}x** the local folder's, {summary['errors']} errors. "
        f"A `serve` on S3 took {extra['start_ms']:+.0f} ms to answer after its start (boto3 "
        f"imported and its client made when the API starts) and its API process peaked at "
        f"{ratio['peak_rss_mb']:.2f}x the memory. S3 / local and S3 - local are the medians of "
        "the pairs' ratios and differences (each pair measured back to back: a repeat, a "
        "report request, a round), not the ratios of the medians beside them."
    )


def load_line(environment_: dict[str, Any]) -> str:
    """Whether the machine was loaded, and what that means for the figures."""
    loads = environment_["load_average_1_5_15"]
    highest = max(loads["before"][0], loads["after"][0])
    cpus = environment_["cpu_count"] or 1
    if highest <= cpus:
        return f"The machine was quiet enough (1-minute load average at most {highest:.2f} on "\
               f"{cpus} CPUs)."  # fmt: skip
    return (
        f"The machine was shared and loaded during this run (1-minute load average up to "
        f"{highest:.2f} on {cpus} CPUs: other sessions' tests): absolute times are longer "
        "and noisier than on a quiet machine, and what this section claims is the ratios, each "
        "pair measured back to back in the same run."
    )


def section(report: dict[str, Any]) -> str:
    """The Markdown that goes between the markers of the --out file."""
    result, config = report["result"], report["config"]
    files = result["model_files"]
    return "\n".join([
        START,
        "## The object store: first predict, first report, predict once cached",
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        table(report),
        "",
        verdict(report),
        "",
        load_line(report["environment"]),
        "",
        "Two `azuraforge serve --workers 0 --api-workers 1` on 127.0.0.1, identical but for "
        "`blob_store`: the default folder `home/blobs`, or `s3://azuraforge-tests/<prefix>` on "
        f"SeaweedFS {result['s3_server']['weed']} (`weed mini` on loopback, the tests' server: "
        "`tests/platform/s3_server.py`). Each has its own home and SQLite store, copies of one "
        f"another: a weather-forecaster run ({json.dumps(config['weather'])}) trained on the "
        "local home and registered as `weather` version 1 alias `champion`, the store then "
        "copied by SQLite's backup and the blob folder into the bucket (the s3 home has no blob "
        "folder). Both "
        "answered the same forecast and the same report. The version is "
        f"{files['files']} files, {files['bytes']:,} bytes; the report "
        f"{result['report_bytes']:,} bytes of JSON (Markdown and HTML), its page "
        f"{len(result['images'])} images; a predict request {result['request_bytes']:,} bytes.",
        "",
        f"Once cached (measured first): one `serve` of each, its model loaded, "
        f"{config['report_gets']} report requests each (the servers alternating, each on its "
        "keep-alive connection), then predict in serving.py's closed loop: "
        f"{config['connections']} connections with one request in flight each, "
        f"{config['warmup_s']:g} s warm-up then {config['duration_s']:g} s measured, "
        f"{config['rounds']} rounds, the servers taking turns (order alternating). Cold: "
        f"{config['repeats']} fresh `serve` processes of each server for the predict and as "
        "many for the report, the servers taking turns, each started after its model cache "
        "(`home/cache`, this machine's copies of registered versions, kept across restarts) "
        "was deleted; the requests on one new keep-alive connection from this script, timed "
        "from sending to the answer's last byte. The first predict includes what any first "
        "predict costs (resolving the alias, loading the pipeline and the weights); the "
        "difference is the object store's. Local blobs were in the OS's page cache, as were "
        "SeaweedFS's. Peak RSS (`VmHWM`) of the serve process and its children.",
        "",
        environment_block(report["environment"]).replace(NO_BLAS, blas_line(report)),
        END,
    ])  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 1 cold start, 1 round")
    parser.add_argument("--repeats", type=int, help="cold starts of each server per measure")
    parser.add_argument("--rounds", type=int, help="closed-loop rounds per server")
    parser.add_argument("--duration", type=float, help="measured seconds of each round")
    parser.add_argument("--connections", type=int, help="closed-loop connections")
    parser.add_argument(
        "--out", type=Path, help="Markdown to update (full size default: docs/benchmarks.md)"
    )
    parser.add_argument("--json", type=Path, help="where the numbers go")
    positive = ("repeats", "rounds", "duration", "connections")
    return parse_platform_args(parser, argv, positive, "object_store")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    exit_on_sigterm()
    size = SIZES["quick" if args.quick else "full"] | {
        key: getattr(args, option)
        for option, key in (("repeats", "repeats"), ("rounds", "rounds"),
                            ("duration", "duration_s"), ("connections", "connections"))
        if getattr(args, option)
    }  # fmt: skip
    weather = WEATHER_CONFIG["quick" if args.quick else "full"]
    load_before, ticks = os.getloadavg(), cpu_ticks()
    result = measure(size, weather)
    packages = ("azuraforge", "boto3", "botocore", "fastapi", "uvicorn", "numpy")
    env = environment(load_before, ticks, None, packages,
                      {"SeaweedFS": result["s3_server"]["weed"]})  # fmt: skip
    env["numpy_blas"] = blas()
    report = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {"quick": args.quick, **size, "weather": weather},
        "environment": env,
        "result": result,
    }
    print(table(report))
    print(verdict(report))
    write_outputs(report, section(report), (START, END), args.out, args.json)
    errors = result["summary"]["errors"]
    if LEAKED or errors:
        sys.exit(f"{errors} errors; process groups still alive after being stopped: {LEAKED}")


if __name__ == "__main__":
    main()

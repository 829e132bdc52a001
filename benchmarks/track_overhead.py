"""What ``azuraforge.track`` costs a training loop: nanoseconds per ``run.log_metrics`` call
(two metrics a call) in the training process, points a second end to end, and the same
calls while the server is stopped.

A real ``azuraforge serve --workers 0`` on 127.0.0.1 (a fresh SQLite store in a temporary
folder) takes the run. Three loops of ``calls`` calls each, every call timed alone
(``time.perf_counter_ns`` before and after; the timer's own cost, measured on an empty
call, is reported beside and not subtracted):

- **server up**: the run's sender sends a batch a second meanwhile; then the run is ended
  (everything sent) and points a second are counted from the first call to the end's
  return; the points the store holds are checked (every one, once, or the script exits 1);
- **server stopped**: the same calls after the server was stopped: the sender keeps its
  batches in the spool; the run is not ended (nothing to end it with).

Usage::

    .venv/bin/python benchmarks/track_overhead.py [--calls N] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from harness import (
    cpu_ticks,
    environment,
    environment_block,
    free_port,
    signed_headers,
    write_section,
)

START, END = "<!-- track_overhead:start -->", "<!-- track_overhead:end -->"


def timed_calls(call: Any, calls: int) -> array[int]:
    """The nanoseconds of each of ``calls`` calls ``call(i)``."""
    clock = time.perf_counter_ns
    spent = array("q", bytes(8 * calls))
    for i in range(calls):
        start = clock()
        call(i)
        spent[i] = clock() - start
    return spent


def figures(spent: array[int]) -> dict[str, float]:
    ordered = sorted(spent)
    return {
        "median_ns": float(statistics.median(ordered)),
        "p90_ns": float(ordered[int(0.9 * len(ordered))]),
        "p99_ns": float(ordered[int(0.99 * len(ordered))]),
    }


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``azuraforge serve --workers 0`` on ``port``, once it answers."""
    import httpx

    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "serve",
               "--port", str(port), "--workers", "0"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit("azuraforge serve did not start")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    load_before, ticks = os.getloadavg(), cpu_ticks()
    work = Path(tempfile.mkdtemp(prefix="track-bench-"))
    database_url = f"sqlite:///{work / 'azuraforge.db'}"
    env = {**os.environ, "AZURAFORGE_HOME": str(work / "home"),
           "AZURAFORGE_DATABASE_URL": database_url}  # fmt: skip
    os.environ["AZURAFORGE_HOME"] = str(work / "client")  # the spool
    port = free_port()
    server = serve(env, port)
    token = signed_headers(database_url)["Authorization"].removeprefix("Bearer ")

    from azuraforge import track

    timer = figures(timed_calls(lambda i: None, args.calls))
    url = f"http://127.0.0.1:{port}"
    run = track.start_run(name="bench", url=url, token=token)
    started = time.perf_counter()
    up = figures(timed_calls(
        lambda i: run.log_metrics({"loss": 1.0 / (i + 1), "acc": i * 1e-6}, step=i), args.calls
    ))  # fmt: skip
    run.end()
    elapsed = time.perf_counter() - started
    points = 2 * args.calls

    from azuraforge.platform.store import Store

    store = Store(database_url)
    stored = store.get_metrics(run.id, max_points=None)  # type: ignore[arg-type]
    store.close()
    steps = [p[0] for p in stored["loss"]]
    if steps != list(range(args.calls)) or len(stored["acc"]) != args.calls:
        sys.exit(f"the store holds {len(steps)} loss points, not each of {args.calls} once")

    away = track.start_run(name="bench-away", url=url, token=token, end_timeout=0)
    server.send_signal(signal.SIGTERM)
    server.wait(30)
    stopped = figures(timed_calls(
        lambda i: away.log_metrics({"loss": 1.0 / (i + 1), "acc": i * 1e-6}, step=i), args.calls
    ))  # fmt: skip

    env_report = environment(load_before, ticks, None, ["httpx", "sqlalchemy"])
    rows = [
        ("the timer alone (an empty call)", timer),
        ("`run.log_metrics`, server up (sender sending)", up),
        ("`run.log_metrics`, server stopped (sender spooling)", stopped),
    ]
    table = "\n".join(
        f"| {name} | {f['median_ns']:.0f} | {f['p90_ns']:.0f} | {f['p99_ns']:.0f} |"
        for name, f in rows
    )
    text = f"""{START}
## `azuraforge.track`: cost per call in the training loop

{args.calls:,} calls of `run.log_metrics({{"loss": ..., "acc": ...}}, step=i)` (two metrics a
call), each timed alone with `time.perf_counter_ns` (the timer's own cost is the first row,
not subtracted), against a real `azuraforge serve --workers 0` on SQLite. Target: at most
5 µs median a call.

| per call | median ns | p90 ns | p99 ns |
| --- | ---: | ---: | ---: |
{table}

End to end with the server up: {points:,} points sent and stored in {elapsed:.2f} s from the
first call to the end's return ({points / elapsed:,.0f} points a second), every one of them
once, in order (checked in the store). With the server stopped the calls cost what they cost
with it up: the loop never waits on the network; the sender keeps the batches in the spool.

Command: `python benchmarks/track_overhead.py --calls {args.calls}`

{environment_block(env_report)}
{END}"""
    print(text)
    if args.out:
        write_section(args.out, text, (START, END))
        print(f"wrote {args.out}")
    # ``away`` is ended at exit: its end cannot reach the stopped server (said in the log)


if __name__ == "__main__":
    main()

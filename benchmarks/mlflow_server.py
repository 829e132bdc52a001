"""Our MLflow API against ``mlflow server``, both over HTTP on SQLite, in one run, through
MLflow's own client (``mlflow-skinny``, unchanged): conformance, ``log_batch`` throughput,
``search_runs`` latency.

Both servers run here as separate processes on 127.0.0.1, each on a fresh SQLite store in a
temporary folder, each with one process answering: ``mlflow server --workers 1`` (the full
``mlflow`` package, of the version of the ``mlflow-skinny`` client installed; ``make
bench-mlflow-server`` installs it into ``build/mlflow-venv``, apart from the test venv) and
``azuraforge serve --workers 0`` (a project's token in ``MLFLOW_TRACKING_TOKEN``).

1. Conformance: :func:`mlflow_conformance.run_conformance` against each; ``mlflow server``'s
   record is written to ``benchmarks/results/mlflow_conformance.json`` with MLflow's version
   (``tests/platform/api/test_mlflow_conformance.py`` compares ours with it); the steps where
   ours differs are printed.
2. ``log_batch``: one run per round logs ``points`` metric points (4 keys at every step,
   seeded values, millisecond timestamps) in one ``MlflowClient.log_batch`` call, which the
   client sends as requests of 1,000 metrics (MLflow's limit); timed until it returns, then
   the run is ended. Every round's points are counted and summed per key in the server's
   SQLite file (or the script exits 1). Median of ``rounds`` rounds, the servers taking
   turns. Its aims (:data:`GOALS`): the server's CPU per point at most a tenth of ``mlflow
   server``'s, and the client's rate against ours at least 80 % of its rate against a server
   that answers ``{}`` at once (the client alone, the ceiling of any server through MLflow's
   client); ours / ``mlflow server`` in points a second is shown for information.
3. ``search_runs``: ``runs`` finished runs (3 params, 3 metrics, seeded, distinct losses)
   bulk-inserted into each server's own tables (untimed; what ``create_run`` + ``log_batch``
   + ``set_terminated`` write), then ``mlflow.search_runs(filter_string="metrics.loss <
   0.5", order_by=["metrics.loss ASC"], max_results=50, output_format="list")``: both must
   return the same 50 runs with the same losses as a sort in Python, then ``queries`` timed
   calls each, in turns; p50 and p95. Its aim: ``mlflow server``'s p95 at least 10 times
   ours.
4. Memory: each server's peak resident set (``VmHWM``, its process and children) over each
   part, reset before it (``/proc/<pid>/clear_refs``).

Speed never fails the run, only correctness. Usage::

    .venv/bin/python benchmarks/mlflow_server.py [--mlflow build/mlflow-venv/bin/mlflow]
        [--quick] [--conformance-only] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
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
    free_port,
    percentiles_ms,
    signed_headers,
    started,
    take_turns,
    write_outputs,
)
from mlflow_conformance import run_conformance
from platform_vs_mlflow import LOSS_BELOW, PAGE, listing_runs, load_mlflow

KEYS = ("loss", "val_loss", "accuracy", "lr")
UNKNOWN_RUN = "0" * 32  # the null server's run: it checks none
SIZES = {
    "full": {"points": 100_000, "rounds": 5, "runs": 10_000, "queries": 100},
    "quick": {"points": 10_000, "rounds": 2, "runs": 1_000, "queries": 20},
}
WARMUP = 5
GOALS = {"server_cpu_ratio": 10.0, "of_ceiling": 0.80, "search_ratio_p95": 10.0}
"""The aims, each a least value: ``mlflow server``'s CPU per logged point / ours; our
``log_batch`` rate / the client alone's (the null server's); ``search_runs``' p95 of ``mlflow
server`` / ours."""
SUM_REL_TOL = 1e-9
START, END = "<!-- mlflow_server:start -->", "<!-- mlflow_server:end -->"
CONFORMANCE = ROOT / "benchmarks" / "results" / "mlflow_conformance.json"
DEFAULT_MLFLOW = ROOT / "build" / "mlflow-venv" / "bin" / "mlflow"
PACKAGES = ("azuraforge", "mlflow-skinny", "SQLAlchemy", "fastapi", "uvicorn", "numpy")


# ---- the servers --------------------------------------------------------------------------


class Server:
    """A server process on 127.0.0.1: its URL, its SQLite file, its process."""

    def __init__(self, name: str, url: str, db: Path, process: subprocess.Popen[bytes]):
        self.name, self.url, self.db, self.process = name, url, db, process

    def pids(self) -> list[int]:
        """The server's process and its descendants."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def cpu_seconds(self) -> float:
        """The CPU time (user and system) the server's live processes have used."""
        ticks = 0
        for pid in self.pids():
            with suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def reset_peak(self) -> None:
        for pid in self.pids():
            with suppress(OSError):  # gone, or not ours to reset
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def peak_mb(self) -> float:
        """The sum of the peak resident sets (MiB) of the server's processes since the last
        :meth:`reset_peak`."""
        total = 0.0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) / 1024
            except OSError:
                pass
        return total


@contextmanager
def mlflow_server(mlflow: Path, folder: Path) -> Iterator[Server]:
    """``mlflow server`` on a fresh SQLite store, serving artifacts from ``folder``."""
    folder.mkdir(parents=True)
    port, db = free_port(), folder / "mlflow.db"
    cmd = [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{db}",
           "--artifacts-destination", str(folder / "mlartifacts"), "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with started("mlflow server", cmd, env, f"{url}/health", folder / "server.log") as process:
        yield Server("mlflow", url, db, process)


@contextmanager
def our_server(folder: Path) -> Iterator[Server]:
    """``azuraforge serve --workers 0`` on a fresh SQLite store in ``folder``."""
    folder.mkdir(parents=True)
    port, db = free_port(), folder / "azuraforge.db"
    cmd = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "serve",
           "--port", str(port), "--workers", "0"]  # fmt: skip
    env = {**os.environ, "AZURAFORGE_HOME": str(folder / "home"),
           "AZURAFORGE_DATABASE_URL": f"sqlite:///{db}"}  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with started("azuraforge serve", cmd, env, f"{url}/api/v1/health", folder / "server.log") as p:
        yield Server("ours", url, db, p)


@contextmanager
def null_server(folder: Path) -> Iterator[Server]:
    """A server that answers ``{}`` to every request at once, reading its body: what MLflow's
    client costs alone (:func:`serve_nothing`, this script's hidden ``--null-server`` mode)."""
    folder.mkdir(parents=True)
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--null-server", str(port)]
    url = f"http://127.0.0.1:{port}"
    with started("the null server", cmd, dict(os.environ), url, folder / "server.log") as p:
        yield Server("client alone", url, folder / "none.db", p)


def serve_nothing(port: int) -> None:
    """Hidden mode: answer ``{}`` to every HTTP request on 127.0.0.1:``port``."""
    import uvicorn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def mlflow_version(mlflow: Path) -> str:
    """The version of the ``mlflow`` package the server runs."""
    python = mlflow.parent / "python"
    code = "import importlib.metadata as m; print(m.version('mlflow'))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


# ---- conformance --------------------------------------------------------------------------


def differences(kept: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """The steps whose answers differ: ``{step: {"mlflow": ..., "ours": ...}}``."""
    return {
        step: {"mlflow": kept.get(step), "ours": ours.get(step)}
        for step in dict.fromkeys([*kept, *ours])
        if kept.get(step) != ours.get(step)
    }


def conformance(servers: dict[str, Server], folder: Path) -> dict[str, Any]:
    records = {}
    for name, server in servers.items():
        work = folder / f"conformance-{name}"
        work.mkdir()
        started_at = time.perf_counter()
        records[name] = json.loads(json.dumps(run_conformance(server.url, work)))
        print(f"conformance against {name}: {time.perf_counter() - started_at:.1f} s", flush=True)
    return records


# ---- log_batch ----------------------------------------------------------------------------


def batch_points(points: int) -> list[Any]:
    """``points`` metrics: :data:`KEYS` at each step, seeded values, a timestamp a step."""
    from mlflow.entities import Metric

    rng = random.Random(0)
    now = int(time.time() * 1000)
    return [Metric(k, rng.random(), now + step, step)
            for step in range(points // len(KEYS)) for k in KEYS]  # fmt: skip


def stored(server: Server, run_id: str) -> dict[str, tuple[int, float]]:
    """(count, sum) per key of the run's points, read from the server's SQLite file."""
    sql = (
        "SELECT key, count(*), sum(value) FROM metric_points WHERE experiment_id = ? GROUP BY key"
        if server.name == "ours"
        else "SELECT key, count(*), sum(value) FROM metrics WHERE run_uuid = ? GROUP BY key"
    )
    with sqlite3.connect(server.db) as connection:
        return {k: (n, s) for k, n, s in connection.execute(sql, (run_id,))}


def log_batch_round(server: Server, experiment_id: str, metrics: list[Any]) -> dict[str, float]:
    """Seconds, the server's CPU seconds and this client's of one ``log_batch`` of
    ``metrics`` into a new run; exit 1 if the server's store does not hold them (the null
    server stores nothing: there is nothing to check)."""
    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    alone = server.name == "client alone"
    run_id = UNKNOWN_RUN if alone else client.create_run(experiment_id).info.run_id
    cpu, mine, started_at = server.cpu_seconds(), time.process_time(), time.perf_counter()
    client.log_batch(run_id, metrics=metrics)
    spent = {"seconds": time.perf_counter() - started_at,
             "server_cpu_seconds": server.cpu_seconds() - cpu,
             "client_cpu_seconds": time.process_time() - mine}  # fmt: skip
    if alone:
        return spent
    client.set_terminated(run_id)
    wanted = {k: (len(metrics) // len(KEYS), math.fsum(m.value for m in metrics if m.key == k))
              for k in KEYS}  # fmt: skip
    found = stored(server, run_id)
    ok = set(found) == set(wanted) and all(
        found[k][0] == n and math.isclose(found[k][1], s, rel_tol=SUM_REL_TOL)
        for k, (n, s) in wanted.items()
    )
    if not ok:
        sys.exit(f"{server.name}: the store holds {found}, not the logged {wanted}")
    return spent


def logging_part(servers: dict[str, Server], size: dict[str, Any]) -> dict[str, Any]:
    """The rounds of ``log_batch`` on each server (and on the null server, ``floor``), in
    turns."""
    from mlflow import MlflowClient

    metrics = batch_points(size["points"])
    experiments = {n: "0" if s.name == "client alone" else
                   MlflowClient(s.url).create_experiment("bench-log-batch")
                   for n, s in servers.items()}  # fmt: skip
    for name, server in servers.items():  # warm-up: a small batch each
        log_batch_round(server, experiments[name], metrics[: 4 * len(KEYS)])
        server.reset_peak()
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    for round_ in range(size["rounds"]):
        for name in servers if round_ % 2 == 0 else list(servers)[::-1]:
            rounds[name].append(log_batch_round(servers[name], experiments[name], metrics))
            print(f"log_batch {name}: {rounds[name][-1]}", flush=True)
    results = {}
    for name, spent in rounds.items():
        median = {k: float(np.median([r[k] for r in spent])) for k in spent[0]}
        results[name] = {"rounds": spent, **{f"median_{k}": v for k, v in median.items()},
                         "points_per_second": len(metrics) / median["seconds"],
                         "peak_rss_mb": servers[name].peak_mb(),
                         "processes": len(servers[name].pids())}  # fmt: skip
    rate = {name: r["points_per_second"] for name, r in results.items()}
    cpu = {name: r["median_server_cpu_seconds"] for name, r in results.items()}
    cpu_ratio, of_ceiling = cpu["mlflow"] / cpu["ours"], rate["ours"] / rate["floor"]
    return {"points": len(metrics), "rounds": size["rounds"], "results": results,
            "ratio": rate["ours"] / rate["mlflow"],
            "ceiling_ratio": rate["floor"] / rate["mlflow"],
            "server_cpu_ratio": cpu_ratio, "of_ceiling": of_ceiling,
            "meets_cpu_goal": cpu_ratio >= GOALS["server_cpu_ratio"],
            "meets_ceiling_goal": of_ceiling >= GOALS["of_ceiling"]}  # fmt: skip


# ---- search_runs --------------------------------------------------------------------------


def load_ours(server: Server, experiment_id: str, runs: list[dict[str, Any]]) -> None:
    """``runs`` into our tables as finished MLflow runs of MLflow experiment
    ``experiment_id``: experiments (external, pipeline ``mlflow``), params, a point and a
    summary per metric, the ``mlflow.runName`` tag and the MLflow experiment each is in."""
    from sqlalchemy import insert, select

    from azuraforge.platform.store import Store
    from azuraforge.platform.store.models import Experiment, MlflowRun, RunTag
    from azuraforge.testing.runs import FinishedRun, chunks, insert_runs

    store = Store(f"sqlite:///{server.db}")
    try:
        insert_runs(store, [
            FinishedRun(r["name"], r["config"], r["metrics"], pipeline="mlflow",
                        step=r["config"]["epochs"] - 1, extra={"kind": "external"})
            for r in runs
        ])  # fmt: skip
        with store.engine.begin() as connection:
            names = {r["name"] for r in runs}
            ids = [(i, n) for i, n in connection.execute(
                select(Experiment.id, Experiment.name).where(Experiment.pipeline == "mlflow"))
                if n in names]  # fmt: skip
            for part in chunks(ids):
                connection.execute(insert(MlflowRun), [
                    {"experiment_id": i, "mlflow_experiment_id": int(experiment_id)}
                    for i, _ in part])  # fmt: skip
                connection.execute(insert(RunTag), [
                    {"experiment_id": i, "key": "mlflow.runName", "value": n}
                    for i, n in part])  # fmt: skip
    finally:
        store.close()


def search_target(server: Server, experiment_id: str) -> Callable[[], list[tuple[str, float]]]:
    import mlflow

    def run() -> list[tuple[str, float]]:
        mlflow.set_tracking_uri(server.url)
        found = mlflow.search_runs(
            [experiment_id], filter_string=f"metrics.loss < {LOSS_BELOW}",
            order_by=["metrics.loss ASC"], max_results=PAGE, output_format="list",
        )  # fmt: skip
        return [(r.info.run_name, r.data.metrics["loss"]) for r in found]

    return run


def search_part(servers: dict[str, Server], size: dict[str, Any]) -> dict[str, Any]:
    from mlflow import MlflowClient

    runs = listing_runs(size["runs"])
    want = sorted((r["metrics"]["loss"], r["name"]) for r in runs if r["metrics"]["loss"] < 0.5)
    expected = [(name, loss) for loss, name in want[:PAGE]]
    setup, targets = {}, {}
    for name, server in servers.items():
        started_at = time.perf_counter()
        if name == "ours":
            experiment_id = MlflowClient(server.url).create_experiment("bench-search")
            load_ours(server, experiment_id, runs)
        else:  # into its file, beside the server: MLflow's own tables, as MLflow writes them
            experiment_id = load_mlflow(server.db, runs)
        setup[name] = time.perf_counter() - started_at
        targets[name] = search_target(server, experiment_id)
        page = targets[name]()
        if page != expected:
            sys.exit(f"search_runs on {name}: expected {expected[:3]}..., got {page[:3]}...")
    for server in servers.values():
        server.reset_peak()
    times = take_turns(targets, size["queries"], WARMUP)
    stats = {
        name: {
            **percentiles_ms(t, 50, 95),
            "peak_rss_mb": servers[name].peak_mb(),
            "processes": len(servers[name].pids()),
        }
        for name, t in times.items()
    }
    ratio = stats["mlflow"]["p95_ms"] / stats["ours"]["p95_ms"]
    return {"runs": size["runs"], "matching": len(want), "queries": size["queries"],
            "setup_seconds": setup, "times_ms": times, "stats": stats,
            "ratio_p95": ratio,
            "ratio_p50": stats["mlflow"]["p50_ms"] / stats["ours"]["p50_ms"],
            "meets_goal": ratio >= GOALS["search_ratio_p95"]}  # fmt: skip


# ---- the report ---------------------------------------------------------------------------


def section(report: dict[str, Any]) -> str:
    """The Markdown between the markers of docs/benchmarks.md."""
    lg, sr = report["logging"], report["search"]
    lo, lm, lf = (lg["results"][n] for n in ("ours", "mlflow", "floor"))
    so, sm = sr["stats"]["ours"], sr["stats"]["mlflow"]
    diffs = report["conformance"]["differences"]
    met = {True: "met", False: "**not met**"}

    def per_point(r: dict[str, Any]) -> str:
        return f"{r['median_server_cpu_seconds'] / lg['points'] * 1e6:.1f} µs"

    def logged(r: dict[str, Any]) -> str:
        return (f"{r['median_seconds']:.2f} ({r['points_per_second']:,.0f}) "
                f"| {r['median_server_cpu_seconds']:.2f} | {r['median_client_cpu_seconds']:.2f} "
                f"| {r['peak_rss_mb']:.0f}")  # fmt: skip

    return "\n".join([
        START,
        "## MLflow's client against our server and `mlflow server`",
        "",
        f"Generated {report['generated']} by `{report['command']}` (`make bench-mlflow-server`).",
        "",
        f"The same client, `mlflow-skinny` {report['environment']['packages']['mlflow-skinny']}, "
        f"against `mlflow server` (the `mlflow` package {report['mlflow']}, one worker process, "
        "SQLite, artifacts served) and `azuraforge serve --workers 0` (one API process, "
        "SQLite, a project's token in `MLFLOW_TRACKING_TOKEN`), both on 127.0.0.1 in the same "
        "run, each on a fresh store. Peak MB: the server's peak resident set (`VmHWM`, the sum "
        f"over its processes: {lm['processes']} for `mlflow server`, its command, its uvicorn "
        f"worker, its job runner and that runner's huey consumers; {lo['processes']} for ours) "
        "during that part alone.",
        "",
        f"### `log_batch`: {lg['points']:,} points",
        "",
        "| server | median s (points/s) | server CPU s | client CPU s | peak MB |",
        "|---|---|---|---|---|",
        f"| ours | {logged(lo)} |",
        f"| `mlflow server` | {logged(lm)} |",
        f"| none: the client alone (a server answering `{{}}` at once) | {logged(lf)} |",
        "",
        f"**Server CPU per logged point, `mlflow server` / ours: {lg['server_cpu_ratio']:.1f}x** "
        f"({per_point(lm)} against {per_point(lo)}; aim >= "
        f"{GOALS['server_cpu_ratio']:.0f}x: {met[lg['meets_cpu_goal']]}). **The client's rate "
        f"against ours / against no server: {lg['of_ceiling']:.0%}** (aim >= "
        f"{GOALS['of_ceiling']:.0%}: {met[lg['meets_ceiling_goal']]}).",
        "",
        f"For information: ours / MLflow, {lg['ratio']:.1f}x the points a second. The client "
        f"alone reaches {lg['ceiling_ratio']:.1f}x MLflow's rate: MLflow's client turns each "
        "batch into protobuf and JSON and waits for each request's answer before it sends the "
        "next, and no server can send the client's own time back, so through "
        f"`mlflow.log_batch` a server is at most {lg['ceiling_ratio']:.1f}x faster than "
        "`mlflow server` here; hence the aims above, on what a server controls.",
        "",
        f"Each round a new run logs {lg['points']:,} points (4 keys at each of "
        f"{lg['points'] // 4:,} steps, seeded values, millisecond timestamps) in one "
        "`MlflowClient.log_batch` call, which the client sends as requests of 1,000 metrics; "
        "timed until it returns, with the CPU time the server's processes and the client used "
        "meanwhile (`/proc/<pid>/stat`). Every round's points are counted and summed per key "
        f"in the server's SQLite file before it counts. Median of {lg['rounds']} rounds, the "
        "three taking turns.",
        "",
        f"### `search_runs`: {sr['runs']:,} runs",
        "",
        "| server | p50 ms | p95 ms | peak MB |",
        "|---|---|---|---|",
        f"| ours | {so['p50_ms']:.1f} | {so['p95_ms']:.1f} | {so['peak_rss_mb']:.0f} |",
        f"| `mlflow server` | {sm['p50_ms']:.1f} | {sm['p95_ms']:.1f} | {sm['peak_rss_mb']:.0f} |",
        "",
        f"**MLflow p95 / ours: {sr['ratio_p95']:.1f}x** (p50: {sr['ratio_p50']:.1f}x; aim >= "
        f"{GOALS['search_ratio_p95']:.0f}x: {met[sr['meets_goal']]}).",
        "",
        f"{sr['runs']:,} finished runs (3 params, 3 metrics, seeded, distinct losses; "
        f"{sr['matching']:,} with loss < 0.5) bulk-inserted into each server's own tables, "
        "untimed (the rows `create_run`, `log_batch` and `set_terminated` write), then "
        "`mlflow.search_runs([id], filter_string=\"metrics.loss < 0.5\", "
        "order_by=[\"metrics.loss ASC\"], max_results=50, output_format=\"list\")` over HTTP. "
        "Both return the same 50 runs with the same losses as a sort in Python before "
        f"timing; then {WARMUP} warm-up and {sr['queries']} timed calls each, in turns.",
        "",
        "### Conformance",
        "",
        f"`benchmarks/mlflow_conformance.py` ({report['conformance']['steps']} steps) against "
        "both: `mlflow server`'s answers are kept in "
        "`benchmarks/results/mlflow_conformance.json`; ours differ on "
        f"{len(diffs)} step{'s' if len(diffs) != 1 else ''}"
        + (": " + ", ".join(f"`{d}`" for d in diffs) if diffs else "")
        + " (on purpose: `tests/platform/api/test_mlflow_conformance.py`, which CI runs, lists "
        "each with its reason; its run left silent ends `lost` there, where the reaper's hour "
        "is stood for).",
        "",
        environment_block(report["environment"]),
        END,
    ])  # fmt: skip


# ---- driver -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow", type=Path, default=DEFAULT_MLFLOW,
                        help="the mlflow command of the full package")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes; writes only --out")
    parser.add_argument(
        "--conformance-only",
        action="store_true",
        help="record mlflow server's answers and compare ours, nothing timed",
    )
    parser.add_argument("--null-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="Markdown (full size default: docs)")
    parser.add_argument("--json", type=Path, help="the numbers (full size default: results)")
    args = parser.parse_args(argv)
    if not args.null_server and not args.mlflow.exists():
        parser.error(f"{args.mlflow} not found: make bench-mlflow-server installs it")
    if not args.quick and not args.conformance_only:
        args.out = args.out or ROOT / "docs" / "benchmarks.md"
        args.json = args.json or ROOT / "benchmarks" / "results" / "mlflow_server.json"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.null_server:
        serve_nothing(args.null_server)
        return
    exit_on_sigterm()
    size = SIZES["quick" if args.quick else "full"]
    load_before, ticks = os.getloadavg(), cpu_ticks()
    version = mlflow_version(args.mlflow)
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    with tempfile.TemporaryDirectory(prefix="af-bench-mlflow-server-") as folder, \
            ExitStack() as stack:  # fmt: skip
        work = Path(folder)
        servers = {
            "mlflow": stack.enter_context(mlflow_server(args.mlflow, work / "mlflow")),
            "ours": stack.enter_context(our_server(work / "ours")),
        }
        floor = stack.enter_context(null_server(work / "null"))
        token = signed_headers(f"sqlite:///{servers['ours'].db}")["Authorization"]
        os.environ["MLFLOW_TRACKING_TOKEN"] = token.removeprefix("Bearer ")  # mlflow ignores it
        records = conformance(servers, work)
        diffs = differences(records["mlflow"], records["ours"])
        for step, pair in diffs.items():
            print(f"differs: {step}: mlflow {json.dumps(pair['mlflow'])[:200]} / "
                  f"ours {json.dumps(pair['ours'])[:200]}")  # fmt: skip
        kept = {"mlflow": version, "client": environment(load_before, ticks, None,
                ["mlflow-skinny"])["packages"]["mlflow-skinny"],
                "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "command": command_line(), "record": records["mlflow"]}  # fmt: skip
        if not args.quick:
            CONFORMANCE.write_text(json.dumps(kept, indent=1) + "\n")
            print(f"wrote {CONFORMANCE}")
        if args.conformance_only:
            return
        logging = logging_part({**servers, "floor": floor}, size)
        search = search_part(servers, size)
    report = {
        "generated": kept["generated"],
        "command": command_line(),
        "mlflow": version,
        "size": size,
        "environment": environment(load_before, ticks, None, PACKAGES),
        "conformance": {"steps": len(records["mlflow"]), "differences": diffs},
        "logging": logging,
        "search": search,
    }
    text = section(report)
    print(text)
    write_outputs(report, text, (START, END), args.out, args.json)


if __name__ == "__main__":
    main()

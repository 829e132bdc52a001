"""Tracking on the AzuraForge platform against MLflow: metric logging and run listing.

Both trackers run on the same machine in the same run, each on its own fresh store.

1. Metric logging: one run logs ``points`` values (:data:`KEYS` at every step) through our
   :class:`~azuraforge.platform.jobs.context.StoreContext` (``log_metrics`` per step, then
   ``close()``, which returns once everything is written) into a fresh SQLite store; MLflow's
   ``MlflowClient.log_batch`` (batches of 1,000 metrics, its maximum) and ``log_metric``
   (one call per point, timed on a subset only) write the same values into MLflow's own
   SQLite store (``sqlite:///...``). Correctness first: every point must be in each store
   (count and sum of values per key) or the script exits with status 1.
2. Listing: ``runs`` finished runs with three params and three metrics each, written by bulk
   inserts into each store's own tables (setup only; nothing here times it). Then one query,
   "loss below 0.5, sorted by loss ascending, page of 50", through our ``list_experiments``
   on SQLite and PostgreSQL, through ``GET /api/v1/experiments`` of the API served by uvicorn
   on 127.0.0.1 (started here), and through MLflow's ``search_runs`` on its SQLite store.
   Every target must return the same 50 runs with the same losses in the same order (and
   ours the same total) before timing; then the targets take turns, p50/p95 reported.
3. Memory: each logger alone in a fresh subprocess (this script in its hidden
   ``--measure-memory`` mode): peak RSS growth over the baseline taken after setup, and the
   tracemalloc peak of a second, traced pass.

Speed never fails the run, only correctness. The table goes to stdout and, for the full
size, between this benchmark's markers in ``--out``; every number, version and machine detail
goes to ``--json``. ``--quick`` (CI size) writes only where ``--out``/``--json`` say.

Usage::

    .venv/bin/python benchmarks/platform_vs_mlflow.py [--quick] [--repeats N]
        [--listing-repeats N] [--postgres URL | --no-postgres] [--no-http]
        [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    add_platform_options,
    child_answer,
    command_line,
    cpu_ticks,
    environment,
    environment_block,
    exit_on_sigterm,
    free_port,
    parse_platform_args,
    peak_rss_mb,
    percentiles_ms,
    postgres_database,
    signed_headers,
    take_turns,
    usable_postgres,
    write_outputs,
)

SEED = 0
KEYS = ("loss", "val_loss", "accuracy", "lr")  # logged at every step
RUN_METRICS = ("loss", "val_loss", "accuracy")  # of every listed run
MLFLOW_BATCH = 1000  # MLflow's limit of metrics per log_batch call
PAGE = 50
LOSS_BELOW = 0.5  # the listing's filter: loss < 0.5 (MLflow) / loss <= 0.5 (ours; no tie)
SUM_REL_TOL = 1e-9  # stored sums of values must match the logged ones this closely
SIZES = {
    "full": {
        "points": 100_000,
        "per_call_points": 2_000,
        "runs": (10_000, 100_000),
        "repeats": 5,
        "listing_repeats": 100,
    },
    "quick": {
        "points": 10_000,
        "per_call_points": 200,
        "runs": (1_000,),
        "repeats": 3,
        "listing_repeats": 30,
    },
}
LISTING_WARMUP = 5
PEERS_AT = 10_000  # PostgreSQL and MLflow listings run at this size (and the quick size)
BARS = {"logging_ratio": 10.0, "listing_p95_ms": 50.0}
PAUSE_S = 0.5  # between logging repeats, so the previous store's writes have settled
MB = 1024 * 1024
START, END = "<!-- platform_vs_mlflow:start -->", "<!-- platform_vs_mlflow:end -->"
# the distributions whose versions the report records
PACKAGES = (
    "azuraforge", "mlflow-skinny", "mlflow", "SQLAlchemy", "alembic", "psycopg",
    "fastapi", "uvicorn", "httpx", "numpy",
)  # fmt: skip


# ---- the logged values ------------------------------------------------------------------


def logged_rows(points: int) -> list[dict[str, float]]:
    """One dict per step, one seeded value per key of :data:`KEYS`."""
    rng = random.Random(SEED)
    return [{k: rng.random() for k in KEYS} for _ in range(points // len(KEYS))]


def expected_per_key(rows: list[dict[str, float]]) -> dict[str, tuple[int, float]]:
    """(count, exact sum) of each key's logged values."""
    return {k: (len(rows), math.fsum(r[k] for r in rows)) for k in KEYS}


def check_stored(
    found: dict[str, tuple[int, float]], wanted: dict[str, tuple[int, float]]
) -> dict[str, Any]:
    """Compare stored (count, sum) per key with what was logged."""
    counts_ok = {k: found.get(k, (0, 0.0))[0] == n for k, (n, _) in wanted.items()}
    sums_ok = {
        k: math.isclose(found.get(k, (0, 0.0))[1], s, rel_tol=SUM_REL_TOL)
        for k, (_, s) in wanted.items()
    }
    return {
        "stored_points": sum(n for n, _ in found.values()),
        "logged_points": sum(n for n, _ in wanted.values()),
        "extra_keys": sorted(set(found) - set(wanted)),
        "ok": all(counts_ok.values()) and all(sums_ok.values()) and set(found) == set(wanted),
    }


def sqlite_per_key(path: Path, sql: str, run: Any) -> dict[str, tuple[int, float]]:
    """(count, sum) per key, read with the sqlite3 module straight from the file."""
    with sqlite3.connect(path) as connection:
        return {k: (n, s) for k, n, s in connection.execute(sql, (run,))}


# ---- metric logging: ours -----------------------------------------------------------------


def ours_template(folder: Path) -> Path:
    """An empty store at this version's schema, copied for every repeat (a fresh store)."""
    from azuraforge.platform.store import upgrade_database

    path = folder / "ours-template.db"
    upgrade_database(f"sqlite:///{path}")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size:
        sys.exit(f"{path}: the write-ahead log was not checkpointed; cannot copy the template")
    return path


def mlflow_template(folder: Path) -> Path:
    """An empty MLflow SQLite store (its migrations run once), copied for every repeat."""
    from mlflow.tracking import MlflowClient

    path = folder / "mlflow-template.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    _dispose_mlflow_engines()
    return path


def _dispose_mlflow_engines() -> None:
    """Close MLflow's cached SQLAlchemy engines (one per tracking URI), so a copied or
    removed file is not held open."""
    from mlflow.store.db import utils as db_utils

    for engine in getattr(db_utils, "_engine_cache", {}).values():
        engine.dispose()


def fresh_copy(template: Path, folder: Path, name: str) -> Path:
    """A copy of ``template`` in ``folder``, under a new name starting with ``name`` (MLflow
    keeps an engine per URL, so a file is never replaced under the same name)."""
    path = folder / f"{name}-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, path)
    return path


def log_ours(db: Path, rows: list[dict[str, float]], work: Path) -> dict[str, Any]:
    """Log ``rows`` through StoreContext into the store at ``db``; the timed part is every
    ``log_metrics`` call plus ``close()`` (which returns once all is written)."""
    from azuraforge.platform.jobs.context import StoreContext
    from azuraforge.platform.jobs.queueing import NewJob, enqueue
    from azuraforge.platform.store import Store

    store = Store(f"sqlite:///{db}")
    run = NewJob("bench", {"seed": SEED}, name=f"logging-{uuid.uuid4().hex[:8]}")
    enqueue(store, None, run)  # sent to no worker: claimed here
    lease = store.claim_next("bench", ttl=3600)
    assert lease is not None
    ctx = StoreContext(store, lease, work / f"run-{lease.experiment_id}")
    gc.collect()
    start = time.perf_counter()
    for step, row in enumerate(rows):
        ctx.log_metrics(row, step)
    loop = time.perf_counter()
    written = ctx.close()
    end = time.perf_counter()
    store.finish(lease, "completed")
    store.close()
    if not written:
        sys.exit("ours: StoreContext.close() reports points it could not write")
    found = sqlite_per_key(
        db,
        "SELECT key, count(*), sum(value) FROM metric_points WHERE experiment_id = ? GROUP BY key",
        lease.experiment_id,
    )
    return {"seconds": end - start, "loop_seconds": loop - start, "found": found}


# ---- metric logging: MLflow ---------------------------------------------------------------


def mlflow_run(db: Path) -> tuple[Any, str]:
    """A client on MLflow's SQLite store at ``db`` and a new run in it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.create_experiment(
        f"logging-{uuid.uuid4().hex[:8]}", artifact_location=str(db.parent / "mlruns")
    )
    return client, client.create_run(experiment).info.run_id


def mlflow_found(db: Path, run_id: str) -> dict[str, tuple[int, float]]:
    """(count, sum) per key of one MLflow run's metric points."""
    _dispose_mlflow_engines()
    return sqlite_per_key(
        db, "SELECT key, count(*), sum(value) FROM metrics WHERE run_uuid = ? GROUP BY key", run_id
    )


def log_mlflow_batch(db: Path, rows: list[dict[str, float]], work: Path) -> dict[str, Any]:
    """Log ``rows`` with ``log_batch`` in batches of 1,000; the timed part builds the
    ``Metric`` objects (with a millisecond timestamp per step) and makes every call."""
    from mlflow.entities import Metric

    client, run_id = mlflow_run(db)
    gc.collect()
    start = time.perf_counter()
    batch: list[Any] = []
    for step, row in enumerate(rows):
        stamp = int(time.time() * 1000)
        batch.extend(Metric(k, v, stamp, step) for k, v in row.items())
        if len(batch) >= MLFLOW_BATCH:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)
    end = time.perf_counter()
    client.set_terminated(run_id)
    return {"seconds": end - start, "loop_seconds": end - start, "found": mlflow_found(db, run_id)}


def log_mlflow_per_call(db: Path, rows: list[dict[str, float]], work: Path) -> dict[str, Any]:
    """Log ``rows`` with one ``log_metric`` call per point."""
    client, run_id = mlflow_run(db)
    gc.collect()
    start = time.perf_counter()
    for step, row in enumerate(rows):
        stamp = int(time.time() * 1000)
        for k, v in row.items():
            client.log_metric(run_id, k, v, timestamp=stamp, step=step)
    end = time.perf_counter()
    client.set_terminated(run_id)
    return {"seconds": end - start, "loop_seconds": end - start, "found": mlflow_found(db, run_id)}


LOGGERS: dict[str, tuple[str, Callable[..., dict[str, Any]]]] = {
    "ours": ("ours", log_ours),
    "mlflow_log_batch": ("mlflow", log_mlflow_batch),
    "mlflow_log_metric": ("mlflow", log_mlflow_per_call),
}
LOGGER_TITLES = {
    "ours": "ours: StoreContext.log_metrics per step + close()",
    "mlflow_log_batch": "MLflow: log_batch, 1,000 metrics per call",
    "mlflow_log_metric": "MLflow: log_metric, one call per point",
}


def run_logging(args: argparse.Namespace, size: dict[str, Any], work: Path) -> dict[str, Any]:
    """Time the three loggers in turns on fresh stores; exit 1 if any store misses a point."""
    work.mkdir(parents=True, exist_ok=True)
    rows = logged_rows(size["points"])
    subset = rows[: size["per_call_points"] // len(KEYS)]
    templates = {"ours": ours_template(work), "mlflow": mlflow_template(work)}
    times: dict[str, list[float]] = {name: [] for name in LOGGERS}
    loops: dict[str, list[float]] = {name: [] for name in LOGGERS}
    checks: dict[str, Any] = {}
    repeats = args.repeats or size["repeats"]
    for repeat in range(repeats):
        order = list(LOGGERS) if repeat % 2 == 0 else list(LOGGERS)[::-1]
        for name in order:
            kind, log = LOGGERS[name]
            logged = subset if name == "mlflow_log_metric" else rows
            db = fresh_copy(templates[kind], work, name)
            time.sleep(PAUSE_S)
            result = log(db, logged, work)
            check = check_stored(result["found"], expected_per_key(logged))
            if not check["ok"]:
                sys.exit(f"{name}: the store does not hold what was logged: {json.dumps(check)}")
            checks[name] = check
            times[name].append(result["seconds"])
            loops[name].append(result["loop_seconds"])
    results = {}
    for name, seconds in times.items():
        points = checks[name]["logged_points"]
        median = float(np.median(seconds))
        results[name] = {
            "title": LOGGER_TITLES[name],
            "points": points,
            "seconds": seconds,
            "median_seconds": median,
            "points_per_second": points / median,
            "median_loop_seconds": float(np.median(loops[name])),
            "check": checks[name],
        }
    ratio = results["ours"]["points_per_second"] / results["mlflow_log_batch"]["points_per_second"]
    memory = {
        name: memory_in_subprocess(name, size["points"], templates[LOGGERS[name][0]])
        for name in ("ours", "mlflow_log_batch")
    }
    return {
        "repeats": repeats,
        "keys": KEYS,
        "results": results,
        "ratio_ours_over_log_batch": ratio,
        "ratio_ours_over_log_metric": ratio
        * results["mlflow_log_batch"]["points_per_second"]
        / results["mlflow_log_metric"]["points_per_second"],
        "meets_bar": ratio >= BARS["logging_ratio"],
        "memory": memory,
    }


# ---- memory (hidden subprocess mode) ------------------------------------------------------


def measure_memory(name: str, points: int, template: Path) -> dict[str, float]:
    """Peak RSS growth of one logging pass over the baseline after imports and setup, then
    the tracemalloc peak of a second pass on another fresh store."""
    log = LOGGERS[name][1]
    rows = logged_rows(points)
    with tempfile.TemporaryDirectory(prefix="af-bench-mem-") as folder:
        work = Path(folder)
        log(fresh_copy(template, work, "warm"), rows[:10], work)  # imports, first use
        baseline = peak_rss_mb()
        log(fresh_copy(template, work, "rss"), rows, work)
        growth = peak_rss_mb() - baseline
        db = fresh_copy(template, work, "traced")
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        log(db, rows, work)
        traced = (tracemalloc.get_traced_memory()[1] - before) / MB
        tracemalloc.stop()
    return {
        "rss_baseline_mb": baseline,
        "rss_peak_growth_mb": growth,
        "tracemalloc_peak_mb": traced,
    }


def memory_in_subprocess(name: str, points: int, template: Path) -> dict[str, Any]:
    """Run :func:`measure_memory` in a fresh interpreter and return its JSON answer."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure-memory", name]
    cmd += ["--points", str(points), "--template", str(template)]
    return child_answer(cmd, "memory subprocess")


# ---- listing: data and bulk setup ---------------------------------------------------------


def listing_runs(n: int) -> list[dict[str, Any]]:
    """``n`` seeded finished runs: name, config (three params) and three metrics."""
    rng = random.Random(SEED + n)
    runs = [
        {
            "name": f"run-{i:06d}",
            "config": {
                "epochs": rng.randint(5, 50),
                "lr": round(10 ** rng.uniform(-4, -1), 6),
                "hidden": rng.choice([16, 32, 64, 128]),
            },
            "metrics": {k: rng.random() for k in RUN_METRICS},
        }
        for i in range(n)
    ]
    losses = [r["metrics"]["loss"] for r in runs]
    if len(set(losses)) != n or LOSS_BELOW in losses:
        sys.exit("listing data: tied losses or a loss equal to the bound; change SEED")
    return runs


def expected_page(runs: list[dict[str, Any]]) -> tuple[list[tuple[str, float]], int]:
    """The page every target must return (name, loss), and how many runs match in all."""
    matching = sorted(
        (r["metrics"]["loss"], r["name"]) for r in runs if r["metrics"]["loss"] < LOSS_BELOW
    )
    return [(name, loss) for loss, name in matching[:PAGE]], len(matching)


def load_ours(url: str, runs: list[dict[str, Any]]) -> None:
    """Create the schema at ``url`` and bulk-insert ``runs`` into our tables: experiments
    (completed), flattened params, one point and one summary per metric."""
    from azuraforge.platform.store import Store, upgrade_database
    from azuraforge.testing.runs import FinishedRun, insert_runs

    upgrade_database(url)
    store = Store(url)
    try:
        insert_runs(
            store,
            [
                FinishedRun(r["name"], r["config"], r["metrics"], step=r["config"]["epochs"] - 1)
                for r in runs
            ],
        )
    finally:
        store.close()


def load_mlflow(db: Path, runs: list[dict[str, Any]]) -> str:
    """Bulk-insert ``runs`` into MLflow's tables in a fresh MLflow store at ``db``: the rows
    ``create_run`` + ``log_batch`` + ``set_terminated`` write (run, name tag, params, one
    metric point and one latest metric per metric). Returns the experiment id."""
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.tracking import MlflowClient
    from sqlalchemy import create_engine

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment_id = client.create_experiment(
        "listing", artifact_location=str(db.parent / "mlruns")
    )
    engine = create_engine(f"sqlite:///{db}")
    now = int(time.time() * 1000) - len(runs)
    with engine.begin() as connection:
        from azuraforge.testing.runs import chunks

        for part in chunks(list(enumerate(runs))):
            rid = {r["name"]: uuid.UUID(int=i + 1).hex for i, r in part}
            connection.execute(
                SqlRun.__table__.insert(),
                [
                    dict(
                        run_uuid=rid[r["name"]], name=r["name"], source_type="LOCAL",
                        source_name="", entry_point_name="", user_id="bench",
                        status="FINISHED", start_time=now + i, end_time=now + i + 500,
                        source_version="", lifecycle_stage="active",
                        artifact_uri=f"{db.parent}/mlruns/{rid[r['name']]}/artifacts",
                        experiment_id=int(experiment_id),
                    )
                    for i, r in part
                ],
            )  # fmt: skip
            connection.execute(
                SqlTag.__table__.insert(),
                [{"key": "mlflow.runName", "value": r["name"], "run_uuid": rid[r["name"]]}
                 for _, r in part],
            )  # fmt: skip
            connection.execute(
                SqlParam.__table__.insert(),
                [
                    {"key": k, "value": json.dumps(v), "run_uuid": rid[r["name"]]}
                    for _, r in part
                    for k, v in r["config"].items()
                ],
            )
            metrics = [
                {"key": k, "value": v, "timestamp": now, "step": r["config"]["epochs"] - 1,
                 "is_nan": False, "run_uuid": rid[r["name"]]}
                for _, r in part
                for k, v in r["metrics"].items()
            ]  # fmt: skip
            connection.execute(SqlMetric.__table__.insert(), metrics)
            connection.execute(SqlLatestMetric.__table__.insert(), metrics)
    engine.dispose()
    return str(experiment_id)


# ---- listing: the targets -----------------------------------------------------------------


Query = Callable[[], tuple[list[tuple[str, float]], int | None]]


def ours_query(url: str) -> tuple[Query, Callable[[], None]]:
    """``list_experiments`` on the store at ``url``, and how to close it."""
    from azuraforge.platform.store import ExperimentQuery, Store

    store = Store(url)
    query = ExperimentQuery(
        metric="loss", metric_max=LOSS_BELOW, sort="metric:loss", descending=False, limit=PAGE
    )

    def run() -> tuple[list[tuple[str, float]], int | None]:
        page = store.list_experiments(query)
        return [(r.name, r.metrics["loss"]) for r in page.items], page.total

    return run, store.close


def http_query(base: str, database_url: str) -> tuple[Query, Callable[[], None]]:
    """``GET /api/v1/experiments`` over one kept-alive HTTP connection with a server admin's
    token of the store at ``database_url``, JSON decoded."""
    import httpx

    client = httpx.Client(base_url=base, timeout=30, headers=signed_headers(database_url))
    params = {
        "limit": PAGE, "sort": "metric:loss", "order": "asc",
        "metric": "loss", "metric_max": LOSS_BELOW,
    }  # fmt: skip

    def run() -> tuple[list[tuple[str, float]], int | None]:
        response = client.get("/api/v1/experiments", params=params)
        response.raise_for_status()
        body = response.json()
        return [(r["name"], r["metrics"]["loss"]) for r in body["data"]], body["total"]

    return run, client.close


def mlflow_query(db: Path, experiment_id: str) -> tuple[Query, Callable[[], None]]:
    """MLflow's ``search_runs`` on its SQLite store (in process: no tracking server)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")

    def run() -> tuple[list[tuple[str, float]], int | None]:
        found = client.search_runs(
            [experiment_id],
            filter_string=f"metrics.loss < {LOSS_BELOW}",
            order_by=["metrics.loss ASC"],
            max_results=PAGE,
        )
        return [(r.info.run_name, r.data.metrics["loss"]) for r in found], None

    return run, _dispose_mlflow_engines


@contextmanager
def api_server(url: str, home: Path) -> Iterator[str]:
    """The API on ``url``'s store, served by uvicorn in a subprocess; yields its base URL."""
    import httpx

    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", url, "--port", str(port)]
    cmd += ["--home", str(home)]
    log = (home / f"uvicorn-{port}.log").open("w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                sys.exit(f"the API server did not start:\n{(home / log.name).read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def serve(url: str, port: int, home: Path) -> None:
    """Hidden mode: serve the API on 127.0.0.1:``port`` until terminated."""
    import uvicorn

    from azuraforge.platform.api.app import create_app
    from azuraforge.platform.settings import Settings

    app = create_app(Settings(home=home, database_url=url, workers=0))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def api_available() -> str | None:
    """Why the HTTP targets cannot run (``None`` when they can)."""
    try:
        from azuraforge.platform.api.app import create_app  # noqa: F401
    except ImportError as e:
        return f"azuraforge.platform.api.app.create_app cannot be imported ({e})"
    return None


def run_listing_size(
    n: int,
    size: dict[str, Any],
    args: argparse.Namespace,
    work: Path,
    postgres: str | None,
    http: bool,
) -> dict[str, Any]:
    """Load ``n`` runs into every store, check the answers agree, time the targets."""
    work.mkdir(parents=True, exist_ok=True)
    runs = listing_runs(n)
    want, total = expected_page(runs)
    peers = n <= PEERS_AT
    targets: dict[str, Query] = {}
    closers: list[Callable[[], None]] = []
    setup: dict[str, float] = {}
    with ExitStack() as stack:
        sqlite_url = f"sqlite:///{work / f'listing-{n}.db'}"
        started = time.perf_counter()
        load_ours(sqlite_url, runs)
        setup["ours_sqlite"] = time.perf_counter() - started
        stores = {"sqlite": sqlite_url}
        if postgres and peers:
            pg_url = stack.enter_context(postgres_database(postgres))
            started = time.perf_counter()
            load_ours(pg_url, runs)
            setup["ours_postgresql"] = time.perf_counter() - started
            stores["postgresql"] = pg_url
        for backend, url in stores.items():
            run, close = ours_query(url)
            targets[f"ours_{backend}"] = run
            closers.append(close)
        if http:
            for backend, url in stores.items():
                base = stack.enter_context(api_server(url, work))
                run, close = http_query(base, url)
                targets[f"http_{backend}"] = run
                closers.append(close)
        if peers:
            db = work / f"mlflow-listing-{n}.db"
            started = time.perf_counter()
            experiment_id = load_mlflow(db, runs)
            setup["mlflow_sqlite"] = time.perf_counter() - started
            run, close = mlflow_query(db, experiment_id)
            targets["mlflow_sqlite"] = run
            closers.append(close)
        from azuraforge.platform.store.experiment_query import COUNT_LIMIT

        counted = min(total, COUNT_LIMIT)  # ours counts matches up to COUNT_LIMIT (total_exact)
        checks = {}
        for name, run in targets.items():
            page, found_total = run()
            agree = [p[0] for p in page] == [w[0] for w in want] and all(
                math.isclose(p[1], w[1], rel_tol=1e-12) for p, w in zip(page, want, strict=False)
            )
            checks[name] = {
                "first": page[:3],
                "total": found_total,
                "ok": agree and (found_total is None or found_total == counted),
            }
            if not checks[name]["ok"]:
                sys.exit(
                    f"listing {n} runs, {name}: wrong page; expected {want[:3]}... of {counted}, "
                    f"got {page[:3]}... of {found_total}"
                )
        repeats = args.listing_repeats or size["listing_repeats"]
        times = take_turns(targets, repeats, LISTING_WARMUP)
        for close in closers:
            close()
    stats = {
        name: {
            **percentiles_ms(t, 50, 95),
            "min_ms": float(np.min(t)),
            "meets_bar": float(np.percentile(t, 95)) < BARS["listing_p95_ms"],
        }
        for name, t in times.items()
    }
    return {
        "runs": n,
        "matching": total,
        "repeats": repeats,
        "setup_seconds": setup,
        "checks": checks,
        "times_ms": times,
        "stats": stats,
    }


# ---- report -------------------------------------------------------------------------------


def logging_table(logging: dict[str, Any]) -> str:
    """The Markdown table of the logging part."""
    rows = [
        "| logger | points | median s | points/s | ours / this | peak MB (RSS) "
        "| peak MB (tracemalloc) |",
        "|---|---|---|---|---|---|---|",
    ]
    ours = logging["results"]["ours"]["points_per_second"]
    for name, r in logging["results"].items():
        memory = logging["memory"].get(name)
        rss, traced = (
            (f"{memory['rss_peak_growth_mb']:.1f}", f"{memory['tracemalloc_peak_mb']:.1f}")
            if memory
            else ("-", "-")
        )
        subset = " (subset)" if name == "mlflow_log_metric" else ""
        rows.append(
            f"| {r['title']} | {r['points']:,}{subset} | {r['median_seconds']:.3f} "
            f"| {r['points_per_second']:,.0f} | {ours / r['points_per_second']:.1f}x "
            f"| {rss} | {traced} |"
        )
    return "\n".join(rows)


TARGET_TITLES = {
    "ours_sqlite": "ours: Store.list_experiments, SQLite",
    "ours_postgresql": "ours: Store.list_experiments, PostgreSQL",
    "http_sqlite": "ours: GET /api/v1/experiments (uvicorn), SQLite",
    "http_postgresql": "ours: GET /api/v1/experiments (uvicorn), PostgreSQL",
    "mlflow_sqlite": "MLflow: search_runs, SQLite",
}


def listing_table(listing: list[dict[str, Any]]) -> str:
    """The Markdown table of the listing part."""
    rows = [
        "| runs (matching) | target | p50 ms | p95 ms | p95 < 50 ms | MLflow p50 / this p50 |",
        "|---|---|---|---|---|---|",
    ]
    for size in listing:
        peer = size["stats"].get("mlflow_sqlite")
        for name, s in size["stats"].items():
            ratio = f"{peer['p50_ms'] / s['p50_ms']:.1f}x" if peer else "-"
            meets = ("yes" if s["meets_bar"] else "no") if not name.startswith("mlflow") else "-"
            rows.append(
                f"| {size['runs']:,} ({size['matching']:,}) | {TARGET_TITLES[name]} "
                f"| {s['p50_ms']:.1f} | {s['p95_ms']:.1f} | {meets} | {ratio} |"
            )
    return "\n".join(rows)


def section(report: dict[str, Any]) -> str:
    """The Markdown that goes between the markers of the --out file."""
    logging, listing, cfg = report["logging"], report["listing"], report["config"]
    lg = logging["results"]
    skipped = "; ".join(f"{k}: {v}" for k, v in report["skipped"].items()) or "nothing"
    setup = "; ".join(
        f"{s['runs']:,} runs: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in s["setup_seconds"].items())
        for s in listing
    )
    return "\n".join([
        START,
        "## Platform vs MLflow",
        "",
        "Experiment tracking on the platform's store against MLflow's SQLAlchemy tracking "
        "store, same machine, same run, each on its own fresh store.",
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        "### Metric logging",
        "",
        logging_table(logging),
        "",
        f"One run logs {lg['ours']['points']:,} points: {len(KEYS)} keys "
        f"({', '.join(KEYS)}) at each of {lg['ours']['points'] // len(KEYS):,} steps, seeded "
        "values, the same for every logger. Ours: `StoreContext.log_metrics(dict, step)` per "
        "step into a fresh SQLite store (WAL), timed until `close()` returns with every point "
        f"written (flush interval {cfg['flush_interval']} s, the default); of that, the "
        f"training loop itself spent a median {lg['ours']['median_loop_seconds']:.3f} s in "
        "`log_metrics`. MLflow: `MlflowClient.log_batch` with 1,000 `Metric`s per call "
        "(its maximum; building the `Metric` objects is timed) and `log_metric` with one "
        "call per point, into MLflow's own SQLite store (`sqlite:///...`). `log_metric` is "
        f"timed on a subset of {lg['mlflow_log_metric']['points']:,} points; its points/s is "
        f"that subset's rate. Median of {logging['repeats']} repeats, the loggers taking "
        f"turns, each repeat on a fresh copy of an empty store. **Ours / MLflow log_batch: "
        f"{logging['ratio_ours_over_log_batch']:.1f}x** (target >= "
        f"{BARS['logging_ratio']:.0f}x: {'met' if logging['meets_bar'] else 'not met'}); "
        f"ours / MLflow log_metric: {logging['ratio_ours_over_log_metric']:,.0f}x.",
        "",
        "Correctness (checked on every repeat, before the time counts): each store holds "
        "every logged point, counted per key with SQL, and the sum of each key's stored values "
        f"equals the logged sum within {SUM_REL_TOL:.0e} relative. Peak MB: each logger "
        "alone in a fresh process; RSS = growth of the peak resident set (`VmHWM`) over the "
        "baseline after imports and a warm-up run; tracemalloc = peak of Python allocations "
        "during a second, traced run.",
        "",
        "### Listing runs",
        "",
        listing_table(listing),
        "",
        f"The query: runs whose loss is below {LOSS_BELOW}, sorted by loss ascending, first "
        f"page of {PAGE}. Ours: `list_experiments(ExperimentQuery(metric='loss', "
        f"metric_max={LOSS_BELOW}, sort='metric:loss', descending=False, limit={PAGE}))` "
        "(it also counts all matches), and the same through `GET /api/v1/experiments"
        f"?limit={PAGE}&sort=metric:loss&order=asc&metric=loss&metric_max={LOSS_BELOW}` "
        "against the API served by uvicorn on 127.0.0.1 (one kept-alive httpx connection; "
        "JSON decoded). MLflow: `search_runs(filter_string='metrics.loss < 0.5', "
        "order_by=['metrics.loss ASC'], max_results=50)` in process on its SQLite store "
        "(the MLflow tracking server needs the full `mlflow` package). "
        + (
            f"PostgreSQL and MLflow run at {PEERS_AT:,} runs; the "
            + ", ".join(f"{s['runs']:,}" for s in listing if s["runs"] > PEERS_AT)
            + "-run size is ours on SQLite only."
            if any(s["runs"] > PEERS_AT for s in listing)
            else ""
        ),
        "",
        "Every run has 3 params and 3 metrics (loss, val_loss, accuracy: seeded, distinct). "
        "Setup is not timed: runs are bulk-inserted straight into each store's own tables "
        "(ours: experiments, params, metric_points, metric_summaries; MLflow: runs, the "
        "run-name tag, params, metrics, latest_metrics), then PostgreSQL is `ANALYZE`d "
        f"(what autovacuum does within a minute of a bulk load). Setup took {setup}. "
        "Correctness before timing: every target returns the same 50 run names with the same "
        "losses in the same order as a sort in Python, and ours the same total (counted up "
        "to 10,000 matches: past that the API says `total_exact: false`). Then "
        f"{LISTING_WARMUP} warm-up queries per target, and {listing[0]['repeats']} timed "
        "queries per target, the targets taking turns.",
        "",
        f"Skipped: {skipped}.",
        "",
        environment_block(report["environment"]),
        END,
    ])  # fmt: skip


# ---- driver -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the memory and server modes' are hidden: the script calls
    itself)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: 10,000 points, 1,000 runs")
    parser.add_argument("--repeats", type=int, help="timed repeats of each logger")
    parser.add_argument("--listing-repeats", type=int, help="timed queries per listing target")
    add_platform_options(parser)
    parser.add_argument("--no-http", action="store_true", help="skip the API targets")
    parser.add_argument("--measure-memory", choices=sorted(LOGGERS), help=argparse.SUPPRESS)
    parser.add_argument("--points", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--template", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    return parse_platform_args(parser, argv, ("repeats", "listing_repeats"), "platform_vs_mlflow")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, or (hidden modes) one logger's memory or the API server."""
    args = parse_args(argv)
    if args.measure_memory:
        print(json.dumps(measure_memory(args.measure_memory, args.points, args.template)))
        return
    if args.serve:
        serve(args.serve, args.port, args.home)
        return
    exit_on_sigterm()
    import inspect

    from azuraforge.platform.jobs.context import StoreContext

    flush_interval = inspect.signature(StoreContext).parameters["flush_interval"].default
    size = SIZES["quick" if args.quick else "full"]
    load_before, ticks = os.getloadavg(), cpu_ticks()
    skipped: dict[str, str] = {}
    postgres = usable_postgres(args, skipped)
    http_reason = "--no-http" if args.no_http else api_available()
    if http_reason:
        skipped["HTTP"] = http_reason
    with tempfile.TemporaryDirectory(prefix="af-bench-mlflow-") as folder:
        work = Path(folder)
        logging = run_logging(args, size, work / "logging")
        print(logging_table(logging), flush=True)
        listing = [
            run_listing_size(n, size, args, work / f"listing-{n}", postgres, http_reason is None)
            for n in size["runs"]
        ]
    print(listing_table(listing))
    report = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {"quick": args.quick, "flush_interval": flush_interval, **size},
        "bars": BARS,
        "skipped": skipped,
        "environment": environment(load_before, ticks, postgres, PACKAGES),
        "logging": logging,
        "listing": listing,
    }
    write_outputs(report, section(report), (START, END), args.out, args.json)


if __name__ == "__main__":
    main()

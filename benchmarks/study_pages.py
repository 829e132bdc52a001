"""Study pages at scale: the API calls the dashboard's study page makes, timed on a study of
``--trials`` trials (default 10,000) seeded in bulk, on SQLite and PostgreSQL.

The study is seeded by :func:`azuraforge.testing.studies.insert_study` (a
``weather-forecaster`` study over five settings; 80% of its trials completed, 12% pruned,
5% failed, 3% cancelled), straight into Optuna's tables and the trial runs in bulk.

Each call is timed over HTTP on 127.0.0.1 against a real ``azuraforge serve --workers 0``
(one API process): ``cold`` is the first call of a server just started (nothing cached,
Optuna's importance module not yet imported), ``warm`` the median of ``--repeat`` calls
after it. ``--code`` serves another checkout's ``src`` (the code before a change) on the
same seeded study; ``--only`` times some calls. Correctness first: every call must answer
200 with the seeded number of trials, or the script exits 1.

Usage::

    .venv/bin/python benchmarks/study_pages.py [--trials N] [--repeat N] [--no-postgres]
        [--only summary trials ...] [--code OTHER/src] [--json PATH]
    .venv/bin/python benchmarks/study_pages.py --seed-only --database sqlite:////tmp/af.db
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import (
    DEFAULT_POSTGRES,
    free_port,
    postgres_database,
    postgres_reason,
    signed_headers,
)


def seed_study(url: str, trials: int) -> int:
    """A finished study of ``trials`` trials in the store at ``url`` (created or upgraded to
    the head schema first); its id."""
    from azuraforge.platform.store import Store, upgrade_database
    from azuraforge.testing.studies import insert_study

    upgrade_database(url)
    store = Store(url)
    try:
        return insert_study(store, trials)
    finally:
        store.close()


# ---- timing -------------------------------------------------------------------------------

CALLS: dict[str, tuple[str, str]] = {
    "listing": ("GET /studies (the listing)", "/studies"),
    "summary": ("GET /studies/{id}/summary", "/studies/{id}/summary"),
    "trials": ("GET /studies/{id}/trials (50 by value)", "/studies/{id}/trials?sort=value"),
    "filtered": ("GET /studies/{id}/trials (pruned, page 3)",
                 "/studies/{id}/trials?status=pruned&offset=100"),
    "points": ("GET /studies/{id}/points", "/studies/{id}/points"),
    "importances": ("GET /studies/{id}/importances", "/studies/{id}/importances"),
    "everything": ("GET /studies/{id} (everything)", "/studies/{id}"),
}  # fmt: skip
"""The calls timed: a key (``--only``), a label and the path under /api/v1."""


def check(path: str, answer: dict[str, Any], trials: int) -> None:
    """Exit 1 unless ``answer`` holds the seeded study's ``trials`` trials."""
    found = {
        "summary": lambda: sum(answer["counts"].values()),
        "points": lambda: len(answer["number"]),
        "trials": lambda: answer["total"] if "status" not in path else trials,
        "importances": lambda: trials if answer["importances"] else -1,
    }
    for view, count in found.items():
        if f"/{view}" in path and count() != trials:
            sys.exit(f"{path} holds {count()} trials, not the {trials:,} seeded: {answer!s:.300}")
    if path.endswith("}") and len(answer["trials"]) != trials:
        sys.exit(f"{path} holds {len(answer['trials'])} trials, not the {trials:,} seeded")


def time_calls(
    url: str, study_id: int, trials: int, options: argparse.Namespace, work: Path
) -> dict[str, dict[str, float]]:
    """Each call's cold time (the first call of a server just started) and the median of
    ``options.repeat`` calls after it, in ms, through HTTP on 127.0.0.1."""
    figures = {}
    for key in options.only:
        label, path = CALLS[key]
        with _serve(url, work, options.code) as client:
            times = []
            for _ in range(options.repeat + 1):
                start = time.perf_counter()
                response = client.get(path.replace("{id}", str(study_id)))
                times.append((time.perf_counter() - start) * 1e3)
                if response.status_code != 200:
                    sys.exit(f"{path} answered {response.status_code}: {response.text[:500]}")
        check(path, response.json(), trials)
        figures[label] = {
            "cold_ms": times[0], "warm_ms": statistics.median(times[1:]),
            "bytes": len(response.content),
        }  # fmt: skip
        print(f"  {label}: cold {times[0]:.0f} ms, warm {figures[label]['warm_ms']:.0f} ms, "
              f"{len(response.content) / 1024:.0f} KiB", flush=True)  # fmt: skip
    return figures


@contextmanager
def _serve(url: str, work: Path, code: Path | None) -> Iterator[Any]:
    """``azuraforge serve --workers 0`` on ``url`` (the code at ``code``, when given) and an
    HTTP client on its API once it answers."""
    import httpx

    port = free_port()
    env = {**os.environ, "AZURAFORGE_HOME": str(work),
           "AZURAFORGE_SETTINGS_FILE": str(work / "none.toml")}  # fmt: skip
    if code is not None:
        env["PYTHONPATH"] = str(code)
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "serve",
               "--port", str(port), "--workers", "0", "--database-url", url]  # fmt: skip
    with open(work / "serve.log", "ab") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=log, start_new_session=True
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=120)
    try:
        _wait_ready(client, process, work)
        if code is None:  # another checkout's code may predate credentials (and their tables)
            client.headers.update(signed_headers(url))
        yield client
    finally:
        client.close()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _wait_ready(client: Any, process: subprocess.Popen[bytes], work: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"azuraforge serve stopped: {(work / 'serve.log').read_text()[-2000:]}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    sys.exit("azuraforge serve did not answer within 60 s")


def measure(url: str, options: argparse.Namespace, work: Path) -> dict[str, Any]:
    start = time.perf_counter()
    study_id = seed_study(url, options.trials)
    seeded = time.perf_counter() - start
    print(f"  seeded {options.trials:,} trials in {seeded:.1f} s", flush=True)
    return {"seed_s": seeded, "calls": time_calls(url, study_id, options.trials, options, work)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="warm calls per endpoint")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", type=Path, help="where the numbers go")
    parser.add_argument("--seed-only", action="store_true", help="seed --database and stop")
    parser.add_argument("--database", help="the store to seed (with --seed-only)")
    parser.add_argument("--only", nargs="+", choices=list(CALLS), default=list(CALLS),
                        help="the calls to time (default: all)")  # fmt: skip
    parser.add_argument("--code", type=Path, help="serve the src/ folder of another checkout")
    args = parser.parse_args(argv)
    if args.seed_only:
        if not args.database:
            parser.error("--seed-only needs --database URL")
        print(f"study {seed_study(args.database, args.trials)} seeded in {args.database}")
        return
    results: dict[str, Any] = {"trials": args.trials, "repeat": args.repeat,
                               "code": str(args.code or "this checkout")}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="study-pages-") as work:
        print("SQLite:", flush=True)
        results["sqlite"] = measure(f"sqlite:///{work}/af.db", args, Path(work))
        reason = postgres_reason(None if args.no_postgres else args.postgres)
        if reason is None:
            print("PostgreSQL:", flush=True)
            with postgres_database(args.postgres) as url:
                results["postgresql"] = measure(url, args, Path(work))
        else:
            print(f"PostgreSQL skipped: {reason}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

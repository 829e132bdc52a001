"""What the benchmarks share: machine and version facts, the environment block of a report,
throw-away PostgreSQL databases, timing in turns, percentiles and the marked sections of
``docs/benchmarks.md``.

The benchmarks run as scripts (``python benchmarks/X.py``), so this folder is on
``sys.path`` and they import this module as ``harness``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import random
import resource
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


# ---- the machine ------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_ticks() -> list[int]:
    """The machine-wide CPU time counters of /proc/stat (user, nice, system, idle, iowait,
    irq, softirq, steal, ...), or an empty list where /proc is missing."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return []


def steal_share(before: list[int], after: list[int]) -> float | None:
    """The share of CPU time the hypervisor gave to other machines between two readings."""
    if len(before) < 8 or len(after) < 8:
        return None
    delta = [b - a for a, b in zip(before[:8], after[:8], strict=True)]
    return delta[7] / sum(delta) if sum(delta) else 0.0


def proc_status_mb(field: str, pid: int | None = None) -> float | None:
    """A memory figure of /proc/<pid>/status (``VmRSS``, ``VmHWM``: the peak resident set
    so far) of process ``pid`` (default: this one), in MiB; ``None`` where /proc is missing
    or the process is gone."""
    try:
        for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (``VmHWM``), in MiB.

    ``ru_maxrss`` also keeps the peak of the process that forked us, so it is only the
    fallback where /proc is missing.
    """
    peak = proc_status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---- versions and the command -----------------------------------------------------------


def signed_headers(database_url: str) -> dict[str, str]:
    """The ``Authorization`` header of a new token of the server admin of the store at
    ``database_url`` (made by the server's first start, or here): what a benchmark's
    requests to ``azuraforge serve`` carry, as a user's after ``azuraforge login``."""
    from azuraforge.platform.services.access import FIRST_ADMIN, first_admin, new_token
    from azuraforge.platform.store import Store

    store = Store(database_url)
    try:
        first_admin(store)
        token, _ = new_token(store, user=FIRST_ADMIN, project="default", role="admin")
    finally:
        store.close()
    return {"Authorization": f"Bearer {token}"}


def git_state() -> str:
    """The commit the store was measured at, and whether src/ differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}" + (" (src/ had uncommitted changes)" if dirty else "")


def version(distribution: str) -> str:
    """An installed distribution's version, or ``not installed``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def exit_on_sigterm() -> None:
    """SIGTERM (a CI time-out, ``kill``) unwinds like an error, so what the benchmark set up
    is taken down: its servers and databases, which signals sent to it do not reach."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def command_line() -> str:
    """The command as typed, with the interpreter's path relative to the working directory."""
    python = sys.executable
    if python.startswith(os.getcwd() + os.sep):
        python = os.path.relpath(python)
    return shlex.join([python, *sys.argv])


# ---- the command line -------------------------------------------------------------------


def add_platform_options(parser: argparse.ArgumentParser) -> None:
    """The options every platform benchmark has: which PostgreSQL server, and where the
    Markdown section and the JSON go."""
    parser.add_argument(
        "--postgres", default=DEFAULT_POSTGRES, help="a PostgreSQL URL to create databases from"
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--out",
        type=Path,
        help="Markdown to update (default for the full size: docs/benchmarks.md)",
    )
    parser.add_argument("--json", type=Path, help="where the numbers go")


def parse_platform_args(
    parser: argparse.ArgumentParser, argv: list[str] | None, positive: Sequence[str], name: str
) -> argparse.Namespace:
    """Parse ``argv``; the options ``positive`` (``dest`` names) must be positive when given,
    and the full size (no ``--quick``) writes by default into docs/benchmarks.md and
    benchmarks/results/``name``.json."""
    args = parser.parse_args(argv)
    for option in positive:
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be positive")
    if not args.quick:
        args.out = args.out or ROOT / "docs" / "benchmarks.md"
        args.json = args.json or ROOT / "benchmarks" / "results" / f"{name}.json"
    return args


def parse_report_args(description: str, argv: list[str] | None, name: str) -> argparse.Namespace:
    """``--quick``, ``--out`` and ``--json`` of a benchmark that needs no server: the full
    size writes by default into docs/benchmarks.md and benchmarks/results/``name``.json."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="CI size")
    parser.add_argument("--out", type=Path, help="Markdown to update (full size default: docs)")
    parser.add_argument("--json", type=Path, help="where the numbers go")
    args = parser.parse_args(argv)
    if not args.quick:
        args.out = args.out or ROOT / "docs" / "benchmarks.md"
        args.json = args.json or ROOT / "benchmarks" / "results" / f"{name}.json"
    return args


# ---- servers ---------------------------------------------------------------------------


def wait_until_up(name: str, process: subprocess.Popen[bytes], probe: str, log: Path) -> None:
    """Return once ``probe`` answers 200; exit naming ``name`` and its log's end if
    ``process`` ends first or two minutes pass."""
    import httpx

    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(probe, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"{name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextmanager
def started(
    name: str, cmd: list[str], env: dict[str, str], probe: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The server ``cmd`` (its own session, output into ``log``) once ``probe`` answers;
    stopped (SIGTERM, then SIGKILL after 20 s) when the block ends."""
    with log.open("w") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    try:
        wait_until_up(name, process, probe, log)
        yield process
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


# ---- PostgreSQL -------------------------------------------------------------------------


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database next to ``admin_url``'s, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"af_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_url(admin_url).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_reason(admin_url: str | None) -> str | None:
    """Why PostgreSQL cannot be used (``None`` when it can)."""
    if admin_url is None:
        return "--no-postgres"
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        dsn = make_url(admin_url).set(drivername="postgresql")
        with psycopg.connect(dsn.render_as_string(hide_password=False), connect_timeout=5):
            return None
    except Exception as e:  # unreachable server, wrong credentials, missing driver
        return f"{admin_url} unreachable: {str(e).strip().splitlines()[0]}"


def usable_postgres(args: argparse.Namespace, skipped: dict[str, str]) -> str | None:
    """``--postgres`` if it can be used; else ``None``, saying why in ``skipped``."""
    reason = postgres_reason(None if args.no_postgres else args.postgres)
    if reason:
        skipped["PostgreSQL"] = reason
        return None
    postgres: str = args.postgres
    return postgres


def postgres_version(admin_url: str) -> str:
    """The server's version string."""
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


# ---- timing -----------------------------------------------------------------------------


def take_turns(
    targets: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int,
    pause_s: float = 0.0,
    jitter_s: float = 0.0,
) -> dict[str, list[float]]:
    """Milliseconds per call of each target after ``warmup`` untimed calls each, the targets
    taking turns (their order alternating between repeats). Before each call (untimed):
    ``pause_s`` of rest plus a seeded random share of ``jitter_s``, so that calls do not fall
    in step with a server's own period."""
    rng = random.Random(0)

    def rest() -> None:
        seconds = pause_s + (rng.uniform(0, jitter_s) if jitter_s else 0.0)
        if seconds > 0:  # time.sleep(0) would still yield the CPU
            time.sleep(seconds)

    names = list(targets)
    for name in names:
        for _ in range(warmup):
            rest()
            targets[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            rest()
            start = time.perf_counter()
            targets[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def percentiles_ms(values_ms: Sequence[float], *quantiles: float) -> dict[str, float]:
    """``{"p50_ms": ..., "p95_ms": ...}``: the given percentiles of ``values_ms``."""
    return {f"p{q:g}_ms": float(np.percentile(values_ms, q)) for q in quantiles}


def exported_source(commit: str, work: Path) -> Path:
    """The ``src`` folder of ``commit`` of this repository, exported into ``work``."""
    archive = subprocess.run(["git", "archive", "--format=tar", commit, "src"], cwd=ROOT,
                             capture_output=True, check=True).stdout  # fmt: skip
    folder = work / f"src-{commit}"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


# ---- the report -------------------------------------------------------------------------


def child_answer(
    cmd: list[str], what: str, env: dict[str, str] | None = None, show_stderr: bool = False
) -> dict[str, Any]:
    """Run ``cmd``, a child that prints its JSON answer as its last line, and return the
    answer; exit naming ``what`` (with the child's stderr, unless ``show_stderr`` let it
    through as it ran) if the child fails."""
    stderr = None if show_stderr else subprocess.PIPE
    done = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, check=False
    )
    if done.returncode != 0:
        said = "" if show_stderr else f":\n{done.stderr[-3000:]}"
        sys.exit(f"{what} failed ({shlex.join(cmd)}){said}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def load_and_steal_lines(env: dict[str, Any], the_run_adds: str = "") -> list[str]:
    """The report lines on the machine's load before and after the run and the hypervisor's
    steal during it; ``the_run_adds`` says how much load the run itself brings."""
    before, after = (", ".join(f"{x:.2f}" for x in v) for v in env["load_average_1_5_15"].values())
    share = env["steal_share"]
    steal = "unknown" if share is None else f"{share:.1%} of the machine's CPU time"
    adds = f" (the run itself adds about {the_run_adds}; more means other work shared the CPUs)"
    return [
        f"load average (1, 5, 15 min) before / after the run: {before} / {after}"
        + (adds if the_run_adds else ""),
        f"hypervisor steal during the run: {steal}",
    ]


def environment(
    load_before: tuple[float, ...],
    ticks: list[int],
    pg: str | None,
    packages: Sequence[str],
    servers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Versions, machine and load, as recorded in the report and the JSON; ``servers``
    names other services' versions (``{"Redis server": "7.0.15"}``)."""
    env = {
        "python": platform.python_version(),
        "git": git_state(),
        "packages": {p: version(p) for p in packages},
        "sqlite_library": sqlite3.sqlite_version,
        "postgresql_server": postgres_version(pg) if pg else None,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1_5_15": {"before": load_before, "after": os.getloadavg()},
        "steal_share": steal_share(ticks, cpu_ticks()),
    }
    if servers:
        env["servers"] = servers
    return env


def environment_block(env: dict[str, Any]) -> str:
    """The environment as a fenced text block."""
    servers = "".join(f", {name} {v}" for name, v in env.get("servers", {}).items())
    lines = [
        f"CPU: {env['cpu']} ({env['cpu_count']} logical CPUs), {env['platform']}",
        f"AzuraForge at commit {env['git']}",
        f"Python {env['python']}, SQLite library {env['sqlite_library']}, PostgreSQL server "
        f"{env['postgresql_server'] or '(not used)'}{servers}",
        "packages: " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
        *load_and_steal_lines(env),
        "no BLAS in these code paths (NumPy only computes the medians and percentiles)",
    ]
    return "```text\n" + "\n".join(lines) + "\n```"


def blas_pools() -> list[dict[str, Any]]:
    """The BLAS libraries loaded (NumPy's, and SciPy's where a peer brings it), as
    threadpoolctl sees them now, each named by the package that ships it."""
    return [
        {"package": Path(p["filepath"]).parent.name.removesuffix(".libs"),
         **{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}}
        for p in threadpool_info() if p["user_api"] == "blas"
    ]  # fmt: skip


def blas_line(report: dict[str, Any]) -> str:
    """The BLAS libraries (threadpoolctl, ``report["blas"]``), their threads and the
    variables that chose their kernels (``report["env"]``)."""
    kernels = "; ".join(
        f"{p['package']}'s {p['internal_api']} {p['version']} ({p['architecture']} kernel, "
        f"{p['num_threads']} thread)"
        for p in report["blas"]
    )
    chosen = ", ".join(
        f"{k}={v if v is not None else '(unset)'}" for k, v in report["env"].items()
    )
    return f"BLAS (threadpoolctl): {kernels or 'none found'}; {chosen}"


def write_section(path: Path, text: str, bounds: tuple[str, str]) -> None:
    """Replace the section of ``path`` between the markers ``bounds`` (or append it; create
    the file if missing)."""
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = doc.find(bounds[0]), doc.find(bounds[1])
    if start != -1 and end > start:
        doc = doc[:start] + text + doc[end + len(bounds[1]) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc)


def publish(
    name: str,
    args: argparse.Namespace,
    section: Callable[[dict[str, Any]], str],
    bounds: tuple[str, str],
    **report: Any,
) -> dict[str, Any]:
    """The report of benchmark ``name`` (``report``'s fields, its size as ``args.quick``
    says and the command as typed), its Markdown section printed and both written where
    ``args.out`` and ``args.json`` say; the report."""
    full = {"benchmark": name, "quick": args.quick, **report, "command": command_line()}
    text = section(full)
    print(text)
    write_outputs(full, text, bounds, args.out, args.json)
    return full


def run_numpy_report(
    name: str,
    description: str,
    argv: list[str] | None,
    sizes: dict[str, dict[str, Any]],
    measure: Callable[[dict[str, Any]], dict[str, Any]],
    section: Callable[[dict[str, Any]], str],
    bounds: tuple[str, str],
) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The main of a benchmark that computes in this process with NumPy alone: its options
    (:func:`parse_report_args`), ``measure`` at the size they ask (``sizes["quick"]`` or
    ``["full"]``) with the load and CPU steal around it, the report published
    (:func:`publish`); the options and the report."""
    args = parse_report_args(description, argv, name)
    exit_on_sigterm()
    size = sizes["quick" if args.quick else "full"]
    load, ticks = os.getloadavg(), cpu_ticks()
    results = measure(size)
    report = publish(name, args, section, bounds, size=size, results=results,
                     environment=environment(load, ticks, None, ["numpy"]))  # fmt: skip
    return args, report


def write_outputs(
    report: dict[str, Any],
    text: str,
    bounds: tuple[str, str],
    out: Path | None,
    json_path: Path | None,
) -> None:
    """``text`` between ``bounds`` in ``out`` and ``report`` as JSON in ``json_path``, each
    if given, saying so."""
    if out:
        write_section(out, text, bounds)
        print(f"wrote {out}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {json_path}")

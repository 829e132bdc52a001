"""Long jobs: a stream-shaped job kept going for 10 minutes by the kernel's restarts.

``azuraforge serve`` (two local workers, the embedded SQLite store) runs one ``stream-soak``
job (:mod:`azuraforge.testing.long_jobs`: the London daily weather replayed event by event
through an online linear regression, one event a step, a checkpoint after each) for about
``--minutes``. Its restart policy restarts it past a memory limit (a burst of steps in the
middle keeps 64 KiB each alive) and on schedule (``restart_every``); once, this script
kills the job's process (SIGKILL), a crash the kernel restarts after its backoff.

Correctness first (the script exits 1 otherwise): the job completes; every step's metric is
stored exactly once (no step lost, none done twice); its result (the model's weights and
running errors) equals a replay of the same events with no restart at all. Reported: how
often and why it restarted, how long each restart kept the job from running (from its
hand-back to its next claim), and the model's MAE beside persistence's.

Usage::

    .venv/bin/python benchmarks/long_jobs.py [--minutes 10] [--out docs/benchmarks.md]
        [--json benchmarks/results/long_jobs.json]

``tests/platform/jobs/test_transports.py`` runs the same job for seconds on both transports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from harness import ROOT, cpu_ticks, environment, environment_block, write_outputs
from platform_live import ProcessGroups, child_environment, serve

START, END = "<!-- long_jobs:start -->", "<!-- long_jobs:end -->"
STEP_SECONDS = 0.02
TARGET = "mean_temp"
CSV = Path("weather") / "london_daily_1979_2020.csv"


def write_plugin(folder: Path) -> Path:
    """Distribution ``af-bench-soak`` declaring the job kind ``stream-soak``."""
    info = folder / "af_bench_soak-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: af-bench-soak\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[azuraforge.job_kinds]\nstream-soak = azuraforge.testing.long_jobs:StreamSoak\n"
    )
    return folder


def data_file() -> Path:
    """The London daily weather from the first folder of ``AZURAFORGE_DATA_MIRROR`` (else
    ../shared/data) that holds it."""
    mirrors = os.environ.get("AZURAFORGE_DATA_MIRROR") or str(ROOT.parent / "shared" / "data")
    for folder in mirrors.split(os.pathsep):
        if (Path(folder) / CSV).is_file():
            return Path(folder) / CSV
    sys.exit(f"{CSV} is in no folder of AZURAFORGE_DATA_MIRROR ({mirrors})")


def soak_config(minutes: float) -> dict[str, Any]:
    """The job: enough steps for ``minutes`` at :data:`STEP_SECONDS` a step, a memory burst
    over its second quarter, a scheduled restart every quarter of the run."""
    steps = int(minutes * 60 / (STEP_SECONDS * 1.03))  # about 0.6 ms a step beside its pause
    return {
        "csv": "london.csv", "target": TARGET, "steps": steps, "step_seconds": STEP_SECONDS,
        "leak": {"bytes": 64 * 1024, "from": steps // 4, "to": steps // 2},
        "memory_limit": 160 * 2**20, "restart_every": minutes * 60 / 4, "backoff": 1.0,
        "stable_after": 10.0,
    }  # fmt: skip


def job_process(worker: str | None) -> int | None:
    """The process running the job: the child of its worker (``host:pid:id``)."""
    if not worker:
        return None
    pid = worker.split(":")[1]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def soak(minutes: float, work: Path) -> dict[str, Any]:
    """Run the job under ``azuraforge serve``; check it and say how it went."""
    from azuraforge.platform.jobs.queueing import NewJob, enqueue
    from azuraforge.platform.jobs.transport import LocalTransport
    from azuraforge.platform.store import Store
    from azuraforge.testing.long_jobs import KIND, check_soak

    home = work / "home"
    (home / "data").mkdir(parents=True)
    shutil.copy(data_file(), home / "data" / "london.csv")
    env = child_environment(write_plugin(work / "plugin"), home)
    config = soak_config(minutes)
    with ProcessGroups() as groups:
        api = serve(groups, "soak", env, work, workers=2)
        store = Store(f"sqlite:///{home / 'azuraforge.db'}")
        soak_job = NewJob("stream-soak", config, kind=KIND, requeue_lost=True)
        job = enqueue(store, LocalTransport(), soak_job)[0].id  # the serve's workers poll
        started, killed = time.monotonic(), None
        while (record := store.get_experiment(job)).status in ("queued", "running"):
            ran = time.monotonic() - started
            if killed is None and ran > minutes * 60 * 0.8 and record.status == "running":
                pid = job_process(record.worker)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed = round(ran, 1)
            if ran > minutes * 60 * 3:
                sys.exit(f"the job did not end within {3 * minutes:g} minutes: {record}")
            time.sleep(1.0)
        wall = time.monotonic() - started
        api.http.close()
    try:
        reasons = check_soak(store, job, home / "data" / "london.csv", TARGET)
    except AssertionError as e:
        sys.exit(f"the soak lost or repeated steps: {e}")
    result = store.get_experiment(job).result or {}
    return {
        "minutes": round(wall / 60, 2), "steps": config["steps"], "restarts": reasons,
        "killed_after_s": killed, "gaps_s": restart_gaps(store, job),
        "memory": [e["detail"] for e in store.get_experiment(job).restart_history or []
                   if e["reason"] == "memory"][:3],
        "mae": {"model": result.get("mae_model"), "persistence": result.get("mae_persistence")},
        "config": config,
    }  # fmt: skip


def restart_gaps(store: Any, job: int) -> dict[str, list[float]]:
    """For each reason, the seconds from each restart's hand-back to the job's next claim."""
    gaps: dict[str, list[float]] = {}
    restart: dict[str, Any] | None = None
    for event in store.list_events(experiment_id=job, kinds=["status"], limit=100_000):
        if "restart" in event.payload:
            restart = {"reason": event.payload["restart"]["reason"], "at": event.created_at}
        elif event.payload["status"] == "running" and restart is not None:
            gaps.setdefault(restart["reason"], []).append(
                round(event.created_at - restart["at"], 3)
            )
            restart = None
    return gaps


def memory_words(details: list[str]) -> str:
    """What the first memory restarts said, as a sentence (none: nothing)."""
    return f" The first memory restarts said: {'; '.join(details)}." if details else ""


def section(report: dict[str, Any]) -> str:
    soaked = report["soak"]
    rows = [
        f"| {reason} | {count} | {statistics.median(soaked['gaps_s'][reason]):.2f} | "
        f"{max(soaked['gaps_s'][reason]):.2f} |"
        for reason, count in sorted(soaked["restarts"].items())
    ]
    mae = soaked["mae"]
    config = soaked["config"]
    return "\n".join([
        START,
        "## Long jobs: a 10-minute soak (`benchmarks/long_jobs.py`)",
        "",
        textwrap.fill(
            f"One `stream-soak` job (the London daily weather replayed event by event through "
            f"an online linear regression, a checkpoint after each step) under `azuraforge "
            f"serve` with 2 local workers on SQLite: {soaked['steps']:,} steps in "
            f"{soaked['minutes']:.1f} min, {config['step_seconds']} s a step. Restarted past "
            f"its memory limit (160 MiB of its own; steps {config['leak']['from']:,}"
            f"-{config['leak']['to']:,} keep 64 KiB each), on schedule every "
            f"{config['restart_every']:.0f} s, and once after its process was killed "
            f"(SIGKILL, {soaked['killed_after_s']} s in; backoff 1 s; restarts within 10 s of "
            "a start count as crashes, 5 in a row at most). Checked: it completed, "
            "every step's metric stored exactly once, its result equal to a replay with no "
            "restart.", width=100),
        "",
        "| restart | count | median s to running again | max s |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Model MAE {mae['model']:.4f} beside persistence {mae['persistence']:.4f} "
        f"({mae['model'] / mae['persistence']:.2f}x)."
        + memory_words(soaked["memory"]),
        "",
        environment_block(report["environment"]),
        END,
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/long_jobs.json")
    args = parser.parse_args(argv)
    load, ticks = os.getloadavg(), cpu_ticks()
    with tempfile.TemporaryDirectory(prefix="af-soak-") as work:
        soaked = soak(args.minutes, Path(work))
    report = {
        "soak": soaked,
        "environment": environment(load, ticks, None, ["numpy", "sqlalchemy"]),
    }
    print(section(report))
    write_outputs(report, section(report), (START, END), args.out, args.json)


if __name__ == "__main__":
    main()

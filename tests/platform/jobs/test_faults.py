"""Faults, for real: a worker process killed mid-run, a worker whose lease was taken over,
and the store unreachable mid-run (PostgreSQL behind a proxy that a test cuts)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azuraforge.platform.jobs.context import SPOOL_NAME
from azuraforge.platform.jobs.supervision import Supervision
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import SmallDisk
from tests.platform.jobs.conftest import TcpProxy, wait_for
from tests.platform.servers import children as process_children

pytestmark = pytest.mark.slow

HEARTBEAT, LEASE_TTL, REAPER = 0.2, 1.0, 0.3
DUTY_RENEW = 0.3
"""A worker's reaper's duty is renewed that often, and lives ``LEASE_TTL`` (a killed worker
that held it leaves it to the next reaper as soon as its run's lease expires)."""
SLACK = 1.5
"""Seconds a lost run may take past its lease and the reaper's interval: the stores and the
killed process's clean-up on a busy 2-core machine (seen: 2.01 s from the kill with 0.5 s)."""


def loss_steps(store: Store, experiment_id: int) -> list[int]:
    return [s for s, _, _ in store.get_metrics(experiment_id).get("loss", [])]


class WorkerProcess:
    """``python -m azuraforge.platform.jobs.worker`` in its own process group, with short
    heartbeat, lease (``lease_ttl``) and reaper intervals; its log in ``log``; run by
    ``prefix`` when given (``faketime -f +60s``)."""

    def __init__(
        self,
        database_url: str,
        home: Path,
        logs: Path | None = None,
        prefix: tuple[str, ...] = (),
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        self.log = (logs or home) / f"worker-{time.monotonic_ns()}.log"
        home.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            AZURAFORGE_DATABASE_URL=database_url,
            AZURAFORGE_HOME=str(home),
            AZURAFORGE_SETTINGS_FILE=str(home / "no-settings.toml"),
            AZURAFORGE_HEARTBEAT_INTERVAL=str(HEARTBEAT),
            AZURAFORGE_LEASE_TTL=str(lease_ttl),
            AZURAFORGE_REAPER_INTERVAL=str(REAPER),
            AZURAFORGE_DUTY_TTL=str(LEASE_TTL),
            AZURAFORGE_DUTY_RENEW_INTERVAL=str(DUTY_RENEW),
            AZURAFORGE_POLL_INTERVAL="0.05",
            AZURAFORGE_FLUSH_INTERVAL="0.02",
        )
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*prefix, sys.executable, "-m", "azuraforge.platform.jobs.worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: the run it forks dies with it
            )

    @property
    def name_prefix(self) -> str:
        """The start of its worker name (``host:pid:``)."""
        return f"{socket.gethostname()}:{self.process.pid}:"

    def kill(self) -> None:
        """SIGKILL the worker and the run it forked, at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def group_alive(self) -> bool:
        """Whether any process of its group (the worker, the run it forked) is left."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_worker(sleeper: Path, tmp_path: Path) -> Iterator[type[WorkerProcess]]:
    started: list[WorkerProcess] = []

    class Started(WorkerProcess):
        def __init__(
            self, database_url: str, home: Path = tmp_path / "home", logs: Path | None = None
        ) -> None:
            super().__init__(database_url, home, logs)
            started.append(self)

    yield Started
    for worker in started:
        worker.kill()


def test_a_killed_worker_is_reaped_lost_and_keeps_every_flushed_metric(
    store: Store, settings: Settings, database_url: str, start_worker: type[WorkerProcess]
) -> None:
    run = store.create_experiment("sleeper", {"steps": 100_000, "sleep": 0.01}).id
    worker = start_worker(database_url)
    wait_for(lambda: len(loss_steps(store, run)) >= 20, timeout=15)
    record = store.get_experiment(run)
    assert record.status == "running" and record.worker is not None
    assert record.worker.startswith(worker.name_prefix)

    worker.kill()
    killed = time.monotonic()
    wait_for(lambda: not worker.group_alive(), timeout=5)  # the forked run died too
    flushed = store.get_metrics(run)
    # A second worker's reaper (in this process) finds the expired lease.
    reaper = Worker(settings, store)
    while store.get_experiment(run).status == "running":
        assert time.monotonic() - killed < LEASE_TTL + settings.reaper_interval + SLACK
        reaper.reap()
        time.sleep(0.02)
    took = time.monotonic() - killed

    lost = store.get_experiment(run)
    assert lost.status == "lost", lost
    assert took <= LEASE_TTL + settings.reaper_interval + SLACK
    assert lost.error is not None
    assert lost.error.startswith(f"worker {record.worker} stopped renewing its lease; ")
    assert "last heartbeat" in lost.error
    after = store.get_metrics(run)
    # Everything flushed before the kill is there; nothing was written after it; no gaps.
    assert after == flushed
    assert loss_steps(store, run) == list(range(1, len(flushed["loss"]) + 1))
    assert len(after["val_loss"]) == len(after["loss"])


def test_a_worker_whose_lease_was_taken_over_writes_nothing_more(
    store: Store, database_url: str, start_worker: type[WorkerProcess]
) -> None:
    config = {"steps": 100_000, "sleep": 0.01}
    run = store.create_experiment("sleeper", config, requeue_lost=True).id
    worker = start_worker(database_url)
    wait_for(lambda: len(loss_steps(store, run)) >= 10, timeout=15)
    [job] = process_children(worker.process.pid)  # the run's process

    # A reaper whose clock runs ahead takes the lease of the (healthy) worker; another
    # worker claims the run right away.
    assert store.reap_expired(now=time.time() + 60) == [(run, "queued")]
    lease = store.claim(run, "usurper", 30.0)
    assert lease is not None and lease.epoch == 3  # claimed, reaped, claimed
    written = store.get_metrics(run)
    events = store.list_events(experiment_id=run, limit=100_000)

    wait_for(lambda: "no longer held" in worker.output(), timeout=5)
    # The run's process killed (the idle worker may have forked the next one ahead since).
    wait_for(lambda: job not in process_children(worker.process.pid), timeout=5)
    time.sleep(3 * HEARTBEAT)
    assert worker.process.poll() is None  # the worker itself goes on
    assert store.get_metrics(run) == written
    assert store.list_events(experiment_id=run, limit=100_000) == events
    record = store.get_experiment(run)
    assert (record.status, record.lease_owner, record.lease_epoch) == ("running", "usurper", 3)

    store.log_metrics(lease, [("loss", 1, 0.125, time.time())])
    store.finish(lease, "completed")
    done = store.get_experiment(run)
    assert (done.status, done.worker, done.attempts) == ("completed", "usurper", 2)


def test_a_store_unreachable_mid_run_loses_no_metric(
    postgres_url: str, postgres_proxy: TcpProxy, tmp_path: Path, sleeper: Path
) -> None:
    direct = Store(postgres_url)
    settings = Settings(
        home=tmp_path / "home",
        database_url=postgres_proxy.url(postgres_url),
        heartbeat_interval=0.5,
        lease_ttl=10.0,  # outlives the outage: the run keeps its lease
        reaper_interval=0.5,
        poll_interval=0.05,
        flush_interval=0.02,
    )
    total = 80
    run = direct.create_experiment("sleeper", {"steps": total, "sleep": 0.04}).id
    spool = settings.work_dir / str(run) / SPOOL_NAME
    seen: dict[str, object] = {}

    def outage() -> None:
        wait_for(lambda: len(loss_steps(direct, run)) >= 10)
        postgres_proxy.cut()
        seen["cut_at_step"] = len(loss_steps(direct, run))
        seen["spooled"] = wait_for(spool.exists, timeout=2)
        time.sleep(2.0)
        seen["steps_during_outage"] = len(loss_steps(direct, run))
        postgres_proxy.restore()

    cutter = threading.Thread(target=outage)
    worker = Worker(settings)
    try:
        cutter.start()
        ended = worker.run_one(run)  # this run: the database may hold older queued ones
    finally:
        cutter.join()
        postgres_proxy.restore()
        worker.store.close()
    assert ended == Supervision("completed")
    assert seen["spooled"] is True and postgres_proxy.refused > 0
    assert seen["cut_at_step"] == seen["steps_during_outage"] < total  # a real gap, mid-run
    record = direct.get_experiment(run)
    assert (record.status, record.progress, record.error) == ("completed", 1.0, None)
    curves = direct.get_metrics(run)
    for key, scale in (("loss", 1.0), ("val_loss", 2.0)):
        assert [(s, v) for s, v, _ in curves[key]] == [(s, scale / s) for s in range(1, total + 1)]
    assert not spool.exists()
    direct.close()


@pytest.mark.parametrize(
    ("signum", "group"),
    [
        (signal.SIGTERM, False),  # what the local worker pool sends
        (signal.SIGINT, True),  # Ctrl-C in a terminal: the whole foreground group
        (signal.SIGTERM, True),  # a service manager stopping the worker's group
    ],
)
def test_a_stopped_worker_stops_its_run_saying_why_and_exits(
    store: Store,
    database_url: str,
    start_worker: type[WorkerProcess],
    signum: signal.Signals,
    group: bool,
) -> None:
    run = store.create_experiment("sleeper", {"steps": 100_000, "sleep": 0.01}).id
    worker = start_worker(database_url)
    wait_for(lambda: len(loss_steps(store, run)) >= 5, timeout=15)
    if group:
        os.killpg(worker.process.pid, signum)
    else:
        worker.process.send_signal(signum)
    assert worker.process.wait(5) == 0, worker.output()
    record = store.get_experiment(run)
    assert (record.status, record.error) == (
        "cancelled",
        "stopped because its worker was shut down",
    ), worker.output()
    assert record.cancel_requested_at is None  # no one asked: the worker's end is said
    assert record.result is not None  # the pipeline stopped at a step and reported
    assert loss_steps(store, run) == list(range(1, len(loss_steps(store, run)) + 1))


def run_during(
    settings: Settings, run: int, outage: Callable[[], None], undo: Callable[[], None]
) -> Supervision | None:
    """How a worker of ``settings`` in this process ran ``run`` while ``outage`` ran in a
    thread; ``undo`` (the outage undone) runs after, whatever happened."""
    cutter = threading.Thread(target=outage)
    worker = Worker(settings)
    try:
        cutter.start()
        return worker.run_one(run)
    finally:
        cutter.join()
        undo()
        worker.store.close()


def test_a_run_on_a_full_disk_with_its_store_away_loses_no_metric(
    postgres_url: str,
    postgres_proxy: TcpProxy,
    small_disk: SmallDisk,
    sleeper: Path,
    tmp_path: Path,
) -> None:
    """With the home's disk full for 48 s, a run completed 30/30 epochs but step 6 of every
    metric was missing: the spool failed (ENOSPC, a traceback in a thread)."""
    direct = Store(postgres_url)
    settings = Settings(
        home=small_disk.path / "home",
        database_url=postgres_proxy.url(postgres_url),
        heartbeat_interval=0.5,
        lease_ttl=10.0,  # outlives the outage: the run keeps its lease
        poll_interval=0.05,
        flush_interval=0.02,
    )
    total, freed = 100, tmp_path / "freed"  # its last step and report wait for the free disk
    config = {"steps": total, "sleep": 0.04, "last_step_after": str(freed)}
    run = direct.create_experiment("sleeper", config).id
    seen: dict[str, int] = {}

    def outage() -> None:
        try:
            wait_for(lambda: len(loss_steps(direct, run)) >= 10)
            small_disk.fill()
            postgres_proxy.cut()
            seen["cut_at_step"] = len(loss_steps(direct, run))
            time.sleep(1.5)  # the spool refused what the store could not take
            postgres_proxy.restore()  # the disk still full: the points come from memory
            wait_for(lambda: len(loss_steps(direct, run)) > seen["cut_at_step"] + 1)
            small_disk.free()
        finally:
            freed.touch()

    def undo() -> None:
        postgres_proxy.restore()
        small_disk.free()

    ended = run_during(settings, run, outage, undo)
    record = direct.get_experiment(run)
    assert (record.status, record.error) == ("completed", None)
    assert ended == Supervision("completed")
    assert seen["cut_at_step"] < total
    curves = direct.get_metrics(run)
    for key, scale in (("loss", 1.0), ("val_loss", 2.0)):
        assert [(s, v) for s, v, _ in curves[key]] == [(s, scale / s) for s in range(1, total + 1)]
    logged = [e.payload["message"] for e in direct.list_events(experiment_id=run, kinds=["log"])]
    assert any("the spool cannot take metric points either" in line for line in logged)
    direct.close()


def test_a_run_whose_store_disk_stays_full_past_its_lease_ends_failed_naming_it(
    sqlite_template: Path, store_disk: SmallDisk, sleeper: Path
) -> None:
    """The home (its SQLite store, the run's folder) on a disk full for longer than a lease
    lives: the run ended lost, "stopped renewing its lease", nothing said the disk was full,
    and the points it logged meanwhile were gone. Its worker cannot renew the lease on that
    disk, so the run stops once the disk was full for ``lease_ttl`` and, when the disk has
    room again, ends failed saying why, every point it logged kept."""
    home = store_disk.path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "azuraforge.db")
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'azuraforge.db'}",
        heartbeat_interval=0.2,
        lease_ttl=1.0,
        poll_interval=0.05,
        flush_interval=0.02,
    )
    direct = Store(settings.database_url)
    run = direct.create_experiment("sleeper", {"steps": 500, "sleep": 0.02}).id  # 10 s or more

    def outage() -> None:
        # Not inside SQLite while the worker forks the run's process (its first moments): a
        # fork then leaves SQLite's mutex held in the child, whose flusher hung in
        # sqlite3_open (a CI run, once).
        time.sleep(1.0)
        wait_for(lambda: len(loss_steps(direct, run)) >= 10, timeout=15)
        store_disk.fill()
        time.sleep(3 * settings.lease_ttl)
        store_disk.free()

    ended = run_during(settings, run, outage, store_disk.free)
    record = direct.get_experiment(run)
    assert record.status == "failed", (record.status, record.error)
    assert ended == Supervision("failed")
    assert record.error is not None and record.error.startswith(
        "the disk of the store was full (database or disk is full) for "
    ), record.error
    assert record.error.endswith(
        "s, as long as its lease lives: the run's worker could not renew it, so the run "
        "stopped; free space on that disk"
    ), record.error
    logged = loss_steps(direct, run)
    assert logged == list(range(1, len(logged) + 1))  # none missing
    assert record.progress_message == f"step {logged[-1]}"  # none after the last one kept
    lines = [e.payload["message"] for e in direct.list_events(experiment_id=run, kinds=["log"])]
    assert any("the store's disk is full" in line for line in lines), lines
    direct.close()

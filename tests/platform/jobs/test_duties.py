"""Duties run on one process of a store at a time: of two processes offering one, one runs
it, and the other takes it over within seconds once the first is SIGKILLed (not before its
lease lapsed); a holder cut off from the store stops before another can take the duty, so
the two never run it at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azuraforge.platform.jobs.duties import Duties, Duty, DutyLease
from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.store import Store
from tests.platform.fixtures import SHORT, short_settings
from tests.platform.jobs.conftest import TcpProxy, wait_for

TTL, RENEW = SHORT["duty_ttl"], SHORT["duty_renew_interval"]
"""The duty's lease, and how often it is renewed (seconds: the tests' short settings)."""
EVERY = 0.02
"""Seconds between two runs of the duty's task."""
SLACK = 1.5
"""Seconds a takeover may take past the lease and a renewal on a busy 2-core machine."""

OFFER = """
import os, signal, sys, time
from azuraforge.platform.jobs.duties import Duties, Duty, DutyLease
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

settings = Settings()
store = Store(settings.database_url)
log = sys.argv[1]


def task():
    with open(log, "a") as out:
        out.write(f"{os.getpid()} {time.time()}\\n")


lease = DutyLease(store, "test", f"holder-{os.getpid()}", settings)
duties = Duties(settings, [Duty(lease, float(sys.argv[2]), task)])
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
duties.start()
open(f"{log}.{os.getpid()}", "w").close()
signal.sigwait([signal.SIGTERM])
duties.stop()
"""
"""A process offering the duty ``test``, whose task appends ``pid time`` to a log."""


@pytest.fixture
def offer(
    tmp_path: Path, database_url: str
) -> Iterator[Callable[[int], list[subprocess.Popen[bytes]]]]:
    """Starts processes offering the duty ``test`` (logging their passes to
    ``tmp_path/passes.log``), all at once; once each offers it, the processes."""
    started: list[subprocess.Popen[bytes]] = []
    env = settings_environment(short_settings(database_url, tmp_path / "home"))
    log = tmp_path / "passes.log"

    def start(count: int) -> list[subprocess.Popen[bytes]]:
        command = [sys.executable, "-c", OFFER, str(log), str(EVERY)]
        processes = [subprocess.Popen(command, env=env) for _ in range(count)]
        started.extend(processes)
        for process in processes:
            wait_for(lambda p=process: Path(f"{log}.{p.pid}").exists() or p.poll(), 30)
            assert process.poll() is None, "a process offering the duty exited"
        return processes

    yield start
    for process in started:
        process.kill()
        process.wait()


def passes(log: Path) -> list[tuple[int, float]]:
    """The passes logged: ``(pid, time)``, in order."""
    if not log.exists():
        return []
    return [(int(pid), float(at)) for pid, at in (line.split() for line in log.open())]


def test_one_of_two_processes_runs_a_duty_and_the_other_takes_it_over_once_it_is_killed(
    offer: Callable[[int], list[subprocess.Popen[bytes]]], tmp_path: Path, store: Store
) -> None:
    log = tmp_path / "passes.log"
    processes = offer(2)
    offered = time.time()
    # Each asks for the duty every RENEW seconds; one takes it and keeps it.
    wait_for(lambda: passes(log) and passes(log)[-1][1] > offered + 2 * TTL, timeout=10)
    (holder,) = {pid for pid, _ in passes(log)}
    (first,) = [p for p in processes if p.pid == holder]
    (second,) = [p for p in processes if p.pid != holder]
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = time.time()
    wait_for(lambda: second.pid in {pid for pid, _ in passes(log)}, timeout=TTL + RENEW + 10)
    taken = min(at for pid, at in passes(log) if pid == second.pid) - killed
    # Not before the first's lease lapsed (it was renewed at most RENEW before the kill),
    # and within a lease and a renewal after it.
    assert TTL - RENEW - 0.05 < taken < TTL + RENEW + SLACK
    second.send_signal(signal.SIGTERM)  # a clean stop hands the duty back
    assert second.wait(timeout=10) == 0
    assert store.hold_duty("test", "another", TTL) == 3  # at once: the third holder


def test_a_holder_cut_off_from_the_store_stops_before_another_takes_the_duty_over(
    postgres_url: str, postgres_proxy: TcpProxy, tmp_path: Path
) -> None:
    settings = short_settings(postgres_url, tmp_path / "home")
    duty = f"test-{uuid.uuid4().hex[:8]}"  # the session's database keeps other tests' duties
    ran: list[tuple[str, float]] = []
    stores = {"cut off": Store(postgres_proxy.url(postgres_url)), "direct": Store(postgres_url)}
    offered = {
        who: Duties(settings, [Duty(DutyLease(store, duty, who, settings), EVERY,
                                    lambda who=who: ran.append((who, time.monotonic())))])
        for who, store in stores.items()
    }  # fmt: skip
    try:
        offered["cut off"].start()
        wait_for(lambda: ran)
        offered["direct"].start()
        since = time.monotonic()
        wait_for(lambda: ran[-1][1] > since + 2 * TTL, timeout=10)
        assert {who for who, _ in ran} == {"cut off"}
        postgres_proxy.cut()
        cut = time.monotonic()
        wait_for(lambda: ran[-1][0] == "direct", timeout=TTL + RENEW + 10)
        last = max(at for who, at in ran if who == "cut off")
        first = min(at for who, at in ran if who == "direct")
        # The holder stopped by its own clock, within a lease less a renewal of the cut (its
        # last renewal was before it); the other took over only a renewal's time later.
        assert last < cut + TTL - RENEW + EVERY
        assert first - last > RENEW / 2
        assert first - cut < TTL + RENEW + SLACK
    finally:
        for duties in offered.values():
            duties.stop()
        for store in stores.values():
            store.close()

"""One clock for leases, the database's: a reaper whose machine's clock runs 60 s ahead takes
no live lease, one whose clock runs 60 s behind takes a dead one back on time, and a worker
60 s behind keeps the lease it renews. The skewed process is a real worker under Debian's
``faketime``; this process holds the other leases (renewed, or left to lapse), or reaps, on
the same PostgreSQL store.

PostgreSQL only: SQLite runs inside each process that opens the file, so its clock is that
process's, and ``faketime`` moves it with the process. A SQLite file is shared by processes
of one machine only, which read one clock; there is no second clock for a test to skew.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azuraforge.platform.store import Lease, Store
from tests.platform.jobs.conftest import wait_for
from tests.platform.jobs.test_faults import WorkerProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


@pytest.fixture(scope="module", autouse=True)
def _faketime() -> None:
    """The skewed processes run under Debian's faketime: without it these tests fail saying
    so (``make test`` and ``.ci/run`` install it), they do not skip."""
    if shutil.which("faketime") is None:
        pytest.fail(
            "the skewed-clock tests need Debian's faketime: apt-get install faketime "
            "(make test installs it when run as root on Debian)",
            pytrace=False,
        )


LIVE_TTL, RENEW_EVERY, DEAD_TTL = 2.0, 0.2, 0.5
WORKER_TTL = 5.0
"""The lease the skewed worker renews: long enough that a loaded machine's stall of a second
or two takes no lease back from a live worker, far under the 60 s skew that a reaper judging
by either clock alone would get wrong."""
ON_TIME = 10.0
"""Seconds a dead lease may take to be reaped: its ``DEAD_TTL``, a few reaper passes and a
worker's start on a busy 2-core machine; far under the 60 s skew, which a reaper judging by
its own clock would wait out."""


@pytest.fixture
def start_reaper(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """Start a worker under ``faketime -f <skew>``: the reaper (with nothing queued to run),
    or the worker of what is queued."""
    started: list[WorkerProcess] = []

    def start(skew: str) -> None:
        home = tmp_path / f"reaper{len(started)}"
        skewed = WorkerProcess(database_url, home, prefix=("faketime", "-f", skew),
                               lease_ttl=WORKER_TTL)  # fmt: skip
        started.append(skewed)

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def renewing(store: Store) -> Iterator[Callable[[Lease], None]]:
    """Keep leases alive from this process (a worker on a true clock), every ``RENEW_EVERY``
    seconds, until the test ends."""
    held: list[Lease] = []
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(RENEW_EVERY):
            for lease in held:
                store.renew(lease, LIVE_TTL)

    thread = threading.Thread(target=keep, daemon=True)
    thread.start()
    yield held.append
    stop.set()
    thread.join(10)


def claimed(store: Store, owner: str, ttl: float) -> Lease:
    run = store.create_experiment("sleeper", {})
    lease = store.claim(run.id, owner, ttl)
    assert lease is not None
    return lease


def reaped(store: Store, lease: Lease) -> bool:
    return store.get_experiment(lease.experiment_id).status == "lost"


def test_a_reaper_running_ahead_takes_no_live_lease(
    store: Store, start_reaper: Callable[[str], None], renewing: Callable[[Lease], None]
) -> None:
    live = claimed(store, "true-clock:1:live", LIVE_TTL)
    renewing(live)
    dead = claimed(store, "true-clock:1:dead", DEAD_TTL)
    start_reaper("+60s")

    wait_for(lambda: reaped(store, dead), timeout=ON_TIME)  # the reaper works...
    later = claimed(store, "true-clock:1:later", DEAD_TTL)
    wait_for(lambda: reaped(store, later), timeout=ON_TIME)  # ...and passed again since

    record = store.get_experiment(live.experiment_id)
    assert (record.status, record.lease_owner, record.lease_epoch) == (
        "running", live.owner, live.epoch,
    )  # fmt: skip
    assert store.renew(live, LIVE_TTL) is False  # still held: no LeaseLostError


def test_a_reaper_running_behind_takes_a_dead_lease_back_on_time(
    store: Store, start_reaper: Callable[[str], None]
) -> None:
    dead = claimed(store, "true-clock:1:dead", DEAD_TTL)
    start_reaper("-60s")

    wait_for(lambda: reaped(store, dead), timeout=ON_TIME)
    record = store.get_experiment(dead.experiment_id)
    assert record.error is not None and "stopped renewing its lease" in record.error
    assert record.finished_at is not None and record.started_at is not None
    # Its end is stamped by the database's clock, not the reaper's 60 s behind.
    assert 0 < record.finished_at - record.started_at < ON_TIME


def test_a_worker_running_behind_keeps_the_lease_it_renews(
    store: Store, sleeper: Path, start_reaper: Callable[[str], None]
) -> None:
    run = store.create_experiment("sleeper", {"steps": 40, "sleep": 0.05}).id  # ~2 s
    start_reaper("-60s")  # its worker runs the job, renewing every HEARTBEAT for LEASE_TTL

    wait_for(lambda: store.get_experiment(run).status != "queued", timeout=ON_TIME)
    taken = []
    while store.get_experiment(run).status == "running":  # reaped by the true clock meanwhile
        taken += [reaped for reaped in store.reap_expired() if reaped[0] == run]
        time.sleep(0.05)
    record = store.get_experiment(run)
    assert (taken, record.status, record.lease_epoch) == ([], "completed", 1)

"""The local worker pool shares the cores out: each worker's BLAS may start its share of
threads, unless the user said how many; streams run in worker processes of their own, started
for them, so runs never wait behind them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from azuraforge.platform.jobs.local import (
    BLAS_THREAD_VARIABLES,
    LocalWorkerPool,
    blas_threads,
    settings_environment,
)
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.wake import WAKE_FILE
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.platform.store.states import COMPLETED, FINISHED_STATES, QUEUED, RUNNING
from tests.platform.jobs.conftest import wait_for


def environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def test_each_worker_gets_its_share_of_blas_threads_and_none_of_the_servers_keys(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's processes get the server's keys (they sign sessions, answer scrapes); the
    workers, whose jobs run users' code, do not, even from the environment."""
    for name in BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    monkeypatch.setenv("AZURAFORGE_METRICS_TOKEN", KEY)
    settings = settings.model_copy(
        update={"metrics_token": SecretStr(KEY), "session_key": [SecretStr(KEY)]}
    )
    api = settings_environment(settings)
    assert api["AZURAFORGE_METRICS_TOKEN"] == KEY and KEY in api["AZURAFORGE_SESSION_KEY"]
    pool = LocalWorkerPool(settings, 2)
    pool.start()
    try:
        envs = [wait_for(lambda p=p: environment(p.pid)) for p in pool.processes]
    finally:
        pool.stop()
    share = str(blas_threads(2))
    for env in envs:
        assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == share
        assert env["MKL_NUM_THREADS"] == "7"
        assert not any(KEY in value for value in env.values())


KEY = "k" * 40
"""A server key (the scrape token, the session key) in the tests above."""


def test_streams_run_in_workers_of_their_own_and_leave_the_pool_to_runs(
    settings: Settings, store: Store, sleeper: Path
) -> None:
    pool = LocalWorkerPool(settings, 1)
    transport = LocalTransport(settings.home / WAKE_FILE)
    paced = {"source": "btc-hourly", "speed": 3600 * 200.0, "drift": None}
    streams = [
        start_stream(store, transport, settings, paced).id,
        start_stream(store, transport, settings, {**paced, "restart_every": 1.0}).id,
    ]
    run = store.create_experiment("sleeper", {"steps": 10, "sleep": 0.01}).id
    transport.submit(run)
    pool.start()
    try:
        ran = wait_for(lambda: record_when(store, run, lambda r: r.status in FINISHED_STATES), 60)
        assert ran.status == COMPLETED  # the one worker was not held by a stream
        running = [
            wait_for(lambda s=s: record_when(store, s, lambda r: r.status == RUNNING), 60)
            for s in streams
        ]
        workers = {ran.worker, *(r.worker for r in running)}
        assert (
            len(workers) == 3
            and pool.jobs is not None
            and set(pool.jobs.processes) == set(streams)
        )
        # Restarted on schedule: queued again, and taken again by its own worker process.
        again = wait_for(lambda: record_when(store, streams[1], restarted), 60)
        assert again.worker == running[1].worker and again.attempts >= 2
        assert pool.jobs.processes[streams[1]].pid == int(str(again.worker).split(":")[1])
    finally:
        pool.stop()
    for stream in streams:  # shut down: queued again for the next serve, not cancelled
        ended = store.get_experiment(stream)
        assert ended.status == QUEUED and "shut down" in str(ended.error), ended


def restarted(record: ExperimentRecord) -> bool:
    return record.status == RUNNING and bool(record.restart_history)


def record_when(
    store: Store, job: int, holds: Callable[[ExperimentRecord], object]
) -> ExperimentRecord | None:
    """The job's row once ``holds`` is true of it (for :func:`wait_for`)."""
    record = store.get_experiment(job)
    return record if holds(record) else None

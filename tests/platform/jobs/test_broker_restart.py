"""A Celery broker that forgets, for real: a redis-server of the test's own, keeping nothing on
disk, killed and started again with the runs' messages still in it (the machine's shared
Redis is never touched). The store is the queue of record: a queued job whose message is gone
is sent again by a worker's reaper."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from azuraforge.platform.jobs.celery_transport import CeleryTransport
from azuraforge.platform.jobs.celery_worker import resend_forgotten
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.states import COMPLETED
from azuraforge.testing import WorkerProcesses
from tests.platform.fixtures import short_settings
from tests.platform.jobs.conftest import wait_for
from tests.platform.jobs.test_transports import CELERY_WORKER, worker_environment
from tests.platform.servers import free_port

pytestmark = pytest.mark.slow


class ForgetfulRedis:
    """``redis-server`` on a free port of 127.0.0.1 that saves nothing (no RDB, no AOF): once
    :meth:`restart` ed, it holds no message."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.folder)]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for(self._answers)
        return process

    def _answers(self) -> bool:
        client = redis.Redis.from_url(self.url)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def restart(self) -> None:
        """Kill the server (SIGKILL: nothing saved) and start it again on its port, empty."""
        self.stop()
        self.process = self._start()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def forgetful_redis(tmp_path: Path) -> Iterator[ForgetfulRedis]:
    server = ForgetfulRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def celery_settings(
    database_url: str, tmp_path: Path, forgetful_redis: ForgetfulRedis
) -> Settings:
    # A lease of 10 s: a worker's first claim, seconds after its task's delivery on a busy
    # machine, is not taken for a message held by a dead worker (sent again).
    return short_settings(database_url, tmp_path / "home", transport="celery",
                          broker_url=forgetful_redis.url, resend_after=0.5,
                          lease_ttl=10.0)  # fmt: skip


@pytest.fixture
def transport(celery_settings: Settings) -> Iterator[CeleryTransport]:
    transport = CeleryTransport(celery_settings)
    yield transport
    transport.close()


def test_only_a_job_whose_message_the_broker_forgot_is_sent_again(
    store: Store,
    celery_settings: Settings,
    transport: CeleryTransport,
    forgetful_redis: ForgetfulRedis,
) -> None:
    waiting = store.create_experiment("sleeper", {"steps": 1}).id
    transport.submit(waiting)
    time.sleep(celery_settings.resend_after)
    assert resend_forgotten(transport.app, store, celery_settings) == []  # its task waits
    forgetful_redis.restart()
    fresh = store.create_experiment("sleeper", {"steps": 1}).id  # queued too recently
    assert resend_forgotten(transport.app, store, celery_settings) == [waiting]
    assert resend_forgotten(transport.app, store, celery_settings) == []  # held again
    time.sleep(celery_settings.resend_after)
    assert resend_forgotten(transport.app, store, celery_settings) == [fresh]  # never sent


def test_runs_queued_when_the_broker_restarted_without_its_data_run_once(
    store: Store,
    celery_settings: Settings,
    transport: CeleryTransport,
    forgetful_redis: ForgetfulRedis,
    sleeper_path: Path,
    tmp_path: Path,
) -> None:
    """Two runs stayed ``queued`` for good (346 s, and after a worker restart too)."""
    runs = [store.create_experiment("sleeper", {"steps": 2}).id for _ in range(2)]
    for run in runs:
        transport.submit(run)
    forgetful_redis.restart()  # no worker had taken them: their messages are gone
    environment = worker_environment(celery_settings, sleeper_path)
    workers = WorkerProcesses([sys.executable, "-c", CELERY_WORKER], environment, slots=2,
                              log_dir=tmp_path / "logs")  # fmt: skip
    workers.start(1)
    deadline = time.monotonic() + 60
    try:
        while not all(store.get_experiment(r).status == COMPLETED for r in runs):
            assert time.monotonic() < deadline, workers.log_tail()
            time.sleep(0.2)
    finally:
        workers.stop()
    assert [store.get_experiment(run).attempts for run in runs] == [1, 1]
    assert workers.log_tail(400).count("queued but its task was gone from the broker") == 2


TAKER = """
import sys, time
from kombu import Connection

with Connection(sys.argv[1]) as connection:
    connection.SimpleQueue(sys.argv[2]).get(timeout=30)  # delivered, never acknowledged
    print("taken", flush=True)
    time.sleep(600)
"""
"""A consumer that takes one message of the queue and holds it, as a Celery worker does with
the task it prefetched or runs, until it is killed."""


def test_a_job_whose_message_a_killed_worker_held_is_sent_again(
    store: Store, celery_settings: Settings, transport: CeleryTransport
) -> None:
    """Its message stays delivered and unacknowledged in Redis (given back after an hour, the
    visibility time-out): a job of the replica benchmark waited so, queued, after a Celery
    worker pool was SIGKILLed."""
    held = store.create_experiment("sleeper", {"steps": 1}).id
    transport.submit(held)
    settings = celery_settings.model_copy(update={"lease_ttl": 1.0})  # a delivery's time
    time.sleep(settings.resend_after)  # queued that long: due to be looked at
    queue = transport.app.conf.task_default_queue
    taker = subprocess.Popen([sys.executable, "-c", TAKER, celery_settings.broker_url, queue],
                             stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert taker.stdout is not None and taker.stdout.readline() == b"taken\n"
        assert resend_forgotten(transport.app, store, settings) == []  # delivered now
        taker.kill()
        taker.wait()
        time.sleep(settings.lease_ttl)
        assert resend_forgotten(transport.app, store, settings) == [held]
        assert resend_forgotten(transport.app, store, settings) == []  # waiting again
    finally:
        taker.kill()
        taker.wait()

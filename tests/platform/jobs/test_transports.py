"""TransportContract over both transports with real workers: local on SQLite (the embedded
default), Celery on PostgreSQL (the cluster). Each transport runs on one database: what the
dialect changes underneath, the lease protocol, is the store's, whose tests run on both.

Local: two ``python -m azuraforge.platform.jobs.worker`` processes. Celery: two Celery
workers (prefork pool, two processes each) on the machine's Redis, in a database of the
server this session claims, emptied after each class and at the end. Workers and stores
live for a class (one per transport), so the workers start once per class.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from sqlalchemy import create_engine, text

from azuraforge.errors import TransportUnavailableError
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.celery_transport import TASK_NAME, CeleryTransport
from azuraforge.platform.jobs.celery_worker import make_celery_app
from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.jobs.queueing import NewJob, enqueue
from azuraforge.platform.jobs.transport import LocalTransport, Transport
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.services.streams.loop import TURBULENT, tuned_candidate
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.platform.store.states import (
    CANCELLED,
    COMPLETED,
    FAILED,
    FINISHED_STATES,
    QUEUED,
    RUNNING,
)
from azuraforge.stream import CsvReplay
from azuraforge.stream.direction import make_learner
from azuraforge.stream.shadow import ShadowLoop
from azuraforge.testing import TransportContract, WorkerProcesses
from azuraforge.testing.long_jobs import KIND, check_soak
from tests.platform.fixtures import TABLES, short_settings
from tests.platform.jobs.conftest import shared_head, soak_data, wait_for
from tests.platform.servers import free_port

REDIS_SERVER = os.environ.get("AZURAFORGE_TEST_REDIS", "redis://127.0.0.1:6379")
OWNER_KEY = "azuraforge-tests:owner"
CELERY_WORKER = (
    "from azuraforge.platform.settings import Settings\n"
    "from azuraforge.platform.jobs.celery_worker import run_celery_worker\n"
    "run_celery_worker(Settings(), concurrency=2)\n"
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A database of the test Redis server that no one else uses: the highest-numbered empty
    one, claimed with a key (which expires after an hour, should the session die); emptied at
    the end of the session."""
    try:
        count = int(redis.Redis.from_url(REDIS_SERVER).config_get("databases")["databases"])
    except redis.RedisError as e:
        pytest.fail(f"Redis at {REDIS_SERVER} is needed by the Celery tests and cannot be used "
                    f"({e}); start it (.ci/run does)", pytrace=False)  # fmt: skip
    token = uuid.uuid4().hex
    for db in range(count - 1, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_SERVER}/{db}")
        if client.dbsize() == 0 and client.set(OWNER_KEY, token, nx=True, ex=3600):
            break
    else:
        pytest.fail(f"no empty database on Redis at {REDIS_SERVER} for the Celery tests")
    yield f"{REDIS_SERVER}/{db}"
    client.flushdb()
    client.close()


def empty_redis(url: str) -> None:
    """Delete every key of the session's database but its owner key."""
    client = redis.Redis.from_url(url)
    for key in client.scan_iter():
        if key != OWNER_KEY.encode():
            client.delete(key)
    client.close()


@pytest.fixture(scope="class")
def class_database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
) -> str:
    """A store with no runs for one class, on the class's ``dialect``: a fresh SQLite file, or
    the session's PostgreSQL database emptied."""
    if request.cls.dialect == "sqlite":
        path = tmp_path_factory.mktemp("transport-store") / "azuraforge.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


def worker_environment(settings: Settings, sleeper_path: Path) -> dict[str, str]:
    """The environment that gives a worker process ``settings`` and the sleeper plugin."""
    env = settings_environment(settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(sleeper_path), env.get("PYTHONPATH")]))
    return env


def btc_data(settings: Settings, rows: int = 2000) -> Path:
    """The BTC hourly file's banner, header and newest ``rows`` rows, in the settings' data
    folder."""
    return shared_head(settings, "btc/Bitstamp_BTCUSD_1h_2018_2022.csv", rows + 2, "btc.csv")


def unbroken_scores(path: Path, config: dict[str, Any]) -> dict[str, float]:
    """The scores of the library's loop with the stream's ``config`` over the file's first
    ``max_events``, never stopped."""
    checked = StreamConfig.model_validate(config)
    loop = ShadowLoop(
        lambda kind, n: make_learner(kind, n - 1), "logreg-adam", checked.rules(),
        features=checked.features(),
    )  # fmt: skip
    replay = CsvReplay(path, columns=["close"], price_column="close")
    for event in islice(replay, config["max_events"]):
        loop.step(event)
        tuned_candidate(checked, loop)
    return loop.scores()


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
"""A W3C trace context, as a job's ``context`` will carry one."""


class KindOfAnotherDistribution:
    """A job kind declared by another distribution (``countdown``, in the sleeper's) runs
    through the kinds' table on the transport, its worker's after-step included, and reads
    where it comes from on its row (its project, who asked, the context it carries)."""

    def test_a_job_of_a_kind_from_another_distribution_runs(
        self, store: Store, settings: Settings, transport: Transport, workers: WorkerProcesses
    ) -> None:
        project, context = f"origin-{uuid.uuid4().hex[:8]}", {"traceparent": TRACEPARENT}
        store.create_project(project)
        asked = NewJob("sleeper", {"steps": 3}, kind="countdown", project=project,
                       submitter="ana", context=context)  # fmt: skip
        job = enqueue(store, transport, asked)[0].id
        blobs = open_blobs(settings)
        wait_for(lambda: blobs.exists(f"runs/{job}/after.txt"), timeout=30)
        record = store.get_experiment(job)
        origin = {"project": project, "submitter": "ana", "context": context}
        assert (record.project, record.submitter, record.context) == tuple(origin.values())
        assert (record.status, record.result) == ("completed", {"counted": 3, "origin": origin})
        assert [v for _, v, *_ in store.get_metrics(job)["left"]] == [2.0, 1.0, 0.0]
        assert blobs.get_bytes(f"runs/{job}/after.txt") == f"countdown {job}".encode()

    def test_a_stream_job_restarted_for_memory_on_schedule_and_after_a_crash_loses_no_step(
        self, store: Store, settings: Settings, transport: Transport, workers: WorkerProcesses
    ) -> None:
        """The seconds-long twin of ``benchmarks/long_jobs.py``'s 10-minute soak."""
        csv = soak_data(settings)
        config = {
            "csv": csv.name, "target": "mean_temp", "steps": 300, "step_seconds": 0.005,
            "leak": {"bytes": 2**20, "from": 10, "to": 60}, "memory_limit": 30 * 2**20,
            "restart_every": 0.5, "crash_at_step": 280, "crash_times": 1, "backoff": 0.1,
        }  # fmt: skip
        job = store.create_experiment("sleeper", config, kind=KIND, requeue_lost=True).id
        transport.submit(job)
        self.wait(store, workers, job, lambda r: r.status not in (QUEUED, RUNNING), "end")
        reasons = check_soak(store, job, csv, "mean_temp")
        assert reasons["memory"] >= 1 and reasons["schedule"] >= 1, reasons
        assert reasons["crash"] == 1, reasons  # the step's crash, once: it resumed past it

    def test_a_stream_whose_worker_is_killed_resumes_and_scores_each_prediction_once(
        self, store: Store, settings: Settings, transport: Transport, workers: WorkerProcesses
    ) -> None:
        csv, events = btc_data(settings), 1500
        config = {"source": csv.name, "max_events": events, "checkpoint_every": 250,
                  "speed": 3600 * 500.0, "drift": None,  # 500 events a second
                  "regime_feature": True, "tune_every": 400, "tune_trials": 4}  # fmt: skip
        stream = start_stream(store, transport, settings, config).id

        def checkpointed_twice(record: ExperimentRecord) -> bool:
            return record.status == RUNNING and record.metrics.get("events", 0) >= 500

        running = self.wait(store, workers, stream, checkpointed_twice, "checkpoint twice")
        workers.kill_worker_of(str(running.worker))
        killed = time.time()
        workers.start(1)
        record = self.wait(store, workers, stream, lambda r: r.status == COMPLETED, "resume")
        (restart,) = record.restart_history or []
        assert restart["reason"] == "lost" and restart["at"] - killed < 30
        ready = StreamConfig.model_validate(config).ready_after  # the regime's warm-up: 51
        assert record.result is not None and record.result["scored"] == events - ready
        scores = {k: v for k, v in record.metrics.items() if "/" in k and k != TURBULENT}
        assert scores == unbroken_scores(csv, config)  # every score: none twice, none lost
        tunings = [c for c in store.list_changes(stream) if c.actor == "tuning"]
        assert tunings and all(c.reason.startswith("the best of 4 trials") for c in tunings)
        curves = store.get_metrics(stream)
        steps = [s for s, _, _ in curves["events"]]
        assert steps == sorted(set(steps))  # each checkpoint's points once
        assert set(range(250, events + 1, 250)) <= set(steps)  # and after each tuning
        assert [s for s, _, _ in curves[TURBULENT]] == steps  # the regime, charted at each

    def test_a_streams_retrain_runs_on_another_worker_and_opens_its_candidate(
        self, store: Store, settings: Settings, transport: Transport, workers: WorkerProcesses
    ) -> None:
        config = {"source": btc_data(settings, rows=3000).name, "max_events": 3000,
                  "drift": None, "speed": 3600 * 300.0, "retrain_as": "run",
                  "retrain_every": 300, "retrain_epochs": 5, "warm": 200}  # 10 s  # fmt: skip
        stream = start_stream(store, transport, settings, config).id
        self.wait(store, workers, stream, lambda r: r.status == COMPLETED, "end")
        lineage = store.list_changes(stream)
        asked, opened = lineage[:2]
        assert (asked.kind, opened.kind, opened.run) == ("retrain", "candidate", asked.run), [
            (c.kind, c.event, c.reason) for c in lineage]  # fmt: skip
        run = store.get_experiment(asked.run or 0)
        assert (run.kind, run.status, run.worker != store.get_experiment(stream).worker) == (
            "retrain", "completed", True)  # fmt: skip

    def test_a_job_that_keeps_crashing_fails_with_its_history_of_crashes(
        self, store: Store, settings: Settings, transport: Transport, workers: WorkerProcesses
    ) -> None:
        config = {
            "csv": soak_data(settings).name,
            "target": "mean_temp",
            "steps": 20,
            "crash_at_step": 5,
            "crash_times": 99,
            "max_restarts": 2,
            "backoff": 0.2,
            # Five steps of 50 ms before each crash: the context writes a checkpoint within its
            # flush interval (50 ms), so five of them leave it time even on a loaded machine.
            "step_seconds": 0.05,
        }
        job = store.create_experiment("sleeper", config, kind=KIND, requeue_lost=True).id
        transport.submit(job)
        record = self.wait(store, workers, job, lambda r: r.status == FAILED, "fail")
        assert record.error is not None
        assert record.error.startswith("crashed 3 times in a row within 60 s of its start")
        assert record.error.endswith("The last: the job's process died (exit code 70). "
                                     "Its restart_history lists the others")  # fmt: skip
        history = record.restart_history or []
        assert [(e["reason"], e["detail"]) for e in history] == [
            ("crash", "the job's process died (exit code 70)")
        ] * 2
        waited = history[1]["at"] - history[0]["at"]
        assert waited >= 0.2, f"the second restart came {waited:.3f} s after the first"
        # Each step's metric stored once, with the checkpoint that came after it: the steps
        # after its last stored checkpoint were lost with its process and done again.
        stored = [s for s, *_ in store.get_metrics(job).get("mae_model", [])]
        assert stored == list(range(1, (store.load_checkpoint(job) or {"step": 0})["step"] + 1))
        assert stored, "no checkpoint was stored in three attempts of five 50 ms steps"


class TestLocalTransport(KindOfAnotherDistribution, TransportContract):
    dialect = "sqlite"

    @pytest.fixture(scope="class")
    @classmethod
    def settings(
        cls, class_database_url: str, tmp_path_factory: pytest.TempPathFactory
    ) -> Settings:
        return short_settings(class_database_url, tmp_path_factory.mktemp("home"))

    @pytest.fixture(scope="class")
    @classmethod
    def transport(cls) -> Transport:
        return LocalTransport()

    @pytest.fixture(scope="class")
    @classmethod
    def workers(
        cls, settings: Settings, sleeper_path: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[WorkerProcesses]:
        command = [sys.executable, "-m", "azuraforge.platform.jobs.worker"]
        env = worker_environment(settings, sleeper_path)
        processes = WorkerProcesses(command, env, slots=1, log_dir=tmp_path_factory.mktemp("logs"))
        processes.start(2)
        yield processes
        processes.stop()


class TestCeleryTransport(KindOfAnotherDistribution, TransportContract):
    dialect = "postgresql"

    @pytest.fixture(scope="class")
    @classmethod
    def settings(
        cls, class_database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
    ) -> Settings:
        home = tmp_path_factory.mktemp("home")
        return short_settings(class_database_url, home, transport="celery", broker_url=redis_url)

    @pytest.fixture(scope="class")
    @classmethod
    def transport(cls, settings: Settings) -> Iterator[Transport]:
        transport = CeleryTransport(settings)
        yield transport
        transport.close()

    @pytest.fixture(scope="class")
    @classmethod
    def workers(
        cls, settings: Settings, sleeper_path: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[WorkerProcesses]:
        command = [sys.executable, "-c", CELERY_WORKER]
        env = worker_environment(settings, sleeper_path)
        processes = WorkerProcesses(command, env, slots=2, log_dir=tmp_path_factory.mktemp("logs"))
        processes.start(2)
        yield processes
        processes.stop()
        empty_redis(settings.broker_url)

    def test_a_stream_runs_in_a_worker_started_for_it_not_in_a_pool_process(
        self, store: Store, settings: Settings, transport: Transport, workers: WorkerProcesses
    ) -> None:
        config = {"source": btc_data(settings, rows=3000).name, "max_events": 3000,
                  "drift": None, "speed": 3600 * 100.0}  # 30 s: running when seen  # fmt: skip
        stream = start_stream(store, transport, settings, config).id
        running = self.wait(store, workers, stream, lambda r: r.status == RUNNING, "start")
        pid = int(str(running.worker).split(":")[1])
        command = Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0").split("\0")
        assert command[-2:] == ["--job", str(stream)], command  # its own, not a pool's slot
        self.cancel(store, transport, stream)
        ended = self.wait(store, workers, stream, lambda r: r.status in FINISHED_STATES, "stop")
        assert ended.status == CANCELLED

    def test_reaped_run_that_requeues_is_sent_again(
        self, store: Store, transport: CeleryTransport, workers: WorkerProcesses
    ) -> None:
        run = store.create_experiment("sleeper", {"steps": 2}, requeue_lost=True).id
        assert store.claim(run, "gone:1:abcdef", ttl=0.01) is not None  # a worker that died
        # A Celery worker's reaper puts it back in the queue and sends it again.
        record = self.wait(store, workers, run, lambda r: r.status == COMPLETED, "run again")
        assert record.attempts == 2
        events = store.list_events(experiment_id=run)
        statuses = [e.payload["status"] for e in events if e.kind == "status"]
        assert statuses == [QUEUED, RUNNING, QUEUED, RUNNING, COMPLETED]


def test_celery_messages_are_json_and_acknowledged_after_the_run(tmp_path: Path) -> None:
    app = make_celery_app(
        Settings(home=tmp_path, transport="celery", broker_url="redis://127.0.0.1:6379/0")
    )
    assert (app.conf.task_serializer, app.conf.accept_content) == ("json", ["json"])
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.task_ignore_result and app.conf.worker_prefetch_multiplier == 1


def test_celery_apps_keep_their_own_task(tmp_path: Path) -> None:
    apps = [make_celery_app(Settings(home=tmp_path / name, transport="celery",
                                     broker_url="redis://127.0.0.1:6379/0"))
            for name in ("a", "b")]  # fmt: skip
    tasks = [app.tasks[TASK_NAME] for app in apps]
    assert tasks[0] is not tasks[1]
    assert [task.app for task in tasks] == apps
    assert TASK_NAME not in Celery("someone-else", set_as_current=False).tasks


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[CeleryTransport]:
    """A Celery transport whose broker (a password in its URL) has nothing listening."""
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    transport = CeleryTransport(Settings(home=tmp_path, transport="celery", broker_url=url))
    yield transport
    transport.close()


def test_celery_submit_to_an_unreachable_broker_raises_naming_it(unreachable: CeleryTransport):
    """A kombu OperationalError used to reach the API as a 500."""
    shown = unreachable.settings.broker_url.replace("s3cret", "**")
    assert unreachable.broker == shown
    with pytest.raises(TransportUnavailableError, match="Connection refused") as raised:
        unreachable.submit(1)
    assert str(raised.value).startswith(f"the broker at {shown} is unreachable: ")
    with pytest.raises(TransportUnavailableError, match=re.escape(f"the broker at {shown} is")):
        unreachable.check()


def test_celery_cancel_through_an_unreachable_broker_is_logged_not_raised(
    unreachable: CeleryTransport, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING):
        unreachable.cancel(7)
    assert "experiment 7: its task was not revoked" in caplog.text
    assert "store's cancel request" in caplog.text and "s3cret" not in caplog.text


def test_celery_check_passes_on_a_reachable_broker(tmp_path: Path, redis_url: str) -> None:
    transport = CeleryTransport(Settings(home=tmp_path, transport="celery", broker_url=redis_url))
    try:
        transport.check()
    finally:
        transport.close()
    assert LocalTransport().broker is None
    LocalTransport().check()  # nothing to reach

"""Worker: claim the next queued run, run it in a child, record how it ended; cancel while
running (cooperative, then forced) and while queued; reaping; a worker started for one
long-lived job (``--job``) takes it again after its backoff, and stops at a cancel."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.kinds import KIND_GROUP, JobHost
from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.platform.jobs.supervision import Supervision
from azuraforge.platform.jobs.worker import Worker, sweep_kinds, worker_name
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.testing.long_jobs import KIND
from tests.helpers import write_pipeline_plugin
from tests.platform.jobs.conftest import children, soak_data, wait_for


@pytest.fixture
def worker(settings: Settings, store: Store) -> Worker:
    return Worker(settings, store)


def submit(store: Store, **config: Any) -> int:
    return store.create_experiment("sleeper", {"sleep": 0, **config}).id


def steps(store: Store, experiment_id: int) -> list[int]:
    return [s for s, _, _ in store.get_metrics(experiment_id).get("loss", [])]


def in_background(action: Any) -> threading.Thread:
    """Run ``action`` in a thread once the worker forked its run (see test_runner.logged)."""

    def after_fork() -> None:
        wait_for(children)
        action()

    thread = threading.Thread(target=after_fork)
    thread.start()
    return thread


def test_worker_names_are_host_pid_random_and_unique() -> None:
    assert re.fullmatch(r"[^:]+:\d+:[0-9a-f]{6}", worker_name())
    assert worker_name() != worker_name()


def test_run_next_completes_a_run_with_everything_recorded(
    worker: Worker, store: Store, settings: Settings, sleeper: Path
) -> None:
    run = submit(store, steps=5)
    assert worker.run_next() == Supervision("completed")
    record = store.get_experiment(run)
    assert (record.status, record.progress, record.error) == ("completed", 1.0, None)
    assert (record.worker, record.lease_epoch, record.attempts) == (worker.name, 1, 1)
    assert record.started_at is not None and record.finished_at is not None
    assert record.started_at <= record.finished_at
    assert record.lease_expires_at is None
    curves = store.get_metrics(run)
    assert [(s, v) for s, v, _ in curves["loss"]] == [(s, 1.0 / s) for s in range(1, 6)]
    assert [(s, v) for s, v, _ in curves["val_loss"]] == [(s, 2.0 / s) for s in range(1, 6)]
    assert record.metrics == {"loss": 0.2, "val_loss": 0.4}
    assert [(a.path, a.is_dir) for a in store.list_artifacts(run)] == [("report.md", False)]
    assert open_blobs(settings).exists(f"runs/{run}/report.md")
    assert not (settings.work_dir / str(run)).exists()  # kept in the blob store alone
    assert record.result is not None
    assert record.result["metrics"] == {"MAE": {"model": 0.2, "persistence": 2.0}}
    kinds = [e.kind for e in store.list_events(experiment_id=run)]
    assert kinds[:2] == ["status", "status"] and kinds[-1] == "status"
    assert {"metrics", "progress", "log", "artifact"} <= set(kinds)
    logs = store.list_events(experiment_id=run, kinds=["log"])
    assert [e.payload["message"] for e in logs] == ["finished after 5 steps"]
    statuses = [
        e.payload["status"] for e in store.list_events(experiment_id=run, kinds=["status"])
    ]
    assert statuses == ["queued", "running", "completed"]
    assert children() == []


def test_run_next_takes_runs_oldest_first_and_then_finds_none(
    worker: Worker, store: Store, sleeper: Path
) -> None:
    first, second = submit(store, steps=1), submit(store, steps=1)
    assert worker.run_next() == Supervision("completed")
    assert store.get_experiment(first).status == "completed"
    assert store.get_experiment(second).status == "queued"
    assert worker.run_next() == Supervision("completed")
    assert worker.run_next() is None


def test_a_failing_pipeline_ends_failed_with_its_error(
    worker: Worker, store: Store, sleeper: Path
) -> None:
    run = submit(store, steps=5, fail_at=3)
    assert worker.run_next() == Supervision("failed")
    record = store.get_experiment(run)
    assert (record.status, record.error) == ("failed", "RuntimeError: failed at step 3")
    assert steps(store, run) == [1, 2]


def test_cancel_while_running_ends_the_run_within_a_second(
    worker: Worker, store: Store, sleeper: Path
) -> None:
    run = submit(store, steps=1000, sleep=0.01)
    asked: list[float] = []

    def cancel() -> None:
        wait_for(lambda: steps(store, run))
        asked.append(time.time())
        store.request_cancel(run)

    thread = in_background(cancel)
    assert worker.run_next() == Supervision("cancelled")
    thread.join()
    record = store.get_experiment(run)
    assert record.status == "cancelled" and record.error is None
    assert record.finished_at is not None
    took = record.finished_at - asked[0]
    assert 0 < took < 1.0, f"cancelled {took:.2f} s after the request"
    assert 0 < len(steps(store, run)) < 1000
    assert record.result is not None  # the pipeline ended cooperatively and reported
    assert children() == []


def test_a_run_ignoring_cancel_is_killed_after_the_grace_period(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    grace = 0.5
    worker = Worker(settings.model_copy(update={"cancel_grace": grace}), store)
    run = submit(store, steps=1000, sleep=0.01, ignore_cancel=True)
    asked: list[float] = []

    def cancel() -> None:
        wait_for(lambda: steps(store, run))
        asked.append(time.monotonic())
        store.request_cancel(run)

    thread = in_background(cancel)
    assert worker.run_next() == Supervision("cancelled", forced=True)
    took = time.monotonic() - asked[0]
    thread.join()
    assert grace < took < grace + 1.0
    record = store.get_experiment(run)
    assert record.status == "cancelled"
    assert record.error == "did not stop within 0.5 s of the cancel request; killed"
    assert record.result is None
    assert children() == []
    count = len(steps(store, run))
    time.sleep(0.2)
    assert len(steps(store, run)) == count < 1000  # the killed child writes nothing more


def test_cancel_while_queued_never_runs(worker: Worker, store: Store, sleeper: Path) -> None:
    run = submit(store, steps=3)
    store.request_cancel(run)
    assert worker.run_next() is None
    record = store.get_experiment(run)
    assert (record.status, record.started_at, record.worker, record.attempts) == (
        "cancelled",
        None,
        None,
        0,
    )
    assert store.get_metrics(run) == {}
    assert not (worker.settings.work_dir / str(run)).exists()
    assert not list(open_blobs(worker.settings).list_keys(f"runs/{run}"))


def test_run_one_runs_that_run_once(worker: Worker, store: Store, sleeper: Path) -> None:
    older, run = submit(store, steps=1), submit(store, steps=2)
    assert worker.run_one(run) == Supervision("completed")
    assert worker.run_one(run) is None  # delivered twice: runs once
    assert store.get_experiment(run).attempts == 1
    assert store.get_experiment(older).status == "queued"
    assert worker.run_one(12345) is None


def test_reap_marks_expired_runs_lost_at_most_once_an_interval(
    worker: Worker, store: Store
) -> None:
    first = store.create_experiment("sleeper", {}).id
    assert store.claim(first, "gone-worker", 0.01) is not None
    time.sleep(0.05)
    worker.reap()
    assert store.get_experiment(first).status == "lost"
    second = store.create_experiment("sleeper", {}).id
    assert store.claim(second, "gone-worker", 0.01) is not None
    time.sleep(0.05)
    worker.reap()  # within reaper_interval of the last reap: skipped
    assert store.get_experiment(second).status == "running"
    time.sleep(worker.settings.reaper_interval)
    worker.reap()
    assert store.get_experiment(second).status == "lost"


def test_run_forever_runs_queued_runs_until_shut_down(
    worker: Worker, store: Store, sleeper: Path
) -> None:
    runs = [submit(store, steps=2) for _ in range(2)]
    blobs = open_blobs(worker.settings)
    reports = [f"runs/{run}/report.md" for run in runs]
    thread = threading.Thread(target=worker.run_forever)
    thread.start()
    try:
        # Watch files, not the store, while the worker may fork (see test_runner.logged).
        wait_for(lambda: all(blobs.exists(report) for report in reports))
        wait_for(lambda: set(children()) <= {ahead_of(worker)})  # the runs' processes gone
    finally:
        worker.shutdown.set()
        thread.join(10)
    assert not thread.is_alive()
    assert [store.get_experiment(run).status for run in runs] == ["completed", "completed"]


def ahead_of(worker: Worker) -> int | None:
    """The pid of the process ``worker`` forked ahead of its next job (an idle worker keeps
    one), if any."""
    ready = worker.processes.ready
    return None if ready is None else ready.pid


def test_a_worker_is_free_as_soon_as_its_run_ends_not_at_its_next_look(
    settings: Settings, store: Store, sleeper: Path
) -> None:
    slow_looks = settings.model_copy(update={"poll_interval": 5.0, "heartbeat_interval": 1.0})
    run = submit(store, steps=1)
    started = time.monotonic()
    assert Worker(slow_looks, store).run_next() == Supervision("completed")
    assert time.monotonic() - started < 3.0  # well before the 5 s look
    assert store.get_experiment(run).status == "completed"


def test_a_broken_table_of_job_kinds_never_stops_a_worker(
    tmp_path: Path, store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """Two distributions claiming one kind name made every worker crash at its first reap."""
    for folder, target in (("one", "one_kinds:Kind"), ("two", "two_kinds:Kind")):
        source = "from azuraforge.platform.jobs.kinds import JobKind\n" + (
            "class Kind(JobKind):\n    name = 'twin'\n    def run(self, *args):\n"
            "        return 'completed', {}\n"
        )
        root = tmp_path / folder
        root.mkdir()
        package = f"{folder}_kinds"
        write_pipeline_plugin(
            root, package, source, {}, other_groups={KIND_GROUP: {"twin": target}}
        )
        monkeypatch.syspath_prepend(str(root))
    sweep_kinds(JobHost(store, settings))
    assert "the job kinds could not be read: PluginError: two job kinds are named 'twin'" in (
        caplog.text
    )


def test_a_job_workers_process_takes_its_job_again_after_a_backoff_and_stops_at_a_cancel(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    crash = {"csv": soak_data(settings, days=60).name, "target": "mean_temp", "steps": 20,
             "crash_at_step": 3, "crash_with": "error", "crash_times": 1}  # fmt: skip
    soon, late = (
        store.create_experiment("sleeper", {**crash, "backoff": backoff}, kind=KIND,
                                requeue_lost=True).id
        for backoff in (0.5, 60.0)
    )  # fmt: skip
    command = [sys.executable, "-m", WORKER_MODULE, "--job"]
    env = settings_environment(settings)
    workers = {job: subprocess.Popen([*command, str(job)], env=env) for job in (soon, late)}
    try:
        wait_for(lambda: store.get_experiment(late).restart_history, timeout=60)
        store.request_cancel(late)  # queued in its 60 s backoff: its worker sees it and exits
        assert workers[late].wait(timeout=15) == 0
        assert workers[soon].wait(timeout=60) == 0
    finally:
        for process in workers.values():
            process.kill()
    done, cancelled = store.get_experiment(soon), store.get_experiment(late)
    assert (done.status, done.attempts, len(done.restart_history or [])) == ("completed", 2, 1)
    assert cancelled.status == "cancelled"


def test_the_reaper_cleans_what_a_lost_prediction_job_left(
    worker: Worker, store: Store, settings: Settings
) -> None:
    """A lost prediction job (never run again) left its inputs in the blob store and its
    folder on its worker's machine."""
    blobs = open_blobs(settings)
    inputs = "predictions/0123456789ab/inputs.csv"
    blobs.put_bytes(inputs, b"x\n1\n")
    config = {"model": "m", "version": 1, "inputs": inputs, "source": "rows"}
    job = store.create_experiment("sleeper", config, kind="prediction").id
    assert store.claim(job, "gone-worker", 0.01) is not None
    folder = settings.work_dir / str(job)
    folder.mkdir(parents=True)
    (folder / "inputs.csv").write_bytes(b"x\n1\n")
    running = store.create_experiment("sleeper", {}).id  # a job this machine still runs
    assert store.claim(running, "this-worker", 30.0) is not None
    (settings.work_dir / str(running)).mkdir()
    time.sleep(0.05)
    worker.reap()
    assert store.get_experiment(job).status == "lost"
    assert not blobs.exists(inputs)
    assert not folder.exists()
    assert (settings.work_dir / str(running)).is_dir()

"""The runner: ``execute`` (a pipeline under a StoreContext, the end recorded) and
``supervise`` (the run in a forked child, the lease kept by the parent, cancel relayed)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.jobs.supervision import Supervision, supervise
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Lease, Store
from azuraforge.system_metrics import NAMES, PROCESS_RSS
from azuraforge.testing.long_jobs import KIND
from tests.platform.jobs.conftest import children, soak_data, wait_for
from tests.platform.servers import free_port

if TYPE_CHECKING:
    from tests.platform.s3_server import S3Server


def leased(store: Store, config: dict[str, Any], pipeline: str = "sleeper") -> Lease:
    record = store.create_experiment(pipeline, config)
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    return lease


def steps(store: Store, experiment_id: int, key: str = "loss") -> list[int]:
    return [s for s, _, _ in store.get_metrics(experiment_id).get(key, [])]


def logged(store: Store, experiment_id: int) -> int:
    """The forked run's pid once it logged a step.

    A helper thread touches the store only after the fork: a child forked while another
    thread of its parent is inside an SQLite transaction inherits SQLite's in-process lock
    bookkeeping and can never write (worker processes fork from their only thread).
    """
    (child,) = wait_for(children)
    wait_for(lambda: steps(store, experiment_id))
    return child


def test_execute_records_a_completed_run(store: Store, settings: Settings, sleeper: Path) -> None:
    lease = leased(store, {"steps": 4, "sleep": 0})
    assert execute(store, lease, settings) == "completed"
    record = store.get_experiment(lease.experiment_id)
    assert (record.status, record.progress, record.error) == ("completed", 1.0, None)
    assert record.progress_message == "step 4"
    assert steps(store, lease.experiment_id) == [1, 2, 3, 4]
    assert record.metrics == {"loss": 0.25, "val_loss": 0.5}
    assert record.result is not None
    assert record.result["metrics"] == {"MAE": {"model": 0.25, "persistence": 2.0}}
    assert record.result["report_path"] == "report.md"
    assert record.result["training"] is not None
    assert [a.path for a in store.list_artifacts(lease.experiment_id)] == ["report.md"]
    assert open_blobs(settings).get_bytes(f"runs/{record.id}/report.md") == b"# sleeper report\n"
    assert not (settings.work_dir / str(record.id)).exists()  # its folder, once kept
    lines = store.list_events(experiment_id=lease.experiment_id, kinds=["log"])
    assert [e.payload["message"] for e in lines] == ["finished after 4 steps"]


def test_a_run_samples_its_process_as_system_metrics_until_it_ends(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    sampled = settings.model_copy(update={"system_metrics_interval": 0.25})
    lease = leased(store, {"steps": 8, "sleep": 0.2})  # about 1.6 s
    assert execute(store, lease, sampled) == "completed"
    curves = store.get_metrics(lease.experiment_id)
    system = {key: points for key, points in curves.items() if key.startswith("system/")}
    assert set(system) == set(NAMES)
    counts = {len(points) for points in system.values()}
    record = store.get_experiment(lease.experiment_id)
    assert record.started_at is not None and record.finished_at is not None
    most = (record.finished_at - record.started_at) / 0.25  # every 0.25 s while it ran
    assert len(counts) == 1 and 3 <= counts.pop() <= most
    assert [step for step, _, _ in system[PROCESS_RSS]] == list(range(len(system[PROCESS_RSS])))
    assert all(value > 10 for _, value, _ in system[PROCESS_RSS])  # the job's process, in MB
    assert steps(store, lease.experiment_id) == list(range(1, 9))  # its own curves apart


def test_a_run_samples_nothing_when_system_metrics_are_off(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    off = settings.model_copy(update={"system_metrics_interval": 0})
    lease = leased(store, {"steps": 3, "sleep": 0.2})
    assert execute(store, lease, off) == "completed"
    assert set(store.get_metrics(lease.experiment_id)) == {"loss", "val_loss"}


def test_a_job_of_a_kind_no_distribution_declares_fails_naming_those_installed(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    record = store.create_experiment("sleeper", {"steps": 1}, kind="reindex")
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    assert execute(store, lease, settings) == "failed"
    error = store.get_experiment(record.id).error
    assert error is not None and error.startswith("NotFoundError: no job kind named 'reindex'")
    assert (
        "assist-night, countdown, external, fine-tune, prediction, retrain, run, stream, "
        "stream-soak, trial"
    ) in error


def test_execute_records_a_failing_pipeline_as_failed(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = leased(store, {"steps": 5, "sleep": 0, "fail_at": 3})
    assert execute(store, lease, settings) == "failed"
    record = store.get_experiment(lease.experiment_id)
    assert (record.status, record.error) == ("failed", "RuntimeError: failed at step 3")
    assert record.result is None
    assert steps(store, lease.experiment_id) == [1, 2]  # what it logged before failing stays
    (line,) = store.list_events(experiment_id=lease.experiment_id, kinds=["log"])
    assert line.payload["level"] == "ERROR"
    assert line.payload["message"].startswith("run failed: RuntimeError: failed at step 3\n")
    assert "Traceback" in line.payload["message"]


def test_execute_of_an_unknown_pipeline_fails_naming_it(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = leased(store, {}, pipeline="wether")
    assert execute(store, lease, settings) == "failed"
    error = store.get_experiment(lease.experiment_id).error
    assert error is not None and error.startswith("NotFoundError: no pipeline named 'wether'")


def test_execute_of_a_bad_config_fails_naming_the_setting(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = leased(store, {"steps": 0})
    assert execute(store, lease, settings) == "failed"
    error = store.get_experiment(lease.experiment_id).error
    assert error is not None and error.startswith("InvalidParameterError: bad settings for")
    assert "steps" in error
    (line,) = store.list_events(experiment_id=lease.experiment_id, kinds=["log"])
    assert line.payload["message"] == f"run failed: {error}"  # no traceback: the input was wrong


def test_execute_stopped_at_once_is_cancelled(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = leased(store, {"steps": 4, "sleep": 0})
    assert execute(store, lease, settings, stop_requested=lambda: True) == "cancelled"
    record = store.get_experiment(lease.experiment_id)
    assert (record.status, record.error) == ("cancelled", None)
    assert steps(store, lease.experiment_id) == []


def test_execute_whose_lease_was_lost_records_nothing(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = leased(store, {"steps": 200, "sleep": 0.01})
    reaper = threading.Timer(0.3, lambda: store.reap_expired(now=time.time() + 60))
    reaper.start()
    try:
        assert execute(store, lease, settings) == "lost"
    finally:
        reaper.cancel()
    record = store.get_experiment(lease.experiment_id)
    assert record.status == "lost" and record.error is not None
    assert "stopped renewing its lease" in record.error
    assert len(steps(store, lease.experiment_id)) < 200  # stopped early


def test_supervise_runs_the_pipeline_in_a_child(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = leased(store, {"steps": 3, "sleep": 0})
    assert supervise(store, lease, settings) == Supervision("completed")
    assert steps(store, lease.experiment_id) == [1, 2, 3]
    assert children() == []  # reaped


def test_supervise_renews_the_lease_while_the_run_lasts_longer_than_it(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    # 3 s of steps, a 2 s lease renewed every 0.5 s; a reaper running all along.
    lease = leased(store, {"steps": 30, "sleep": 0.1})
    reaped: list[tuple[int, str]] = []
    done = threading.Event()

    def reaper() -> None:
        wait_for(children)  # see logged()
        while not done.is_set():
            reaped.extend(store.reap_expired())
            time.sleep(0.1)

    thread = threading.Thread(target=reaper)
    thread.start()
    try:
        assert supervise(store, lease, settings) == Supervision("completed")
    finally:
        done.set()
        thread.join()
    assert reaped == []
    assert steps(store, lease.experiment_id) == list(range(1, 31))


def test_a_child_that_dies_is_recorded_as_failed(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = leased(store, {"steps": 500, "sleep": 0.01})

    def kill_the_child() -> None:
        os.kill(logged(store, lease.experiment_id), signal.SIGKILL)

    killer = threading.Thread(target=kill_the_child)
    killer.start()
    ended = supervise(store, lease, settings)
    killer.join()
    assert ended == Supervision("failed")
    record = store.get_experiment(lease.experiment_id)
    assert (record.status, record.error) == (
        "failed",
        "the run's process died (signal SIGKILL)",
    )
    assert steps(store, lease.experiment_id)  # what was flushed before stays


def test_a_lost_lease_stops_the_child(store: Store, settings: Settings, sleeper: Path) -> None:
    lease = leased(store, {"steps": 500, "sleep": 0.01})

    def take_over() -> None:
        logged(store, lease.experiment_id)
        store.reap_expired(now=time.time() + 60)

    thread = threading.Thread(target=take_over)
    thread.start()
    started = time.monotonic()
    ended = supervise(store, lease, settings)
    thread.join()
    assert ended.status == "lost"
    assert time.monotonic() - started < 5
    assert children() == []
    count = len(steps(store, lease.experiment_id))
    time.sleep(0.3)
    assert len(steps(store, lease.experiment_id)) == count < 500
    assert store.get_experiment(lease.experiment_id).status == "lost"


@pytest.mark.parametrize(("requeue_lost", "status"), [(False, "cancelled"), (True, "queued")])
def test_shutdown_of_the_worker_stops_the_run_saying_so(
    store: Store, settings: Settings, sleeper: Path, requeue_lost: bool, status: str
) -> None:
    record = store.create_experiment("sleeper", {"steps": 500, "sleep": 0.01},
                                     requeue_lost=requeue_lost)  # fmt: skip
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    shutdown = threading.Event()
    stopper = threading.Thread(target=lambda: (logged(store, lease.experiment_id), shutdown.set()))
    stopper.start()
    ended = supervise(store, lease, settings, shutdown)
    stopper.join()
    assert ended == Supervision(status)
    record = store.get_experiment(lease.experiment_id)
    assert (record.status, record.error) == (status, "stopped because its worker was shut down")
    assert (record.result is not None) == (status == "cancelled")
    assert len(steps(store, lease.experiment_id)) < 500


def test_a_run_ignoring_the_shutdown_is_killed_and_says_why(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = leased(store, {"steps": 500, "sleep": 0.01, "ignore_cancel": True})
    quick = settings.model_copy(update={"cancel_grace": 0.2})
    shutdown = threading.Event()
    stopper = threading.Thread(target=lambda: (logged(store, lease.experiment_id), shutdown.set()))
    stopper.start()
    ended = supervise(store, lease, quick, shutdown)
    stopper.join()
    assert ended == Supervision("cancelled", forced=True)
    assert store.get_experiment(lease.experiment_id).error == (
        "stopped because its worker was shut down; it did not stop within 0.2 s, so it was killed"
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_child_leaves_sigint_and_sigterm_to_its_worker(
    store: Store, settings: Settings, sleeper: Path, signum: signal.Signals
) -> None:
    # Ctrl-C or a service manager signals the whole group; the worker (not the run) decides
    # how the run ends. The child used to die of them, recorded as failed.
    lease = leased(store, {"steps": 30, "sleep": 0.01})
    thread = threading.Thread(target=lambda: os.kill(logged(store, lease.experiment_id), signum))
    thread.start()
    ended = supervise(store, lease, settings)
    thread.join()
    assert ended == Supervision("completed")
    assert steps(store, lease.experiment_id) == list(range(1, 31))


def test_a_run_recorded_just_before_a_renewal_is_not_taken_for_lost(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    # Renewing at every poll: the renewal right after the child recorded the end finds the
    # lease released. That is the child's doing, not a lost lease (it was killed as lost).
    eager = settings.model_copy(update={"heartbeat_interval": 0.001})
    for _ in range(3):
        lease = leased(store, {"steps": 2, "sleep": 0})
        assert supervise(store, lease, eager) == Supervision("completed")
        assert store.get_experiment(lease.experiment_id).status == "completed"


def soak_job(store: Store, settings: Settings, **config: Any) -> Lease:
    """A leased ``stream-soak`` job on 60 days of the London weather."""
    csv = soak_data(settings, days=60).name
    config = {"csv": csv, "target": "mean_temp", "steps": 40, **config}
    record = store.create_experiment("sleeper", config, kind=KIND, requeue_lost=True)
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    return lease


def test_a_long_job_failing_with_an_error_is_restarted_after_its_backoff(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = soak_job(store, settings, crash_at_step=3, crash_with="error", crash_times=1,
                     backoff=30.0)  # fmt: skip
    assert execute(store, lease, settings) == "queued"
    record = store.get_experiment(lease.experiment_id)
    (entry,) = record.restart_history or []
    assert (entry["reason"], entry["detail"]) == (
        "crash",
        "the job failed: RuntimeError: a crash at step 3",
    )
    assert record.not_before is not None
    assert record.not_before - entry["at"] == pytest.approx(30, abs=0.5)
    assert store.claim_next("another-worker", 30.0) is None  # not before its backoff
    assert store.claim(record.id, "celery-worker", 30.0) is None  # nor by a message come early


def test_a_long_job_with_a_bad_setting_fails_at_once(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = soak_job(store, settings, target="no-such-column")
    assert execute(store, lease, settings) == "failed"
    record = store.get_experiment(lease.experiment_id)
    assert record.error == (
        "InvalidParameterError: target: no column 'no-such-column' of numbers in the file"
    )
    assert record.restarts == 0


def test_a_long_job_that_ignores_a_restart_is_killed_after_its_step_grace_as_a_crash(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    lease = soak_job(store, settings, step_seconds=30, restart_every=0.2, step_grace=0.3)
    assert supervise(store, lease, settings) == Supervision("queued", forced=True)
    (entry,) = store.get_experiment(lease.experiment_id).restart_history or []
    assert entry["reason"] == "crash"
    assert entry["detail"].startswith("it did not reach a step boundary within 0.3 s of being "
                                      "asked to restart (a scheduled restart after ")  # fmt: skip


def test_a_long_job_whose_workers_kept_dying_fails_when_claimed_again(
    store: Store, settings: Settings, sleeper: Path
) -> None:
    first = soak_job(store, settings, max_restarts=2)
    job = first.experiment_id
    store.restart(first, "schedule", "a restart, not a crash")
    for _ in range(3):  # a worker died under it, and the reaper queued it again
        assert store.claim(job, "gone:1:abcdef", ttl=0.001) is not None
        time.sleep(0.01)
        assert store.reap_expired() == [(job, "queued")]
    lease = store.claim(job, "test-worker", 30.0) or _no_lease()
    assert supervise(store, lease, settings) == Supervision("failed")
    record = store.get_experiment(job)
    assert [e["reason"] for e in record.restart_history or []] == [
        "schedule",
        "lost",
        "lost",
        "lost",
    ]
    assert record.error is not None and record.error.startswith("crashed 3 times in a row")
    assert [entry["uptime"] < 1 for entry in record.restart_history or []] == [True] * 4
    assert "The last: worker gone:1:abcdef stopped renewing its lease" in record.error


def _no_lease() -> Lease:
    raise AssertionError("the job could not be claimed")


def test_a_run_whose_files_the_store_cannot_take_keeps_its_folder_until_it_does(
    store: Store, settings: Settings, sleeper: Path, s3_server: S3Server
) -> None:
    """Its folder was deleted anyway (the trained model gone without a word) and it listed
    files the store never held."""
    from azuraforge.platform.blobs.s3 import S3Blobs  # boto3: imported where it is needed

    down = S3Blobs("s3://af/runs-down", endpoint=f"http://127.0.0.1:{free_port()}",
                   access_key_id="a", secret_access_key="b")  # fmt: skip
    lease = leased(store, {"steps": 2, "sleep": 0})
    assert execute(store, lease, settings, blobs=down) == "failed"
    record = store.get_experiment(lease.experiment_id)
    folder = settings.work_dir / str(record.id)
    assert (folder / "report.md").read_text() == "# sleeper report\n"
    assert record.error is not None and record.error.startswith(
        "BlobStoreUnavailableError: the run's files could not be copied to the file store "
        "(the server's file store is unavailable; try again later, or tell its operator): "
        f"they are kept on machine {socket.gethostname()!r} until it takes them"
    )
    assert record.result is not None and record.result["files_left_on"] == socket.gethostname()
    assert record.result["report_path"] == "report.md"
    lines = [
        e.payload["message"] for e in store.list_events(experiment_id=record.id, kinds=["log"])
    ]
    assert any(f"kept in {folder}" in line for line in lines), lines

    from azuraforge.platform.jobs.run_files import keep_left_files

    assert keep_left_files(settings.work_dir, down) == []  # still down: kept
    assert folder.is_dir()
    back = s3_server.blobs(f"runs-back-{uuid.uuid4().hex}")
    assert keep_left_files(settings.work_dir, back) == [record.id]
    assert back.get_bytes(f"runs/{record.id}/report.md") == b"# sleeper report\n"
    assert list(back.list_keys()) == [f"runs/{record.id}/report.md"]  # no marker, no spool
    assert not folder.exists()

"""A job's process as its worker holds it: the start handshake, the end it reports, and what
happens to one that dies, hangs or is still running when its worker lets it go."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import NoReturn

import pytest

from azuraforge.platform.jobs import process as processes
from azuraforge.platform.jobs.process import (
    RECORDED,
    STARTED,
    JobProcess,
    KeptProcesses,
    read_job,
    write_end,
)
from azuraforge.platform.store import ExperimentRecord, Lease

LEASE = Lease(experiment_id=7, owner="test-worker", epoch=1)
RECORD = ExperimentRecord(
    id=7, project="default", name="r", pipeline="p", config={"x": 0.5}, status="running",
    progress=0.0, progress_message="", created_at=0.0, started_at=1.0, finished_at=None,
    worker="w", lease_owner="test-worker", lease_epoch=1, lease_expires_at=2.0,
    heartbeat_at=1.0, cancel_requested_at=None, error=None, batch_id=None, seed=None,
    requeue_lost=True, attempts=1, result=None,
)  # fmt: skip


def echo_loop(leases: int, ends: int) -> NoReturn:
    """Answers each job with STARTED, then records it as ``completed`` when its config's x
    is 0.5, else exits with the code x * 10 without saying how the job ended."""
    while (job := read_job(leases)) is not None:
        lease, record = job
        assert lease == LEASE
        os.write(ends, bytes([STARTED]))
        if record.config["x"] != 0.5:
            os._exit(int(record.config["x"] * 10))
        write_end(ends, RECORDED, "completed")
    os._exit(0)


def silent_loop(leases: int, ends: int) -> NoReturn:
    """Never answers (a process stuck before its first job)."""
    time.sleep(60)
    os._exit(0)


def test_a_kept_process_runs_its_groups_jobs_and_reports_each_end() -> None:
    kept = KeptProcesses(jobs_per_process=2)
    first = kept.start("study 1", LEASE, RECORD, lambda: JobProcess(echo_loop, "study 1"))
    end = first.wait_end(5)
    assert (end.code, end.status, end.died) == (RECORDED, "completed", False)
    kept.put_back(first)
    assert kept.idle is first

    again = kept.start("study 1", LEASE, RECORD, lambda: pytest.fail("forked again"))
    assert again is first and again.wait_end(5).status == "completed"
    kept.put_back(again)  # its second job: jobs_per_process reached
    assert kept.idle is None and not again.running and again.exited is None


def test_a_job_that_kills_its_process_ends_with_its_exit_code_and_the_process_goes() -> None:
    kept = KeptProcesses(jobs_per_process=100)
    crashing = replace(RECORD, config={"x": 0.7})
    process = kept.start("g", LEASE, crashing, lambda: JobProcess(echo_loop, "g"))
    end = process.wait_end(5)
    assert (end.code, end.died) == (7, True) and not process.clean
    kept.put_back(process)
    assert kept.idle is None


def test_a_process_that_does_not_answer_is_killed_and_its_job_ends_as_killed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(processes, "START_SECONDS", 0.2)
    process = JobProcess(silent_loop, None)
    assert process.start(LEASE, RECORD) is False
    end = process.wait_end(1)
    assert end.died and end.code == -9
    process.retire()


def test_a_process_still_running_when_let_go_is_killed_not_kept() -> None:
    kept = KeptProcesses(jobs_per_process=100)

    def hanging_loop(leases: int, ends: int) -> NoReturn:
        read_job(leases)
        os.write(ends, bytes([STARTED]))
        time.sleep(60)
        os._exit(0)

    process = kept.start("g", LEASE, RECORD, lambda: JobProcess(hanging_loop, "g"))
    assert process.running
    started = time.monotonic()
    kept.put_back(process)  # its supervision failed before the job ended
    assert kept.idle is None and time.monotonic() - started < 2
    with pytest.raises(ChildProcessError):
        os.waitpid(process.pid, os.WNOHANG)  # reaped


def test_a_kept_process_idle_too_long_exits() -> None:
    kept = KeptProcesses(jobs_per_process=100)
    process = kept.start("g", LEASE, RECORD, lambda: JobProcess(echo_loop, "g"))
    process.wait_end(5)
    kept.put_back(process)
    kept.expire(after=60)
    assert kept.idle is process
    kept.expire(after=0)
    assert kept.idle is None and process.exited is None  # reaped, descriptors closed

"""`TransportContract`: what every job transport keeps, checked with real worker processes.

A transport (:class:`~azuraforge.platform.jobs.transport.Transport`) only tells workers that
a run is queued or cancelled; the store's lease decides who runs what. The contract checks
that the pair keeps its promises end to end: a submitted run completes exactly once, however
often it is delivered; a run cancelled while queued never starts; a run cancelled while
running stops within about a second of its worker seeing the request; a failing pipeline
ends ``failed`` with its error; a killed worker's run becomes ``lost`` with its metrics kept;
a worker process killed alone leaves its run ``lost`` saying so (never ``cancelled``), or
queued again and run to the end when its pipeline re-queues lost runs.

Subclass it in a test module (under a name starting with ``Test``) and define four fixtures:

``settings``
    :class:`~azuraforge.platform.settings.Settings` of the store the workers use, with short
    intervals (a lease of about 2 s, a reaper interval of about 0.5 s).
``store``
    A :class:`~azuraforge.platform.store.Store` on ``settings.database_url``.
``transport``
    The transport under test.
``workers``
    At least two running worker processes on that store, as :class:`WorkerProcesses`.

The workers must be able to load the pipeline :attr:`TransportContract.pipeline` names; it
takes the settings ``steps``, ``sleep`` (seconds per step) and ``fail_at`` (raise at that
step), logs ``loss`` once a step and stops at its next step when asked (AzuraForge's own
tests use the ``sleeper`` plugin of ``tests/platform/conftest.py``). Tests share the store
and the workers, so fixtures may live for a whole class.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from azuraforge.platform.store.states import (
    CANCELLED,
    COMPLETED,
    FAILED,
    FINISHED_STATES,
    LOST,
    QUEUED,
    RUNNING,
)

if TYPE_CHECKING:
    from azuraforge.platform.jobs.transport import Transport
    from azuraforge.platform.settings import Settings
    from azuraforge.platform.store import ExperimentRecord, Store


class WorkerProcesses:
    """Worker processes started from one command, each leading its own process group (so a
    kill takes the worker's run with it, as a crashed machine would).

    Parameters
    ----------
    command
        The argument list that starts one worker.
    env
        Its environment.
    slots
        How many runs one worker process runs at once (Celery's concurrency; 1 for a local
        worker).
    log_dir
        Where each worker's output goes (``worker-<pid>.log``), shown when a check fails.
    """

    def __init__(
        self, command: Sequence[str], env: Mapping[str, str], slots: int, log_dir: Path
    ) -> None:
        self.command = command
        self.env = env
        self.slots = slots
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1) -> None:
        """Start ``count`` more workers (without waiting for them to be ready)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(count):
            with open(self.log_dir / f"worker-{len(self.processes)}.log", "ab") as log:
                process = subprocess.Popen(
                    list(self.command),
                    env=dict(self.env),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.processes.append(process)

    @property
    def capacity(self) -> int:
        """How many runs the live workers run at once."""
        return self.slots * sum(process.poll() is None for process in self.processes)

    def kill_worker_of(self, worker: str) -> None:
        """SIGKILL the process group of the worker named ``worker`` (``host:pid:random``, as
        the store records it) and everything it started."""
        pid = int(worker.rsplit(":", 2)[1])
        group = os.getpgid(pid)
        os.killpg(group, signal.SIGKILL)
        for process in self.processes:
            if process.pid == group:
                process.wait()

    def kill_process_of(self, worker: str) -> None:
        """SIGKILL the one process named in ``worker`` (a local worker, or the Celery pool
        process that runs the run), not its group: the run's own process outlives it."""
        pid = int(worker.rsplit(":", 2)[1])
        os.kill(pid, signal.SIGKILL)
        for process in self.processes:
            if process.pid == pid:
                process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every worker, wait up to ``timeout`` seconds, then SIGKILL what is left."""
        live = [process for process in self.processes if process.poll() is None]
        for process in live:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in live:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of each worker's output."""
        tails = []
        for path in sorted(self.log_dir.glob("worker-*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            tails.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(tails)


def _signal_group(group: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


class TransportContract:
    """The tests every transport passes; see the module docstring for the fixtures needed."""

    pipeline: ClassVar[str] = "sleeper"
    """An installed pipeline with the settings ``steps``, ``sleep`` and ``fail_at``."""
    timeout: ClassVar[float] = 30.0
    """Longest wait for any one thing (a worker starting included)."""
    cancel_within: ClassVar[float] = 1.0
    """Seconds a running run may take to stop once its worker saw the cancel request."""
    long_run: ClassVar[dict[str, Any]] = {"steps": 100_000, "sleep": 0.1}
    """Settings of a run that lasts until it is cancelled or killed (a step every 0.1 s)."""

    def test_submitted_run_completes_once(
        self, store: Store, transport: Transport, workers: WorkerProcesses
    ) -> None:
        run = self.submit(store, transport, steps=3)
        record = self.wait(store, workers, run, _finished, "finish")
        assert record.status == COMPLETED, _shown(record)
        assert record.attempts == 1, _shown(record)
        assert [step for step, *_ in store.get_metrics(run)["loss"]] == [1, 2, 3]

    def test_run_delivered_twice_runs_once(
        self, store: Store, transport: Transport, workers: WorkerProcesses
    ) -> None:
        run = self.submit(store, transport, steps=3, sleep=0.05)
        transport.submit(run)
        record = self.wait(store, workers, run, _finished, "finish")
        self.drain(store, transport, workers)
        record = store.get_experiment(run)
        assert (record.status, record.attempts) == (COMPLETED, 1), _shown(record)
        statuses = [e.payload["status"] for e in store.list_events(experiment_id=run)
                    if e.kind == "status"]  # fmt: skip
        assert statuses.count(RUNNING) == 1, statuses

    def test_cancel_while_queued_never_starts(
        self, store: Store, transport: Transport, workers: WorkerProcesses
    ) -> None:
        # Every worker slot is busy, so the run is still queued when it is cancelled.
        blockers = [self.submit(store, transport, **self.long_run)
                    for _ in range(workers.capacity)]  # fmt: skip
        for blocker in blockers:
            self.wait(store, workers, blocker, _running, "start")
        run = self.submit(store, transport, steps=3)
        self.cancel(store, transport, run)
        for blocker in blockers:
            self.cancel(store, transport, blocker)
        self.drain(store, transport, workers)
        for blocker in blockers:
            self.wait(store, workers, blocker, _finished, "stop")
        record = store.get_experiment(run)
        assert record.status == CANCELLED, _shown(record)
        assert (record.started_at, record.attempts, record.worker) == (None, 0, None)
        assert store.get_metrics(run) == {}

    def test_cancel_while_running_stops_within_a_second(
        self, store: Store, transport: Transport, workers: WorkerProcesses, settings: Settings
    ) -> None:
        run = self.submit(store, transport, **self.long_run)
        self.wait(store, workers, run, _stepping, "log a metric")
        asked = time.monotonic()
        self.cancel(store, transport, run)
        record = self.wait(store, workers, run, _finished, "stop")
        took = time.monotonic() - asked
        assert record.status == CANCELLED, _shown(record)
        assert took < self.cancel_within + settings.poll_interval, f"stopped after {took:.2f} s"
        steps = _steps(store, run)
        assert 0 < steps < self.long_run["steps"], f"{steps} steps kept"

    def test_failing_pipeline_fails_with_its_error(
        self, store: Store, transport: Transport, workers: WorkerProcesses
    ) -> None:
        run = self.submit(store, transport, steps=5, fail_at=3)
        record = self.wait(store, workers, run, _finished, "finish")
        assert record.status == FAILED, _shown(record)
        assert record.error == "RuntimeError: failed at step 3", _shown(record)
        assert [step for step, *_ in store.get_metrics(run)["loss"]] == [1, 2]

    def test_killed_worker_run_becomes_lost_with_its_metrics(
        self, store: Store, transport: Transport, workers: WorkerProcesses, settings: Settings
    ) -> None:
        assert len(workers.processes) >= 2, "the contract needs two workers: one to kill"
        run = self.submit(store, transport, **self.long_run)
        record = self.wait(store, workers, run, _logged(store, run, 3), "log 3 steps")
        kept = _steps(store, run)
        workers.kill_worker_of(str(record.worker))
        killed = time.monotonic()
        record = self.wait(store, workers, run, _finished, "be reaped")
        took = time.monotonic() - killed
        workers.start(1)
        assert record.status == LOST, _shown(record)
        # NOTE: the killed worker may have held the reaper's duty: it lapses too.
        limit = max(settings.lease_ttl, settings.duty_ttl) + settings.reaper_interval + 1.0
        assert took < limit, f"lost after {took:.2f} s, expected under {limit:g} s"
        assert _steps(store, run) >= kept >= 3

    def test_run_of_a_killed_worker_process_is_lost_not_cancelled(
        self, store: Store, transport: Transport, workers: WorkerProcesses
    ) -> None:
        # The worker process alone dies (a Celery pool process, say), not its group: the
        # run's process outlives it. No one asked to cancel, so the run must not say so.
        run = self.submit(store, transport, **self.long_run)
        record = self.wait(store, workers, run, _logged(store, run, 3), "log 3 steps")
        self.kill_worker_process(workers, str(record.worker))
        killed = time.monotonic()
        ended = self.wait(store, workers, run, _finished, "end")
        took = time.monotonic() - killed
        assert ended.status == LOST, _shown(ended)
        assert ended.cancel_requested_at is None
        assert ended.error is not None and ended.error.startswith(
            f"its worker {record.worker} "
        ), _shown(ended)
        assert "died while the run was running" in ended.error, _shown(ended)
        assert took < self.cancel_within + 1.0, f"lost after {took:.2f} s"

    def test_run_of_a_killed_worker_process_is_queued_again_where_its_pipeline_allows(
        self, store: Store, transport: Transport, workers: WorkerProcesses
    ) -> None:
        run = self.submit(store, transport, requeue_lost=True, steps=60, sleep=0.05)  # 3 s
        record = self.wait(store, workers, run, _logged(store, run, 3), "log 3 steps")
        self.kill_worker_process(workers, str(record.worker))
        ended = self.wait(store, workers, run, _finished, "run again and finish")
        assert (ended.status, ended.attempts) == (COMPLETED, 2), _shown(ended)
        events = [e.payload for e in store.list_events(experiment_id=run) if e.kind == "status"]
        assert [e["status"] for e in events] == [QUEUED, RUNNING, QUEUED, RUNNING, COMPLETED]
        assert "died while the run was running" in events[2]["error"], events

    @staticmethod
    def kill_worker_process(workers: WorkerProcesses, worker: str) -> None:
        """SIGKILL the process of ``worker`` alone, and start a worker in place of a
        top-level one (a Celery worker replaces its pool process itself)."""
        capacity = workers.capacity
        workers.kill_process_of(worker)
        if workers.capacity < capacity:
            workers.start(1)

    def submit(
        self, store: Store, transport: Transport, requeue_lost: bool = False, **config: Any
    ) -> int:
        """Queue a run of :attr:`pipeline` with ``config`` as the platform does (the one way
        in for jobs: :func:`~azuraforge.platform.jobs.queueing.enqueue`); its id."""
        from azuraforge.platform.jobs.queueing import NewJob, enqueue

        job = NewJob(self.pipeline, {"sleep": 0.01, **config}, requeue_lost=requeue_lost)
        [run] = enqueue(store, transport, job)
        return run.id

    @staticmethod
    def cancel(store: Store, transport: Transport, run: int) -> None:
        """Cancel as the platform does: the store first, then the transport."""
        store.request_cancel(run)
        transport.cancel(run)

    def drain(self, store: Store, transport: Transport, workers: WorkerProcesses) -> None:
        """Submit one short run and wait for it: every message sent earlier was taken."""
        run = self.submit(store, transport, steps=1)
        self.wait(store, workers, run, _finished, "finish")

    def wait(
        self,
        store: Store,
        workers: WorkerProcesses,
        run: int,
        done: Callable[[ExperimentRecord], bool],
        what: str,
    ) -> ExperimentRecord:
        """Poll the run until ``done`` holds; fail after :attr:`timeout` showing the workers'
        output."""
        deadline = time.monotonic() + self.timeout
        while True:
            record = store.get_experiment(run)
            if done(record):
                return record
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"experiment {run} did not {what} within {self.timeout:g} s: "
                    f"{_shown(record)}\n{workers.log_tail()}"
                )
            time.sleep(0.02)


def _finished(record: ExperimentRecord) -> bool:
    return record.status in FINISHED_STATES


def _running(record: ExperimentRecord) -> bool:
    return record.status == RUNNING


def _stepping(record: ExperimentRecord) -> bool:
    return record.status == RUNNING and record.progress > 0


def _steps(store: Store, run: int) -> int:
    return len(store.get_metrics(run, ["loss"]).get("loss", []))


def _logged(store: Store, run: int, steps: int) -> Callable[[ExperimentRecord], bool]:
    """Whether the run's record names its worker and the run has logged ``steps`` steps.
    The steps are read after the record: a record read while the run was still queued
    (no worker) must not pass because the steps came in meanwhile."""
    return lambda record: record.worker is not None and _steps(store, run) >= steps


def _shown(record: ExperimentRecord) -> str:
    return (
        f"status {record.status}, attempts {record.attempts}, worker {record.worker}, "
        f"error {record.error!r}"
    )

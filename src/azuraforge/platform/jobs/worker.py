"""A worker: claims queued runs, runs each under its lease, and reaps expired leases while it
holds the reaper's duty (:mod:`~azuraforge.platform.jobs.duties`).

``python -m azuraforge.platform.jobs.worker`` (what ``azuraforge serve`` starts for the
local transport, and what ``azuraforge worker`` runs) polls the store for queued runs.
The Celery transport calls :meth:`Worker.run_one` for the run a task names.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import replace

from opentelemetry.trace import SpanKind, Status, StatusCode

from azuraforge.apps.registry import declared
from azuraforge.learn.plugin_folder import load_folder
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.ahead import LastJob
from azuraforge.platform.jobs.context import SPOOL_NAME
from azuraforge.platform.jobs.duties import REAPER, DutyLease
from azuraforge.platform.jobs.kinds import JobHost, get_kind, job_kinds
from azuraforge.platform.jobs.process import KeptProcesses
from azuraforge.platform.jobs.run_files import drop_ended_folders, keep_left_files, left_folders
from azuraforge.platform.jobs.supervision import Supervision, job_process, supervise
from azuraforge.platform.jobs.wake import WAKE_FILE, Alarm
from azuraforge.platform.prometheus import LEASE_LOSSES, LEASES_REAPED, WORKERS
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Lease, Store, is_unavailable
from azuraforge.platform.store.states import FAILED, FINISHED_STATES, LOST, QUEUED
from azuraforge.platform.tracing import carried, span_from, start_tracing

_log = logging.getLogger(__name__)


def worker_name() -> str:
    """``host:pid:random`` — unique per worker process, readable in the run's row."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Runs queued jobs of one store, one at a time, each in a child process (the
    jobs of a process group one after another in one: :class:`KeptProcesses`).

    A worker given a ``parent`` process id (the pool of ``azuraforge serve`` passes its own)
    stops claiming runs once that process is gone: it finishes the run in progress, then
    exits, so a killed ``serve`` leaves no idle workers behind (a worker started for one
    long-lived job stops that job instead: :meth:`stop_when_orphaned`). One given ``skip_kinds``
    claims no job of those kinds (the pool's workers leave streams to workers of their own).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        parent: int | None = None,
        skip_kinds: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        load_folder(settings.plugins_dir)  # the plugin folder's kinds and pipelines, at start
        self.store = store or Store(settings.database_url)
        self.name = worker_name()
        self.parent = parent
        self.skip_kinds = tuple(skip_kinds)
        self.shutdown = threading.Event()
        self._next_reap = 0.0
        self.alarm: Alarm | None = None
        """The local transport's wake-up pipe, while :meth:`run_forever` runs on it."""
        self.host = JobHost(self.store, settings)
        """What the job kinds' ``after`` and ``sweep`` get (and keep) from this worker."""
        self.reaping = DutyLease(self.store, REAPER, self.name, settings)
        """The reaper's duty, taken (or kept) at each :meth:`reap`."""
        self.last_job: LastJob | None = None
        """The kind and pipeline of the last job claimed: what the process forked ahead of
        the next one imports."""
        self.processes = KeptProcesses(settings.jobs_per_process)
        """The job process kept for the next job of its group (a study's next trial), and the
        one forked ahead for the next job (:meth:`prepare`); they exit with :meth:`close`,
        or once the worker is collected."""
        weakref.finalize(self, self.processes.close)

    def run_one(self, experiment_id: int) -> Supervision | None:
        """Claim and run this experiment; ``None`` when it is not queued (already taken,
        cancelled or finished), so a task delivered twice runs once, or is of a kind this
        worker skips."""
        claim_asked_ns = time.time_ns()
        claimed = self.store.claim_job(
            self.name, self.settings.lease_ttl, experiment_id, skip_kinds=self.skip_kinds
        )
        return None if claimed is None else self._supervise(*claimed, claim_asked_ns)

    def run_until_ended(self, experiment_id: int) -> None:
        """Run this job as :meth:`run_one` does, and again each time it is queued again (a
        restart) once its backoff is over, looking each second (a job cancelled meanwhile).
        Returns once it ended, another worker took it, or this one is stopping (its job is
        then queued again or ends ``cancelled``); an unreachable store is waited for."""
        while not self.shutdown.is_set():
            try:
                if self.run_one(experiment_id) is not None:
                    continue
                record = self.store.find_experiment(experiment_id)
                backoff = self.store.backoff_left(experiment_id)  # by the database's clock
            except Exception as e:
                self._wait_out(e)
                continue
            if record is None or record.status != QUEUED:
                return
            self.shutdown.wait(min(max(backoff, 0.05), 1.0))

    def run_next(self) -> Supervision | None:
        """Claim the oldest queued experiment (not of :attr:`skip_kinds`) and run it; ``None``
        when none is queued."""
        claim_asked_ns = time.time_ns()
        claimed = self.store.claim_job(
            self.name, self.settings.lease_ttl, skip_kinds=self.skip_kinds
        )
        return None if claimed is None else self._supervise(*claimed, claim_asked_ns)

    def _supervise(
        self, lease: Lease, record: ExperimentRecord, claim_asked_ns: int
    ) -> Supervision:
        """Run the leased job (``record``, its row as claimed, the claim asked at
        ``claim_asked_ns`` nanoseconds since the epoch) under a span of the trace that queued
        it, then its kind's ``after`` (a trial advances its study)."""
        declared()  # the job's process inherits the pipelines' declarations, read once here
        self.last_job = LastJob(record.kind, record.pipeline)
        attributes = {"azuraforge.job.id": record.id, "azuraforge.job.kind": record.kind,
                      "azuraforge.job.attempt": record.attempts,
                      "process.pid": os.getpid()}  # fmt: skip
        with span_from(record.context, f"job {record.kind}", attributes, SpanKind.CONSUMER,
                       start_time=claim_asked_ns) as span:  # fmt: skip
            span.add_event("claimed")
            under_span = replace(record, context={**(record.context or {}), **carried()})
            supervision = supervise(
                self.store, lease, self.settings, self.shutdown, self.processes, under_span
            )
            span.set_attribute("azuraforge.job.status", supervision.status)
            if supervision.status in (FAILED, LOST):
                span.set_status(Status(StatusCode.ERROR))
            if supervision.status == LOST:
                LEASE_LOSSES.inc()
        try:
            host = self.host.seen_from(record.project)
            get_kind(record.kind).after(host, replace(record, status=supervision.status))
        except Exception as e:  # a kind never stops its worker
            logged_failure(f"the {record.kind} kind's step after the job", e)
        return supervision

    def prepare(self) -> None:
        """Fork the process of the next job now, while this worker has nothing to run
        (:meth:`KeptProcesses.prepare`): the job starts in it without waiting for a fork
        and a store connection."""
        declared()  # as before each fork: the process finds the pipelines' declarations read
        try:
            self.processes.prepare(
                lambda: job_process(self.store, self.settings, last=self.last_job)
            )
        except OSError as e:  # no fork now: the next job forks its process, as it did
            logged_failure("forking the next job's process ahead", e)

    def reap(self) -> None:
        """One pass of the reaper (:func:`reap`), at most once a ``reaper_interval``, when
        this worker holds the reaper's duty (or takes it now): while another process holds
        it, that one reaps. Every worker tidies its machine's job folders in the same pass
        (:func:`tidy_work_folders`)."""
        if time.monotonic() < self._next_reap:
            return
        self._next_reap = time.monotonic() + self.settings.reaper_interval
        if self.reaping.hold():
            reap(self.host)
        tidy_work_folders(self.settings, self.store)

    def run_forever(self) -> None:
        """Poll for queued runs until :attr:`shutdown` is set (SIGTERM or SIGINT) or the
        parent process is gone."""
        _log.info("worker %s polling %s", self.name, self.store.shown_url)
        if self.settings.transport == "local":  # a submit wakes an idle worker at once
            self.alarm = Alarm(self.settings.home / WAKE_FILE)
        WORKERS.inc()
        try:
            self._poll()
        finally:
            WORKERS.dec()
            self.close()

    def close(self) -> None:
        """Let the kept job process exit, stop listening for submits, and hand the reaper's
        duty back if this worker holds it."""
        self.processes.close()
        self.reaping.release()
        alarm, self.alarm = self.alarm, None  # a late signal no longer rings it
        if alarm is not None:
            alarm.close()

    def _poll(self) -> None:
        while not self.shutdown.is_set():
            if self.orphaned():
                _log.warning("worker %s: its parent %s is gone; exiting", self.name, self.parent)
                return
            try:
                self.reap()
                if self.run_next() is None:
                    self.processes.expire()
                    self.prepare()
                    self._idle(self.settings.poll_interval)
            except Exception as e:
                self._wait_out(e)

    def _wait_out(self, error: Exception) -> None:
        """Wait a second after the store was unreachable (``error``), saying so; raise any
        other error."""
        if not is_unavailable(error):
            raise error
        _log.warning("store unreachable, retrying: %s", error)
        self.shutdown.wait(1.0)

    def _idle(self, seconds: float) -> None:
        """Wait ``seconds``, or less when a job is queued (local transport) or the worker
        is asked to stop."""
        if self.alarm is None:
            self.shutdown.wait(seconds)
        elif not self.shutdown.is_set():
            self.alarm.wait(seconds)

    def stop_when_orphaned(self) -> None:
        """Stop as SIGTERM does once the parent process is gone (checked each second): the
        job in progress stops, and is queued again or ends ``cancelled``."""
        while not self.shutdown.wait(1.0):
            if self.orphaned():
                _log.warning("worker %s: its parent %s is gone; stopping", self.name, self.parent)
                self._stop()

    def orphaned(self) -> bool:
        """Whether the worker had a parent process and it has ended."""
        return self.parent is not None and os.getppid() != self.parent

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT stop claiming and stop the run in progress: it is queued
        again when its pipeline re-queues lost runs, else ends ``cancelled`` saying its
        worker was shut down."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stop())

    def _stop(self) -> None:
        self.shutdown.set()
        if self.alarm is not None:
            self.alarm.ring()


def reap(host: JobHost[Store]) -> None:
    """One pass of the reaper's duty: mark runs whose lease expired as lost (or queued again),
    each lost one's kind cleaning what it left (:func:`clean_lost`), then let each job kind
    sweep (a study left with no trial queued or running advances)."""
    clean_lost(host, reap_leases(host.store))
    abort_unfinished_writes(host)
    sweep_kinds(host)


UNFINISHED_AFTER = 24 * 3600.0
"""Age after which a write to the blob store that never finished is dropped (a day: the
largest model's files upload in minutes; one writing longer would lose its upload)."""
UNFINISHED_EVERY = 600.0
"""Seconds between two looks for unfinished writes (a listing of the whole bucket)."""


def abort_unfinished_writes(host: JobHost[Store], older_than: float = UNFINISHED_AFTER) -> int:
    """Drop the blob store's writes that never finished, started ``older_than`` seconds ago
    or more (an object store's multipart uploads whose writer was killed: the bucket keeps,
    and bills, their parts until they are aborted), at most once an ``UNFINISHED_EVERY`` in
    a reaper's life; how many. A failure is logged: the next look tries again."""
    due = host.keep("unfinished writes", lambda: [0.0])
    if time.monotonic() < due[0]:
        return 0
    due[0] = time.monotonic() + UNFINISHED_EVERY
    try:
        dropped = open_blobs(host.settings).abort_unfinished(older_than)
    except Exception as e:
        logged_failure("dropping the blob store's unfinished writes", e)
        return 0
    if dropped:
        _log.warning("dropped %d writes to the blob store that never finished", dropped)
    return dropped


def clean_lost(host: JobHost[Store], reaped: Sequence[tuple[int, str]]) -> None:
    """Let the kind of each job ``reaped`` ``lost`` clean what it left (a prediction's inputs:
    :meth:`~azuraforge.platform.jobs.kinds.JobKind.lost`); a failure is logged, and what is
    left stays (its row says where: deleting the job deletes it)."""
    for experiment_id, status in reaped:
        if status != LOST:
            continue
        try:
            record = host.store.get_experiment(experiment_id)
            get_kind(record.kind).lost(host.seen_from(record.project), record)
        except Exception as e:  # a kind never stops the reaper
            logged_failure(f"cleaning what lost job {experiment_id} left", e)


def tidy_work_folders(settings: Settings, store: Store) -> list[int]:
    """The pass every worker makes over its machine's job folders (they are on this machine
    alone): copy to the blob store the files of the jobs whose end could not
    (:func:`~azuraforge.platform.jobs.run_files.keep_left_files`), and delete the folders of
    jobs that ended without deleting theirs (their worker died under them:
    :func:`~azuraforge.platform.jobs.run_files.drop_ended_folders`). The ids of the jobs
    whose files are now kept."""
    kept: list[int] = []
    try:
        if left_folders(settings.work_dir):
            blobs = open_blobs(settings)
            kept = keep_left_files(settings.work_dir, blobs, leave=[SPOOL_NAME])
        drop_ended_folders(settings.work_dir, lambda job: _ended(store, job))
    except Exception as e:  # never stops a worker: the next pass tries again
        logged_failure("tidying this machine's job folders", e)
    return kept


def _ended(store: Store, experiment_id: int) -> bool:
    found = store.find_experiment(experiment_id)
    return found is None or found.status in FINISHED_STATES


def reap_leases(store: Store) -> list[tuple[int, str]]:
    """Mark runs whose lease expired as lost (or queued again), each logged and counted;
    ``(id, new status)`` of each."""
    reaped = store.reap_expired()
    for experiment_id, status in reaped:
        LEASES_REAPED.labels(status).inc()
        _log.warning("experiment %d: lease expired, now %s", experiment_id, status)
    return reaped


def sweep_kinds(host: JobHost[Store]) -> None:
    """Each job kind's ``sweep``; a failure (of a kind, or of finding the kinds: two
    distributions claiming one name) is logged, not raised: the next pass tries again, and a
    broken kind never stops a worker from running jobs."""
    try:
        kinds = job_kinds()
    except Exception as e:
        _log.warning("the job kinds could not be read: %s: %s", type(e).__name__, e)
        return
    for name, kind in kinds.items():
        try:
            kind.sweep(host)
        except Exception as e:
            logged_failure(f"the {name} kind's sweep", e)


def logged_failure(what: str, error: Exception) -> None:
    """Log that ``what`` failed with ``error``, with its traceback unless the store was
    unreachable (then the message says all): for the steps a worker survives."""
    _log.warning("%s failed: %s: %s", what, type(error).__name__, error,
                 exc_info=not is_unavailable(error))  # fmt: skip


def main() -> None:
    """Entry point of ``python -m azuraforge.platform.jobs.worker [--parent PID]
    [--skip-kinds KIND,...] [--job ID]``."""
    parser = argparse.ArgumentParser(description="Run queued jobs of the store.")
    parser.add_argument("--parent", type=int, help="exit once this process is gone")
    parser.add_argument("--skip-kinds", default="", help="claim no job of these kinds (a,b)")
    parser.add_argument("--job", type=int, help="run this queued job until it ends, then exit")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the schema check's chatter
    skipped = [kind for kind in arguments.skip_kinds.split(",") if kind]
    start_tracing("azuraforge-worker")  # before the store is opened: its statements traced
    worker = Worker(Settings(), parent=arguments.parent, skip_kinds=skipped)
    worker.stop_on_signals()
    if arguments.job is None:
        worker.run_forever()
        return
    threading.Thread(target=worker.stop_when_orphaned, daemon=True).start()
    try:
        worker.run_until_ended(arguments.job)
    finally:
        worker.close()


if __name__ == "__main__":
    main()

"""Running one leased job: its kind in a child process, supervised by its worker.

The worker (parent) keeps the lease: it renews it every ``heartbeat_interval`` and checks
for a cancel request every ``poll_interval``, independent of how long the run takes. The
child runs the pipeline with a :class:`StoreContext` and records the end itself. Cancel is
cooperative first (SIGUSR1: the run stops at its next batch), then forced after
``cancel_grace`` (SIGKILL). The worker shutting down stops the run the same way (SIGUSR2),
recorded as what it is: queued again when its pipeline re-queues lost runs, else
``cancelled`` saying the worker was shut down. A child that dies is recorded as failed by
the parent; a parent that dies leaves the child orphaned, which stops at its next batch and
records the run ``lost`` (or queued again), saying its worker died; a child that cannot
stops writing when its lease expires, and the reaper marks the run ``lost``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from azuraforge.errors import (
    BlobStoreUnavailableError,
    DataFormatError,
    DatasetUnavailableError,
    InvalidParameterError,
    LeaseLostError,
    public_message,
)
from azuraforge.platform.blobs import BlobStore, open_blobs
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.files import DataFolder, data_folder_of
from azuraforge.platform.jobs.kinds import JobKind, RestartPolicy, get_kind
from azuraforge.platform.jobs.output import OutputCapture
from azuraforge.platform.jobs.process import (
    RECORDED,
    STARTED,
    JobEnd,
    JobProcess,
    KeptProcesses,
    read_job,
    write_end,
)
from azuraforge.platform.jobs.queueing import submit_again
from azuraforge.platform.jobs.restarts import (
    RESTART_SIGNAL,
    Restart,
    Watchdog,
    after_crash,
    gave_up,
    restart_or_give_up,
)
from azuraforge.platform.jobs.run_files import FILES_LEFT_ON, LEFT_MARK, leave_folder
from azuraforge.platform.prometheus import LEASE_RENEWALS
from azuraforge.platform.redaction import Redaction
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import (
    ExperimentRecord,
    Lease,
    Store,
    is_disk_full,
    is_unavailable,
)
from azuraforge.platform.store.interfaces import JobView
from azuraforge.platform.store.scope import JobStore
from azuraforge.platform.store.states import (
    CANCELLED,
    FAILED,
    FINISHED_STATES,
    LOST,
    QUEUED,
)
from azuraforge.platform.tracing import flush, span_from
from azuraforge.system_metrics import SystemSampler

_log = logging.getLogger(__name__)
USER_ERRORS = (DataFormatError, DatasetUnavailableError, InvalidParameterError)
"""What the run was given was wrong (its data, a setting): logged as its message alone."""

_FAILED, _LEASE_LOST, _HANDED_BACK = 1, 3, 4
"""End codes of a job besides :data:`~azuraforge.platform.jobs.process.RECORDED`: its process
failed outside the job's code, its lease was lost, it was handed back to be restarted."""
HANDED_BACK = "handed back"
"""What :func:`execute` returns for a job that stopped at a step boundary to be restarted:
nothing is recorded, its worker queues it again."""
CANCEL_SIGNAL, SHUTDOWN_SIGNAL = signal.SIGUSR1, signal.SIGUSR2
"""What a worker sends its run's process: someone asked the run to stop; the worker stops."""
JOB_SIGNALS = {CANCEL_SIGNAL, SHUTDOWN_SIGNAL, RESTART_SIGNAL}
WORKER_SHUT_DOWN = "stopped because its worker was shut down"


@dataclass(frozen=True)
class Interruption:
    """A run stopped by its worker's end rather than by a cancel request: ``status`` it ends
    with unless its pipeline re-queues lost runs, and why."""

    status: str
    reason: str


class RunStop:
    """What stops a supervised run, as its process sees it: a cancel request (its worker
    sends :data:`CANCEL_SIGNAL`), the worker shutting down (:data:`SHUTDOWN_SIGNAL`), a
    restart (:data:`~azuraforge.platform.jobs.restarts.RESTART_SIGNAL`), or the worker gone
    (the process's parent is no longer ``parent``). Calling it is the run's cheap
    once-a-batch check."""

    def __init__(self, parent: int, worker: str) -> None:
        self.parent, self.worker = parent, worker
        self.cancelled = threading.Event()
        self.shutdown = threading.Event()
        self.restart = threading.Event()

    def __call__(self) -> bool:
        return (
            self.cancelled.is_set()
            or self.shutdown.is_set()
            or self.restart.is_set()
            or self.worker_gone()
        )

    def signalled(self, signum: int) -> None:
        """Note the worker's signal ``signum`` (one of :data:`JOB_SIGNALS`)."""
        {CANCEL_SIGNAL: self.cancelled, SHUTDOWN_SIGNAL: self.shutdown,
         RESTART_SIGNAL: self.restart}[signum].set()  # fmt: skip

    def handing_back(self) -> bool:
        """Whether the run stops to be restarted (and for nothing else)."""
        return self.restart.is_set() and not self.cancelled.is_set() and not self.shutdown.is_set()

    def worker_gone(self) -> bool:
        """Whether the worker process died (this process was handed to another parent)."""
        return os.getppid() != self.parent

    def interruption(self) -> Interruption | None:
        """Why the run stopped when no one cancelled it: ``None`` after a cancel request."""
        if self.cancelled.is_set():
            return None
        if self.shutdown.is_set():
            return Interruption(CANCELLED, WORKER_SHUT_DOWN)
        if self.worker_gone():
            return Interruption(
                LOST,
                f"its worker {self.worker} (process {self.parent}) died while the run was "
                "running; the run stopped at its next batch",
            )
        return None


def execute(
    store: Store,
    lease: Lease,
    settings: Settings,
    stop_requested: Any = lambda: False,
    show_progress: bool = False,
    interrupted: Any = lambda: None,
    output: OutputCapture | None = None,
    handing_back: Callable[[], bool] = lambda: False,
    record: ExperimentRecord | None = None,
    blobs: BlobStore | None = None,
) -> str:
    """Run the experiment ``lease`` holds through its kind and record how it ended.

    ``interrupted()`` says why a run that stopped as if cancelled was stopped, when no one
    asked (:meth:`RunStop.interruption`); ``handing_back()`` whether it stopped to be
    restarted (then nothing is recorded: :data:`HANDED_BACK`). A job whose kind has a
    restart policy and that fails with an error that is not the user's is restarted after a
    backoff (:func:`~azuraforge.platform.jobs.restarts.after_crash`). What ``output``
    captures (the process's stdout and stderr) is kept among the run's log lines. The run's
    log keeps the full message of an error; its recorded ``error``, which the API shows, is
    the error's public form with the server's places taken out (a data file named relative
    to its project's data folder, a file of the run relative to its folder:
    :class:`~azuraforge.platform.redaction.Redaction`).

    ``record`` is the job's row when its worker read it after the claim (else it is read).
    The job's code, its kind's and its context's, gets the store as the job's project sees
    it, writing through the job's own lease alone
    (:class:`~azuraforge.platform.store.scope.JobStore`): ids and names in its config that
    are another project's name nothing. The job writes its files into a folder of this
    machine (``settings.work_dir/<id>``), kept in ``blobs`` (by default the settings' blob
    store) when its code returned (:meth:`StoreContext.keep_files`), and removed when it
    ended. A job whose files the store cannot take (down) fails, saying on which machine its
    folder is kept until a worker there copies it (:func:`_files_left`).

    Returns the final status (``lost`` when the lease was lost and nothing was recorded).
    """
    record = record or store.get_experiment(lease.experiment_id)
    seen = JobStore(store, record.project, lease)
    files = blobs or open_blobs(settings)
    folder = data_folder_of(settings, record.project, files, store)
    ctx = _job_context(seen, lease, settings, record, folder, files, stop_requested, show_progress)
    try:
        if output is not None:
            output.attach(ctx.log_output)
        ended = _run_kind(seen, record, settings, ctx)
        if output is not None:
            output.stop()  # its last lines reach the context before it closes
        redact = Redaction(settings, inside=[ctx.output_dir, folder.root, *folder.copies])
        return _record_end(store, lease, settings, ctx, ended, redact, interrupted, handing_back)
    finally:
        if not (ctx.output_dir / LEFT_MARK).exists():  # the blob store keeps its files
            shutil.rmtree(ctx.output_dir, ignore_errors=True)


def _record_end(
    store: Store,
    lease: Lease,
    settings: Settings,
    ctx: StoreContext,
    ended: _KindEnd,
    redact: Redaction,
    interrupted: Any,
    handing_back: Callable[[], bool],
) -> str:
    """Record how the job ``ended`` (:func:`execute` says how); its final status."""
    if _finished_in_last_flush(ctx, ended, redact):
        return ended.status
    ctx.close()
    if ctx.lease_lost:
        return FAILED if ctx.settled else LOST
    status, error = ctx.end_status(ended.status, ended.error)
    if status == CANCELLED and handing_back():
        return HANDED_BACK
    interruption = interrupted() if status == CANCELLED else None
    if interruption is not None:
        return end_interrupted(store, lease, settings, interruption, ended.result)
    error = None if error is None else redact(error)
    if ended.crash_policy is not None:
        return after_crash(store, lease, settings, ended.crash_policy, f"the job failed: {error}")
    store.finish(lease, status, error=error, result=ended.result)
    return status


def _job_context(
    seen: JobView,
    lease: Lease,
    settings: Settings,
    record: ExperimentRecord,
    folder: DataFolder,
    blobs: BlobStore,
    stop_requested: Any,
    show_progress: bool,
) -> StoreContext:
    """The context of the job ``record`` (its folder, the settings' limits), writing to the
    store as the job sees it (``seen``), reading files from its project's ``folder`` and
    keeping its own in ``blobs``. Its folder is ``work_dir/<id>`` on this machine, emptied
    first (an earlier try of the job may have left files there)."""
    work = settings.work_dir / str(record.id)
    shutil.rmtree(work, ignore_errors=True)
    return StoreContext(
        seen,
        lease,
        work,
        stop_requested=stop_requested,
        flush_interval=settings.flush_interval,
        show_progress=show_progress,
        data_folder=folder,
        output_limit=settings.output_limit,
        held_points=settings.held_points,
        blobs=blobs,
        full_disk_limit=settings.lease_ttl,
    )


def _finished_in_last_flush(ctx: StoreContext, ended: _KindEnd, redact: Redaction) -> bool:
    """Whether the context's last flush recorded how the job ``ended``
    (:meth:`StoreContext.finish`); not tried for a cancel, or a crash of a job with a restart
    policy, whose end is decided once the context closed."""
    if ended.crash_policy is not None or ended.status == CANCELLED:
        return False
    error = None if ended.error is None else redact(ended.error)
    return ctx.finish(ended.status, error, ended.result)


@dataclass(frozen=True)
class _KindEnd:
    """How a job's kind ended: its status, its error's public form, its result, and its
    restart policy when it crashed (an error that is not the user's; ``None`` otherwise)."""

    status: str
    error: str | None = None
    result: dict[str, Any] | None = None
    crash_policy: RestartPolicy | None = None


def _run_kind(
    seen: JobView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
) -> _KindEnd:
    """Run the job ``record`` through its kind and keep the files it wrote; an error is
    logged (a traceback with it unless it is the user's) and ends the job failed."""
    policy: RestartPolicy | None = None
    try:
        kind = get_kind(record.kind)
        policy = kind.restart_policy(record)
        with _system_metrics(kind, settings, ctx):
            status, result = kind.run(seen, record, settings, ctx)
        try:
            ctx.keep_files()
        except BlobStoreUnavailableError as e:
            return _files_left(ctx, result, e)
    except Exception as e:
        failure = f"{type(e).__name__}: {e}"
        error = f"{type(e).__name__}: {public_message(e)}"
        if isinstance(e, USER_ERRORS):  # its message says what to change; a traceback is noise
            ctx.logger.error("run failed: %s", failure)
            return _KindEnd(FAILED, error)
        ctx.logger.error("run failed: %s\n%s", failure, traceback.format_exc())
        return _KindEnd(FAILED, error, crash_policy=policy)
    return _KindEnd(status, result=result)


def _files_left(
    ctx: StoreContext, result: dict[str, Any] | None, error: BlobStoreUnavailableError
) -> _KindEnd:
    """The end of a job whose files the blob store could not take: failed, its folder kept
    on this machine (the run's log says where) until a worker here copies it
    (:func:`~azuraforge.platform.jobs.run_files.keep_left_files`), its result naming the
    machine (:data:`~azuraforge.platform.jobs.run_files.FILES_LEFT_ON`)."""
    host = socket.gethostname()
    leave_folder(ctx.output_dir)
    ctx.logger.error("the run's files could not be copied to the file store (%s): they are "
                     "kept in %s on machine %r, and copied once it answers again",
                     error, ctx.output_dir, host)  # fmt: skip
    return _KindEnd(
        FAILED,
        f"BlobStoreUnavailableError: the run's files could not be copied to the file store "
        f"({error.public}): they are kept on machine {host!r} until it takes them",
        result={**(result or {}), FILES_LEFT_ON: host},
    )


def _system_metrics(
    kind: JobKind, settings: Settings, ctx: StoreContext
) -> contextlib.AbstractContextManager[object]:
    """Sampling of the job's process (its CPU, memory and threads, as ``system/...``
    metrics: :mod:`azuraforge.system_metrics`) while a run of a kind the run list shows
    runs, every ``settings.system_metrics_interval`` seconds (0: none)."""
    interval = settings.system_metrics_interval
    if not (kind.listed and interval > 0):
        return contextlib.nullcontext()
    return SystemSampler(ctx.log_metrics, interval)


def end_interrupted(
    store: Store,
    lease: Lease,
    settings: Settings,
    interruption: Interruption,
    result: dict[str, Any] | None = None,
) -> str:
    """Record a run its worker's end stopped: ``cancelled`` after all if someone asked
    meanwhile, else as :meth:`Store.interrupt` does (queued again, and its workers told, when
    its pipeline re-queues lost runs). Returns the new status."""
    if store.cancel_requested(lease.experiment_id):  # asked too: a cancel, as asked
        store.finish(lease, CANCELLED, result=result)
        return CANCELLED
    status = store.interrupt(lease, interruption.status, error=interruption.reason, result=result)
    if status == QUEUED:
        _log.warning("experiment %d: %s; queued again", lease.experiment_id, interruption.reason)
        submit_again(settings, lease.experiment_id)
    return status


@dataclass
class Supervision:
    """How a supervised run ended, as the worker saw it."""

    status: str
    forced: bool = False


def supervise(
    store: Store,
    lease: Lease,
    settings: Settings,
    shutdown: threading.Event | None = None,
    kept: KeptProcesses | None = None,
    record: ExperimentRecord | None = None,
) -> Supervision:
    """Run ``lease``'s experiment in a forked process, keep the lease, relay cancellation.

    Setting ``shutdown`` (the worker is stopping) stops the run as a cancel request does,
    recorded as :meth:`RunStop.interruption` says. A job whose kind has a ``cancel_grace``
    (0 for a prediction, which has nothing to save) has that long to stop; one whose kind has
    a restart policy is watched (:class:`~azuraforge.platform.jobs.restarts.Watchdog`), and
    fails at once when its workers were lost too many times in a row. A job of a process
    group runs in the process ``kept`` holds for the group, if any, which keeps it for the
    group's next job (:class:`~azuraforge.platform.jobs.process.KeptProcesses`). ``record``
    is the job's row as read after the claim (else it is read here).
    """
    record = record or store.get_experiment(lease.experiment_id)
    grace, policy, group = _kind_terms(record)
    if (
        policy is not None
        and policy.crashes_in_a_row(record.restart_history) > policy.max_restarts
    ):
        return _give_up(store, lease, policy, record.restart_history or [])
    if grace is not None:
        settings = settings.model_copy(update={"cancel_grace": grace})
    kept = kept or KeptProcesses(jobs_per_process=1)
    process = _started(kept, group, store, lease, record, settings)
    try:
        watchdog = None if policy is None else Watchdog(policy, process.pid)
        return _supervise_child(
            store, lease, settings, process, shutdown or threading.Event(), watchdog
        )
    finally:
        kept.put_back(process)


def _kind_terms(record: ExperimentRecord) -> tuple[float | None, RestartPolicy | None, str | None]:
    """The job's kind's ``cancel_grace``, restart policy and process group (none for a job
    with a restart policy: its memory limit is its own process's); ``None`` for each when
    the kind does not load, whose job then fails in its own process, saying why."""
    try:
        kind = get_kind(record.kind)
        policy = kind.restart_policy(record)
        group = kind.process_group(record) if policy is None else None
        return kind.cancel_grace, policy, group
    except Exception:  # any failure of a kind's code: its job fails in its process, saying why
        return None, None, None


def _started(
    kept: KeptProcesses,
    group: str | None,
    store: Store,
    lease: Lease,
    record: ExperimentRecord,
    settings: Settings,
) -> JobProcess:
    """A process running ``lease``'s job: the one kept for ``group``, or a new one."""
    parent = os.getpid()

    def fork() -> JobProcess:
        def loop(leases: int, ends: int) -> NoReturn:
            _job_loop(store, settings, parent, leases, ends)

        # Held until the job's process has its handlers: their default action would kill it.
        return JobProcess(loop, group, blocked=JOB_SIGNALS)

    return kept.start(group, lease, record, fork)


def _give_up(
    store: Store, lease: Lease, policy: RestartPolicy, history: list[dict[str, Any]]
) -> Supervision:
    """Fail a job claimed after more crashes in a row than its policy restarts (its workers
    died under it: the reaper queued it again each time)."""
    crashes = policy.crashes_in_a_row(history)
    _finish_quietly(store, lease, FAILED, gave_up(policy, crashes, history[-1]["detail"]))
    return Supervision(FAILED)


class _CurrentJob:
    """The job a process runs now, for the process's signal handlers: a signal between two
    jobs (meant for the one that just ended) stops nothing."""

    def __init__(self) -> None:
        self.stop: RunStop | None = None

    def signalled(self, signum: int, _frame: object) -> None:
        if self.stop is not None:
            self.stop.signalled(signum)


def _job_loop(store: Store, settings: Settings, parent: int, leases: int, ends: int) -> NoReturn:
    """The job's process: run each job its worker sends, write how it ended, until the worker
    sends no more or a job did not end cleanly (then the process is not used again). Its jobs
    keep their files in one blob store, opened here (an object store's client is not shared
    with the worker it was forked from)."""
    code, reusable = RECORDED, True
    try:
        store.engine.dispose(close=False)  # new connections; the compiled statements are kept
        blobs = open_blobs(settings)
        # The worker alone decides how its run ends: Ctrl-C in a terminal, or a service
        # manager, signals the whole group; the worker then stops the run (SIGUSR2).
        # Left at their defaults these killed the run, recorded as failed. An orphaned run
        # still stops: it checks that its worker lives.
        for ignored in (signal.SIGINT, signal.SIGTERM):
            signal.signal(ignored, signal.SIG_IGN)
        current = _CurrentJob()
        for signum in JOB_SIGNALS:
            signal.signal(signum, current.signalled)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, JOB_SIGNALS)  # blocked by its worker
        while code == RECORDED and reusable and (job := read_job(leases)) is not None:
            lease, record = job
            # Before STARTED: the worker signals a job only once it read that.
            current.stop = stop = RunStop(parent, lease.owner)
            os.write(ends, bytes([STARTED]))
            code, status, reusable = _run_job(store, lease, record, settings, stop, blobs)
            current.stop = None
            write_end(ends, code, status)
            flush()  # its spans, once its worker knows how it ended
    except BrokenPipeError:  # the worker died: the job recorded that it was lost
        pass
    except BaseException:
        traceback.print_exc()
        code = _FAILED
    finally:
        flush()  # os._exit sends nothing
        os._exit(code)


def _run_job(
    store: Store,
    lease: Lease,
    record: ExperimentRecord,
    settings: Settings,
    stop: RunStop,
    blobs: BlobStore,
) -> tuple[int, str | None, bool]:
    """Run one job (its row as its worker read it after the claim) in this process; its end
    code, the status it recorded, and whether the process may run another job (not when
    something the job started still holds its output)."""
    output = OutputCapture()
    attributes = {"azuraforge.job.id": record.id, "azuraforge.job.kind": record.kind,
                  "process.pid": os.getpid()}  # fmt: skip
    try:
        with span_from(record.context, f"run {record.kind}", attributes) as span:
            output.start()
            status = execute(
                store, lease, settings, stop, interrupted=stop.interruption, output=output,
                handing_back=stop.handing_back, record=record, blobs=blobs,
            )  # fmt: skip
            span.set_attribute("azuraforge.job.status", status)
    except LeaseLostError:
        output.stop()
        return _LEASE_LOST, None, False
    except BaseException:
        output.stop()  # the traceback goes to the worker's output, not the run's
        traceback.print_exc()
        return _FAILED, None, False
    code = _END_CODES.get(status, RECORDED)
    # execute stopped the capture; stopping again says whether every line was read
    return code, status if code == RECORDED else None, output.stop()


_END_CODES = {LOST: _LEASE_LOST, HANDED_BACK: _HANDED_BACK}


def _supervise_child(
    store: Store,
    lease: Lease,
    settings: Settings,
    process: JobProcess,
    shutdown: threading.Event,
    watchdog: Watchdog | None,
) -> Supervision:
    """Watch the child running the job under ``lease`` until its run ended; how it did."""
    supervisor = _Supervisor(store, lease, settings, process, watchdog)
    while (supervision := supervisor.poll(shutdown)) is None:
        pass
    return supervision


class _Supervisor:
    """One child's supervision: what it remembers between polls, and a step per decision."""

    def __init__(
        self,
        store: Store,
        lease: Lease,
        settings: Settings,
        process: JobProcess,
        watchdog: Watchdog | None,
    ) -> None:
        self.store, self.lease, self.settings = store, lease, settings
        self.process, self.watchdog = process, watchdog
        self.next_renewal = time.monotonic() + settings.heartbeat_interval
        self.cancelled_at: float | None = None
        """When the child was asked to stop (a cancel request or its worker's shutdown)."""
        self.asked = False
        """Whether that was a cancel request."""
        self.full_disk = False
        """Whether a renewal failed for a full disk since the last one that succeeded."""

    def poll(self, shutdown: threading.Event) -> Supervision | None:
        """Wait a poll interval, then decide; how the run ended, or ``None`` while it runs."""
        self.process.wait(self.settings.poll_interval)
        end = self.process.ended()
        if end is not None:
            return self._ended(end)
        try:
            cancel = self._renew_or_check()
        except LeaseLostError as e:
            return self._lease_lost(e)
        except Exception as e:
            if not is_unavailable(e):
                raise
            self._store_unavailable(e)
            return None
        self._ask_to_stop(cancel, shutdown)
        if self.cancelled_at is not None:
            return self._past_grace(self.cancelled_at)
        return self._overdue()

    def _ended(self, end: JobEnd) -> Supervision:
        return _ended(self.store, self.lease, self.settings, end, self.watchdog)

    def _renew_or_check(self) -> bool:
        """Renew the lease when due, else read whether the run's cancel was requested."""
        if time.monotonic() < self.next_renewal:
            return self.store.cancel_requested(self.lease.experiment_id)
        cancel = self.store.renew(self.lease, self.settings.lease_ttl)
        LEASE_RENEWALS.inc()
        self.next_renewal = time.monotonic() + self.settings.heartbeat_interval
        self.full_disk = False
        return cancel

    def _lease_lost(self, error: LeaseLostError) -> Supervision:
        """A renewal found the lease lost: the child's own end, or the run killed."""
        if self.full_disk or _recorded(self.store, self.lease):
            # The child recorded the end (releasing the lease) just before this renewal,
            # or, reaped while the store's disk was full, records why (context.py).
            return self._ended(self.process.wait_end(self.settings.cancel_grace + 2.0))
        _log.warning("%s; stopping the run", error)
        self.process.kill()
        return Supervision(LOST, forced=True)

    def _store_unavailable(self, error: Exception) -> None:
        """Note an outage of the store: the lease not renewed, maybe for a full disk."""
        self.full_disk = self.full_disk or is_disk_full(error)
        why = "the store's disk is full" if is_disk_full(error) else "store unreachable"
        _log.warning("%s, lease not renewed: %s", why, error)

    def _ask_to_stop(self, cancel: bool, shutdown: threading.Event) -> None:
        """Signal the child once, for a cancel request or its worker's shutdown."""
        if (cancel or shutdown.is_set()) and self.cancelled_at is None:
            self.cancelled_at, self.asked = time.monotonic(), cancel
            os.kill(self.process.pid, CANCEL_SIGNAL if cancel else SHUTDOWN_SIGNAL)

    def _past_grace(self, cancelled_at: float) -> Supervision | None:
        """Kill a child asked to stop (at ``cancelled_at``) ``cancel_grace`` ago, and record
        how it ended."""
        if time.monotonic() - cancelled_at < self.settings.cancel_grace:
            return None
        self.process.kill()
        return _forced_stop(self.store, self.lease, self.settings, self.asked)

    def _overdue(self) -> Supervision | None:
        """Kill a child its watchdog finds overdue, and restart or fail the run."""
        if self.watchdog is None:
            return None
        self.watchdog.check()
        overdue = self.watchdog.overdue()
        if overdue is None:
            return None
        self.process.kill()
        status = after_crash(self.store, self.lease, self.settings, self.watchdog.policy, overdue)
        return Supervision(status, forced=True)


def _forced_stop(store: Store, lease: Lease, settings: Settings, cancelled: bool) -> Supervision:
    """Record a run killed ``cancel_grace`` after a cancel request (or its worker's shutdown)."""
    grace = settings.cancel_grace
    if cancelled:
        error = (
            f"did not stop within {grace:g} s of the cancel request; killed"
            if grace
            else "cancelled; stopped at once"
        )
        _finish_quietly(store, lease, CANCELLED, error)
        return Supervision(CANCELLED, forced=True)
    error = f"{WORKER_SHUT_DOWN}; " + (
        f"it did not stop within {grace:g} s, so it was killed" if grace else "killed at once"
    )
    try:
        status = end_interrupted(store, lease, settings, Interruption(CANCELLED, error))
    except LeaseLostError as e:
        _log.warning("%s", e)
        status = LOST
    return Supervision(status, forced=True)


def _ended(
    store: Store, lease: Lease, settings: Settings, end: JobEnd, watchdog: Watchdog | None
) -> Supervision:
    code = end.code
    if code == RECORDED and end.status is not None:
        return Supervision(end.status)
    if code == _LEASE_LOST:
        return Supervision(LOST)
    if code == _HANDED_BACK and watchdog is not None and watchdog.asked is not None:
        return _handed_back(store, lease, settings, watchdog.policy, watchdog.asked)
    what = _what_ended(end)
    if watchdog is not None:
        detail = f"the job's process {what}"
        return Supervision(after_crash(store, lease, settings, watchdog.policy, detail))
    _finish_quietly(store, lease, FAILED, f"the run's process {what}")
    return Supervision(FAILED)


def _handed_back(
    store: Store, lease: Lease, settings: Settings, policy: RestartPolicy, asked: Restart
) -> Supervision:
    """A run whose process stopped at a step boundary for the restart ``asked``: restarted,
    or given up under ``policy``; cancelled if a cancel was asked too."""
    if store.cancel_requested(lease.experiment_id):  # asked too: a cancel, as asked
        _finish_quietly(store, lease, CANCELLED, "cancelled while restarting")
        return Supervision(CANCELLED)
    return Supervision(restart_or_give_up(store, lease, settings, policy,
                                          asked.reason, asked.detail))  # fmt: skip


def _what_ended(end: JobEnd) -> str:
    """What became of a run's process that ended without recording its end."""
    if end.died:
        code = end.code
        how = f"signal {_signal_name(-code)}" if code < 0 else f"exit code {code}"
        return f"died ({how})"
    # an error outside the job's code, or one execute does not catch (SystemExit)
    return "failed outside the job (its worker's output has the traceback)"


def _signal_name(number: int) -> str:
    """``SIGKILL`` for 9; the number of a signal with no name (a real-time one).

    >>> _signal_name(9), _signal_name(40)
    ('SIGKILL', '40')
    """
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _recorded(store: Store, lease: Lease) -> bool:
    """Whether the run ended under this very lease (the child recorded it: a reaper moves
    the epoch on)."""
    record = store.find_experiment(lease.experiment_id)
    return (
        record is not None
        and record.lease_epoch == lease.epoch
        and (record.status in FINISHED_STATES or record.status == QUEUED)
    )


def _finish_quietly(store: Store, lease: Lease, status: str, error: str) -> None:
    try:
        store.finish(lease, status, error=error)
    except LeaseLostError as e:
        _log.warning("%s", e)

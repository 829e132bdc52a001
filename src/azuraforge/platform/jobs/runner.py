"""Running one leased job: its kind in a child process (:func:`execute`), supervised by its
worker (:mod:`.supervision`).

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
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azuraforge.errors import (
    BlobStoreUnavailableError,
    DataFormatError,
    DatasetUnavailableError,
    InvalidParameterError,
    public_message,
)
from azuraforge.platform.blobs import BlobStore, open_blobs
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.files import DataFolder, data_folder_of
from azuraforge.platform.jobs.kinds import JobKind, RestartPolicy, get_kind
from azuraforge.platform.jobs.output import OutputCapture
from azuraforge.platform.jobs.queueing import submit_again
from azuraforge.platform.jobs.restarts import (
    RESTART_SIGNAL,
    after_crash,
)
from azuraforge.platform.jobs.run_files import FILES_LEFT_ON, LEFT_MARK, leave_folder
from azuraforge.platform.redaction import Redaction
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import (
    ExperimentRecord,
    Lease,
    Store,
)
from azuraforge.platform.store.interfaces import JobView
from azuraforge.platform.store.scope import JobStore
from azuraforge.platform.store.states import (
    CANCELLED,
    FAILED,
    LOST,
    QUEUED,
)
from azuraforge.system_metrics import SystemSampler

_log = logging.getLogger(__name__)
USER_ERRORS = (DataFormatError, DatasetUnavailableError, InvalidParameterError)
"""What the run was given was wrong (its data, a setting): logged as its message alone."""

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
        inside = [ctx.output_dir, folder.root, *folder.copies]

        def redact(error: str) -> str:  # made for an error alone: its patterns cost a run ms
            return Redaction(settings, inside=inside)(error)

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
    redact: Callable[[str], str],
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


def _finished_in_last_flush(
    ctx: StoreContext, ended: _KindEnd, redact: Callable[[str], str]
) -> bool:
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

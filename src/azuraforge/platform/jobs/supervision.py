"""The worker's side of running one leased job (:mod:`.runner` runs it): the job's process,
forked or kept for its group, and the worker's watch over it, which keeps the lease, relays
cancellation and a shutdown, and records how a process that did not record its end ended.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn

from azuraforge.errors import (
    LeaseLostError,
)
from azuraforge.platform.blobs import BlobStore, open_blobs
from azuraforge.platform.jobs.ahead import Imported, LastJob, sample_ahead
from azuraforge.platform.jobs.kinds import RestartPolicy, get_kind
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
from azuraforge.platform.jobs.restarts import (
    Restart,
    Watchdog,
    after_crash,
    gave_up,
    restart_or_give_up,
)
from azuraforge.platform.jobs.runner import (
    CANCEL_SIGNAL,
    HANDED_BACK,
    JOB_SIGNALS,
    SHUTDOWN_SIGNAL,
    WORKER_SHUT_DOWN,
    Interruption,
    RunStop,
    end_interrupted,
    execute,
)
from azuraforge.platform.prometheus import LEASE_RENEWALS
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import (
    ExperimentRecord,
    Lease,
    Store,
    is_disk_full,
    is_unavailable,
)
from azuraforge.platform.store.states import (
    CANCELLED,
    FAILED,
    FINISHED_STATES,
    LOST,
    QUEUED,
)
from azuraforge.platform.tracing import flush, span_from

_log = logging.getLogger(__name__)
_FAILED, _LEASE_LOST, _HANDED_BACK = 1, 3, 4
"""End codes of a job besides :data:`~azuraforge.platform.jobs.process.RECORDED`: its process
failed outside the job's code, its lease was lost, it was handed back to be restarted."""


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
    """A process running ``lease``'s job: the one kept for ``group``, the one ready for
    the next job, or a new one."""
    return kept.start(group, lease, record, lambda: job_process(store, settings, group))


def job_process(
    store: Store, settings: Settings, group: str | None = None, last: LastJob | None = None
) -> JobProcess:
    """A new process of this worker for a job (of ``group``), its store connection and blob
    store opened (and the ``last`` job's kind and pipeline imported, for a process forked
    ahead of its job), waiting for the job (:meth:`JobProcess.start`)."""
    parent = os.getpid()

    def loop(leases: int, ends: int) -> NoReturn:
        _job_loop(store, settings, parent, (leases, ends), last)

    # Held until the job's process has its handlers: their default action would kill it.
    return JobProcess(loop, group, blocked=JOB_SIGNALS)


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


def _job_loop(
    store: Store, settings: Settings, parent: int, pipes: tuple[int, int], last: LastJob | None
) -> NoReturn:
    """The job's process: run each job its worker sends on ``pipes`` (leases, ends), write
    how it ended, until the worker sends no more or a job did not end cleanly (then the
    process is not used again). Its jobs keep their files in one blob store, opened here (an
    object store's client is not shared with the worker it was forked from). While it waits
    for its first job it imports the kind and pipeline of its worker's ``last`` job; it
    leaves its job to a fresh process when the plugins changed since (:mod:`.ahead`)."""
    leases, ends = pipes
    code, reusable = RECORDED, True
    try:
        store.engine.dispose(close=False)  # new connections; the compiled statements are kept
        _connect_ahead(store)
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
        imported = Imported.ahead_of(last)
        if last is not None:  # forked ahead: no job waits yet (a waiting one samples itself)
            sample_ahead(settings.system_metrics_interval)
        job = read_job(leases)
        if not imported.unchanged():  # no STARTED: its worker forks a fresh process for it
            job = None
        while job is not None:
            lease, record = job
            # Before STARTED: the worker signals a job only once it read that.
            current.stop = stop = RunStop(parent, lease.owner)
            os.write(ends, bytes([STARTED]))
            code, status, reusable = _run_job(store, lease, record, settings, stop, blobs)
            current.stop = None
            write_end(ends, code, status)
            flush()  # its spans, once its worker knows how it ended
            job = read_job(leases) if code == RECORDED and reusable else None
    except BrokenPipeError:  # the worker died: the job recorded that it was lost
        pass
    except BaseException:
        traceback.print_exc()
        code = _FAILED
    finally:
        flush()  # os._exit sends nothing
        os._exit(code)


def _connect_ahead(store: Store) -> None:
    """Open a store connection before the job comes (the pool keeps it): a process forked
    ahead of its job has it ready. An unreachable store is the job's to meet, as ever."""
    with contextlib.suppress(Exception):
        store.engine.connect().close()


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

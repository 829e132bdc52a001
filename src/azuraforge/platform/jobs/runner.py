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

import logging
import os
import select
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from azuraforge.errors import (
    DataFormatError,
    DatasetUnavailableError,
    InvalidParameterError,
    LeaseLostError,
    public_message,
)
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import RestartPolicy, get_kind
from azuraforge.platform.jobs.output import OutputCapture
from azuraforge.platform.jobs.restarts import (
    RESTART_SIGNAL,
    Watchdog,
    after_crash,
    gave_up,
    restart_or_give_up,
)
from azuraforge.platform.jobs.transport import submit_again
from azuraforge.platform.redaction import Redaction
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Lease, Store, is_unavailable
from azuraforge.platform.store.states import (
    CANCELLED,
    FAILED,
    FINISHED_STATES,
    LOST,
    QUEUED,
)

_log = logging.getLogger(__name__)
USER_ERRORS = (DataFormatError, DatasetUnavailableError, InvalidParameterError)
"""What the run was given was wrong (its data, a setting): logged as its message alone."""

_EXIT_RECORDED, _EXIT_LEASE_LOST, _EXIT_HANDED_BACK = 0, 3, 4
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
) -> str:
    """Run the experiment ``lease`` holds through its kind and record how it ended.

    ``interrupted()`` says why a run that stopped as if cancelled was stopped, when no one
    asked (:meth:`RunStop.interruption`); ``handing_back()`` whether it stopped to be
    restarted (then nothing is recorded: :data:`HANDED_BACK`). A job whose kind has a
    restart policy and that fails with an error that is not the user's is restarted after a
    backoff (:func:`~azuraforge.platform.jobs.restarts.after_crash`). What ``output``
    captures (the process's stdout and
    stderr) is kept among the run's log lines. The run's log keeps the full message of an
    error; its recorded ``error``, which the API shows, is the error's public form with the
    server's places taken out (a data file named relative to the data folder, a file of the
    run relative to its folder: :class:`~azuraforge.platform.redaction.Redaction`).

    Returns the final status (``lost`` when the lease was lost and nothing was recorded).
    """
    record = store.get_experiment(lease.experiment_id)
    ctx = StoreContext(
        store,
        lease,
        settings.run_dir(record.id, record.output_dir),
        stop_requested=stop_requested,
        flush_interval=settings.flush_interval,
        show_progress=show_progress,
        data_folder=settings.data_dir,
        output_limit=settings.output_limit,
    )
    if output is not None:
        output.attach(ctx.log_output)
    status, error, result = FAILED, None, None
    policy: RestartPolicy | None = None
    crash_policy: RestartPolicy | None = None  # set when a job with a policy crashed
    try:
        kind = get_kind(record.kind)
        policy = kind.restart_policy(record)
        status, result = kind.run(store, record, settings, ctx)
    except Exception as e:
        failure = f"{type(e).__name__}: {e}"
        if isinstance(e, USER_ERRORS):  # its message says what to change; a traceback is noise
            ctx.logger.error("run failed: %s", failure)
        else:
            ctx.logger.error("run failed: %s\n%s", failure, traceback.format_exc())
            crash_policy = policy
        error = f"{type(e).__name__}: {public_message(e)}"
    if output is not None:
        output.stop()  # its last lines reach the context before it closes
    ctx.close()
    if ctx.lease_lost:
        return LOST
    status, error = ctx.end_status(status, error)
    if status == CANCELLED and handing_back():
        return HANDED_BACK
    interruption = interrupted() if status == CANCELLED else None
    if interruption is not None:
        return end_interrupted(store, lease, settings, interruption, result)
    if error is not None:
        error = Redaction(settings, inside=[ctx.output_dir])(error)
    if crash_policy is not None:
        return after_crash(store, lease, settings, crash_policy, f"the job failed: {error}")
    store.finish(lease, status, error=error, result=result)
    return status


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
    store: Store, lease: Lease, settings: Settings, shutdown: threading.Event | None = None
) -> Supervision:
    """Run ``lease``'s experiment in a forked child, keep the lease, relay cancellation.

    Setting ``shutdown`` (the worker is stopping) stops the run as a cancel request does,
    recorded as :meth:`RunStop.interruption` says. A job whose kind has a ``cancel_grace``
    (0 for a prediction, which has nothing to save) has that long to stop; one whose kind has
    a restart policy is watched (:class:`~azuraforge.platform.jobs.restarts.Watchdog`), and
    fails at once when its workers were lost too many times in a row.
    """
    record = store.get_experiment(lease.experiment_id)
    grace, policy = _kind_terms(record)
    if (
        policy is not None
        and policy.crashes_in_a_row(record.restart_history) > policy.max_restarts
    ):
        return _give_up(store, lease, policy, record.restart_history or [])
    parent = os.getpid()
    # Held until the job's process has its handlers: their default action would kill it.
    signal.pthread_sigmask(signal.SIG_BLOCK, JOB_SIGNALS)
    child = os.fork()
    if child == 0:
        _child_main(store, lease, settings, parent)  # never returns
    signal.pthread_sigmask(signal.SIG_UNBLOCK, JOB_SIGNALS)
    if grace is not None:
        settings = settings.model_copy(update={"cancel_grace": grace})
    watchdog = None if policy is None else Watchdog(policy, child)
    return _watch(store, lease, settings, child, shutdown or threading.Event(), watchdog)


def _kind_terms(record: ExperimentRecord) -> tuple[float | None, RestartPolicy | None]:
    """The job's kind's ``cancel_grace`` and restart policy; ``None`` for both when the kind
    does not load, whose job then fails in its own process, saying why."""
    try:
        kind = get_kind(record.kind)
        return kind.cancel_grace, kind.restart_policy(record)
    except Exception:  # any failure of a kind's code: its job fails in its process, saying why
        return None, None


def _give_up(
    store: Store, lease: Lease, policy: RestartPolicy, history: list[dict[str, Any]]
) -> Supervision:
    """Fail a job claimed after more crashes in a row than its policy restarts (its workers
    died under it: the reaper queued it again each time)."""
    crashes = policy.crashes_in_a_row(history)
    _finish_quietly(store, lease, FAILED, gave_up(policy, crashes, history[-1]["detail"]))
    return Supervision(FAILED)


def _child_main(store: Store, lease: Lease, settings: Settings, parent: int) -> None:
    code = _EXIT_RECORDED
    output = OutputCapture()
    try:
        output.start()
        store.engine.dispose(close=False)  # new connections; the compiled statements are kept
        # The worker alone decides how its run ends: Ctrl-C in a terminal, or a service
        # manager, signals the whole group; the worker then stops the run (SIGUSR2).
        # Left at their defaults these killed the run, recorded as failed. An orphaned run
        # still stops: it checks that its worker lives.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        stop = RunStop(parent, lease.owner)
        signal.signal(CANCEL_SIGNAL, lambda *_: stop.cancelled.set())
        signal.signal(SHUTDOWN_SIGNAL, lambda *_: stop.shutdown.set())
        signal.signal(RESTART_SIGNAL, lambda *_: stop.restart.set())
        signal.pthread_sigmask(signal.SIG_UNBLOCK, JOB_SIGNALS)  # blocked by its worker
        status = execute(
            store, lease, settings, stop, interrupted=stop.interruption, output=output,
            handing_back=stop.handing_back,
        )  # fmt: skip
        code = _EXIT_CODES.get(status, _EXIT_RECORDED)
    except LeaseLostError:
        code = _EXIT_LEASE_LOST
    except BaseException:
        output.stop()
        traceback.print_exc()
        code = 1
    finally:
        output.stop()
        os._exit(code)


_EXIT_CODES = {LOST: _EXIT_LEASE_LOST, HANDED_BACK: _EXIT_HANDED_BACK}


def _watch(
    store: Store,
    lease: Lease,
    settings: Settings,
    child: int,
    shutdown: threading.Event,
    watchdog: Watchdog | None,
) -> Supervision:
    exited = _exit_signal(child)
    try:
        return _supervise_child(store, lease, settings, child, shutdown, exited, watchdog)
    finally:
        if exited is not None:
            os.close(exited)


def _exit_signal(child: int) -> int | None:
    """A descriptor that turns readable when ``child`` exits (Linux pidfd), or ``None``."""
    try:
        return os.pidfd_open(child)
    except (AttributeError, OSError):
        return None


def _pause(exited: int | None, seconds: float) -> None:
    """Sleep ``seconds``, or less if the child exits meanwhile: a worker that finished a
    short run takes the next one at once, not at its next look."""
    if exited is None:
        time.sleep(seconds)
        return
    poller = select.poll()  # not select.select: it refuses descriptors past 1023
    poller.register(exited, select.POLLIN)
    poller.poll(seconds * 1000)


def _supervise_child(
    store: Store,
    lease: Lease,
    settings: Settings,
    child: int,
    shutdown: threading.Event,
    exited: int | None,
    watchdog: Watchdog | None,
) -> Supervision:
    next_renewal = time.monotonic() + settings.heartbeat_interval
    cancelled_at: float | None = None
    asked = False
    while True:
        _pause(exited, settings.poll_interval)
        ended, wait_status = os.waitpid(child, os.WNOHANG)
        if ended:
            return _ended(store, lease, settings, wait_status, watchdog)
        try:
            if time.monotonic() >= next_renewal:
                cancel = store.renew(lease, settings.lease_ttl)
                next_renewal = time.monotonic() + settings.heartbeat_interval
            else:
                cancel = store.cancel_requested(lease.experiment_id)
        except LeaseLostError as e:
            if _recorded(store, lease):
                # The child recorded the end (releasing the lease) just before this renewal.
                wait_status = _wait(child, settings.cancel_grace + 1.0)
                return _ended(store, lease, settings, wait_status, watchdog)
            _log.warning("%s; stopping the run", e)
            _kill(child)
            return Supervision(LOST, forced=True)
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("store unreachable, lease not renewed: %s", e)
            continue
        if (cancel or shutdown.is_set()) and cancelled_at is None:
            cancelled_at, asked = time.monotonic(), cancel
            os.kill(child, CANCEL_SIGNAL if cancel else SHUTDOWN_SIGNAL)
        if cancelled_at is not None and time.monotonic() - cancelled_at >= settings.cancel_grace:
            _kill(child)
            return _forced_stop(store, lease, settings, asked)
        if watchdog is not None and cancelled_at is None:
            watchdog.check()
            overdue = watchdog.overdue()
            if overdue is not None:
                _kill(child)
                return Supervision(after_crash(store, lease, settings, watchdog.policy, overdue),
                                   forced=True)  # fmt: skip


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
    store: Store, lease: Lease, settings: Settings, wait_status: int, watchdog: Watchdog | None
) -> Supervision:
    code = os.waitstatus_to_exitcode(wait_status)
    if code == _EXIT_RECORDED:
        return Supervision(store.get_experiment(lease.experiment_id).status)
    if code == _EXIT_LEASE_LOST:
        return Supervision(LOST)
    if code == _EXIT_HANDED_BACK and watchdog is not None and watchdog.asked is not None:
        if store.cancel_requested(lease.experiment_id):  # asked too: a cancel, as asked
            _finish_quietly(store, lease, CANCELLED, "cancelled while restarting")
            return Supervision(CANCELLED)
        asked = watchdog.asked
        return Supervision(restart_or_give_up(store, lease, settings, watchdog.policy,
                                              asked.reason, asked.detail))  # fmt: skip
    how = f"signal {_signal_name(-code)}" if code < 0 else f"exit code {code}"
    if watchdog is not None:
        detail = f"the job's process died ({how})"
        return Supervision(after_crash(store, lease, settings, watchdog.policy, detail))
    _finish_quietly(store, lease, FAILED, f"the run's process died ({how})")
    return Supervision(FAILED)


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
    """Whether the run ended under this very lease (the child recorded it; not reaped)."""
    record = store.find_experiment(lease.experiment_id)
    return (
        record is not None
        and record.lease_epoch == lease.epoch
        and (record.status in FINISHED_STATES or record.status == QUEUED)
    )


def _wait(child: int, timeout: float) -> int:
    """The child's wait status once it exits (killed if it takes over ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended, wait_status = os.waitpid(child, os.WNOHANG)
        if ended:
            return wait_status
        time.sleep(0.01)
    os.kill(child, signal.SIGKILL)
    return os.waitpid(child, 0)[1]


def _kill(child: int) -> None:
    try:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _finish_quietly(store: Store, lease: Lease, status: str, error: str) -> None:
    try:
        store.finish(lease, status, error=error)
    except LeaseLostError as e:
        _log.warning("%s", e)

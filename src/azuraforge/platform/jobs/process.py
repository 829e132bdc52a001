"""A job's process, as its worker holds it: forked from the worker, it runs the jobs the worker
sends it one at a time and says through a pipe how each ended.

A process runs one job and exits, unless the job's kind puts its jobs in a group
(:meth:`~azuraforge.platform.jobs.kinds.JobKind.process_group`: a study's trials): the worker
then keeps the process for the group's next job, up to the settings' ``jobs_per_process``, as
Optuna runs every trial of a study in one process. Forking a worker (and opening the store
again in the child) cost a trivial trial more than all of Optuna's own work. The isolation
stays: a job that crashes its process takes only itself down, the worker records it and forks
a fresh process for the next job; a process whose job did not end cleanly (killed, lease lost,
handed back) is never used again.

A worker also forks the process of its next job ahead of it, while it has nothing to run
(:meth:`KeptProcesses.prepare`), as a fork server's zygote hands out a process with the
imports done: the process opens its own store connections and blob store, then waits for
its job. A trivial run no longer waits for a fork and a fresh connection. It is a process
like any other: its job runs alone in it, and it exits after the job (unless its job's kind
groups its jobs). One that died while it waited is replaced by a fresh one at the next job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import select
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

from azuraforge.platform.store import ExperimentRecord, Lease

JobLoop = Callable[[int, int], NoReturn]
"""The child's side: called in the forked process with the descriptor it reads leases from
and the one it writes each job's end code to; never returns."""
RECORDED = 0
"""The end code of a job that ended and recorded how (the only end after which its process
may run another job)."""


def _freeze_heap() -> None:
    """Before a process's first fork, move what it holds to the collector's permanent
    generation (as Python's ``gc.freeze`` documentation advises a pre-fork server): neither
    the worker's collections nor its job processes' walk the modules and settings it started
    with again. In a worker, full collections of that heap cost a trivial trial about 2 ms.
    Once only: freezing again at each fork would keep each fork's garbage for ever."""
    if gc.get_freeze_count() == 0:
        gc.freeze()


@dataclass(frozen=True)
class JobEnd:
    """How a job ended, as its process said (or its exit code, when it died first), and the
    status it recorded."""

    code: int
    status: str | None = None
    died: bool = False
    """Whether the process died before it said how the job ended (``code`` is its exit
    code then: negative, the signal that killed it)."""


STARTED = 255
"""What the process writes once it read a job's lease, before the job's end code."""
KEEP_IDLE_SECONDS = 30.0
"""How long a worker with nothing to run keeps a process for its group's next job."""
START_SECONDS = 60.0
"""How long a process may take to answer a job sent to it (a fresh one opens the store): 10 s
was too few on a 2-core machine under load (a load average of 14 in benchmarks/replicas.py),
where a study's trial was killed before it started and ended failed."""


class JobProcess:
    """A forked process running jobs for its worker (the parent side).

    Parameters
    ----------
    loop
        What the child runs (:data:`JobLoop`).
    group
        The process group of the jobs it may run (``None``: one job).
    blocked
        Signals blocked across the fork (the child unblocks them once its handlers are set).
    """

    def __init__(self, loop: JobLoop, group: str | None, blocked: Iterable[int] = ()) -> None:
        self.group = group
        self.jobs = 0
        """Jobs sent to it so far."""
        self.clean = True
        """Whether every job it ran ended with :data:`RECORDED` (else it is not used again)."""
        self.running = False
        """Whether a job it started has not ended yet (as far as this side has read)."""
        _freeze_heap()
        leases_read, leases = os.pipe()
        self._ends, ends_write = os.pipe()
        blocked = set(blocked)
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            self.pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
            for fd in (leases_read, leases, self._ends, ends_write):
                os.close(fd)
            raise
        if self.pid == 0:
            os.close(leases)
            os.close(self._ends)
            _close_siblings_ends()
            loop(leases_read, ends_write)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        os.close(leases_read)
        os.close(ends_write)
        self._leases: int | None = leases
        self.exited: int | None = _exit_signal(self.pid)
        self._status: int | None = None
        _WORKER_ENDS.update(fd for fd in (leases, self._ends, self.exited) if fd is not None)

    def start(self, lease: Lease, record: ExperimentRecord) -> bool:
        """Send ``lease``'s job (its row as the worker read it, ``record``) to the process;
        whether it started the job (not when it died, answered anything but
        :data:`STARTED`, or did not answer within :data:`START_SECONDS`: it is killed then)."""
        if self._leases is None:
            return False
        job = {"lease": dataclasses.asdict(lease), "record": dataclasses.asdict(record)}
        try:
            _write_all(self._leases, json.dumps(job).encode() + b"\n")
        except BrokenPipeError:
            return False
        self.jobs += 1
        self.running = True
        if _poll([self._ends], START_SECONDS) and os.read(self._ends, 1) == bytes([STARTED]):
            return True
        self.kill()
        return False

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less once the job ends or the process exits."""
        _poll([self._ends, self.exited], seconds)

    def ended(self) -> JobEnd | None:
        """How the running job ended once it did, else ``None``: the code (and status) its
        process wrote, or for a process that died without writing one its exit code
        (negative: the signal that killed it)."""
        died = self._reaped()  # first: an end written before the process died is read
        readable = _poll([self._ends], 0)
        line = _read_line(self._ends) if readable else b""
        if line:
            code, status = line.decode().split()
            self.clean = self.clean and int(code) == RECORDED
            self.running = False
            return JobEnd(int(code), None if status == "-" else status)
        if not died and not readable:
            return None
        self.running = False
        return JobEnd(self._exit_code(), died=True)

    def alive(self) -> bool:
        """Whether the process has not exited (or been reaped)."""
        return not self._reaped()

    def _reaped(self) -> bool:
        if self._status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status = status
        return self._status is not None

    def _exit_code(self) -> int:
        """The process's exit code, waiting for it (it died, or closed its end of the pipe)."""
        self.clean = False
        if self._status is None:
            self._status = os.waitpid(self.pid, 0)[1]
        return os.waitstatus_to_exitcode(self._status)

    def kill(self) -> None:
        """Kill the process (its job did not stop in time) and reap it."""
        self.clean = False
        if self._status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._status = os.waitpid(self.pid, 0)[1]

    def wait_end(self, timeout: float) -> JobEnd:
        """How the running job ended (:meth:`ended`) once it did; the process is killed if
        that takes over ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while (end := self.ended()) is None:
            if time.monotonic() >= deadline:
                self.kill()
            else:
                self.wait(min(0.05, deadline - time.monotonic()))
        return end

    def retire(self, timeout: float = 5.0) -> None:
        """Let the process exit (its next read of a lease finds none; it is killed if it
        has not exited within ``timeout`` s), reap it and close this side's descriptors."""
        if self._leases is None:
            return
        _WORKER_ENDS.discard(self._leases)
        os.close(self._leases)
        self._leases = None
        deadline = time.monotonic() + timeout
        while not self._reaped():
            if time.monotonic() >= deadline:
                self.kill()
                break
            _poll([self.exited], min(0.05, deadline - time.monotonic()))
        _WORKER_ENDS.difference_update({self._ends, self.exited})
        os.close(self._ends)
        if self.exited is not None:
            os.close(self.exited)
            self.exited = None


_WORKER_ENDS: set[int] = set()
"""The descriptors the worker holds of its job processes (their pipes' ends, their exit
signals). Two may live at once (a group's kept process and the one ready for the next job):
each closes the other's, or a process the worker lets go would never read the end of its
pipe."""


def _close_siblings_ends() -> None:
    """In a new job process: close what the worker holds of its other job processes."""
    for fd in _WORKER_ENDS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _WORKER_ENDS.clear()


def write_end(ends: int, code: int, status: str | None) -> None:
    """Tell the worker (from the child) how its job ended: ``code``, and the status the job
    recorded (``None``: none)."""
    os.write(ends, f"{code} {status or '-'}\n".encode())


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (a pipe takes a long message in parts)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_line(fd: int, size: int = 1) -> bytes:
    """A line from ``fd`` (less at its end), read ``size`` bytes at a time: with 1, nothing
    after the line is taken."""
    line = b""
    while not line.endswith(b"\n"):
        piece = os.read(fd, size)
        if not piece:
            break
        line += piece
    return line


def read_job(leases: int) -> tuple[Lease, ExperimentRecord] | None:
    """The next job the worker sends (in the child): its lease and row, or ``None`` once it
    sent its last. The worker sends one at a time, so nothing follows it."""
    line = _read_line(leases, 65536)
    if not line.endswith(b"\n"):
        return None
    job = json.loads(line)
    return Lease(**job["lease"]), ExperimentRecord(**job["record"])


class KeptProcesses:
    """The process a worker keeps between two jobs of one group (at most one, idle).

    Parameters
    ----------
    jobs_per_process
        Jobs one process runs at most before a fresh one is forked.
    """

    def __init__(self, jobs_per_process: int) -> None:
        self.jobs_per_process = jobs_per_process
        self._idle: JobProcess | None = None
        self._idle_since = 0.0
        self._ready: JobProcess | None = None

    def start(
        self,
        group: str | None,
        lease: Lease,
        record: ExperimentRecord,
        fork: Callable[[], JobProcess],
    ) -> JobProcess:
        """The process running ``lease``'s job (``record``): the one kept for ``group`` if it
        takes it, else a new one from ``fork`` (a kept process of another group, or one that
        died since its last job, exits). A new process that dies before it starts the job
        shows it as its end (:meth:`JobProcess.ended`)."""
        idle, self._idle = self._idle, None
        if idle is not None:
            try:
                taken = group is not None and idle.group == group and idle.start(lease, record)
            except BaseException:
                idle.retire()
                raise
            if taken:
                return idle
            idle.retire()
        ready = self._started_ready(group, lease, record)
        if ready is not None:
            return ready
        process = fork()
        try:
            process.start(lease, record)
        except BaseException:
            process.retire()
            raise
        return process

    def prepare(self, fork: Callable[[], JobProcess]) -> None:
        """Fork the process of the next job ahead of it with ``fork``, unless one is ready
        already (one that died while it waited is replaced). It imports its worker's last job's
        kind and pipeline while it waits, and is left for a fresh process when a file it
        imported or the plugins declared changed since (:mod:`.ahead`): its job sees what a
        process forked at the job would."""
        if self._ready is not None and self._ready.alive():
            return
        self._drop_ready()
        self._ready = fork()

    def _started_ready(
        self, group: str | None, lease: Lease, record: ExperimentRecord
    ) -> JobProcess | None:
        """The ready process, started on ``lease``'s job (``record``) for ``group``; ``None``
        when none is ready, or it died while it waited (it is reaped)."""
        ready, self._ready = self._ready, None
        if ready is None:
            return None
        ready.group = group
        try:
            started = ready.start(lease, record)
        except BaseException:
            ready.retire()
            raise
        if started:
            return ready
        ready.retire()
        return None

    def _drop_ready(self) -> None:
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.retire()

    @property
    def ready(self) -> JobProcess | None:
        """The process forked ahead for the next job, if any."""
        return self._ready

    def put_back(self, process: JobProcess) -> None:
        """Keep ``process`` for its group's next job, or let it exit: a process of no group,
        one whose job did not end cleanly (or has not ended: its supervision failed; it is
        killed), or one that ran its ``jobs_per_process``."""
        keep = (
            process.group is not None
            and process.clean
            and not process.running
            and process.jobs < self.jobs_per_process
        )
        if not keep:
            if process.running:
                process.kill()
            process.retire()
            return
        self._close_idle()
        self._idle, self._idle_since = process, time.monotonic()

    def expire(self, after: float = KEEP_IDLE_SECONDS) -> None:
        """Let the kept process exit when it waited over ``after`` seconds for its group's
        next job (its study ended: what it holds is freed)."""
        if self._idle is not None and time.monotonic() - self._idle_since > after:
            self._close_idle()

    @property
    def idle(self) -> JobProcess | None:
        """The process kept for its group's next job, if any."""
        return self._idle

    def close(self) -> None:
        """Let the kept process and the ready one exit."""
        self._close_idle()
        self._drop_ready()

    def _close_idle(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            idle.retire()


def _exit_signal(pid: int) -> int | None:
    """A descriptor that turns readable when process ``pid`` exits (Linux pidfd), or ``None``."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _poll(descriptors: list[int | None], seconds: float) -> bool:
    """Wait up to ``seconds`` for one of ``descriptors`` (``None`` ones left out) to turn
    readable; whether one did."""
    poller = select.poll()  # not select.select: it refuses descriptors past 1023
    for fd in descriptors:
        if fd is not None:
            poller.register(fd, select.POLLIN)
    return bool(poller.poll(seconds * 1000))

"""Run generated Python and its tests in a child process with time, memory and file limits.

:func:`run_tests` starts ``python -I`` (isolated: no ``PYTHON*`` variables, no user
site-packages, no script folder on ``sys.path``) in a new session, in a fresh temporary
working folder that is removed afterwards, with an environment of only ``PATH``, ``HOME``
and ``TMPDIR`` (both the working folder), a UTF-8 locale and one BLAS/OpenMP thread. Before
it runs the code, the child sets its own limits with :func:`resource.setrlimit`, soft and
hard alike so the code cannot raise them: address space (``RLIMIT_AS``), CPU seconds
(``RLIMIT_CPU``: SIGXCPU, a second later SIGKILL), the size of a file it writes
(``RLIMIT_FSIZE``), no core file, and optionally the processes of the user
(``RLIMIT_NPROC``). The parent waits until the wall-clock limit, then kills the whole
process group, so children the code started die with it. Standard output and error go to
files and come back cut to a given length.

Time is judged mainly in CPU seconds, which other work on the machine does not stretch (a
canonical MBPP answer that needs 3.5 s alone took 9 s, once over 10 s, on two busy cores); the
wall-clock limit, larger, ends code that sleeps or waits.

The limits are set in the child, not in a ``preexec_fn``: that hook is unsafe when the
calling process has threads (the assistant's does), and nothing of the code runs before
they are in place.

The code, then ``setup``, then each test run in one module namespace (``__name__`` is
``"solution"``, so an ``if __name__ == "__main__":`` block does not run). The child reports
its verdict through a pipe of its own, not its output, so nothing the code prints can pass
for a verdict; it exits without running ``atexit`` hooks or waiting for threads.

What this does NOT protect against by itself (it is not a security boundary like a container
or a virtual machine; for a hostile author give ``boundary``, :mod:`azuraforge.assist.boundary`,
which closes the first three):

- the network: the code can open sockets and connect anywhere the user can;
- the file system: the code can read every file the user can read, and write (up to
  ``RLIMIT_FSIZE`` each) wherever the user can write, outside the working folder too;
- escape from the process group: a child that calls ``setsid()`` outlives the kill (the
  CPU limit still ends it once it has used its seconds; a sleeping one lingers);
- fork bombs, unless ``processes`` is set (``RLIMIT_NPROC`` counts all the user's
  processes, and root ignores it);
- deliberate cheating: code in the same interpreter as the test driver could find the
  verdict pipe and write "passed"; this guards against mistakes, not intent;
- memory that is not address space: the page cache or ``/dev/shm`` files it writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from azuraforge.assist.boundary import INSIDE, Bubblewrap, cage
from azuraforge.errors import InvalidParameterError

Status = Literal["passed", "failed", "timeout", "memory", "error"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "timeout", "memory", "error")
"""What a run can end as: every test passed; a test failed (an assertion, or an exception
the tested code raised); the time limit was reached; the memory limit was reached; the code
could not be run to its tests (syntax error, exception while defining it, exit, crash)."""

_MiB = 1 << 20

# The child's program (sent with -c). It reads the job, limits itself, then runs code, setup
# and tests in one module. After a MemoryError it drops the namespace (which may hold what
# filled the memory) before it reports, so the report itself finds memory.
_DRIVER = r"""
import json, linecache, os, resource, sys, traceback, types

def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        job = json.load(f)
    os.remove(sys.argv[1])
    verdict = int(sys.argv[2])
    for name, value in job["limits"]:
        kind = getattr(resource, name)
        soft, hard = value if isinstance(value, list) else (value, value)
        resource.setrlimit(kind, (soft, hard))
    module = types.ModuleType("solution")
    module.__file__ = "solution.py"
    sys.modules["solution"] = module
    parts = [("solution.py", job["code"]), ("setup.py", job["setup"])]
    parts += [("test_%d.py" % (i + 1), t) for i, t in enumerate(job["tests"])]
    n = len(job["tests"])
    status, message = "passed", "%d test%s passed" % (n, "" if n == 1 else "s")
    for index, (name, source) in enumerate(parts):
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
        try:
            exec(compile(source, name, "exec"), module.__dict__)
        except BaseException as e:
            if isinstance(e, SystemExit):
                what = "exit(%r)" % (e.code,)
            else:
                what = ("%s: %s" % (type(e).__name__, e)).rstrip(": ")
            if isinstance(e, MemoryError):
                status = "memory"
            elif index < 2:
                status = "error"
            else:
                status = "failed"
            where = "the code" if index == 0 else ("the setup" if index == 1 else
                "test %d of %d (%s)" % (index - 1, len(parts) - 2, source.strip()[:200]))
            message = "%s raised %s" % (where, what)
            if status == "memory":
                module.__dict__.clear()
                e.__traceback__ = None
                sys.stderr.write(message + "\n")
            else:
                traceback.print_exception(type(e), e, e.__traceback__.tb_next)
            break
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os.write(verdict, json.dumps({"status": status, "message": message}).encode())
        os._exit(0)

main()
"""


@dataclass(frozen=True)
class Limits:
    """What a run may use.

    Parameters
    ----------
    cpu_seconds
        CPU seconds the code may use (``RLIMIT_CPU``).
    wall_seconds
        Wall-clock seconds from start to exit (for code that sleeps or waits).
    memory_mb
        Address space in MiB (virtual memory: a Python interpreter needs ~30).
    file_mb
        Largest file the code may write, in MiB.
    processes
        ``RLIMIT_NPROC``, or ``None`` to leave it (it counts every process of the user).
    output_chars
        Characters of standard output and of standard error kept (head and tail).

    Raises
    ------
    InvalidParameterError
        A limit that is not positive.
    """

    cpu_seconds: int = 10
    wall_seconds: float = 30.0
    memory_mb: int = 1024
    file_mb: int = 16
    processes: int | None = None
    output_chars: int = 4000

    def __post_init__(self) -> None:
        values = [self.cpu_seconds, self.wall_seconds, self.memory_mb, self.file_mb]
        values.append(self.output_chars)
        if self.processes is not None:
            values.append(self.processes)
        if not all(v > 0 for v in values):
            raise InvalidParameterError(f"every limit must be positive, got {self}")

    def rlimits(self) -> list[tuple[str, int | list[int]]]:
        """The ``resource`` limits the child sets: name and value, or ``[soft, hard]``."""
        limits: list[tuple[str, int | list[int]]] = [
            ("RLIMIT_AS", self.memory_mb * _MiB),
            ("RLIMIT_CPU", [self.cpu_seconds, self.cpu_seconds + 1]),
            ("RLIMIT_FSIZE", self.file_mb * _MiB),
            ("RLIMIT_CORE", 0),
        ]
        if self.processes is not None:
            limits.append(("RLIMIT_NPROC", self.processes))
        return limits


@dataclass(frozen=True)
class SandboxResult:
    """How a run ended.

    Attributes
    ----------
    status
        One of :data:`STATUSES`.
    seconds
        Wall-clock seconds from the start of the child to its end.
    message
        One line: what failed and how, or how many tests passed.
    stdout, stderr
        The child's output, cut to ``Limits.output_chars`` (a traceback is in ``stderr``).
    cpu_seconds
        CPU seconds the child used (user and system).
    """

    status: Status
    seconds: float
    message: str
    stdout: str = ""
    stderr: str = ""
    cpu_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether every test passed."""
        return self.status == "passed"


def run_tests(
    code: str,
    tests: Sequence[str] = (),
    *,
    setup: str = "",
    limits: Limits | None = None,
    python: str | None = None,
    boundary: Bubblewrap | None = None,
) -> SandboxResult:
    """Run ``code``, then ``setup``, then each test, in a limited child process (behind
    ``boundary`` when given: see :mod:`azuraforge.assist.boundary`).

    Safe to call from several threads at once (each run has its own folder and process).

    Parameters
    ----------
    code
        The untrusted program, e.g. a model's answer.
    tests
        Sources run one by one after it in its namespace; a test fails by raising.
    setup
        Source run between the code and the tests.
    limits
        Time, memory and output limits; :class:`Limits` defaults when ``None``.
    python
        The interpreter; by default the one running this (``sys.executable``).
    boundary
        Run the child inside bubblewrap: no network, the system read-only, nothing of the
        machine's files but the run's folder (call its :meth:`~Bubblewrap.ready` first).

    Returns
    -------
    SandboxResult
        ``passed`` when the code and every test ran without raising.

    Examples
    --------
    >>> run_tests("def add(a, b): return a + b", ["assert add(1, 2) == 3"]).status
    'passed'
    >>> result = run_tests("def add(a, b): return a - b", ["assert add(1, 2) == 3"])
    >>> result.status, result.message
    ('failed', 'test 1 of 1 (assert add(1, 2) == 3) raised AssertionError')
    """
    limits = limits or Limits()
    with tempfile.TemporaryDirectory(prefix="azuraforge-sandbox-") as root:
        work = Path(root, "work")
        work.mkdir()
        job = Path(root, "job.json")
        payload = {"code": code, "setup": setup, "tests": list(tests), "limits": limits.rlimits()}
        job.write_text(json.dumps(payload), encoding="utf-8")
        read_end, write_end = os.pipe()
        try:
            caged: contextlib.AbstractContextManager[list[str]] = (
                cage(limits.processes) if boundary else contextlib.nullcontext([])
            )
            with caged as prefix:
                command = [*prefix, *_command(python or sys.executable, job, boundary)]
                return _run(command, work, read_end, write_end, limits, boundary is not None)
        finally:
            os.close(read_end)


def _command(python: str, job: Path, boundary: Bubblewrap | None) -> list[str]:
    """The child's command up to its last two arguments (the job's path, the verdict's fd)."""
    if boundary is None:
        return [python, "-I", "-c", _DRIVER, str(job)]
    return [*boundary.command(job.parent, python), "-I", "-c", _DRIVER, str(INSIDE / job.name)]


def _run(
    command: list[str], work: Path, read_end: int, write_end: int, limits: Limits,
    bounded: bool,
) -> SandboxResult:  # fmt: skip
    out_path, err_path = work.with_name("stdout"), work.with_name("stderr")
    home = str(INSIDE / work.name if bounded else work)
    env = {
        "PATH": os.defpath,
        "HOME": home,
        "TMPDIR": home,
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        try:
            child = subprocess.Popen(
                [*command, str(write_end)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=work,
                env=env,
                pass_fds=(write_end,),
                start_new_session=True,
            )
        finally:
            os.close(write_end)
        exited = _wait_without_reaping(child.pid, start + limits.wall_seconds)
        # The leader is not reaped yet, so its group id cannot have been reused.
        _kill_group(child.pid)
        _, wait_status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = returncode = os.waitstatus_to_exitcode(wait_status)
        if bounded and returncode > 128:  # bwrap exits 128 + the signal that ended its child
            returncode = -(returncode - 128)
        cpu = usage.ru_utime + usage.ru_stime
    verdict = _read_verdict(read_end)
    stdout = _read_cut(out_path, limits.output_chars)
    stderr = _read_cut(err_path, limits.output_chars)
    status, message = _outcome(exited, verdict, returncode, cpu, stderr, limits)
    return SandboxResult(status, seconds, message, stdout, stderr, cpu)


def _wait_without_reaping(pid: int, deadline: float) -> bool:
    """Whether the child exited before ``deadline``; it stays a zombie until reaped."""
    pause = 0.001
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        left = deadline - time.perf_counter()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.02)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, signal.SIGKILL)


def _read_verdict(read_end: int) -> tuple[Status, str] | None:
    # Non-blocking: a process that escaped the group may still hold the write end.
    os.set_blocking(read_end, False)
    data = b""
    try:
        while chunk := os.read(read_end, 65536):
            data += chunk
    except BlockingIOError:
        pass
    try:
        verdict = json.loads(data)
    except ValueError:
        return None
    if not isinstance(verdict, dict) or verdict.get("status") not in STATUSES:
        return None
    return cast(Status, verdict["status"]), str(verdict.get("message", ""))


def _outcome(
    exited: bool,
    verdict: tuple[Status, str] | None,
    returncode: int,
    cpu: float,
    stderr: str,
    limits: Limits,
) -> tuple[Status, str]:
    if not exited:
        return "timeout", f"still running after {limits.wall_seconds:g} s: killed"
    if verdict is not None:
        return verdict
    # SIGXCPU comes from RLIMIT_CPU alone. The kernel sends it by CPU time counted in ticks,
    # which a busy virtual machine's steal can put ahead of the time rusage reports, so the
    # reported time is no test of it; a SIGKILL is the hard limit's only with that time spent.
    hard_limit = returncode == -signal.SIGKILL and cpu >= limits.cpu_seconds - 0.1
    if returncode == -signal.SIGXCPU or hard_limit:
        return "timeout", f"used {limits.cpu_seconds} s of CPU: killed"
    last = stderr.strip().splitlines()[-1:] or [""]
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return "error", f"killed by {name} before its tests finished {last[0]}".rstrip()
    return "error", f"exited with code {returncode} before its tests finished {last[0]}".rstrip()


def _read_cut(path: Path, chars: int) -> str:
    """The text of ``path``, its head and tail only when it is longer than ``chars``."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if size <= 4 * chars:  # UTF-8: at most 4 bytes a character
            text = f.read().decode("utf-8", "replace")
            if len(text) <= chars:
                return text
            head, tail = text[: chars // 2], text[-(chars - chars // 2) :]
        else:
            head = f.read(2 * chars).decode("utf-8", "replace")[: chars // 2]
            f.seek(size - 2 * chars)
            tail = f.read().decode("utf-8", "replace")[-(chars - chars // 2) :]
    return f"{head}\n[... {size:,} bytes in all, cut ...]\n{tail}"

"""A real boundary around the sandbox's child: bubblewrap (``bwrap``, Debian's
``bubblewrap``), for code nobody watches (a guardian on a server checking answers' code).

:func:`~azuraforge.assist.sandbox.run_tests` given a :class:`Bubblewrap` starts its child
in new namespaces of every kind: no network but a loopback of its own (the store's port,
the broker's, the internet: unreachable), its own process tree (whatever it forks dies with
it, ``setsid`` or not), a user of its own without capabilities, its own ``/tmp`` in memory.
Its file system is built, not inherited: ``/usr`` (and ``/bin``, ``/lib``... as the system
links them) and the interpreter's own installation, read-only; a fresh ``/proc`` and
``/dev``; and the run's folder, the only one it may write. Nothing else of the machine is
there: not the server's home, its store, its checkout, nor the user's home. The sandbox's
own limits (CPU, memory, file size) apply inside; the number of processes too, by a
pids cgroup of the run's own (:func:`cage`) where the machine gives one to write, since the
code's user inside maps to the caller's outside and the kernel exempts root from
``RLIMIT_NPROC``: a server running as root with no writable pids controller is refused a
process limit (:class:`~azuraforge.errors.BoundaryUnavailableError`) rather than given none.

Where ``bwrap`` is missing, or cannot make namespaces here (a container that forbids them),
:meth:`Bubblewrap.ready` raises :class:`~azuraforge.errors.BoundaryUnavailableError` saying
why: a guardian then refuses to run code rather than run it unbounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from azuraforge.errors import BoundaryUnavailableError

INSIDE = Path("/sandbox")
"""Where the run's folder appears inside the boundary."""
NOBODY = 65534
"""The user and group the code runs as inside."""
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
PIDS_CONTROLLERS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))
"""Where a pids cgroup may be made: cgroup v1's controller, or the v2 hierarchy."""
_JOIN = 'echo $$ > "$0" && exec "$@"'
"""A shell that moves itself into the cgroup whose ``cgroup.procs`` is its ``$0``, then
becomes the command: nothing of the command runs outside the cgroup."""


@dataclass(frozen=True)
class Bubblewrap:
    """The boundary: ``executable`` (``bwrap`` on ``PATH`` by default)."""

    executable: str = "bwrap"

    def command(self, folder: Path, python: str) -> list[str]:
        """The ``bwrap`` command that runs ``python`` (and what follows it) with ``folder``
        as :data:`INSIDE`, writable, and the system and the interpreter read-only."""
        real = os.path.realpath(python)
        installed = str(Path(real).parents[1])
        args = [self.executable, "--unshare-all", "--unshare-user", "--die-with-parent",
                "--new-session", "--uid", str(NOBODY), "--gid", str(NOBODY),
                "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]  # fmt: skip
        for path in _SYSTEM_LINKS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        if not installed.startswith("/usr/"):
            args += ["--ro-bind", installed, installed]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                 "--bind", str(folder), str(INSIDE), "--chdir", str(INSIDE / "work"), "--",
                 real]  # fmt: skip
        return args

    def ready(self) -> Bubblewrap:
        """This boundary, once it has run a program here (checked once per executable).

        Raises
        ------
        BoundaryUnavailableError
            If ``bwrap`` is missing or cannot make its namespaces on this machine.
        """
        _probe(self.executable)
        return self


@cache
def _probe(executable: str) -> None:
    found = shutil.which(executable)
    if found is None:
        raise BoundaryUnavailableError(
            f"bubblewrap ({executable}) is not installed, and no code runs unattended "
            "without it: apt-get install bubblewrap (docs/assist.md)"
        )
    try:
        with tempfile.TemporaryDirectory(prefix="azuraforge-bwrap-") as folder:
            (Path(folder) / "work").mkdir()
            command = Bubblewrap(found).command(Path(folder), sys.executable)
            done = subprocess.run([*command, "-I", "-c", "pass"], capture_output=True,
                                  timeout=30, text=True, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BoundaryUnavailableError(f"bubblewrap could not start here: {e}") from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BoundaryUnavailableError(
            f"bubblewrap cannot make its namespaces on this machine ({said}); allow user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1, or a container with "
            "them), or run the guardian where they are"
        )


@contextlib.contextmanager
def cage(processes: int | None) -> Iterator[list[str]]:
    """The prefix of a command that starts it in a new pids cgroup holding at most
    ``processes`` tasks (``[]`` when there is no limit, or a non-root caller, whom
    ``RLIMIT_NPROC`` bounds); the cgroup is removed afterwards.

    Raises
    ------
    BoundaryUnavailableError
        If the caller is root and no pids controller here can be written.
    """
    if processes is None or os.geteuid() != 0:
        yield []
        return
    group = _new_group(processes)
    try:
        yield ["/bin/sh", "-c", _JOIN, str(group / "cgroup.procs")]
    finally:
        _remove(group)


def _new_group(processes: int) -> Path:
    for controller in PIDS_CONTROLLERS:
        if not (controller / "cgroup.procs").exists() or not _has_pids(controller):
            continue
        group = controller / f"azuraforge-sandbox-{uuid.uuid4().hex[:12]}"
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(processes))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            continue
        return group
    raise BoundaryUnavailableError(
        "no pids cgroup can be made here, and root is exempt from RLIMIT_NPROC: the sandbox "
        "cannot bound its processes; run the server as another user, or give it a writable "
        "pids controller (cgroup v2 with pids delegated, or v1's /sys/fs/cgroup/pids)"
    )


def _has_pids(controller: Path) -> bool:
    listed = controller / "cgroup.controllers"  # v2 names its controllers; v1's is pids
    return "pids" in listed.read_text().split() if listed.exists() else True


def _remove(group: Path) -> None:
    """Remove ``group`` once its tasks are gone (killing any left)."""
    for _ in range(100):
        with contextlib.suppress(OSError):
            group.rmdir()
            return
        with contextlib.suppress(OSError):  # the group is gone, or a task went meanwhile
            for pid in (group / "cgroup.procs").read_text().split():
                os.kill(int(pid), 9)
        time.sleep(0.01)

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
own limits (CPU, memory, file size) apply inside. Not yet the number of processes when the
server runs as root: the code's user inside maps to the caller's outside, and the kernel
exempts root from ``RLIMIT_NPROC`` (a fork bomb then lasts until the wall-clock limit kills
the whole process tree); a pids cgroup is the way to bound it.

Where ``bwrap`` is missing, or cannot make namespaces here (a container that forbids them),
:meth:`Bubblewrap.ready` raises :class:`~azuraforge.errors.BoundaryUnavailableError` saying
why: a guardian then refuses to run code rather than run it unbounded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from azuraforge.errors import BoundaryUnavailableError

INSIDE = Path("/sandbox")
"""Where the run's folder appears inside the boundary."""
NOBODY = 65534
"""The user and group the code runs as inside."""
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


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
    folder = Path(os.environ.get("TMPDIR", "/tmp"))
    command = Bubblewrap(found).command(folder, sys.executable)
    command[command.index("--chdir") + 1] = "/"
    try:
        done = subprocess.run([*command, "-I", "-c", "pass"], capture_output=True, timeout=30,
                              text=True, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BoundaryUnavailableError(f"bubblewrap could not start here: {e}") from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BoundaryUnavailableError(
            f"bubblewrap cannot make its namespaces on this machine ({said}); allow user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1, or a container with "
            "them), or run the guardian where they are"
        )

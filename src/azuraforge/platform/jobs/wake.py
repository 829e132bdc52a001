"""Waking an idle local worker the moment a job is queued: a named pipe in the home folder.

Local workers poll the store every ``poll_interval`` (0.25 s), so a job queued just after a
poll waited for the next one: 131 ms of a trivial run's 170 ms round trip. A submit on the
local transport also writes one byte to the pipe (:func:`wake`); an idle worker waiting on it
(:class:`Alarm`) claims the job at once. The pipe only hastens: a byte lost (no worker
listening, the pipe full) loses nothing, as the poll still finds the job; a byte too many
(another store's worker on the same home) costs one look at the store.
"""

from __future__ import annotations

import contextlib
import os
import select
import stat
from pathlib import Path

WAKE_FILE = "workers.wake"
"""The pipe's name in ``settings.home``."""


def wake(path: Path) -> None:
    """Wake one idle worker listening on the pipe at ``path``, if any; never blocks and never
    raises (no pipe yet, no worker listening, or a full pipe: the workers' poll still finds
    the job)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENOENT: no worker made it; ENXIO: none is listening
        return
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):  # a file in its place is left alone
            with contextlib.suppress(OSError):  # EAGAIN: full, the workers have plenty to do
                os.write(fd, b"\0")
    finally:
        os.close(fd)


class Alarm:
    """A worker's end of the pipe: :meth:`wait` returns when a job is queued (a byte comes),
    when :meth:`ring` is called (a signal handler's way to end a wait at once), or after
    ``timeout`` seconds.

    The worker also holds the pipe open for writing, so it never reads as closed when no
    submitter holds it (which would make every wait return at once). A path that exists and
    is not a pipe is left alone: the alarm then only times out.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fds: list[int] = []
        self._rung, self._ring = os.pipe()  # this worker's own: ring() wakes no other
        os.set_blocking(self._rung, False)
        os.set_blocking(self._ring, False)
        with contextlib.suppress(FileExistsError):
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkfifo(path, 0o600)
        if stat.S_ISFIFO(os.stat(path).st_mode):
            self._fds = [
                os.open(path, os.O_RDONLY | os.O_NONBLOCK),
                os.open(path, os.O_WRONLY | os.O_NONBLOCK),  # never reads as closed
            ]

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a byte (or a :meth:`ring`), and take it."""
        watched = [self._rung, *self._fds[:1]]
        ready, _, _ = select.select(watched, [], [], timeout)
        for fd in ready:
            with contextlib.suppress(BlockingIOError):  # another worker took it first
                os.read(fd, 1)

    def ring(self) -> None:
        """End a :meth:`wait` under way at once (safe in a signal handler)."""
        with contextlib.suppress(OSError):
            os.write(self._ring, b"\0")

    def close(self) -> None:
        """Close the worker's ends of the pipe (the pipe stays for the next worker)."""
        for fd in (*self._fds, self._rung, self._ring):
            with contextlib.suppress(OSError):  # closed before
                os.close(fd)
        self._fds = []

"""Waking an idle local worker the moment a job is queued: a named pipe in the home folder.

Local workers poll the store every ``poll_interval`` (0.25 s), so a job queued just after a
poll waited for the next one: 131 ms of a trivial run's 170 ms round trip. A submit on the
local transport also writes one byte to the pipe (:func:`wake`); the idle workers waiting on
it (:class:`Alarm`) look at the store at once, and one claims the job. The pipe only hastens:
a byte lost (no worker listening, the pipe full) loses nothing, as the poll still finds the
job; a byte too many (another store's worker on the same home) costs one look at the store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import stat
from pathlib import Path

_log = logging.getLogger(__name__)
WAKE_FILE = "workers.wake"
"""The pipe's name in ``settings.home``."""


def wake(path: Path) -> None:
    """Wake the idle workers listening on the pipe at ``path``, if any; never blocks and never
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
        try:
            self._fds = _open_pipe(path)
        except OSError as e:  # no FIFOs here, another user's pipe...: polling alone
            _log.warning("workers are not woken through %s (%s); they poll the store", path, e)
        # A job's process (forked from its worker) must not hold the pipe: it would keep it
        # open with nobody reading once its worker is gone.
        os.register_at_fork(after_in_child=self.close)

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a byte (or a :meth:`ring`), then take every
        byte waiting: those of jobs queued meanwhile are stale once the worker looks at the
        store (it claims until none is left before it waits again)."""
        watched = [fd for fd in (self._rung, *self._fds[:1]) if fd >= 0]
        ready, _, _ = select.select(watched, [], [], timeout)
        for fd in ready:
            with contextlib.suppress(BlockingIOError):  # another worker took them first
                while os.read(fd, 4096):
                    pass

    def ring(self) -> None:
        """End a :meth:`wait` under way at once (safe in a signal handler)."""
        if self._ring >= 0:
            with contextlib.suppress(OSError):
                os.write(self._ring, b"\0")

    def close(self) -> None:
        """Close the worker's ends of the pipe (the pipe stays for the next worker); a
        closed alarm only times out."""
        for fd in (*self._fds, self._rung, self._ring):
            if fd >= 0:
                os.close(fd)
        self._fds, self._rung, self._ring = [], -1, -1


def _open_pipe(path: Path) -> list[int]:
    """The read end and a write end of the named pipe at ``path`` (made if absent), or none
    when a file that is not a pipe stands there."""
    with contextlib.suppress(FileExistsError):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path, 0o600)
    if not stat.S_ISFIFO(os.stat(path).st_mode):
        return []
    reading = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    return [reading, os.open(path, os.O_WRONLY | os.O_NONBLOCK)]  # never reads as closed

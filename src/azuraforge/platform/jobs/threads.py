"""Helper threads: those kept for the next job (a job's metric flusher and its output reader)
and :class:`Periodic`, a server's task every few seconds (the streams' keeper).

A job process kept for its group's next job (a study's trials) ran two threads a job, each
started and joined again; a thread that ended its task waits here for the next one instead
(started and joined, they cost a trivial trial about half a millisecond). A task given while
every kept thread is busy gets a thread of its own, kept afterwards too.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import queue
import threading
from collections.abc import Callable

from azuraforge.platform.store import is_unavailable

_log = logging.getLogger(__name__)

Task = tuple[Callable[[], None], threading.Event]


class KeptThreads:
    """Daemon threads that run tasks, each task on an idle thread, or a new one when none
    is idle. A forked child starts with none (its parent's threads do not exist there)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[Task]] = []

    def run(self, task: Callable[[], None]) -> threading.Event:
        """Run ``task`` on a kept thread; the returned event is set once it returned (or
        raised: a task handles its own errors, what escapes is logged). The task runs in the
        caller's context (its context variables: the trace a job's metric writes belong to)."""
        task = functools.partial(contextvars.copy_context().run, task)
        done = threading.Event()
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            thread = threading.Thread(target=self._serve, args=(inbox,), name=self.name,
                                      daemon=True)  # fmt: skip
            thread.start()
        inbox.put((task, done))
        return done

    def _serve(self, inbox: queue.SimpleQueue[Task]) -> None:
        while True:
            task, done = inbox.get()
            try:
                task()
            except Exception:  # the thread stays for the next task
                _log.exception("a task of the %s thread failed", self.name)
            finally:
                done.set()
                with self._lock:
                    self._idle.append(inbox)


class Periodic:
    """A daemon thread running ``task`` every ``interval`` seconds until :meth:`stop`; what a
    run raises is logged (a warning for an unreachable store) and the next run comes."""

    def __init__(self, name: str, interval: float, task: Callable[[], None]) -> None:
        self.interval, self.task = interval, task
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the run in progress (waiting up to ``timeout`` seconds for it)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.task()
            except Exception as e:
                outage = is_unavailable(e)
                _log.log(logging.WARNING if outage else logging.ERROR, "%s: %s",
                         self._thread.name, e, exc_info=not outage)  # fmt: skip

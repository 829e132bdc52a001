"""Waking listeners when events are committed: one watcher per API process.

Events are rows first (the store writes them in the same transaction as what they
describe). :class:`EventHub` only tells listeners *that* something new was committed; each
listener then reads its own events after its own cursor, so none is missed or repeated,
whatever process wrote them.

How the watcher learns of new events depends on the database:

- **PostgreSQL**: the store sends ``NOTIFY azuraforge_events`` with every write; a thread
  LISTENs and wakes the listeners at once. The watcher also looks every second, in case a
  notification was lost with a dropped connection.
- **SQLite** (embedded, one machine): while someone listens, the watcher looks at the
  database's files every 3 ms (a ``stat``, no query: a commit writes the write-ahead log) and
  reads the newest event id as soon as they changed; it also reads it every 20 ms, in case a
  change fell within the file system's timestamp granularity. One indexed read per API
  process however many clients listen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading

from azuraforge.platform.store import Store, is_unavailable
from azuraforge.platform.store.base import NOTIFY_CHANNEL

_log = logging.getLogger(__name__)
POLL_SECONDS = {"postgresql": 1.0, "sqlite": 0.02}
GLANCE_SECONDS = 0.003
"""SQLite: how often the watcher looks at the database's files (their size and time)."""


class EventHub:
    """Wakes every waiting listener when the store's newest event id grows."""

    def __init__(self, store: Store, interval: float | None = None) -> None:
        self.store = store
        self.interval = interval or POLL_SECONDS.get(store.dialect, 0.02)
        self.last_id = 0
        self._changed = asyncio.Event()
        self._poked = asyncio.Event()
        self._listeners = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = threading.Event()

    async def start(self) -> None:
        """Start watching (call inside the running event loop)."""
        self._changed, self._poked = asyncio.Event(), asyncio.Event()
        self._closing.clear()
        try:
            self.last_id = await asyncio.to_thread(self.store.last_event_id)
        except Exception as e:  # an unreachable store is retried by the watcher
            if not is_unavailable(e):
                raise
        self._tasks = [asyncio.create_task(self._watch())]
        files = _sqlite_files(self.store)
        if files:
            self._tasks.append(asyncio.create_task(self._glance(files)))
        if self.store.dialect == "postgresql":
            loop = asyncio.get_running_loop()
            threading.Thread(target=self._listen, args=(loop,), name="listen", daemon=True).start()

    async def stop(self) -> None:
        """Stop watching."""
        self._closing.set()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait(self, timeout: float = 1.0) -> None:
        """Return when a new event was committed, or after ``timeout`` seconds."""
        self._listeners += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
        finally:
            self._listeners -= 1

    async def _watch(self) -> None:
        while True:
            notified = False
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result of an
            # event set just as the task is cancelled, dropping the cancel (stop() then waited
            # for this loop for good).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    notified = await self._poked.wait()
            self._poked.clear()
            if notified:
                # A commit: wake even if the newest id did not grow (another run's
                # transaction may commit an older id after a newer one).
                self._wake()
            elif self._listeners:
                await self._check()

    async def _glance(self, files: tuple[str, ...]) -> None:
        """While someone listens, look at the SQLite database's ``files`` every
        :data:`GLANCE_SECONDS` and read the newest event id when they changed (an API with
        no listener wakes at the poll's pace, not 333 times a second)."""
        seen = None
        while True:
            await asyncio.sleep(GLANCE_SECONDS if self._listeners else POLL_SECONDS["sqlite"])
            if self._listeners:
                now = _file_state(files)
                if now != seen:
                    seen = now
                    await self._check()

    async def _check(self) -> None:
        try:
            newest = await asyncio.to_thread(self.store.last_event_id)
        except Exception as e:
            if not is_unavailable(e):
                raise
            _log.warning("event watcher: %s", e)
            return
        if newest != self.last_id:
            self.last_id = newest
            self._wake()

    def _wake(self) -> None:
        woken, self._changed = self._changed, asyncio.Event()
        woken.set()

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """LISTEN on PostgreSQL and poke the watcher on each notification (reconnecting)."""
        import psycopg

        url = self.store.engine.url.set(drivername="postgresql")
        while not self._closing.is_set():
            try:
                with psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True
                ) as db:
                    db.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._closing.is_set():
                        for _ in db.notifies(timeout=1.0):
                            try:
                                loop.call_soon_threadsafe(self._poked.set)
                            except RuntimeError:  # the API's loop closed since the last look
                                return
            except psycopg.Error as e:
                _log.warning("event listener: %s; reconnecting", e)
                self._closing.wait(1.0)


def _sqlite_files(store: Store) -> tuple[str, ...]:
    """The files a commit to ``store`` changes (its database and write-ahead log), when it is
    an SQLite file; none for another database or an SQLite one in memory."""
    url = store.engine.url
    if store.dialect != "sqlite" or url.database in (None, "", ":memory:"):
        return ()
    if url.query.get("mode") == "memory":
        return ()
    return (url.database, f"{url.database}-wal")


def _file_state(files: tuple[str, ...]) -> tuple[tuple[int, int] | None, ...]:
    """Each of ``files``' size and modification time (``None`` for one that is missing)."""
    state: list[tuple[int, int] | None] = []
    for path in files:
        try:
            found = os.stat(path)
        except OSError:
            state.append(None)
        else:
            state.append((found.st_size, found.st_mtime_ns))
    return tuple(state)

"""Waking listeners when events are committed: one watcher per API process.

Events are rows first (the store writes them in the same transaction as what they
describe). :class:`EventHub` only tells listeners *that* something new was committed; each
listener then reads its own events after its own cursor, so none is missed or repeated,
whatever process wrote them.

How the watcher learns of new events depends on the database:

- **PostgreSQL**: the store sends ``NOTIFY azuraforge_events`` with every write; a thread
  LISTENs and wakes the listeners at once. The watcher also looks every second, in case a
  notification was lost with a dropped connection.
- **SQLite** (embedded, one machine): the watcher reads the newest event id every 20 ms, a
  single indexed read per API process however many clients listen, and only while someone
  listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from azuraforge.platform.store import Store, is_unavailable
from azuraforge.platform.store.base import NOTIFY_CHANNEL

_log = logging.getLogger(__name__)
POLL_SECONDS = {"postgresql": 1.0, "sqlite": 0.02}


class EventHub:
    """Wakes every waiting listener when the store's newest event id grows."""

    def __init__(self, store: Store, interval: float | None = None) -> None:
        self.store = store
        self.interval = interval or POLL_SECONDS.get(store.dialect, 0.02)
        self.last_id = 0
        self._changed = asyncio.Event()
        self._poked = asyncio.Event()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None
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
        self._task = asyncio.create_task(self._watch())
        if self.store.dialect == "postgresql":
            loop = asyncio.get_running_loop()
            threading.Thread(target=self._listen, args=(loop,), name="listen", daemon=True).start()

    async def stop(self) -> None:
        """Stop watching."""
        self._closing.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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

"""Waking listeners when events are committed: one cheap watcher per API process.

Events are rows first (the store writes them in the same transaction as what they
describe). :class:`EventHub` only tells listeners *that* something new was committed; each
listener then reads its own events after its own cursor, so none is missed or repeated,
whatever process wrote them. The watcher reads the newest event id every ``interval``
seconds (a single indexed read per process, however many clients listen), and only while
someone listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from azuraforge.platform.store import Store, is_unavailable

_log = logging.getLogger(__name__)


class EventHub:
    """Wakes every waiting listener when the store's newest event id grows."""

    def __init__(self, store: Store, interval: float = 0.02) -> None:
        self.store, self.interval = store, interval
        self.last_id = 0
        self._changed = asyncio.Event()
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start watching (call inside the running event loop)."""
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self, timeout: float = 1.0) -> None:
        """Return when a new event was committed, or after ``timeout`` seconds."""
        self._listeners += 1
        try:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        finally:
            self._listeners -= 1

    async def _watch(self) -> None:
        while True:
            if self._listeners:
                try:
                    newest = await asyncio.to_thread(self.store.last_event_id)
                except Exception as e:
                    if not is_unavailable(e):
                        raise
                    _log.warning("event watcher: %s", e)
                    newest = self.last_id
                if newest != self.last_id:
                    self.last_id = newest
                    woken, self._changed = self._changed, asyncio.Event()
                    woken.set()
            await asyncio.sleep(self.interval)

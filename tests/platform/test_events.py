"""EventHub wakes listeners when an event is committed, from any process.

Doubled on PostgreSQL (``on_both_databases``): there a thread LISTENs for the store's NOTIFY
(and looks every second), on SQLite the watcher polls every 20 ms."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from azuraforge.platform.events import EventHub
from azuraforge.platform.store import Store

pytestmark = pytest.mark.on_both_databases


def test_a_committed_event_wakes_a_waiting_listener(store: Store):
    record = store.create_experiment("sleeper", {})

    async def scenario() -> float:
        hub = EventHub(store)
        await hub.start()
        await asyncio.sleep(0.3)  # the PostgreSQL listener is connected
        writer = threading.Timer(0.2, lambda: store.request_cancel(record.id))
        start = time.monotonic()  # before the timer starts: the write comes 0.2 s after it
        writer.start()
        await hub.wait(timeout=5.0)
        waited = time.monotonic() - start
        await hub.stop()
        return waited

    waited = asyncio.run(scenario())
    # woken by the write (0.2 s), well before the 1 s fallback look on PostgreSQL
    assert 0.15 < waited < 0.6


def test_a_listener_with_nothing_new_waits_its_timeout(store: Store):
    async def scenario() -> float:
        hub = EventHub(store)
        await hub.start()
        start = time.monotonic()
        await hub.wait(timeout=0.3)
        waited = time.monotonic() - start
        await hub.stop()
        return waited

    assert asyncio.run(scenario()) >= 0.29

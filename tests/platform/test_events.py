"""EventHub wakes listeners when an event is committed, from any process.

Doubled on PostgreSQL (``on_both_databases``): there a thread LISTENs for the store's NOTIFY
(and looks every second), on SQLite the watcher looks at the database's files every 3 ms and
polls every 20 ms."""

from __future__ import annotations

import asyncio
import contextlib
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


def test_a_commit_wakes_a_listener_long_before_the_next_poll(store: Store):
    """Woken by NOTIFY on PostgreSQL, by the database's files changing on SQLite: not by the
    (here 30 s) poll."""
    record = store.create_experiment("sleeper", {})

    async def scenario() -> float:
        hub = EventHub(store, interval=30.0)
        await hub.start()
        await asyncio.sleep(0.3)  # the PostgreSQL listener is connected
        waiting = asyncio.create_task(hub.wait(timeout=10.0))
        await asyncio.sleep(0.1)  # it listens
        start = time.monotonic()
        await asyncio.to_thread(store.request_cancel, record.id)
        await waiting
        waited = time.monotonic() - start
        await hub.stop()
        return waited

    assert asyncio.run(scenario()) < 0.5


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


def test_the_hub_stops_when_a_commit_pokes_it_at_the_same_moment(store: Store):
    async def scenario() -> bool:
        hub = EventHub(store, interval=30.0)
        await hub.start()
        await asyncio.sleep(0.05)  # the watcher waits for a poke
        hub._poked.set()  # what the PostgreSQL listener does on a NOTIFY, as the API stops
        stopping = asyncio.create_task(hub.stop())
        stopped, _ = await asyncio.wait({stopping}, timeout=5.0)
        return bool(stopped)  # (asyncio.run cancels a watcher that went on, and stop())

    assert asyncio.run(scenario()), "the hub's watcher went on after stop()"


def test_a_listener_cancelled_as_it_is_woken_is_cancelled(store: Store):
    async def scenario() -> bool:
        hub = EventHub(store, interval=30.0)
        await hub.start()
        listener = asyncio.create_task(hub.wait(timeout=30.0))
        await asyncio.sleep(0.05)
        hub._wake()
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await hub.stop()
        return listener.cancelled()

    assert asyncio.run(scenario())

"""Duties' leases in the store: taken from nobody, kept by their holder, refused to another
while they run, taken over once they lapsed (the epoch raised), handed back at once. On
SQLite and PostgreSQL: the compare and set, and the database's clock it reads, are each
dialect's own SQL."""

from __future__ import annotations

import time
import uuid

import pytest

from azuraforge.platform.store import Store

pytestmark = pytest.mark.on_both_databases


def test_a_duty_is_held_by_one_holder_until_it_lapses_or_is_handed_back(store: Store) -> None:
    duty, other = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("reaper", "streams"))
    assert store.hold_duty(duty, "a", 0.3) == 1  # never held: made, taken
    assert store.hold_duty(duty, "b", 0.3) is None  # a's lease runs
    assert store.hold_duty(duty, "a", 0.3) == 1  # kept: the same epoch
    assert store.hold_duty(other, "b", 5.0) == 1  # another duty, another lease
    time.sleep(0.35)  # a stops renewing: its lease lapses by the database's clock
    assert store.hold_duty(duty, "b", 5.0) == 2  # taken over: the epoch raised
    assert store.hold_duty(duty, "a", 5.0) is None
    store.release_duty(duty, "a")  # not a's to hand back: nothing changes
    assert store.hold_duty(duty, "a", 5.0) is None
    store.release_duty(duty, "b")
    assert store.hold_duty(duty, "a", 5.0) == 3  # handed back: the next to ask takes it

"""The backend selector's measurements add up across API replicas: each replica adds what it
learned since it read (counts as increments in SQL, measurements folded into the running
averages by the database), so two replicas learning at once both count; the response cache's
entries expire by the database's clock, the same for every replica. SQLite and PostgreSQL
(``on_both_databases``: the upsert is each dialect's ``ON CONFLICT DO UPDATE``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from azuraforge.assist.backends.selection import AVERAGE_WEIGHT, Outcome
from azuraforge.assist.cache import Cached
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.services.chat import ChatService
from azuraforge.platform.settings import AssistBackend, Settings
from azuraforge.platform.store import Store

pytestmark = pytest.mark.on_both_databases

PROJECT = "default"
BACKENDS = [AssistBackend(name="quick", kind="echo"), AssistBackend(name="costly", kind="echo")]


def measured(store: Store, task: str, candidate: str) -> dict[str, object]:
    (row,) = [row for row in store.list_backend_performance(project=PROJECT)
              if (row["task"], row["candidate"]) == (task, candidate)]  # fmt: skip
    return row


@pytest.fixture
def replicas(settings: Settings) -> Iterator[list[tuple[ChatService, Store]]]:
    """Two API replicas: each its own chat service and its own store on the one database."""
    declared = settings.model_copy(update={"assist_backends": BACKENDS, "assist_memory": False})
    made = [(ChatService(declared, open_blobs(declared)), Store(settings.database_url))
            for _ in range(2)]  # fmt: skip
    yield made
    for _, store in made:
        store.close()


def test_two_replicas_learning_at_once_both_count(
    replicas: list[tuple[ChatService, Store]],
) -> None:
    """Each answer is one read and one save of its replica (as the service's ``finish``
    does); the two replicas read before either saves, every time."""
    (a, store_a), (b, store_b) = replicas
    for _ in range(3):
        read_a, read_b = a.selector(store_a, PROJECT), b.selector(store_b, PROJECT)
        read_a.record("code", "quick", Outcome(success=True, first_token_ms=100.0))
        read_b.record("code", "quick", Outcome(success=False, first_token_ms=200.0))
        a._save(store_a, PROJECT, read_a, "code")
        b._save(store_b, PROJECT, read_b, "code")  # last, as a whole row it erased a's

    row = measured(store_a, "code", "quick")
    assert (row["answers"], row["successes"], row["failures"], row["errors"]) == (6, 3, 3, 0)
    average = 100.0  # each measurement folded in the order the database took them
    for value in (200.0, 100.0, 200.0, 100.0, 200.0):
        average += AVERAGE_WEIGHT * (value - average)
    assert row["first_token_ms"] == pytest.approx(average)
    assert b.selector(store_b, PROJECT).estimate("code", "quick").answers == 6


def test_increments_from_two_stores_at_once_add_up(
    replicas: list[tuple[ChatService, Store]],
) -> None:
    one = {"task": "chat", "candidate": "costly", "successes": 1.0, "failures": 0.0,
           "answers": 1, "errors": 0, "first_token_ms": None, "tokens_per_s": None,
           "tokens": None}  # fmt: skip

    def add(store: Store) -> None:
        for _ in range(25):
            store.add_backend_performance([one], project=PROJECT)

    threads = [threading.Thread(target=add, args=(store,)) for _, store in replicas * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    row = measured(replicas[0][1], "chat", "costly")
    assert (row["answers"], row["successes"], row["first_token_ms"]) == (100, 100.0, None)


def test_a_cached_answer_expires_by_the_databases_clock(
    replicas: list[tuple[ChatService, Store]],
) -> None:
    (_, store_a), (_, store_b) = replicas
    answer = Cached("4", 1, 12.0)
    store_a.keep_answer("fresh", answer, project=PROJECT, ttl=60.0, max_entries=10)
    store_a.keep_answer("stale", answer, project=PROJECT, ttl=-1.0, max_entries=10)
    assert store_b.take_cached_answer("fresh", project=PROJECT) == answer  # the other replica
    assert store_b.take_cached_answer("stale", project=PROJECT) is None
    stats = store_b.chat_cache_stats(project=PROJECT)
    assert (stats.hits, stats.misses, stats.entries) == (1, 2, 1)

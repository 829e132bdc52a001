"""The chat's response cache on both of its backends, the store's table (SQLite) and a real
Redis (127.0.0.1:6379, database 15, keys of a project named for the test): an answer kept is
served until its time to live, the oldest beyond the bound go, and hits, misses and the time
saved are counted."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from azuraforge.assist.cache import Cached
from azuraforge.errors import StoreUnavailableError
from azuraforge.platform.services.chat_cache import PREFIX, Answers, RedisAnswers, StoreAnswers
from azuraforge.platform.store import Store
from tests.platform.servers import free_port

REDIS = "redis://127.0.0.1:6379/15"
TTL = 1.0


@pytest.fixture(params=["store", "redis"])
def answers(request: pytest.FixtureRequest, store: Store) -> Iterator[tuple[Answers, str]]:
    """A cache of 2 answers a project, answers kept for 1 s; the project to use."""
    if request.param == "store":
        yield StoreAnswers(TTL, max_entries=2), "default"
        return
    cache = RedisAnswers(REDIS, TTL, max_entries=2)
    project = f"test-{secrets.token_hex(4)}"
    yield cache, project
    cache.client.delete(*cache.client.keys(f"{PREFIX}:{project}:*") or ["none"])


def test_an_answer_is_served_until_it_expires_and_the_oldest_go(answers, store: Store):
    cache, project = answers
    assert cache.take(store, "a" * 64, project) is None
    cache.keep(store, "a" * 64, Cached("first", 3, 120.0), project)
    assert cache.take(store, "a" * 64, project) == Cached("first", 3, 120.0)
    cache.keep(store, "b" * 64, Cached("second", 2, 80.0), project)
    cache.keep(store, "c" * 64, Cached("third", 2, 50.0), project)  # a's the oldest: gone
    assert cache.take(store, "a" * 64, project) is None
    assert cache.take(store, "c" * 64, project) == Cached("third", 2, 50.0)
    stats = cache.stats(store, project)
    assert (stats.hits, stats.misses, stats.entries) == (2, 3, 2)
    assert stats.saved_ms == pytest.approx(170.0) and stats.hit_rate == pytest.approx(0.4)
    time.sleep(TTL + 0.1)
    assert cache.take(store, "c" * 64, project) is None
    assert cache.stats(store, project).entries == 0


def test_a_redis_that_does_not_answer_is_a_clear_error(store: Store):
    cache = RedisAnswers(f"redis://127.0.0.1:{free_port()}/0", TTL, max_entries=2)
    with pytest.raises(StoreUnavailableError, match="the chat cache's Redis did not answer"):
        cache.take(store, "a" * 64, "default")

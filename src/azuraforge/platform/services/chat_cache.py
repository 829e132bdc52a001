"""The response cache of deterministic chat answers (:mod:`azuraforge.assist.cache`), per
project, bounded and expiring: in the store's own table by default (SQLite embedded,
PostgreSQL on a cluster), or in Redis (settings ``assist_cache_url``), which every API process
shares. Both count hits, misses and the time the hits saved."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from azuraforge.assist.cache import Cached, CacheStats
from azuraforge.errors import StoreUnavailableError
from azuraforge.platform.settings import Settings
from azuraforge.platform.store.interfaces import Chat

PREFIX = "azuraforge:chat-cache"
"""The start of every Redis key of the cache."""


class Answers(Protocol):
    """A project's kept answers."""

    def take(self, store: Chat, key: str, project: str) -> Cached | None: ...

    def keep(self, store: Chat, key: str, cached: Cached, project: str) -> None: ...

    def stats(self, store: Chat, project: str) -> CacheStats: ...


class StoreAnswers:
    """Kept in the store's ``chat_cache`` table."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl, self.max_entries = ttl, max_entries

    def take(self, store: Chat, key: str, project: str) -> Cached | None:
        return store.take_cached_answer(key, project=project)

    def keep(self, store: Chat, key: str, cached: Cached, project: str) -> None:
        store.keep_answer(key, cached, project=project, ttl=self.ttl,
                          max_entries=self.max_entries)  # fmt: skip

    def stats(self, store: Chat, project: str) -> CacheStats:
        return store.chat_cache_stats(project=project)


class RedisAnswers:
    """Kept in Redis: each answer a key with its time to live, a project's keys in a sorted
    set by time (the oldest beyond ``max_entries`` go), its counts in a hash."""

    def __init__(self, url: str, ttl: float, max_entries: int) -> None:
        import redis  # the cluster path's dependency, imported only there

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self.ttl, self.max_entries = ttl, max_entries

    def take(self, store: Chat, key: str, project: str) -> Cached | None:
        found = self._call(self.client.get, f"{PREFIX}:{project}:answer:{key}")
        if found is None:
            return None
        cached = Cached(**json.loads(found))
        with self.client.pipeline() as pipe:
            pipe.hincrby(f"{PREFIX}:{project}:stats", "hits", 1)
            pipe.hincrbyfloat(f"{PREFIX}:{project}:stats", "saved_ms", cached.generated_ms)
            self._call(pipe.execute)
        return cached

    def keep(self, store: Chat, key: str, cached: Cached, project: str) -> None:
        now, order = time.time(), f"{PREFIX}:{project}:order"
        body = json.dumps(cached.__dict__)
        with self.client.pipeline() as pipe:
            pipe.set(f"{PREFIX}:{project}:answer:{key}", body, px=max(1, int(self.ttl * 1e3)))
            pipe.zadd(order, {key: now})
            pipe.zremrangebyscore(order, "-inf", now - self.ttl)
            pipe.zcard(order)
            pipe.hincrby(f"{PREFIX}:{project}:stats", "misses", 1)
            held = self._call(pipe.execute)[3]
        if held > self.max_entries:
            oldest = self._call(self.client.zpopmin, order, held - self.max_entries)
            names = [f"{PREFIX}:{project}:answer:{k.decode()}" for k, _ in oldest]
            self._call(self.client.delete, *names)

    def stats(self, store: Chat, project: str) -> CacheStats:
        order = f"{PREFIX}:{project}:order"
        self._call(self.client.zremrangebyscore, order, "-inf", time.time() - self.ttl)
        counts = self._call(self.client.hgetall, f"{PREFIX}:{project}:stats")
        return CacheStats(
            int(counts.get(b"hits", 0)), int(counts.get(b"misses", 0)),
            float(counts.get(b"saved_ms", 0.0)), int(self._call(self.client.zcard, order)),
        )  # fmt: skip

    def _call(self, method: Callable[..., Any], *arguments: Any) -> Any:
        try:
            return method(*arguments)
        except self.errors as e:
            raise StoreUnavailableError(f"the chat cache's Redis did not answer ({e})") from None


def open_answers(settings: Settings) -> Answers | None:
    """The cache the settings ask for (None: off)."""
    if not settings.assist_cache_ttl:
        return None
    if settings.assist_cache_url:
        return RedisAnswers(settings.assist_cache_url, settings.assist_cache_ttl,
                            settings.assist_cache_entries)  # fmt: skip
    return StoreAnswers(settings.assist_cache_ttl, settings.assist_cache_entries)

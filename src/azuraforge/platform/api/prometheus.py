"""The API's side of the platform's metrics (:mod:`azuraforge.platform.prometheus`): each
request counted and timed under its route's template, and what the store knows (jobs by kind
and status, the queue's age, the streams' lag), read at each scrape."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from azuraforge import __version__
from azuraforge.platform.prometheus import REQUEST_SECONDS, REQUESTS
from azuraforge.platform.services.streams.job import STREAM
from azuraforge.platform.services.streams.readings import pace
from azuraforge.platform.store import Store

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""The methods counted by name; any other is ``other`` (a label takes few values)."""
OTHER_ROUTE = "other"
"""The route label of a request no route of the API or the dashboard's pages took: the
dashboard's files, 404s, requests refused before routing (a Host not allowed)."""


Templates = Mapping[int, tuple[tuple[re.Pattern[str], str], ...]]
"""Each route's templates by the route's id, with the pattern of the paths each one serves."""


def route_templates(
    routes: Iterable[BaseRoute],
) -> dict[int, tuple[tuple[re.Pattern[str], str], ...]]:
    """The templates each API route of ``routes`` is served at (its router's prefix and its
    own path, ``/api/v1/runs/{experiment_id}``), by the route's id: what FastAPI puts in a
    request's ``scope["route"]`` is the route as its router declared it, unprefixed. A route
    included under two prefixes (a run's, also at its deprecated path) has both, each with the
    pattern of its paths."""
    found: dict[int, list[tuple[re.Pattern[str], str]]] = {}
    for context in iter_route_contexts(list(routes)):
        if isinstance(context.original_route, APIRoute) and context.path_format:
            served = (compile_path(context.path or context.path_format)[0], context.path_format)
            found.setdefault(id(context.original_route), []).append(served)
    return {route: tuple(served) for route, served in found.items()}


def template_of(templates: Templates, scope: Scope) -> str:
    """The template of the route that took the request of ``scope``: of its templates
    (:func:`route_templates`), the one whose pattern the request's path matches."""
    route = scope.get("route")
    served = templates.get(id(route), ())
    for pattern, template in served[:-1]:
        if pattern.match(scope["path"]):
            return template
    return served[-1][1] if served else getattr(route, "path_format", OTHER_ROUTE)


class RequestMetrics:
    """ASGI middleware counting each HTTP request by route template (:func:`route_templates`),
    method and status, and timing it from its arrival to its response's start (a streamed
    answer's first byte)."""

    def __init__(self, app: ASGIApp, templates: Templates) -> None:
        self.app, self.templates = app, templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = False

        async def sending(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                self._count(scope, message["status"], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not answered:  # an error no handler answered: the server's 500
                self._count(scope, 500, time.perf_counter() - started)

    def _count(self, scope: Scope, status: int, seconds: float) -> None:
        template = template_of(self.templates, scope)
        method = scope["method"] if scope["method"] in METHODS else "other"
        counted, timed = _series(template, method, status)
        counted.inc()
        timed.observe(seconds)


@functools.cache
def _series(template: str, method: str, status: int) -> tuple[Any, Any]:
    """The series of a route template, method and status (as few as their labels' values),
    kept: finding them by their labels at each request takes a lock and twice the time."""
    return REQUESTS.labels(template, method, str(status)), REQUEST_SECONDS.labels(template, method)


class StoreMetrics(Collector):
    """What the store knows, read at each scrape over every project: jobs by kind and status,
    the age of each kind's oldest queued job, the running streams' greatest lag."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        """The version serving, the jobs by kind and status, the queue's age, the lag."""
        now = time.time()
        info = GaugeMetricFamily(
            "azuraforge_build_info",
            "The AzuraForge version serving (value 1).",
            labels=["version"],
        )
        info.add_metric([__version__], 1)
        yield info
        counts = self.store.count_jobs()
        jobs = GaugeMetricFamily(
            "azuraforge_jobs", "Jobs in the store, by kind and status.", labels=["kind", "status"]
        )
        for kind, status, found in counts:
            jobs.add_metric([kind, status], found)
        yield jobs
        yield from self._queue(now)
        yield self._lag(now)

    def _queue(self, now: float) -> Iterator[Metric]:
        oldest = GaugeMetricFamily(
            "azuraforge_queue_oldest_age_seconds",
            "Seconds the oldest queued job of each kind has waited (no series: none queued).",
            labels=["kind"],
        )
        for kind, created in self.store.oldest_queued().items():
            oldest.add_metric([kind], max(0.0, now - created))
        yield oldest

    def _lag(self, now: float) -> Metric:
        lag = GaugeMetricFamily(
            "azuraforge_stream_lag_seconds",
            "The greatest lag of the running streams: seconds since a stream's last checkpoint.",
        )
        running = self.store.list_running(STREAM)
        lags = [pace(self.store, record, now).lag for record in running]
        lag.add_metric([], max((found for found in lags if found is not None), default=0.0))
        return lag

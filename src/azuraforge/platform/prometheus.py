"""The platform's Prometheus metrics: what its processes count and time, and the text a scrape
reads (docs/operations.md).

Every name starts with ``azuraforge_``, in base units (seconds, bytes), and every label takes
few values, known in advance: a route's template (never its path), a method, a status code, a
job's kind, a reaped lease's outcome. No run id, user, project, file or model name is a label:
each value of a label is a series Prometheus keeps for good.

The processes of one ``azuraforge serve`` (its API processes, its workers, their jobs) or of
one ``azuraforge worker`` pool write their counts to files in one folder
(``PROMETHEUS_MULTIPROC_DIR``, prometheus-client's multiprocess mode: the command makes a new
one and sets the variable before the platform is imported,
:func:`~azuraforge.platform.prometheus_folder.shared_metrics`), and a scrape of any of them adds
them up. What the store knows (queued jobs, jobs by status, streams' lag) is read from it at
each scrape instead (``extra`` collectors of :func:`exposition`): the same answer from every
server of one store, on whichever machine its jobs run.
"""

from __future__ import annotations

import glob
import hmac
import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from azuraforge.errors import (
    CredentialError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
)
from azuraforge.platform.prometheus_folder import MULTIPROCESS_VARIABLE

SHARED_FOLDER = os.environ.get(MULTIPROCESS_VARIABLE)
"""The folder this process writes its counts to, if it shares them (read when this module is
imported, as prometheus-client, imported just above, read it to choose where counts go)."""

# A _created series for every counter is of no use to the rules and dashboards here.
disable_created_metrics()  # type: ignore[no-untyped-call]

REAP_OUTCOMES = ("lost", "queued")
"""What becomes of a job whose lease the reaper ends (the store's ``LOST`` and ``QUEUED``)."""
CHANGE_KINDS = ("drift", "candidate", "promote", "keep", "undecided", "rollback", "disarm",
                "retrain", "retrain_failed")  # fmt: skip
"""The kinds of a stream's changes (:data:`azuraforge.stream.shadow.CHANGE_KINDS`, named here
again: importing the stream package would cost each process that counts some 0.8 s)."""


def _counter(name: str, documentation: str, label: str, values: Iterable[str]) -> Counter:
    """A counter of one ``label``, each of its ``values`` there at 0 from the start: a query
    finds 0 before the first count, not nothing (a labelled series is otherwise made at its
    first count, and a scrape of several processes shows no counter that has none)."""
    counter = Counter(name, documentation, [label])
    for value in values:
        counter.labels(value)
    return counter


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds: a predict request takes about a millisecond, a listing of many runs a second."""

# Predictions are the predict routes' requests: their count and latency are these two (no
# series of their own, which would cost every predict request a few microseconds more).
REQUESTS = Counter(
    "azuraforge_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "azuraforge_http_request_duration_seconds",
    "Seconds from a request's arrival to its response's start, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
LEASE_RENEWALS = Counter(
    "azuraforge_lease_renewals", "Job leases renewed by the workers running the jobs."
)
LEASE_LOSSES = Counter(
    "azuraforge_lease_losses",
    "Jobs a worker stopped because their lease was lost (expired, or taken by the reaper).",
)
LEASES_REAPED = _counter(
    "azuraforge_leases_reaped",
    "Expired leases the reaper ended, by what became of their job (lost, queued again).",
    "outcome",
    REAP_OUTCOMES,
)
WORKERS = Gauge(
    "azuraforge_workers",
    "Worker processes alive and polling for jobs.",
    multiprocess_mode="livesum",
)
WORKER_RESTARTS = Counter(
    "azuraforge_worker_restarts",
    "Worker processes that died unasked and were started again by their pool.",
)
STREAM_EVENTS = Counter("azuraforge_stream_events", "Events the streams learned from.")
STREAM_CHANGES = _counter(
    "azuraforge_stream_changes",
    "Steps of the streams' loops: drifts, candidates, promotions, rollbacks, by kind.",
    "change",
    CHANGE_KINDS,
)
CHAT_TOKENS = _counter(
    "azuraforge_chat_tokens",
    "Tokens of the assistant's answers: read (prompt) and written (completion).",
    "direction",
    ("prompt", "completion"),
)
CHAT_GENERATION_SECONDS = Counter(
    "azuraforge_chat_generation_seconds",
    "Seconds the assistant's backends spent answering (tokens written per second: the "
    "rate of azuraforge_chat_tokens_total{direction='completion'} over this one's).",
)
CHAT_CACHE_LOOKUPS = _counter(
    "azuraforge_chat_cache_lookups",
    "Answers looked for in the assistant's cache, by result (hit, miss).",
    "result",
    ("hit", "miss"),
)


FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
"""Headers a proxy names the client in: a scrape carrying one was forwarded."""


def check_scrape(
    token: str | None, authorization: str, client: str | None, forwarded: bool = False
) -> None:
    """Whether a scrape may read the metrics: with a ``token`` set (``metrics_token``), a
    request whose ``authorization`` header is ``Bearer <token>``, from anywhere; without one,
    a request from this machine (``client``, a loopback address) alone, and never one that
    was ``forwarded`` (it carries a forwarding header, or the server trusts proxies to name
    the client: a header would then make any client look local).

    >>> check_scrape(None, "", "127.0.0.1")
    >>> check_scrape(None, "", "127.0.0.1", forwarded=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    azuraforge.errors.PermissionDeniedError: /metrics answers clients on the server's ...

    Raises
    ------
    CredentialError
        A token is set and the request does not carry it (401).
    PermissionDeniedError
        No token is set and the request comes from another machine (403).
    """
    if token is None:
        if forwarded or not _loopback(client):
            raise PermissionDeniedError(
                "/metrics answers clients on the server's machine alone; set "
                "AZURAFORGE_METRICS_TOKEN and send it as 'Authorization: Bearer <token>' to "
                "scrape from another"
            )
        return
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        message = (
            "/metrics needs the scrape token: send 'Authorization: Bearer <token>' with the "
            "server's AZURAFORGE_METRICS_TOKEN"
        )
        raise CredentialError(message, public=message)


def _loopback(client: str | None) -> bool:
    try:
        return client is not None and ipaddress.ip_address(client).is_loopback
    except ValueError:  # not an address: a Unix socket's peer, a test client
        return False


def exposition(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text a scrape reads and its content type: every process's counts (those of the
    processes sharing this one's folder, or this process's alone) and ``extra``'s."""
    registry = CollectorRegistry()  # its collectors are collected once, by the exposition
    if SHARED_FOLDER:
        _forget_dead_processes(SHARED_FOLDER)
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=SHARED_FOLDER
        )
    else:
        registry.register(_Process())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Process(Collector):
    """This process's own metrics (the default registry), as one collector among others."""

    def collect(self):  # type: ignore[no-untyped-def]
        yield from REGISTRY.collect()


def _forget_dead_processes(folder: str) -> None:
    """Drop the live gauges of processes that ended without saying so (killed): a worker
    killed with SIGKILL is no longer alive. Only processes of this machine write here."""
    for path in glob.glob(os.path.join(folder, "gauge_live*.db")):
        pid = int(os.path.basename(path).rsplit("_", 1)[1].removesuffix(".db"))
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged (one every few seconds)."""


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve_metrics(host: str, port: int, token: str | None) -> WSGIServer:
    """Serve ``/metrics`` (:func:`exposition`, under :func:`check_scrape`) on ``host:port`` from
    a thread of this process, for processes with no API: a worker pool; returns the server
    (``shutdown()`` stops it).

    Raises
    ------
    InvalidParameterError
        When it cannot listen there (a port in use), naming the reason.
    """

    def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            if environ.get("PATH_INFO") != "/metrics":
                raise NotFoundError("this server serves /metrics alone")
            forwarded = any(
                f"HTTP_{name.upper().replace('-', '_')}" in environ for name in FORWARDING_HEADERS
            )
            authorization = environ.get("HTTP_AUTHORIZATION", "")
            check_scrape(token, authorization, environ.get("REMOTE_ADDR"), forwarded)
        except (NotFoundError, CredentialError, PermissionDeniedError) as e:
            start_response(_REFUSED[type(e)], [("Content-Type", "text/plain; charset=utf-8")])
            return [f"{e}\n".encode()]
        body, content_type = exposition()
        start_response("200 OK", [("Content-Type", content_type)])
        return [body]

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("MetricsServer", (_Threading,), {"address_family": family})
    try:
        server: WSGIServer = make_server(host, port, answer, server_class, handler_class=_Quiet)
    except OSError as e:
        raise InvalidParameterError(
            f"cannot serve the metrics on {host}:{port}: {e.strerror or e}"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


_REFUSED = {
    NotFoundError: "404 Not Found",
    CredentialError: "401 Unauthorized",
    PermissionDeniedError: "403 Forbidden",
}

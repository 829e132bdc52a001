"""Where a process's spans go once tracing is on (:func:`install_provider`, called by
:func:`~azuraforge.platform.tracing.start_tracing`): OpenTelemetry's SDK, its exporters found
by name, and every span scrubbed on the way out (:class:`Scrubbed`), whatever made it
(FastAPI, SQLAlchemy, httpx or ours): no exception message or stack (their type alone), no
status description (a database error quotes the values it refused), no query string's values,
no path of an outgoing request (a webhook's address is its secret), and an SQLite store's
file named without its folder. No span holds a body.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status

from azuraforge.errors import InvalidParameterError

EXPORTERS = "opentelemetry_traces_exporter"
"""The entry-point group where OpenTelemetry's packages declare their exporters."""
KEPT_QUERY_KEYS = frozenset({"limit", "offset", "sort", "order", "status", "kind", "q"})
"""Query keys whose values say how a listing was asked; every other value is REDACTED."""


def install_provider(names: str, service: str) -> None:
    """This process's tracer provider, sending to the exporters ``names`` (separated by
    commas), as ``service`` unless ``OTEL_SERVICE_NAME`` says otherwise; SQLAlchemy, httpx
    and Celery traced.

    Raises
    ------
    InvalidParameterError
        When an exporter named is not installed.
    """
    exporters = [_exporter(name.strip().lower()) for name in names.split(",") if name.strip()]
    attributes = {"service.name": os.environ.get("OTEL_SERVICE_NAME", service)}
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(Scrubbed(exporter)))
    trace.set_tracer_provider(provider)
    _instrument_libraries()


def _exporter(name: str) -> SpanExporter:
    """The exporter OpenTelemetry's packages declare under ``name`` (``otlp``: its HTTP
    protocol, or gRPC when ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` and its package is installed)."""
    if name == "otlp":
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
    found = entry_points(group=EXPORTERS, name=name)
    if not found:
        known = sorted(point.name for point in entry_points(group=EXPORTERS))
        raise InvalidParameterError(
            f"OTEL_TRACES_EXPORTER: no span exporter {name!r} is installed (installed: "
            f"{', '.join(['otlp', *known])}, or none)"
        )
    exporter: SpanExporter = next(iter(found)).load()()
    return exporter


def _instrument_libraries() -> None:
    """SQLAlchemy's statements, httpx's requests and Celery's tasks as spans of the trace."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Its 0.66 release declares SQLAlchemy below 2.1; the engine events it listens to are
    # unchanged in 2.1 (tests/platform/test_tracing.py reads the statements back).
    SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    HTTPXClientInstrumentor().instrument()
    with contextlib.suppress(ImportError):  # Celery is the cluster's transport alone
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]


class Scrubbed(SpanExporter):
    """An exporter that sends what ``exporter`` would, scrubbed: exception events keep their
    type alone, statuses lose their description, query strings keep their keys (and the
    values of :data:`KEPT_QUERY_KEYS`), outgoing requests' addresses keep their origin."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans``, each :func:`scrubbed`."""
        return self.exporter.export([scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the exporter down."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Send what the exporter holds."""
        return self.exporter.force_flush(timeout_millis)


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    """``span`` as :class:`Scrubbed` sends it."""
    attributes = dict(span.attributes or {})
    name = span.name
    for key in ("db.name", "db.namespace"):  # an SQLite store's is its file's path
        if isinstance(attributes.get(key), str):
            attributes[key] = PurePath(str(attributes[key])).name
            name = name.split(" ", 1)[0]  # SQLAlchemy's: "<statement> <db.name>"
    _scrub_urls(attributes, client=span.kind == SpanKind.CLIENT)
    events = [_scrubbed_event(event) for event in span.events]
    return ReadableSpan(
        name=name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=attributes, events=events, links=span.links, kind=span.kind,
        status=Status(span.status.status_code), start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
    )  # fmt: skip


def _scrub_urls(attributes: dict[str, Any], *, client: bool) -> None:
    """Redact the values of a span's query but :data:`KEPT_QUERY_KEYS`', and a
    ``client`` span's whole address but its scheme and host (its user info dropped)."""
    if isinstance(attributes.get("url.query"), str):
        attributes["url.query"] = _query_keys(str(attributes["url.query"]))
    for key in ("url.full", "http.url"):
        if client and isinstance(attributes.get(key), str):
            parts = urlsplit(str(attributes[key]))
            attributes[key] = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/REDACTED"


def _scrubbed_event(event: Event) -> Event:
    """``event``; an exception's with its type alone (no message, no traceback)."""
    if event.name != "exception":
        return event
    kind = (event.attributes or {}).get("exception.type", "")
    return Event("exception", {"exception.type": kind}, event.timestamp)


def _query_keys(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v if k in KEPT_QUERY_KEYS else "REDACTED") for k, v in pairs])

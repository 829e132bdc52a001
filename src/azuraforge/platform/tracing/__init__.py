"""The platform's OpenTelemetry traces (docs/operations.md): off unless ``OTEL_TRACES_EXPORTER``
names an exporter (``otlp``, ``console``; the other ``OTEL_*`` variables configure it as
OpenTelemetry documents them), then one trace from a request through the queue and the worker
to the job's process, its store writes included.

Each process starts tracing once, before it opens the store (:func:`start_tracing`: the API's,
a worker's; a job's process inherits its worker's, its exporting thread started again after the
fork). A job carries the
context of the request that queued it in its row (``context``, the W3C ``traceparent``:
:func:`carried`), so the local transport joins the trace as Celery's does; the worker runs the
job under a span of that trace (:func:`span_from`) and hands its own context to the job's
process the same way.

What leaves a process is scrubbed on the way out
(:class:`~azuraforge.platform.tracing.export.Scrubbed`), whatever made the span. Off, tracing
costs an import of OpenTelemetry's API (FastAPI's own) and no more: its SDK is imported by
:func:`start_tracing` alone.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

EXPORTER_VARIABLE = "OTEL_TRACES_EXPORTER"
"""OpenTelemetry's variable naming the exporters, separated by commas; unset or ``none``: off."""
FLUSH_SECONDS = 5.0
"""How long a process that ends, or a job's process after each job, waits for its spans to
be sent."""
_TRACER = trace.get_tracer("azuraforge.platform")
_TRACE_CONTEXT = TraceContextTextMapPropagator()
_starting = threading.Lock()
_tracing = False
"""Whether this process traces: off, :func:`span_from` costs a predict request nothing."""


def tracing_on() -> bool:
    """Whether the environment asks for traces (``OTEL_TRACES_EXPORTER`` names an exporter)."""
    return os.environ.get(EXPORTER_VARIABLE, "none").strip().lower() not in ("", "none")


def start_tracing(service: str) -> bool:
    """Send this process's spans to the exporters ``OTEL_TRACES_EXPORTER`` names, as service
    ``service`` (unless ``OTEL_SERVICE_NAME`` names another), and trace SQLAlchemy and httpx
    (Celery's tasks too where Celery runs); whether tracing is on. Once per process; off (and
    free) unless asked for.

    Raises
    ------
    InvalidParameterError
        When an exporter named is not installed.
    """
    global _tracing
    with _starting:
        if not tracing_on():
            return False
        if not hasattr(trace.get_tracer_provider(), "force_flush"):  # none installed yet
            from azuraforge.platform.tracing.export import install_provider

            install_provider(os.environ[EXPORTER_VARIABLE], service)
        _tracing = True
        return True


def flush() -> None:
    """Send the spans this process holds: a job's process after each job (it ends with
    ``os._exit``, which runs no exit handler; other processes send theirs at exit)."""
    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush is not None:
        force_flush(int(FLUSH_SECONDS * 1000))


def carried() -> dict[str, str]:
    """The current trace's context as a job carries it (W3C ``traceparent`` and
    ``tracestate``, never a caller's ``baggage``; empty when no span is recording)."""
    carrier: dict[str, str] = {}
    _TRACE_CONTEXT.inject(carrier)
    return carrier


def span_from(
    carrier: Mapping[str, str] | None,
    name: str,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    start_time: int | None = None,
) -> AbstractContextManager[Span]:
    """A span ``name``, child of the context ``carrier`` holds (a job's row's; None: of the
    current span), current while the block runs, started at ``start_time`` (nanoseconds since
    the epoch) or now. An exception that leaves the block marks it an error, by its type
    alone. A process that does not trace gets a span that records nothing, at no cost."""
    if not _tracing:
        return contextlib.nullcontext(trace.INVALID_SPAN)
    return _span(carrier, name, attributes, kind, start_time)


@contextlib.contextmanager
def _span(
    carrier: Mapping[str, str] | None,
    name: str,
    attributes: Mapping[str, Any] | None,
    kind: SpanKind,
    start_time: int | None,
) -> Iterator[Span]:
    parent = None if carrier is None else _TRACE_CONTEXT.extract(dict(carrier))
    with _TRACER.start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {}),
        start_time=start_time, record_exception=False, set_status_on_exception=False,
    ) as span:  # fmt: skip
        try:
            yield span
        except BaseException as error:
            span.set_status(Status(StatusCode.ERROR))
            span.set_attribute("error.type", type(error).__qualname__)
            raise

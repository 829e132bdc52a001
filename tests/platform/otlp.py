"""What the tests read traces with: an OTLP/HTTP receiver (the spans a real process exported,
as dictionaries) and a new trace's W3C header for a test's request."""

from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

CALLER_SPAN = "00f067aa0ba902b7"
"""The span of the tests' requests' caller: theirs is its child."""


def new_trace() -> tuple[str, dict[str, str]]:
    """A new trace's id and the W3C header of the caller's span in it, for a test's request:
    every span of its work joins this trace, and no other test's."""
    trace_id = secrets.token_hex(16)
    return trace_id, {"traceparent": f"00-{trace_id}-{CALLER_SPAN}-01"}


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP receiver (``POST /v1/traces``, protobuf): every span it was sent, with
    its service's name, as dictionaries."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.lock = threading.Lock()

    def of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [span for span in self.spans if span["trace_id"] == trace_id]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        found = [
            {"service": _service(resource.resource), "name": span.name,
             "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
             "parent": span.parent_span_id.hex(), "kind": span.kind,
             "attributes": {a.key: _value(a.value) for a in span.attributes},
             "events": [event.name for event in span.events], "status": span.status.code}
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]  # fmt: skip
        with self.server.lock:
            self.server.spans += found
            self.server.raw.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _service(resource: Any) -> str:
    return next(_value(a.value) for a in resource.attributes if a.key == "service.name")


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None

"""Traces: a whole trace read back from a real ``azuraforge serve`` (its API process, its
worker, the job's process) through OpenTelemetry's OTLP/HTTP exporter into a receiver of this
test, whether the run completed, failed, was cancelled, killed or lost its lease; a prediction
and a chat answered by an OpenAI-compatible server of the test's (httpx, the context sent on);
nothing secret in any span; spans scrubbed on the way out; and off by default."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from azuraforge.learn.datasets import fetch
from azuraforge.platform.settings import AssistBackend, Settings
from azuraforge.platform.store import Store
from azuraforge.platform.tracing.export import scrubbed
from tests.platform.fixtures import settings_on_copy
from tests.platform.jobs.conftest import wait_for
from tests.platform.otlp import CALLER_SPAN, Receiver, new_trace
from tests.platform.servers import (
    bearer,
    free_port,
    kill_group,
    sample_sum,
    serving,
    start_serve,
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with serving(Receiver()) as server:
        yield server


class ModelServer(ThreadingHTTPServer):
    """An OpenAI-compatible model server that answers every chat "he" in two pieces (and
    does not tokenize) and keeps the path and the headers of each request it was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ModelHandler)
        self.asked: list[tuple[str, dict[str, str]]] = []


class _ModelHandler(BaseHTTPRequestHandler):
    server: ModelServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.asked.append((self.path, dict(self.headers)))
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        pieces = [json.dumps({"choices": [{"delta": {"content": text}}]}) for text in "he"]
        body = "".join(f"data: {piece}\n\n" for piece in [*pieces, "[DONE]"]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    with serving(ModelServer()) as server:
        yield server


MODEL_FOLDER = "private-9f3c"
MODEL_PATH = f"/{MODEL_FOLDER}/v1"
"""The model server's path in the serve's settings (the tokenizer's is beside it): a secret
no span may carry."""


@pytest.fixture(scope="module")
def traced_settings(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, model_server: ModelServer
) -> Settings:
    """The traced serve's settings (its store, which a test may reap), the model server its
    assistant's backend."""
    url = f"http://127.0.0.1:{model_server.server_address[1]}{MODEL_PATH}"
    backend = AssistBackend(name="upstream", kind="openai", url=url, model="m")
    return settings_on_copy(sqlite_template, tmp_path_factory.mktemp("traced"),
                            assist_backends=[backend])  # fmt: skip


@pytest.fixture(scope="module")
def traced_serve(
    receiver: Receiver, sleeper_path: Path, traced_settings: Settings
) -> Iterator[str]:
    """A serve with one worker, tracing to the receiver, its spans sent within 0.2 s."""
    exporting = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.server_address[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in exporting.items():
            patch.setenv(name, value)
        serve = start_serve(traced_settings, port, "--workers", "1", pythonpath=sleeper_path)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        kill_group(serve)


def test_a_run_is_one_trace_from_the_request_to_the_jobs_process(
    traced_serve: str, receiver: Receiver
) -> None:
    trace_id, parent = new_trace()
    body = {"pipeline": "sleeper", "config": {"steps": 3, "sleep": 0.05}}
    made = httpx.post(f"{traced_serve}/api/v1/runs", headers={**bearer(), **parent},
                      json=body)  # fmt: skip
    assert made.status_code == 201, made.text
    run = made.json()["data"][0]["id"]
    wanted = {"run run", "job run", "POST /api/v1/runs"}  # the request's span in its own batch
    spans = _wait_for_trace(receiver, trace_id, lambda found: wanted <= {s["name"] for s in found})
    by_id = {span["span_id"]: span for span in spans}
    request = next(s for s in spans if s["name"] == "POST /api/v1/runs")
    job = next(s for s in spans if s["name"] == "job run")
    ran = next(s for s in spans if s["name"] == "run run")
    assert request["service"] == "azuraforge" and request["kind"] == ProtoSpan.SPAN_KIND_SERVER
    assert request["parent"] == CALLER_SPAN
    assert job["service"] == "azuraforge-worker" and "claimed" in job["events"]
    assert job["attributes"]["azuraforge.job.id"] == run
    assert job["attributes"]["azuraforge.job.status"] == "completed"
    assert ran["attributes"]["process.pid"] != job["attributes"]["process.pid"]  # its own
    assert _ancestors(ran, by_id)[-1] is request and job in _ancestors(ran, by_id)
    inserted = [s for s in spans if s["parent"] == request["span_id"]
                and str(s["attributes"].get("db.statement", "")).startswith("INSERT")]  # fmt: skip
    assert inserted, "the request's row written under its span"
    writes = [s for s in spans if ran in _ancestors(s, by_id)
              and "metric_points" in str(s["attributes"].get("db.statement", ""))]  # fmt: skip
    assert writes, "the run's metric writes under the job process's span"
    token = bearer()["Authorization"].split()[1]
    assert not any(token.encode() in raw for raw in receiver.raw)


@pytest.mark.parametrize(
    ("config", "ended"),
    [({"steps": 3, "fail_at": 2}, "failed"), ({"steps": 400, "sleep": 0.05}, "cancelled")],
)
def test_a_run_that_fails_or_is_cancelled_still_sends_its_whole_trace(
    traced_serve: str, receiver: Receiver, config: dict[str, Any], ended: str
) -> None:
    trace_id, parent = new_trace()
    made = httpx.post(f"{traced_serve}/api/v1/runs", headers={**bearer(), **parent},
                      json={"pipeline": "sleeper", "config": config})  # fmt: skip
    run = made.json()["data"][0]["id"]
    if ended == "cancelled":  # once running: its process has its span open
        url = f"{traced_serve}/api/v1/runs/{run}"
        wait_for(lambda: httpx.get(url, headers=bearer()).json()["status"] == "running", 60, 0.1)
        assert httpx.post(f"{url}/cancel", headers=bearer()).status_code == 202

    def both_ended() -> bool:  # and the request's span, which its server sends in its own batch
        found = receiver.of_trace(trace_id)
        statuses = [s["attributes"].get("azuraforge.job.status") for s in found]
        return statuses.count(ended) == 2 and any(s["name"] == "POST /api/v1/runs" for s in found)

    wait_for(both_ended, 60, 0.2)
    spans = receiver.of_trace(trace_id)
    by_id = {span["span_id"]: span for span in spans}
    ran = next(s for s in spans if s["name"] == "run run")
    chain = [s["name"] for s in _ancestors(ran, by_id)]
    assert chain[0] == "job run" and chain[-1] == "POST /api/v1/runs"


@pytest.mark.parametrize(
    ("config", "ended"),
    [({"crash_at": 3}, "failed"), ({}, "lost"), ({"steps": 2, "sleep": 60}, "lost")],
    ids=["killed", "lost-while-writing", "lost-mid-step"],
)
def test_a_run_whose_process_is_killed_or_whose_lease_is_lost_ends_its_workers_span(
    traced_serve: str, traced_settings: Settings, receiver: Receiver,
    config: dict[str, Any], ended: str,
) -> None:  # fmt: skip
    """A killed process sends nothing more (its open span is gone): its worker's span ends,
    saying how the job ended, in the request's trace; a lost lease is counted. A run in the
    middle of a step (writing nothing) is killed by its worker as soon as it finds the lease
    gone, not given the cancel grace and then recorded as a crash."""
    trace_id, parent = new_trace()

    def losses() -> float:  # a scrape from this machine needs no token
        scraped = httpx.get(f"{traced_serve}/metrics").text
        return sample_sum(scraped, "azuraforge_lease_losses_total")

    lost_before = losses()
    body = {"pipeline": "sleeper", "config": {"steps": 400, "sleep": 0.05, **config}}
    made = httpx.post(f"{traced_serve}/api/v1/runs", headers={**bearer(), **parent},
                      json=body)  # fmt: skip
    run = made.json()["data"][0]["id"]
    if ended == "lost":  # its lease taken as if it had expired, as the reaper does
        store = Store(traced_settings.database_url)
        try:
            wait_for(lambda: store.get_experiment(run).status == "running", 60, 0.1)
            # every other run of the serve has ended: each test waits for its job's span
            assert store.reap_expired(now=time.time() + 3600) == [(run, "lost")]
        finally:
            store.close()

    def job_ended() -> list[dict[str, Any]]:
        return [s for s in receiver.of_trace(trace_id) if s["name"] == "job run"]

    (job,) = wait_for(job_ended, 60, 0.2)
    assert job["attributes"]["azuraforge.job.status"] == ended
    assert job["status"] == ProtoStatus.STATUS_CODE_ERROR
    by_id = {span["span_id"]: span for span in receiver.of_trace(trace_id)}
    assert _ancestors(job, by_id)[-1]["name"] == "POST /api/v1/runs"
    record = httpx.get(f"{traced_serve}/api/v1/runs/{run}", headers=bearer()).json()
    assert record["status"] == ended
    assert losses() - lost_before == (1 if ended == "lost" else 0)


TINY = {"max_rows": 600, "epochs": 1, "hidden_size": 4, "sequence_length": 8}
"""A weather model trained in about a second (tests/platform/registry's)."""


def test_a_prediction_is_traced_through_the_model_server(
    traced_serve: str, receiver: Receiver, real_data: object
) -> None:
    """A real model trained, registered and asked: the predict request's trace holds the
    model's own span (its version, its rows)."""
    api = httpx.Client(base_url=f"{traced_serve}/api/v1", headers=bearer(), timeout=60)
    made = api.post("/runs", json={"pipeline": "weather-forecaster", "config": TINY})
    run = made.json()["data"][0]
    done = lambda: api.get(f"/runs/{run['id']}").json()["status"] == "completed"  # noqa: E731
    wait_for(done, 120, 0.2)
    assert api.post("/models", json={"name": "traced"}).status_code == 201
    assert api.post("/models/traced/versions", json={"experiment": run["name"]}).status_code == 201
    path = fetch("beijing-hourly")["beijing_hourly_2010_2014.csv"]
    with path.open() as handle:
        rows = list(csv.DictReader(handle))[1000:1050]
    trace_id, parent = new_trace()
    asked = api.post("/models/traced/1/predict", json={"rows": rows}, headers=parent)
    assert asked.status_code == 200, asked.text

    def answered(found: list[dict[str, Any]]) -> bool:
        kinds = {s["kind"] for s in found}
        return ProtoSpan.SPAN_KIND_SERVER in kinds and ProtoSpan.SPAN_KIND_INTERNAL in kinds

    spans = _wait_for_trace(receiver, trace_id, answered)
    predict = next(s for s in spans if s["name"] == "predict")
    request = next(s for s in spans if s["kind"] == ProtoSpan.SPAN_KIND_SERVER)
    assert predict["attributes"] == {"azuraforge.model.version": 1, "azuraforge.rows": 50}
    assert request["attributes"]["http.route"] == "/api/v1/models/{ref}/predict"
    assert request["name"] == "POST /api/v1/models/{ref}/predict"


def test_a_model_servers_request_joins_the_trace_without_its_path(
    traced_serve: str, receiver: Receiver, model_server: ModelServer
) -> None:
    """The assistant's call to an OpenAI-compatible server (httpx) is a span of the chat
    request's trace, which the model server is told (its traceparent); its address leaves
    with its origin alone."""
    trace_id, parent = new_trace()
    chat = httpx.post(f"{traced_serve}/api/v1/chat", headers={**bearer(), **parent},
                      json={"message": "hello", "model": "upstream"})  # fmt: skip
    assert chat.status_code == 200 and "event: end" in chat.text, chat.text
    traceparents = [h.get("traceparent", "").split("-") for path, h in model_server.asked
                    if path == f"{MODEL_PATH}/chat/completions"]  # fmt: skip
    (caller,) = [span for _, trace, span, _ in traceparents if trace == trace_id]

    def complete(found: list[dict[str, Any]]) -> bool:  # the request's span ends last
        asking = any(s["span_id"] == caller for s in found)
        return asking and any(s["parent"] == CALLER_SPAN for s in found)

    spans = _wait_for_trace(receiver, trace_id, complete)
    by_id = {span["span_id"]: span for span in spans}
    client = by_id[caller]  # the span that asked the model server
    assert client["kind"] == ProtoSpan.SPAN_KIND_CLIENT
    assert _ancestors(client, by_id)[-1]["name"] == "POST /api/v1/chat"
    origin = f"http://127.0.0.1:{model_server.server_address[1]}"
    addresses = {value for s in spans for key, value in s["attributes"].items()
                 if key in ("url.full", "http.url")}  # fmt: skip
    assert addresses == {f"{origin}/REDACTED"}  # every client span's
    assert not any(MODEL_FOLDER.encode() in raw for raw in receiver.raw)


def test_a_login_links_token_is_never_in_a_span(traced_serve: str, receiver: Receiver) -> None:
    secret = "af_" + "s3cr3t" * 8
    trace_id, parent = new_trace()
    link = httpx.get(f"{traced_serve}/api/v1/auth/link", params={"token": secret},
                     headers=parent)  # fmt: skip
    assert link.status_code in (400, 401)
    spans = _wait_for_trace(
        receiver, trace_id, lambda found: any("/auth/link" in s["name"] for s in found)
    )
    shown = next(s for s in spans if "/auth/link" in s["name"])
    assert shown["attributes"]["url.query"] == "token=REDACTED"
    assert not any(secret.encode() in raw for raw in receiver.raw)


def test_spans_leave_scrubbed() -> None:
    context = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 1, is_remote=False)
    failing = Event("exception", {"exception.type": "IntegrityError",
                                  "exception.message": "Key (name)=(ana's secret) exists",
                                  "exception.stacktrace": "File /srv/af/x.py"})  # fmt: skip
    server = ReadableSpan(
        "GET /api/v1/runs", context, kind=SpanKind.SERVER, events=[failing],
        attributes={"url.query": "limit=5&api_key=k3y&token=t0k", "url.path": "/api/v1/x"},
        status=Status(StatusCode.ERROR, "duplicate key (ana's secret)"),
    )  # fmt: skip
    client = ReadableSpan(
        "POST", context, kind=SpanKind.CLIENT,
        attributes={"url.full": "https://user:pw@hooks.example.org/services/T0/B0/S3CRET?x=1"},
    )  # fmt: skip
    statement = ReadableSpan(
        "SELECT /srv/af/home/azuraforge.db", context, kind=SpanKind.CLIENT,
        attributes={"db.name": "/srv/af/home/azuraforge.db", "db.statement": "SELECT 1"},
    )  # fmt: skip
    seen_server, seen_client, seen_statement = (
        scrubbed(server),
        scrubbed(client),
        scrubbed(statement),
    )
    assert seen_statement.name == "SELECT"
    assert seen_statement.attributes["db.name"] == "azuraforge.db"
    assert seen_server.attributes["url.query"] == "limit=5&api_key=REDACTED&token=REDACTED"
    assert seen_server.status.status_code == StatusCode.ERROR
    assert not seen_server.status.description
    assert seen_server.events[0].attributes == {"exception.type": "IntegrityError"}
    assert seen_client.attributes["url.full"] == "https://hooks.example.org/REDACTED"
    assert seen_server.attributes["url.path"] == "/api/v1/x"


def test_tracing_is_off_unless_asked_for() -> None:
    """Without OTEL_TRACES_EXPORTER a process installs no tracer and no SDK."""
    script = ("import sys; from azuraforge.platform.tracing import start_tracing;"
              "print(start_tracing('x'), 'opentelemetry.sdk' in sys.modules)")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    found = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, check=True)  # fmt: skip
    assert found.stdout.split() == ["False", "False"]
    refused = subprocess.run([sys.executable, "-c", script],
                             env={**env, "OTEL_TRACES_EXPORTER": "zipkin_json"},
                             capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 1
    assert "no span exporter 'zipkin_json' is installed" in refused.stderr


def _ancestors(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``span``'s parent, its parent's, and so on, to the trace's first span of this test."""
    chain = []
    while span["parent"] in by_id:
        span = by_id[span["parent"]]
        chain.append(span)
    return chain


def _wait_for_trace(
    receiver: Receiver,
    trace_id: str,
    complete: Callable[[list[dict[str, Any]]], bool],
    seconds: float = 60,
) -> list[dict[str, Any]]:
    """The spans of ``trace_id`` once ``complete`` finds them complete."""
    deadline = time.monotonic() + seconds
    while not complete(found := receiver.of_trace(trace_id)):
        if time.monotonic() > deadline:
            names = sorted(span["name"] for span in found)
            pytest.fail(f"trace {trace_id} incomplete after {seconds} s: {names}")
        time.sleep(0.2)
    return found

"""A stream that polls an HTTP address: only one the server's ``stream_urls`` allow, checked
where the config enters and again where the worker polls; restarted, it warms on the rows its
checkpoint kept and takes the rows it had not saved once more, so it ends scoring as one never
stopped."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.services.streams.config import StreamConfig
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.services.streams.sources import check_url
from azuraforge.platform.services.validation import ConfigError
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.stream import Event
from azuraforge.stream.direction import make_learner
from azuraforge.stream.shadow import ShadowLoop
from azuraforge.testing.streams import START, shifted_prices
from tests.platform.jobs.conftest import children, wait_for

EVENTS = 400
PRICES = shifted_prices(EVENTS, EVENTS, seed=3)
ROWS = [{"time": START + 3600 * i, "close": price} for i, price in enumerate(PRICES)]


class Candles:
    """A local price API: ``GET /v1/candles`` answers the rows of ``window`` as JSON."""

    def __init__(self) -> None:
        self.window = slice(0, 250)
        self.polls = 0
        candles = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                candles.polls += 1
                body = json.dumps(ROWS[candles.window]).encode()
                self.send_response(200 if self.path == "/v1/candles" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def candles() -> Iterator[Candles]:
    api = Candles()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


V1 = "https://api.example.org/v1/"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.example.org.evil.net/v1/candles", V1),  # another host that starts alike
        ("https://api.example.org/v2/candles", V1),  # beside the allowed path, not below it
        ("https://api.example.org/v1/../admin", V1),
        ("https://api.example.org/v1/%2e%2e/admin", V1),
        ("https://api.example.org/v1/%252e%252e/admin", V1),  # decoded twice
        ("https://api.example.org/v1/..;/admin", V1),  # read as /admin by some servers
        ("https://api.example.org/v1\\..\\admin", V1),
        ("http://api.example.org/v1/candles", V1),  # another scheme
        ("https://user@api.example.org/v1/candles", V1),
        ("https://api.example.org:8443/v1/candles", V1),
        ("https://api.example.org:99999/v1", V1),  # does not parse: refused, not an error
        ("http://[::1/v1/candles", "http://[::1]/v1"),
        ("https://api.example.org/v1/candles?pair=ETH", f"{V1}candles?pair=BTC"),
    ],
)
def test_an_address_outside_the_allowed_ones_is_refused(url: str, allowed: str) -> None:
    with pytest.raises(InvalidParameterError, match="is not at or below one of"):
        check_url(url, [allowed])


def test_an_address_at_or_below_an_allowed_one_is_let_through() -> None:
    check_url("https://API.example.org:443/v1/candles?x=1", [V1])  # the default port, written
    check_url("https://api.example.org/v1", [V1])
    check_url(f"{V1}candles?pair=BTC", [f"{V1}candles?pair=BTC"])


def test_a_stream_config_names_one_allowed_url_or_a_source(
    store: Store, settings: Settings
) -> None:
    def refused(config: dict[str, Any], allowed: list[str]) -> str:
        allowing = settings.model_copy(update={"stream_urls": allowed})
        with pytest.raises(ConfigError) as caught:
            start_stream(store, LocalTransport(), allowing, config)
        return str(caught.value)

    url = "https://api.example.org/v1/candles"
    assert "(it sets none: no stream may poll)" in refused({"url": url}, [])
    assert "url: " in refused({"url": url}, ["https://api.example.org/v2"])
    both = refused({"url": url, "source": "btc-hourly"}, [url])
    assert "give exactly one of source (a dataset or a data-folder CSV), url or plugin" in both
    neither = refused({}, [url])
    assert neither == (
        "bad stream config: give exactly one of source (a dataset or a data-folder CSV), url "
        "or plugin"
    )  # a rule across settings, said as written: no "Value error", no echo of the config
    assert "follow and speed are a source's" in refused({"url": url, "speed": 60.0}, [url])
    assert store.list_experiments().total == 0  # nothing stored


def test_a_polled_stream_restarted_takes_the_rows_it_had_not_saved_once_more(
    store: Store, settings: Settings, candles: Candles
) -> None:
    allowing = settings.model_copy(update={"stream_urls": [f"{candles.base}/v1"]})
    config = {"url": f"{candles.base}/v1/candles", "poll_interval": 1.0, "max_events": EVENTS,
              "checkpoint_every": 50, "restart_every": 1.0, "drift": None}  # fmt: skip
    record = start_stream(store, LocalTransport(), allowing, config)

    def publish_the_rest() -> None:  # the latest 250 rows, as a price API answers
        time.sleep(1.5)
        candles.window = slice(EVENTS - 250, EVENTS)

    threading.Thread(target=publish_the_rest, daemon=True).start()
    worker, deadline = Worker(allowing, store), time.monotonic() + 60
    while time.monotonic() < deadline and store.get_experiment(record.id).status == "queued":
        worker.run_next()
    done = store.get_experiment(record.id)
    assert done.status == "completed", done.error
    assert {entry["reason"] for entry in done.restart_history or []} == {"schedule"}
    assert done.result is not None and done.result["scored"] == EVENTS - 24 - 1
    rules = StreamConfig.model_validate(config).rules()
    shadow = ShadowLoop(lambda kind, n: make_learner(kind, n - 1), "logreg-adam", rules)
    for row in ROWS:
        shadow.step(Event(row["time"], {"close": row["close"]}))
    rows = store.outcome_scores(record.id)
    for name, (count, accuracy, _) in rows.items():
        assert count == EVENTS - 25
        assert accuracy == pytest.approx(shadow.loop.scores()[f"{name}/accuracy"], abs=1e-12)
    assert candles.polls >= 2  # a restart before the last poll: it polled again once restarted


def test_the_worker_checks_the_url_again(store: Store, settings: Settings) -> None:
    url = "http://127.0.0.1:9/v1/candles"
    allowing = settings.model_copy(update={"stream_urls": [url]})
    record = start_stream(store, LocalTransport(), allowing, {"url": url, "max_restarts": 0})
    Worker(settings, store).run_next()  # a worker whose server allows no url (any more)
    failed = store.get_experiment(record.id)
    assert failed.status == "failed"
    assert "is not at or below one of the server's stream_urls" in str(failed.error)


def test_a_polled_stream_waiting_for_rows_answers_its_triggers_and_stops(
    store: Store, settings: Settings, candles: Candles
) -> None:
    allowing = settings.model_copy(update={"stream_urls": [f"{candles.base}/v1"]})
    config = {"url": f"{candles.base}/v1/candles", "poll_interval": 600.0, "drift": None}
    record = start_stream(store, LocalTransport(), allowing, config)
    worker = threading.Thread(target=Worker(allowing, store).run_next, daemon=True)
    worker.start()
    wait_for(children)  # the store is touched only once the job forked (test_runner.logged)

    def answered(trigger_id: int) -> str:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            found = next(t for t in store.list_triggers(record.id) if t.id == trigger_id)
            if found.status != "pending":
                return f"{found.status}: {found.message}"
            time.sleep(0.1)
        raise AssertionError(f"trigger {trigger_id} was not answered in 15 s")

    first = store.create_trigger(record.id, "checkpoint", actor="ana").id
    assert answered(first) == "done: checkpoint saved"  # the next poll is 10 minutes away
    pause = store.create_trigger(record.id, "pause", actor="ana").id
    assert answered(pause).startswith("done: paused")
    assert store.get_experiment(record.id).metrics["events"] == 250  # the first poll's rows
    store.request_cancel(record.id)
    worker.join(timeout=10)
    assert not worker.is_alive() and store.get_experiment(record.id).status == "cancelled"

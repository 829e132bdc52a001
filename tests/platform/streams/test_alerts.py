"""Streams' alerts on a real store: a rule's alert goes pending, fires after ``alert_for``,
resolves; each firing and resolving is posted to a local webhook receiver, signed with the
server's key, and a receiver that fails is tried again until it answers; a lost worker, a
restart loop and a drift's candidate alert and resolve as the stream moves on."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from azuraforge.platform.services.keys import WEBHOOK, ServerKeys
from azuraforge.platform.services.streams.alerts import AlertKeeper, signature
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import JobWrites, Store
from tests.platform.fixtures import TTL, running_stream, scores


class Receiver:
    """A local webhook receiver: the posts it got (headers and JSON), answering the codes of
    ``answers`` in turn (then 200), each after the seconds of ``delays`` in turn (then at
    once)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        self.delays: list[float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((dict(self.headers), body))
                time.sleep(receiver.delays.pop(0) if receiver.delays else 0)
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[tuple[str, str]]:
        return [
            (p["alert"]["rule"], p["event"]) for p in map(json.loads, (b for _, b in self.posts))
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_alert_fires_after_its_time_resolves_and_is_posted_signed(
    store: Store, settings: Settings, receiver: Receiver
) -> None:
    settings.alert_webhooks = [receiver.url]
    lease = running_stream(store, settings, alert_accuracy_below=0.55, alert_for=10)
    clock = Clock()
    keeper = AlertKeeper(store, settings, clock=clock)
    scores(store, lease, 0.50, 50)  # below, but fewer outcomes than the window
    keeper.check()
    assert store.list_alerts(lease.experiment_id) == []
    scores(store, lease, 0.50, 200)
    keeper.check()
    (alert,) = store.list_alerts(lease.experiment_id)
    assert (alert.rule, alert.state, alert.value, alert.bound) == (
        "accuracy_below",
        "pending",
        0.5,
        0.55,
    )
    assert receiver.posts == []  # pending owes nothing
    clock.now += 10
    keeper.check()
    (alert,) = store.list_alerts(lease.experiment_id)
    assert alert.state == "firing" and alert.fired_at == clock.now
    assert "accuracy over the last 100 outcomes is 0.5000" in alert.message
    scores(store, lease, 0.60, 300)
    clock.now += 5
    keeper.check()
    (alert,) = store.list_alerts(lease.experiment_id)
    assert alert.state == "resolved" and alert.resolved_at == clock.now
    # Its value and message still agree, as it fired; the value it resolved at beside them.
    assert (alert.value, alert.bound, alert.resolved_value) == (0.5, 0.55, 0.6)
    assert "accuracy over the last 100 outcomes is 0.5000" in alert.message
    assert receiver.events() == [("accuracy_below", "firing"), ("accuracy_below", "resolved")]
    resolved = json.loads(receiver.posts[1][1])["alert"]
    assert (resolved["value"], resolved["resolved_value"], resolved["message"]) == (
        0.5, 0.6, alert.message)  # fmt: skip
    key = ServerKeys(store, settings).signing(WEBHOOK)  # the store's, as every server's
    assert [k.secret.encode() for k in store.list_server_keys(WEBHOOK)] == [key]
    assert not list(settings.home.glob("*.key"))  # nothing written to the home
    for headers, body in receiver.posts:
        sent = headers["X-AzuraForge-Signature"].removeprefix("sha256=")
        assert hmac.compare_digest(sent, signature(key, headers["X-AzuraForge-Timestamp"], body))
        assert not hmac.compare_digest(
            sent, signature(b"another key", headers["X-AzuraForge-Timestamp"], body)
        )
    payload = json.loads(receiver.posts[0][1])
    assert payload["stream"]["id"] == lease.experiment_id and payload["alert"]["state"] == "firing"


def test_a_failing_receiver_is_tried_again_until_it_answers(
    store: Store, settings: Settings, receiver: Receiver
) -> None:
    """Each try is signed anew: one refused while the key was rotated (a receiver that had
    not got the new key yet) is signed with the new key when tried again."""
    settings.alert_webhooks = [receiver.url]
    receiver.answers = [500, 401]
    lease = running_stream(store, settings, alert_accuracy_below=0.55)
    clock = Clock()
    keeper = AlertKeeper(store, settings, clock=clock)
    scores(store, lease, 0.40, 200)
    keeper.check()  # fires: the first try fails
    (alert,) = store.list_alerts(lease.experiment_id)
    (delivery,) = store.list_deliveries(alert.id)
    assert (delivery.attempts, delivery.delivered_at, delivery.last_error) == (1, None, "HTTP 500")
    keeper.check()  # not due yet: no second try
    assert len(receiver.posts) == 1
    clock.now += 1
    first = keeper.keys.signing(WEBHOOK)
    keeper.keys.rotate(WEBHOOK)
    keeper.check()  # the second fails too (401); the next waits 2 s
    clock.now += 2
    keeper.check()
    (delivery,) = store.list_deliveries(alert.id)
    assert delivery.attempts == 3 and delivery.delivered_at == clock.now
    assert len(receiver.posts) == 3 and len({b for _, b in receiver.posts}) == 1  # the same post
    signed_with = [first, *2 * [keeper.keys.signing(WEBHOOK)]]
    for (headers, body), key in zip(receiver.posts, signed_with, strict=True):
        sent = headers["X-AzuraForge-Signature"].removeprefix("sha256=")
        assert sent == signature(key, headers["X-AzuraForge-Timestamp"], body)


def test_a_lost_worker_a_restart_loop_and_a_drift_alert_and_resolve(
    store: Store, settings: Settings
) -> None:
    lease = running_stream(store, settings, alert_restarts=2)
    clock = Clock()
    clock.now = time.time()  # the restarts' history is in real time
    keeper = AlertKeeper(store, settings, clock=clock)
    change = {"event": 10, "time": 0.0, "model": "logreg-adam-2", "other": "logreg-adam-1",
              "evidence": {}, "actor": "loop", "trigger_id": None}  # fmt: skip
    store.write(lease, JobWrites(changes=[{**change, "kind": "candidate", "reason": "drift"}]))
    keeper.check()
    firing = {a.rule: a for a in store.list_alerts(lease.experiment_id, states=["firing"])}
    assert (
        set(firing) == {"drift"} and "candidate logreg-adam-2 in shadow" in firing["drift"].message
    )
    store.write(lease, JobWrites(changes=[{**change, "kind": "keep", "reason": "worse"}]))
    clock.now += TTL + 1  # the worker stops renewing its lease
    store.reap_expired(now=clock.now)
    keeper.check()
    states = {a.rule: a.state for a in store.list_alerts(lease.experiment_id)}
    assert states == {"drift": "resolved", "worker_lost": "firing"}
    lease = store.claim_job("w2", TTL, lease.experiment_id)[0]  # another worker takes it
    keeper.check()
    states = {a.rule: a.state for a in store.list_alerts(lease.experiment_id)}
    assert states == {"drift": "resolved", "worker_lost": "resolved"}
    store.restart(lease, "crash", "boom")  # and it crashes: two restarts within the hour
    keeper.check()
    (loop,) = store.list_alerts(lease.experiment_id, states=["firing"])
    assert (loop.rule, loop.value, loop.bound) == ("restart_loop", 2.0, 2.0)
    lease = store.claim_job("w3", TTL, lease.experiment_id)[0]
    keeper.check()
    assert [a.rule for a in store.list_alerts(lease.experiment_id, states=["firing"])] == [
        "restart_loop"
    ]
    store.finish(lease, "cancelled")
    keeper.check()
    assert store.list_alerts(lease.experiment_id, states=["pending", "firing"]) == []


def test_an_alert_moves_only_from_the_state_it_was_read_in(
    store: Store, settings: Settings
) -> None:
    lease = running_stream(store, settings, alert_accuracy_below=0.55, alert_for=10)
    scores(store, lease, 0.40, 200)
    AlertKeeper(store, settings).check()
    (alert,) = store.list_alerts(lease.experiment_id)
    payload = {"event": "firing", "alert": {"rule": alert.rule}}
    owed = [("http://127.0.0.1:9/hook", "firing", payload)]
    fire = {"state": "firing", "fired_at": 1.0}
    assert store.set_alert(alert.id, fire, owed, now=1.0, expected_state="pending")
    # A second keeper that read it pending too moves nothing and owes nothing.
    assert not store.set_alert(alert.id, fire, owed, now=1.0, expected_state="pending")
    (delivery,) = store.list_deliveries(alert.id)
    assert delivery.payload["alert"] == {"rule": "accuracy_below", "id": alert.id}


def test_a_resolved_waits_for_its_firing_and_a_retry_keeps_its_delivery_id(
    store: Store, settings: Settings, receiver: Receiver
) -> None:
    settings.alert_webhooks = [receiver.url]
    receiver.answers = [500]  # the firing fails once
    lease = running_stream(store, settings, alert_accuracy_below=0.55)
    clock = Clock()
    keeper = AlertKeeper(store, settings, clock=clock)
    scores(store, lease, 0.40, 200)
    keeper.check()  # fires; its post fails: tried again in 1 s
    scores(store, lease, 0.60, 300)
    keeper.check()  # resolved: owed, but it waits behind the firing
    assert receiver.events() == [("accuracy_below", "firing")]
    clock.now += 1
    keeper.check()  # the firing again; the resolved waited for it: it goes at the next look
    keeper.check()
    assert receiver.events() == [("accuracy_below", "firing")] * 2 + [
        ("accuracy_below", "resolved")
    ]
    ids = [headers["X-AzuraForge-Delivery"] for headers, _ in receiver.posts]
    assert ids[0] == ids[1] != ids[2]


def test_a_post_in_flight_when_its_keeper_died_is_sent_again_with_its_delivery_id(
    store: Store, settings: Settings, receiver: Receiver
) -> None:
    """Delivery is at least once: a keeper that posted and never heard the answer (it died, or
    the answer came too late) leaves the delivery owed, and the next holder of the streams'
    duty sends it again, with the same id for the receiver to drop the repeat, and the try's
    number. The docs said "posted once"."""
    settings.alert_webhooks = [receiver.url]
    receiver.delays = [1.0]  # the first post is taken, its answer comes after the keeper gave up
    lease = running_stream(store, settings, alert_accuracy_below=0.55)
    clock = Clock()
    dying = AlertKeeper(store, settings, clock=clock, post=httpx.Client(timeout=0.2).post)
    scores(store, lease, 0.40, 200)
    dying.check()
    clock.now += 1
    AlertKeeper(store, settings, clock=clock).check()  # the duty's next holder
    (alert,) = store.list_alerts(lease.experiment_id)
    (delivery,) = store.list_deliveries(alert.id)
    assert delivery.attempts == 2 and delivery.delivered_at == clock.now
    assert receiver.events() == [("accuracy_below", "firing")] * 2
    sent = [(h["X-AzuraForge-Delivery"], h["X-AzuraForge-Attempt"]) for h, _ in receiver.posts]
    assert sent == [(str(delivery.id), "1"), (str(delivery.id), "2")]
    assert receiver.posts[0][1] == receiver.posts[1][1]  # the same body

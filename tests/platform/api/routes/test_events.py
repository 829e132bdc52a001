"""WebSocket streams: history, live events, terminal event; late joiners; the project stream.

Doubled on PostgreSQL (``on_both_databases``): the streams read events in transaction order,
which each dialect keeps its own way; the tests of a socket's credential, which read it as a
request does, run on SQLite alone (:data:`SQLITE_ALONE`)."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from socket import create_connection

import httpx
import pytest
import uvicorn
from fastapi import WebSocketDisconnect, status
from fastapi.testclient import TestClient
from sqlalchemy import update
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.sync.client import ClientConnection, connect

from azuraforge.platform.api.access import CHECKED_FOR
from azuraforge.platform.api.app import create_app
from azuraforge.platform.services.access import create_user, new_token
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.models import ApiToken, User
from tests.platform.fixtures import SQLITE_ALONE, user_headers
from tests.platform.servers import served_in_thread

pytestmark = pytest.mark.on_both_databases

API = "/api/v1"
REQUEST_TIMEOUT = 30.0
"""Seconds a request to the server in this process may take: it shares the test's
interpreter, and a sign-in hashes a password; under CI's load httpx's 5 s were not enough
(two ReadTimeouts, run 71 and a local run of the suite)."""
PASSWORD = "correct horse battery"
CLOSES_WITHIN = CHECKED_FOR + 3.0
"""Seconds a socket has to close once its credential ends: :data:`CHECKED_FOR`, and time for
a loaded machine."""


def follow(client: TestClient, experiment_id: int) -> list[dict]:
    with client.websocket_connect(f"{API}/runs/{experiment_id}/events") as socket:
        messages = []
        while True:
            message = socket.receive_json()
            messages.append(message)
            if message["type"] == "end":
                return messages


def curve(messages: list[dict], key: str) -> list[tuple[int, float]]:
    history = messages[0]["metrics"].get(key, {"steps": [], "values": []})
    points = list(zip(history["steps"], history["values"], strict=True))
    for message in messages[1:]:
        if message["type"] == "metrics":
            points += [(step, value) for k, step, value in message["points"] if k == key]
    return points


def test_live_stream_then_late_joiner_get_the_same_curve(client: TestClient, worker):
    body = {"pipeline": "sleeper", "config": {"steps": 30, "sleep": 0.02}}
    row = client.post(f"{API}/runs", json=body).json()["data"][0]
    live = follow(client, row["id"])
    assert live[0]["type"] == "history"
    assert live[-1] == {"type": "end", "status": "completed"}
    assert {m["type"] for m in live} >= {"metrics", "progress", "status"}
    expected = [(step, 1.0 / step) for step in range(1, 31)]
    assert curve(live, "loss") == expected
    late = follow(client, row["id"])
    assert [m["type"] for m in late] == ["history", "end"]
    assert curve(late, "loss") == expected
    assert late[0]["status"] == "completed"


def test_unknown_experiment_closes_with_4404(client: TestClient):
    with client.websocket_connect(f"{API}/runs/999/events") as socket:
        message = socket.receive()
        assert message["type"] == "websocket.close"
        assert message["code"] == 4404


def test_id_no_run_can_have_closes_with_1008(client: TestClient):
    """Over PostgreSQL's 32-bit ids the store would fail; the route refuses the id first."""
    url = f"{API}/runs/{2**31}/events"
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url) as socket:
        socket.receive_json()
    assert closed.value.code == status.WS_1008_POLICY_VIOLATION


def test_project_stream_carries_status_of_every_run(client: TestClient, worker):
    with client.websocket_connect(f"{API}/events") as socket:
        body = {"pipeline": "sleeper", "config": {"steps": 2}}
        row = client.post(f"{API}/runs", json=body).json()["data"][0]
        statuses = []
        while "completed" not in statuses:
            message = socket.receive_json()
            assert message["type"] in ("status", "progress")
            if message["type"] == "status" and message["experiment_id"] == row["id"]:
                statuses.append(message["status"])
    assert statuses == ["queued", "running", "completed"]


def test_a_run_deleted_while_followed_ends_the_stream(client: TestClient):
    body = {"pipeline": "sleeper", "config": {"steps": 2}}
    row = client.post(f"{API}/runs", json=body).json()["data"][0]  # no worker: queued
    with client.websocket_connect(f"{API}/runs/{row['id']}/events") as socket:
        assert socket.receive_json()["status"] == "queued"
        assert client.delete(f"{API}/runs/{row['id']}").status_code == 204
        assert socket.receive_json() == {"type": "end", "status": "deleted"}


def test_the_project_stream_has_every_status_of_runs_written_at_once(client: TestClient, worker):
    with client.websocket_connect(f"{API}/events") as socket:
        body = {
            "pipeline": "sleeper",
            "config": {"steps": 3, "sleep": 0},
            "grid": {"fail_at": [0, 0, 0]},
        }
        ids = {row["id"] for row in client.post(f"{API}/runs", json=body).json()["data"]}
        ended: dict[int, list[str]] = {run: [] for run in ids}
        while any("completed" not in statuses for statuses in ended.values()):
            message = socket.receive_json()
            if message["type"] == "status" and message["experiment_id"] in ids:
                ended[message["experiment_id"]].append(message["status"])
    # Every status of each run, its first one too (the stream's start is fixed at connect).
    assert all(statuses == ["queued", "running", "completed"] for statuses in ended.values()), (
        ended
    )


@pytest.fixture
def served(settings: Settings, store: Store, sleeper: object) -> Iterator[str]:
    """The API on a real server (uvicorn, in a thread of this process): its address."""
    app = create_app(settings, store=store)
    with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
        yield address


@SQLITE_ALONE
def test_a_socket_closes_4401_once_its_credential_ends(served: str, store):
    """Each socket is refused as a request would be, once its memory of the credential lapses
    (:data:`CHECKED_FOR`): a token revoked, one expired, a user taken out of the project, a
    user disabled, a session signed out of; a socket whose credential stays good stays open
    and gets its events."""
    good = user_headers(store, "ed", "editor")
    body = {"pipeline": "sleeper", "config": {"steps": 2}}  # no worker: it stays queued
    made = httpx.post(f"http://{served}{API}/runs", json=body, headers=good,
                      timeout=REQUEST_TIMEOUT)  # fmt: skip
    run = made.json()["data"][0]
    revoked, record = new_token(store, user="ed", project="default", role="viewer")
    expiring, expired = new_token(store, user="ed", project="default", role="viewer")
    cases = [
        ("revoked", f"/runs/{run['id']}/events", _bearer(revoked)),
        ("removed", "/events", user_headers(store, "mo", "viewer")),
        ("disabled", "/events", user_headers(store, "di", "viewer")),
        ("signed out", "/events", _session(served, store, "se")),
        ("expired", "/events", _bearer(expiring)),
        ("good", "/events", good),
    ]
    opened = contextlib.ExitStack()
    sockets = {case: opened.enter_context(_connect(served, path, headers))
               for case, path, headers in cases}  # fmt: skip
    assert sockets["revoked"].recv(timeout=5)  # the run's history
    changed = time.monotonic()
    store.revoke_token(record.prefix)
    store.remove_member("default", "mo")
    with store.engine.begin() as connection:
        connection.execute(update(User).where(User.name == "di").values(disabled_at=time.time()))
        connection.execute(update(ApiToken).where(ApiToken.prefix == expired.prefix)
                           .values(expires_at=time.time()))  # fmt: skip
    signed_out = sockets["signed out"].request.headers["Cookie"]
    assert httpx.post(f"http://{served}{API}/auth/logout", headers={"Cookie": signed_out},
                      timeout=REQUEST_TIMEOUT).status_code == 204  # fmt: skip
    for case, socket in sockets.items():
        if case != "good":
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=CLOSES_WITHIN)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, case
            assert time.monotonic() - changed < CLOSES_WITHIN, case
    again = httpx.post(f"http://{served}{API}/runs/{run['id']}/cancel", headers=good,
                       timeout=REQUEST_TIMEOUT)  # fmt: skip
    assert again.status_code == 202, again.text
    assert json.loads(sockets["good"].recv(timeout=5))["experiment_id"] == run["id"]
    opened.close()


@SQLITE_ALONE
def test_the_sockets_of_a_credential_read_it_together(served: str, store, monkeypatch):
    """Twenty sockets of one token: one read of the store each time its memory lapses (once
    a second), shared by them all, not one read each."""
    headers = user_headers(store, "fe", "viewer")
    reads: list[str] = []
    read = store.find_credential
    monkeypatch.setattr(store, "find_credential", lambda p: (reads.append(p), read(p))[1])
    with contextlib.ExitStack() as opened:
        for _ in range(20):
            opened.enter_context(_connect(served, "/events", headers))
        before = len(reads)
        time.sleep(3 * CHECKED_FOR)
        assert len(reads) - before <= 4  # 3 lapses, and one at an edge; each on its own: 60


@SQLITE_ALONE
def test_the_requests_of_a_credential_in_flight_read_it_together(served: str, store, monkeypatch):
    """Sixteen clients of one token asking at once: one read of the store each time its
    memory lapses, shared by the requests waiting for it, not one read each."""
    headers = user_headers(store, "fr", "viewer")
    reads: list[str] = []
    read = store.find_credential
    monkeypatch.setattr(store, "find_credential", lambda p: (reads.append(p), read(p))[1])
    started = time.monotonic()
    until = started + 3 * CHECKED_FOR

    def keep_asking() -> int:
        """Ask until the time is up, at least twice (a loaded machine answers slowly)."""
        with httpx.Client(
            base_url=f"http://{served}{API}", headers=headers, timeout=REQUEST_TIMEOUT
        ) as client:
            answers = 0
            while time.monotonic() < until or answers < 2:
                assert client.get("/pipelines").status_code == 200
                answers += 1
            return answers

    with ThreadPoolExecutor(16) as pool:
        answered = sum(pool.map(lambda _: keep_asking(), range(16)))
    lapses = math.ceil((time.monotonic() - started) / CHECKED_FOR)
    assert answered >= 32 and len(reads) <= lapses + 2  # the first and one at an edge


@SQLITE_ALONE
def test_a_socket_refused_at_its_handshake_is_closed_with_its_code_and_reason(
    served: str, store: Store
):
    """A real client sees why a stream was refused: the handshake is accepted, then the
    socket closed with 4000 + the request's status and the reason a request's body gives
    (an HTTP 403 at the handshake, before, whatever the cause: "sign in again" and "wrong
    server" looked alike)."""
    made = httpx.post(f"http://{served}{API}/external-runs", json={}, headers=user_headers(
        store, "ex", "editor"), timeout=REQUEST_TIMEOUT)  # fmt: skip
    assert made.status_code == 201, made.text
    run, credential = made.json()["experiment"]["id"], made.json()["credential"]
    good, port = user_headers(store, "vi", "viewer"), served.rsplit(":", 1)[1]
    cases = {
        "no credential": (4401, {}, {}, "no valid credential: sign in, or send a token"),
        "garbage token": (4401, _bearer("garbage"), {}, "no valid credential: sign in"),
        "rebinding host": (4400, good, {"host": "attacker.example"},
                           f"requests addressed to host 'attacker.example:{port}'"),
        "bad origin": (4403, good, {"origin": "http://evil.example"},
                       "requests from http://evil.example are refused"),
        "run credential": (4403, _bearer(credential), {},
                           f"this is the credential of run {run}: it writes that run alone"),
    }  # fmt: skip
    for case, (code, headers, sent, reason) in cases.items():
        closed = _refused(served, "/events", headers, **sent)
        assert (closed.code, closed.reason[: len(reason)]) == (code, reason), case
        assert len(closed.reason.encode()) <= 123, case  # a close frame's most
    with _connect(served, "/events", good) as opened, pytest.raises(TimeoutError):
        opened.recv(timeout=0.5)  # a good credential's socket stays open


def _refused(
    served: str, path: str, headers: dict[str, str], host: str | None = None,
    origin: str | None = None,
) -> Close:  # fmt: skip
    """The close frame of a socket the server refuses, as a real client receives it; the
    ``Host`` it names is ``host`` (its own socket connected to ``served`` all the same)."""
    address, port = served.rsplit(":", 1)
    with (
        create_connection((address, int(port)), timeout=10) as sock,
        connect(
            f"ws://{host or address}:{port}{API}{path}",
            sock=sock,
            open_timeout=10,
            additional_headers=headers,
            origin=origin,
        ) as opened,  # fmt: skip
        pytest.raises(ConnectionClosed) as closed,
    ):
        opened.recv(timeout=10)
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd


def _connect(served: str, path: str, headers: dict[str, str]) -> ClientConnection:
    return connect(f"ws://{served}{API}{path}", open_timeout=10, additional_headers=headers)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _session(served: str, store: Store, name: str) -> dict[str, str]:
    """The ``Cookie`` header of a session user ``name`` (a viewer, made here) signed in with."""
    create_user(store, name, PASSWORD)
    store.set_member("default", name, "viewer")
    signed = httpx.post(
        f"http://{served}{API}/auth/login",
        json={"name": name, "password": PASSWORD},
        timeout=REQUEST_TIMEOUT,
    )
    assert signed.status_code == 200, signed.text
    return {"Cookie": "; ".join(f"{key}={value}" for key, value in signed.cookies.items())}

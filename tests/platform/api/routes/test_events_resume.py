"""Streams that resume: a socket given ``?after=<the last event id it saw>`` gets each event
after it exactly once, in order, then the live ones, on any API process of the store.

Two API apps on one store, each served by uvicorn in a thread, stand for two replicas: a
client follows one, leaves, and resumes on the other. Doubled on PostgreSQL
(``on_both_databases``), where the project's stream reads events by transaction position and
a resume point must be placed in that order."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from azuraforge.errors import ConflictError
from azuraforge.platform.api.app import create_app
from azuraforge.platform.api.deps import MAX_EVENT_ID
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.base import StoreBase
from tests.platform.fixtures import SQLITE_ALONE, admin_headers
from tests.platform.servers import served_in_thread

pytestmark = pytest.mark.on_both_databases

API = "/api/v1"
WAIT = 30.0
"""Seconds a message may take: on PostgreSQL an event is read once every older transaction
of the server has ended, and other test processes share the server."""


@pytest.fixture
def replicas(settings: Settings, store: Store, sleeper: object) -> Iterator[list[str]]:
    """Two API apps on the test's store, each with its own store object and event watcher,
    served in threads: their addresses."""
    with contextlib.ExitStack() as stack:
        addresses = []
        for _ in range(2):
            own = Store(settings.database_url)
            stack.callback(own.close)
            app = create_app(settings, store=own)
            config = uvicorn.Config(app, log_level="warning")
            addresses.append(stack.enter_context(served_in_thread(config)))
        yield addresses


class Api:
    """A client of the replica at ``address``: submits and cancels runs, opens streams."""

    def __init__(self, address: str, headers: dict[str, str]) -> None:
        self.address, self.headers = address, headers

    def submit(self) -> int:
        body = {"pipeline": "sleeper", "config": {"steps": 2}}  # no worker: it stays queued
        made = httpx.post(f"http://{self.address}{API}/runs", json=body,
                          headers=self.headers, timeout=WAIT)  # fmt: skip
        assert made.status_code == 201, made.text
        run: int = made.json()["data"][0]["id"]
        return run

    def cancel(self, run: int) -> None:
        done = httpx.post(f"http://{self.address}{API}/runs/{run}/cancel",
                          headers=self.headers, timeout=WAIT)  # fmt: skip
        assert done.status_code == 202, done.text

    def open(self, path: str) -> ClientConnection:
        return connect(f"ws://{self.address}{API}{path}", open_timeout=WAIT,
                       additional_headers=self.headers)  # fmt: skip


def receive(socket: ClientConnection, count: int) -> list[dict]:
    """The next ``count`` messages of ``socket``."""
    return [json.loads(socket.recv(timeout=WAIT)) for _ in range(count)]


def _run_elsewhere(store: Store) -> int:
    """A run made in project ``elsewhere`` (made if new: PostgreSQL's projects outlive a test)."""
    with contextlib.suppress(ConflictError):
        store.create_project("elsewhere")
    return store.create_experiment("sleeper", {}, project="elsewhere").id


def statuses(messages: list[dict]) -> list[tuple[int, str]]:
    return [(m["experiment_id"], m["status"]) for m in messages]


def test_the_project_stream_resumes_on_another_replica_with_no_gap_or_duplicate(
    replicas: list[str], store: Store
):
    one, other = (Api(address, admin_headers(store)) for address in replicas)
    with one.open("/events") as socket:
        first = one.submit()
        seen = receive(socket, 1)
    assert statuses(seen) == [(first, "queued")]
    # While the client is away: runs submitted, one cancelled, through both replicas, and a
    # run of another project, which the resumed stream must not show.
    missed = [one.submit(), other.submit()]
    other.cancel(missed[0])
    _run_elsewhere(store)
    with other.open(f"/events?after={seen[-1]['id']}") as socket:
        caught_up = receive(socket, 3)
        live = other.submit()
        then = receive(socket, 1)
        with pytest.raises(TimeoutError):
            socket.recv(timeout=1.0)  # nothing more: no duplicate, nothing of "elsewhere"
    assert statuses(caught_up) == [
        (missed[0], "queued"), (missed[1], "queued"), (missed[0], "cancelled")
    ]  # fmt: skip
    assert statuses(then) == [(live, "queued")]
    ids = [m["id"] for m in seen + caught_up + then]
    assert len(set(ids)) == len(ids)


def test_the_project_stream_says_reset_when_it_cannot_resume(replicas: list[str], store: Store):
    """A resume point that is no event of the project (its run deleted, another project's,
    never written) brings a ``reset`` message first; then the live events."""
    api = Api(replicas[0], admin_headers(store))
    gone = api.submit()
    gone_id = store.list_events(experiment_id=gone)[-1].id
    assert httpx.delete(f"http://{api.address}{API}/runs/{gone}", headers=api.headers,
                        timeout=WAIT).status_code == 204  # fmt: skip
    theirs = _run_elsewhere(store)
    their_id = store.list_events(experiment_id=theirs)[-1].id
    for after in (gone_id, their_id, MAX_EVENT_ID):
        with api.open(f"/events?after={after}") as socket:
            reset = receive(socket, 1)[0]
            assert (reset["type"], reset["after"]) == ("reset", after)
            assert "read what you show again" in reset["reason"]
            run = api.submit()
            assert statuses(receive(socket, 1)) == [(run, "queued")]


def test_a_run_stream_resumes_after_the_last_event_it_sent(replicas: list[str], store: Store):
    """A run's stream given a resume point sends no history: the run's events after it, then
    the live ones, then ``end``; a lost resume point brings ``reset``, then the history."""
    one, other = (Api(address, admin_headers(store)) for address in replicas)
    run = one.submit()
    lease = store.claim(run, "w1", 60.0)
    assert lease is not None
    store.set_progress(lease, 1, 3)
    with one.open(f"/runs/{run}/events") as socket:
        history = receive(socket, 1)[0]
    assert history["type"] == "history"
    store.log_metrics(lease, [("loss", 1, 0.5, 1.0)])
    store.log_lines(lease, [(1.0, "info", "half way")])
    with other.open(f"/runs/{run}/events?after={history['last_event_id']}") as socket:
        caught_up = receive(socket, 2)
        store.finish(lease, "completed")
        rest = receive(socket, 2)
    assert [m["type"] for m in caught_up] == ["metrics", "log"]
    assert caught_up[0]["points"] == [["loss", 1, 0.5]]
    assert [m["type"] for m in rest] == ["status", "end"]
    assert rest[0]["id"] > caught_up[-1]["id"] > caught_up[0]["id"] > history["last_event_id"]
    other_run = one.submit()
    foreign = store.list_events(experiment_id=other_run)[-1].id
    with other.open(f"/runs/{run}/events?after={foreign}") as socket:
        assert [m["type"] for m in receive(socket, 3)] == ["reset", "history", "end"]


def test_a_backlog_longer_than_a_page_comes_whole_and_once(replicas: list[str], store: Store):
    """2,500 events missed (pages of 1,000 are read): each comes once, in order."""
    api = Api(replicas[0], admin_headers(store))
    with api.open("/events") as socket:  # an id the stream sent: one it can resume after
        run = api.submit()
        resume_at = receive(socket, 1)[0]["id"]
    with store.engine.begin() as connection:
        project = store.project_of(connection, run)
        for done in range(2500):
            StoreBase._event(connection, project, run, "progress", {"done": done})
    with api.open(f"/events?after={resume_at}") as socket:
        caught_up = receive(socket, 2500)
        with pytest.raises(TimeoutError):
            socket.recv(timeout=1.0)
    assert [m["done"] for m in caught_up] == list(range(2500))
    assert [m["id"] for m in caught_up] == sorted({m["id"] for m in caught_up})


@SQLITE_ALONE
@pytest.mark.parametrize("after", ["-1", "abc", "1.5", str(MAX_EVENT_ID + 1), "9" * 5000,
                                   "1&after=2", ""])  # fmt: skip
@pytest.mark.parametrize("path", ["/events", "/runs/1/events"])
def test_a_bad_resume_point_closes_the_socket_with_4422_saying_why(
    replicas: list[str], store: Store, after: str, path: str
):
    api = Api(replicas[0], admin_headers(store))
    with api.open(f"{path}?after={after}") as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=WAIT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4422
    assert closed.value.rcvd.reason.startswith("after must be one event id, a whole number")

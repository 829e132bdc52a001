"""WebSocket streams through a store outage, for real: the API's PostgreSQL behind a TCP proxy
the test cuts (the shared server itself is never restarted). A PostgreSQL restart printed an
ASGI traceback and dropped the socket; a stream now waits for the store a few seconds, then
closes with 1013 (try again later), saying why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import WebSocketDisconnect
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from azuraforge.platform.api.app import create_app
from azuraforge.platform.api.routes import events
from azuraforge.platform.store import Lease, Store
from tests.platform.fixtures import admin_headers, short_settings
from tests.platform.jobs.conftest import TcpProxy

API = "/api/v1"


@pytest.fixture
def postgres_proxy(postgres_url: str) -> Iterator[TcpProxy]:
    """A proxy in front of the test PostgreSQL server."""
    server = make_url(postgres_url)
    proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def proxied_api(
    postgres_url: str, postgres_proxy: TcpProxy, tmp_path: Path
) -> Iterator[tuple[TestClient, Store, Lease]]:
    """A client of an API whose store is behind the proxy; the store read directly; a run
    running, its lease."""
    direct = Store(postgres_url)
    url = postgres_proxy.url(postgres_url)
    proxied = Store(url)
    run = direct.create_experiment("sleeper", {}).id
    lease = direct.claim(run, "w1", 60.0)
    assert lease is not None
    app = create_app(short_settings(url, tmp_path / "home"), store=proxied)
    with TestClient(app, headers=admin_headers(direct)) as client:
        yield client, direct, lease
    postgres_proxy.restore()
    proxied.close()
    direct.close()


def test_a_run_stream_waits_out_a_brief_store_outage_and_goes_on(
    proxied_api: tuple[TestClient, Store, Lease], postgres_proxy: TcpProxy
) -> None:
    client, direct, lease = proxied_api
    with client.websocket_connect(f"{API}/runs/{lease.experiment_id}/events") as socket:
        assert socket.receive_json()["type"] == "history"
        postgres_proxy.cut()
        time.sleep(1.5)  # the stream looks for events each second: it found the store gone
        postgres_proxy.restore()
        direct.log_metrics(lease, [("loss", 1, 0.5, time.time())])
        message = socket.receive_json()
    assert postgres_proxy.refused > 0
    assert (message["type"], message["points"]) == ("metrics", [["loss", 1, 0.5]])


def test_a_run_stream_closes_1013_saying_why_when_the_store_stays_away(
    proxied_api: tuple[TestClient, Store, Lease],
    postgres_proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "STORE_PATIENCE", 0.5)
    client, _, lease = proxied_api
    url = f"{API}/runs/{lease.experiment_id}/events"
    closed = _closed_by_outage(client, postgres_proxy, url, history=True)
    assert closed == (1013, events.OUTAGE_REASON)


def test_the_project_stream_closes_1013_too_when_the_store_stays_away(
    proxied_api: tuple[TestClient, Store, Lease],
    postgres_proxy: TcpProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "STORE_PATIENCE", 0.5)
    closed = _closed_by_outage(proxied_api[0], postgres_proxy, f"{API}/events", history=False)
    assert closed == (1013, events.OUTAGE_REASON)


def _closed_by_outage(
    client: TestClient, proxy: TcpProxy, url: str, *, history: bool
) -> tuple[int, str]:
    """The code and reason the stream at ``url`` closes with once ``proxy`` cuts the store
    (after its ``history`` message, for a run's stream)."""
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url) as socket:
        if history:
            assert socket.receive_json()["type"] == "history"
        proxy.cut()
        socket.receive_json()
    return closed.value.code, closed.value.reason

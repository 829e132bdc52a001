"""WebSocket streams: history, live events, terminal event; late joiners; the project stream.

Doubled on PostgreSQL (``on_both_databases``): the streams read events in transaction order,
which each dialect keeps its own way."""

from __future__ import annotations

import pytest
from fastapi import WebSocketDisconnect, status
from fastapi.testclient import TestClient

pytestmark = pytest.mark.on_both_databases

API = "/api/v1"


def follow(client: TestClient, experiment_id: int) -> list[dict]:
    with client.websocket_connect(f"{API}/experiments/{experiment_id}/events") as socket:
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
    row = client.post(f"{API}/experiments", json=body).json()["data"][0]
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
    with client.websocket_connect(f"{API}/experiments/999/events") as socket:
        message = socket.receive()
        assert message["type"] == "websocket.close"
        assert message["code"] == 4404


def test_id_no_run_can_have_closes_with_1008(client: TestClient):
    """Over PostgreSQL's 32-bit ids the store would fail; the route refuses the id first."""
    url = f"{API}/experiments/{2**31}/events"
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(url) as socket:
        socket.receive_json()
    assert closed.value.code == status.WS_1008_POLICY_VIOLATION


def test_project_stream_carries_status_of_every_run(client: TestClient, worker):
    with client.websocket_connect(f"{API}/events") as socket:
        body = {"pipeline": "sleeper", "config": {"steps": 2}}
        row = client.post(f"{API}/experiments", json=body).json()["data"][0]
        statuses = []
        while "completed" not in statuses:
            message = socket.receive_json()
            assert message["type"] in ("status", "progress")
            if message["type"] == "status" and message["experiment_id"] == row["id"]:
                statuses.append(message["status"])
    assert statuses == ["queued", "running", "completed"]


def test_a_run_deleted_while_followed_ends_the_stream(client: TestClient):
    body = {"pipeline": "sleeper", "config": {"steps": 2}}
    row = client.post(f"{API}/experiments", json=body).json()["data"][0]  # no worker: queued
    with client.websocket_connect(f"{API}/experiments/{row['id']}/events") as socket:
        assert socket.receive_json()["status"] == "queued"
        assert client.delete(f"{API}/experiments/{row['id']}").status_code == 204
        assert socket.receive_json() == {"type": "end", "status": "deleted"}


def test_the_project_stream_has_every_status_of_runs_written_at_once(client: TestClient, worker):
    with client.websocket_connect(f"{API}/events") as socket:
        body = {
            "pipeline": "sleeper",
            "config": {"steps": 3, "sleep": 0},
            "grid": {"fail_at": [0, 0, 0]},
        }
        ids = {row["id"] for row in client.post(f"{API}/experiments", json=body).json()["data"]}
        ended: dict[int, list[str]] = {run: [] for run in ids}
        while any("completed" not in statuses for statuses in ended.values()):
            message = socket.receive_json()
            if message["type"] == "status" and message["experiment_id"] in ids:
                ended[message["experiment_id"]].append(message["status"])
    # Every status of each run, its first one too (the stream's start is fixed at connect).
    assert all(statuses == ["queued", "running", "completed"] for statuses in ended.values()), (
        ended
    )

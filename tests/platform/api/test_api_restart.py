"""Kill the API while a run goes on: the run finishes, and its events replay on reconnect."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest
from websockets.sync.client import connect

from tests.platform.jobs.conftest import wait_for
from tests.platform.servers import alive, bearer, children, free_port, start_serve

pytestmark = pytest.mark.slow


def follow(port: int, experiment_id: int) -> list[dict]:
    url = f"ws://127.0.0.1:{port}/api/v1/runs/{experiment_id}/events"
    with connect(url, open_timeout=10, additional_headers=bearer()) as socket_:
        return [json.loads(raw) for raw in socket_]


def test_a_run_outlives_the_api_and_its_events_replay(settings, sleeper, serves):
    port = free_port()
    serve = start_serve(settings, port, "--workers", "1")
    serves.append(serve)
    (worker,) = children(serve.pid)
    body = {"pipeline": "sleeper", "config": {"steps": 40, "sleep": 0.1}}
    row = httpx.post(f"http://127.0.0.1:{port}/api/v1/runs", json=body, headers=bearer()).json()[
        "data"
    ][0]
    while (
        httpx.get(f"http://127.0.0.1:{port}/api/v1/runs/{row['id']}", headers=bearer()).json()[
            "progress"
        ]
        < 0.2
    ):
        time.sleep(0.05)
    serve.send_signal(signal.SIGKILL)  # the API dies; its worker process goes on
    serve.wait()
    time.sleep(1.0)
    port = free_port()
    serves.append(start_serve(settings, port, "--workers", "0"))
    messages = follow(port, row["id"])
    assert messages[-1] == {"type": "end", "status": "completed"}
    steps = list(messages[0]["metrics"]["loss"]["steps"])
    for message in messages[1:]:
        if message["type"] == "metrics":
            steps += [step for key, step, _ in message["points"] if key == "loss"]
    assert steps == list(range(1, 41))
    wait_for(lambda: not alive(worker), timeout=5)  # its serve is gone: idle, it exits

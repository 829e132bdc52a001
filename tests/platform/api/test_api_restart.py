"""Kill the API while a run goes on: the run finishes, and its events replay on reconnect."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.settings import Settings

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()",
               "serve", "--port", str(port), "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(command, env=settings_environment(settings), start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("azuraforge serve did not answer within 30 s")


@pytest.fixture
def groups() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:  # the serve process and the workers it started
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def follow(port: int, experiment_id: int) -> list[dict]:
    url = f"ws://127.0.0.1:{port}/api/v1/experiments/{experiment_id}/events"
    with connect(url, open_timeout=10) as socket_:
        return [json.loads(raw) for raw in socket_]


def test_a_run_outlives_the_api_and_its_events_replay(settings, sleeper, groups):
    port = free_port()
    serve = start_serve(settings, port)
    groups.append(serve)
    body = {"pipeline": "sleeper", "config": {"steps": 40, "sleep": 0.1}}
    row = httpx.post(f"http://127.0.0.1:{port}/api/v1/experiments", json=body).json()["data"][0]
    while (
        httpx.get(f"http://127.0.0.1:{port}/api/v1/experiments/{row['id']}").json()["progress"]
        < 0.2
    ):
        time.sleep(0.05)
    serve.send_signal(signal.SIGKILL)  # the API dies; its worker process goes on
    serve.wait()
    time.sleep(1.0)
    port = free_port()
    groups.append(start_serve(settings.model_copy(update={"workers": 0}), port))
    messages = follow(port, row["id"])
    assert messages[-1] == {"type": "end", "status": "completed"}
    steps = list(messages[0]["metrics"]["loss"]["steps"])
    for message in messages[1:]:
        if message["type"] == "metrics":
            steps += [step for key, step, _ in message["points"] if key == "loss"]
    assert steps == list(range(1, 41))

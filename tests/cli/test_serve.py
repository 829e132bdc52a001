"""``azuraforge serve`` and ``azuraforge worker`` as real processes: the store they open or
refuse, and stopping them (SIGTERM, or a killed serve) without leaving workers behind."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner
from websockets.sync.client import connect

from azuraforge.cli.main import app
from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, head_revision, upgrade_database
from azuraforge.platform.store.engine import current_revision, downgrade, make_engine
from tests.platform.jobs.conftest import wait_for
from tests.platform.servers import alive, children, free_port, start_serve

pytestmark = pytest.mark.slow
runner = CliRunner()


def submit(port: int, **config: object) -> int:
    body = {"pipeline": "sleeper", "config": config}
    response = httpx.post(f"http://127.0.0.1:{port}/api/v1/experiments", json=body)
    return int(response.json()["data"][0]["id"])


def status(store: Store, experiment_id: int) -> str:
    return store.get_experiment(experiment_id).status


def on_sqlite(path) -> Settings:
    """Settings on the SQLite file ``path``, whether or not it exists (no store fixture)."""
    return Settings(home=path.parent / "home", database_url=f"sqlite:///{path}")


def test_serve_creates_an_empty_store(tmp_path, serves):
    url = f"sqlite:///{tmp_path / 'new' / 'azuraforge.db'}"
    port = free_port()
    serves.append(start_serve(on_sqlite(tmp_path / "new" / "azuraforge.db"), port))
    health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health").json()
    assert health["schema_revision"] == head_revision()
    engine = make_engine(url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_sigterm_stops_serve_and_its_workers_cancelling_their_run(
    settings, store, sleeper, serves
):
    port = free_port()
    serve = start_serve(settings, port, "--workers", "2")
    serves.append(serve)
    workers = children(serve.pid)
    assert len(workers) == 2
    run = submit(port, steps=500, sleep=0.05)
    wait_for(lambda: status(store, run) == "running")
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in workers)
    assert status(store, run) == "cancelled"


def test_idle_workers_of_a_killed_serve_exit(settings, sleeper, serves):
    serve = start_serve(settings, free_port(), "--workers", "2")
    serves.append(serve)
    workers = children(serve.pid)
    serve.send_signal(signal.SIGKILL)
    serve.wait()
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10)


def test_sigterm_stops_a_worker_pool_cancelling_its_run(settings, store, sleeper, serves):
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()",
               "worker", "--concurrency", "2"]  # fmt: skip
    pool = subprocess.Popen(command, env=settings_environment(settings), start_new_session=True)
    serves.append(pool)
    run = store.create_experiment("sleeper", {"steps": 500, "sleep": 0.05}).id
    wait_for(lambda: status(store, run) == "running")
    workers = children(pool.pid)
    pool.send_signal(signal.SIGTERM)
    assert pool.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in workers)
    assert status(store, run) == "cancelled"


def test_serve_refuses_an_out_of_date_store_and_upgrade_migrates_it(tmp_path, serves):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    downgrade(engine, "-1")
    old = current_revision(engine)
    engine.dispose()
    result = runner.invoke(app, ["serve", "--database-url", url, "--port", str(free_port())])
    assert result.exit_code == 1
    assert f"is at schema {old}" in result.output
    assert f"azuraforge db upgrade --database-url {url}" in result.output
    port = free_port()
    serves.append(start_serve(on_sqlite(tmp_path / "old.db"), port, "--upgrade"))
    health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health").json()
    assert health["schema_revision"] == head_revision()


def test_serve_on_a_port_in_use_is_a_usage_error(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(
            app,
            ["serve", "--database-url", f"sqlite:///{tmp_path / 'af.db'}", "--port", str(port)],
        )
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_a_client_that_left_a_quiet_stream_does_not_hold_up_shutdown(settings, sleeper, serves):
    port = free_port()
    serve = start_serve(settings, port, "--workers", "0")
    serves.append(serve)
    run = submit(port, steps=2)  # stays queued: nothing new to send its follower
    with connect(f"ws://127.0.0.1:{port}/api/v1/experiments/{run}/events") as socket:
        assert json.loads(socket.recv())["type"] == "history"
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=10) == 0


def api_processes(serve_pid: int) -> list[int]:
    """The API processes of a serve started with ``--api-workers`` (uvicorn's workers)."""
    found = []
    for pid in children(serve_pid):
        with contextlib.suppress(FileNotFoundError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def test_api_workers_share_the_port_with_the_settings_given_and_stop_with_serve(tmp_path, serves):
    """Two API processes answer on one port, on the store named on the command line (not
    the one of the environment), and SIGTERM stops them with serve."""
    given = f"sqlite:///{tmp_path / 'given.db'}"
    port = free_port()
    serve = start_serve(
        on_sqlite(tmp_path / "environment.db"), port,
        "--workers", "0", "--api-workers", "2", "--database-url", given,
    )  # fmt: skip
    serves.append(serve)
    processes = api_processes(serve.pid)
    assert len(processes) == 2
    names = [f"model-{i}" for i in range(10)]
    for name in names:  # a new connection each: either process takes it
        response = httpx.post(f"http://127.0.0.1:{port}/api/v1/models", json={"name": name})
        assert response.status_code == 201, response.text
    store = Store(given)
    assert [record.name for record in store.list_models(limit=20)[0]] == names
    store.close()
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in processes)


def test_api_processes_of_a_killed_serve_exit(tmp_path, serves):
    serve = start_serve(
        on_sqlite(tmp_path / "af.db"), free_port(), "--workers", "0", "--api-workers", "2"
    )
    serves.append(serve)
    processes = api_processes(serve.pid)
    assert len(processes) == 2
    serve.send_signal(signal.SIGKILL)
    serve.wait()
    wait_for(lambda: not any(alive(pid) for pid in processes), timeout=10)


def test_api_workers_must_be_positive(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'af.db'}"
    result = runner.invoke(app, ["serve", "--database-url", url, "--api-workers", "0"])
    assert result.exit_code == 2
    assert "--api-workers" in result.output


def test_serve_stops_when_an_api_process_dies(tmp_path, serves):
    """serve does not go on with fewer API processes than asked: it stops the others and
    exits 1, for its service manager to start it again whole."""
    serve = start_serve(
        on_sqlite(tmp_path / "af.db"), free_port(), "--workers", "0", "--api-workers", "2"
    )
    serves.append(serve)
    first, second = api_processes(serve.pid)
    os.kill(first, signal.SIGKILL)
    assert serve.wait(timeout=30) == 1
    assert not alive(second)


def printed_until(process: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    """What ``process`` printed until a line holding ``text`` (read by a thread: a quiet
    process must not hang the test)."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                              daemon=True)  # fmt: skip
    reader.start()
    printed, deadline = "", time.monotonic() + timeout
    while text not in printed:
        try:
            printed += lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"no {text!r} within {timeout} s; printed: {printed}") from None
    return printed


def test_serve_submit_queues_a_first_run_prints_its_page_then_its_scores(
    settings, sleeper, serves
):
    port = free_port()
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "serve",
               "--port", str(port), "--workers", "1", "--submit", "sleeper", "--set",
               "steps=3"]  # fmt: skip
    serve = subprocess.Popen(
        command, env=settings_environment(settings), stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    serves.append(serve)
    printed = printed_until(serve, "│ MAE")
    page = f"http://127.0.0.1:{port}/#/experiments/1"
    assert f"queued sleeper as run 1; watch it live: {page}\n" in printed
    assert f"run 1 completed ({page})" in printed
    assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--submit", "nope"], "no pipeline named 'nope'"),
        (["--submit", "sleeper", "--set", "steps=0"], "steps: Input should be greater than"),
        (["--set", "steps=3"], "--set gives settings to the run of --submit PIPELINE"),
    ],
)
def test_serve_refuses_a_bad_first_run_before_starting(tmp_path, sleeper, arguments, message):
    settings = on_sqlite(tmp_path / "azuraforge.db")
    result = runner.invoke(
        app, ["serve", "--port", str(free_port()), *arguments], env=settings_environment(settings)
    )
    assert result.exit_code == 2
    assert message in result.output
    assert "AzuraForge on" not in result.output

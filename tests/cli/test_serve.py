"""``azuraforge serve`` and ``azuraforge worker`` as real processes: the store they open or
refuse, and stopping them (SIGTERM, or a killed serve) without leaving workers behind."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock

import httpx
import pytest
from typer.testing import CliRunner
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Origin

from azuraforge.cli.addresses import reachable_urls
from azuraforge.cli.main import app
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, head_revision, upgrade_database
from azuraforge.platform.store.engine import current_revision, downgrade, make_engine
from tests.platform.jobs.conftest import wait_for
from tests.platform.servers import (
    WORKER_STARTS_WITHIN,
    alive,
    bearer,
    children,
    free_port,
    sign_in,
    start_serve,
)

pytestmark = pytest.mark.slow
runner = CliRunner()


def submit(port: int, **config: object) -> int:
    body = {"pipeline": "sleeper", "config": config}
    response = httpx.post(f"http://127.0.0.1:{port}/api/v1/runs", json=body, headers=bearer())
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
    wait_for(lambda: status(store, run) == "running", timeout=WORKER_STARTS_WITHIN)
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
    wait_for(lambda: status(store, run) == "running", timeout=WORKER_STARTS_WITHIN)
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


def test_api_processes_never_share_a_port_another_server_holds() -> None:
    from azuraforge.platform.api.processes import listen

    held = listen("127.0.0.1", free_port(), 2)  # a server's sockets share it (SO_REUSEPORT)
    port = held[0].getsockname()[1]
    try:
        with pytest.raises(InvalidParameterError, match=f"cannot listen on 127.0.0.1:{port}"):
            listen("127.0.0.1", port, 2)  # SO_REUSEPORT alone let this one share it too
    finally:
        for listener in held:
            listener.close()


def test_a_client_that_left_a_quiet_stream_does_not_hold_up_shutdown(settings, sleeper, serves):
    port = free_port()
    serve = start_serve(settings, port, "--workers", "0")
    serves.append(serve)
    run = submit(port, steps=2)  # stays queued: nothing new to send its follower
    with connect(
        f"ws://127.0.0.1:{port}/api/v1/runs/{run}/events", additional_headers=bearer()
    ) as socket:
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
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/models", json={"name": name}, headers=bearer()
        )
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
    page = f"http://127.0.0.1:{port}/#/runs/1"
    link = re.search(r"queued sleeper as run 1; watch it live: (\S+)\n", printed)
    assert link and link[1].startswith(f"http://127.0.0.1:{port}/api/v1/auth/link?token=af_")
    assert f"run 1 completed ({page})" in printed
    followed = httpx.get(link[1], follow_redirects=True)  # one click: signed in, on its page
    assert followed.url == f"http://127.0.0.1:{port}/#/runs/1"
    (cookie,) = followed.history[0].cookies  # the server's own: azuraforge_session_<its id>
    assert followed.status_code == 200 and cookie.startswith("azuraforge_session_")
    assert httpx.get(link[1], follow_redirects=False).status_code == 401  # once only


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


def websocket_closed_with(port: int, path: str, host: str) -> int | None:
    """The code a WebSocket addressed to ``host`` from a page of its origin (with the test's
    token: a page's session cookie) is closed with at once; None if it stays open."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
        connect(
            f"ws://{host}{path}",
            sock=sock,
            origin=Origin(f"http://{host}"),
            additional_headers=bearer(),
            open_timeout=10,
        ) as opened,
    ):
        try:
            opened.recv(timeout=1)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 1006
        except TimeoutError:
            pass
    return None


REBOUND = "attacker.example:8731"
"""The Host a page of attacker.example sends once its name resolves to this machine."""


def test_serve_refuses_requests_addressed_to_another_host_dns_rebinding(settings, sleeper, serves):
    """A page whose name was rebound to 127.0.0.1 sends its own Host and a matching Origin:
    refused, by HTTP and WebSocket, before anything is created; the loopback names pass."""
    port = free_port()
    serves.append(start_serve(settings, port, "--workers", "0"))
    rebound = {"host": REBOUND, "origin": f"http://{REBOUND}"}
    body = {"pipeline": "sleeper", "config": {"steps": 2}}
    refused = httpx.post(f"http://127.0.0.1:{port}/api/v1/runs", json=body,
                         headers=rebound)  # fmt: skip
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "HOST_NOT_ALLOWED"
    assert f"host '{REBOUND}' are refused" in error["message"]
    assert "AZURAFORGE_ALLOWED_HOSTS" in error["message"]
    for path in ("/", "/docs", "/openapi.json", "/api/v1/runs"):
        assert httpx.get(f"http://127.0.0.1:{port}{path}", headers=rebound).status_code == 400
    assert websocket_closed_with(port, "/api/v1/events", REBOUND) == 4400
    assert websocket_closed_with(port, "/api/v1/events", f"localhost:{port}") is None
    listed = httpx.get(f"http://127.0.0.1:{port}/api/v1/runs", headers=bearer()).json()
    assert listed["total"] == 0
    for host in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"host": host})
        assert answer.status_code == 200, host


def test_allowed_hosts_and_the_bound_address_are_answered(settings, sleeper, serves):
    port = free_port()
    serves.append(start_serve(settings, port, "--workers", "0",
                              "--allowed-hosts", "af.example.org,*.lab.example"))  # fmt: skip
    for host, status in [("af.example.org", 200), (f"gpu.lab.example:{port}", 200),
                         (REBOUND, 400), ("10.0.0.5", 400)]:  # fmt: skip
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"host": host})
        assert answer.status_code == status, host


@pytest.mark.parametrize("bound", ["0.0.0.0", "::"])
def test_serve_on_other_interfaces_warns_prints_its_real_addresses_and_answers_them(
    settings, serves, bound
):
    port = free_port()
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "serve",
               "--port", str(port), "--workers", "0", "--host", bound]  # fmt: skip
    serve = subprocess.Popen(command, env=settings_environment(settings), stdout=subprocess.PIPE,
                             text=True, start_new_session=True)  # fmt: skip
    serves.append(serve)
    printed = printed_until(serve, "Ctrl-C stops.")
    urls = reachable_urls(bound, port)
    assert f"warning: serving AzuraForge on {', '.join(urls)} over plain http: " in printed
    assert "every request needs a credential" in printed
    assert f"AzuraForge on {', '.join(urls)} (dashboard" in printed
    assert f"http://127.0.0.1:{port}" in urls
    for url in urls:  # each address answers, named in Host as a browser there would
        host = url.removeprefix("http://")
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"host": host})
        assert answer.status_code == 200, host
    rebound = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"host": REBOUND})
    assert rebound.status_code == 400
    # Reached beyond this machine: no scrape without a credential, from this machine either.
    assert "/metrics: a server admin's credential alone (this server listens beyond" in printed
    scrape = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert scrape.status_code == 401 and "AZURAFORGE_METRICS_TOKEN" in scrape.text


def test_serve_warns_of_a_broker_it_cannot_reach_and_refuses_submissions_meanwhile(
    settings, sleeper, serves
):
    password, broker_port = "s3cret", free_port()
    on_celery = settings.model_copy(update={
        "transport": "celery", "broker_url": f"redis://:{password}@127.0.0.1:{broker_port}/0"
    })  # fmt: skip
    port = free_port()
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "serve",
               "--port", str(port), "--workers", "0"]  # fmt: skip
    serve = subprocess.Popen(command, env=settings_environment(on_celery), stdout=subprocess.PIPE,
                             text=True, start_new_session=True)  # fmt: skip
    serves.append(serve)
    printed = printed_until(serve, "Ctrl-C stops.")
    broker = f"redis://:**@127.0.0.1:{broker_port}/0"
    assert f"warning: the broker at {broker} is unreachable" in printed
    assert "runs submitted are refused (503) and queue nothing" in printed
    assert password not in printed
    sign_in(settings.database_url)
    body = {"pipeline": "sleeper", "config": {"steps": 2}}
    refused = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/runs", json=body, timeout=30, headers=bearer()
    )
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "BROKER_UNAVAILABLE"


def test_serve_submit_on_a_broker_it_cannot_reach_is_refused_before_starting(tmp_path, sleeper):
    broker = {"transport": "celery", "broker_url": f"redis://127.0.0.1:{free_port()}/0"}
    settings = on_sqlite(tmp_path / "azuraforge.db").model_copy(update=broker)
    result = runner.invoke(
        app,
        ["serve", "--port", str(free_port()), "--submit", "sleeper"],
        env=settings_environment(settings),
    )
    assert result.exit_code == 1
    assert "is unreachable: " in result.output
    assert result.output.endswith("; --submit cannot queue its run\n")
    assert "AzuraForge on" not in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "sqlite:////proc/nope/af.db",
            "cannot open the store sqlite:////proc/nope/af.db: folder /proc/nope cannot be "
            "created (No such file or directory)",
        ),
        (
            "sqlite:////proc/self/af.db",
            "cannot open the store sqlite:////proc/self/af.db: unable to open database file",
        ),
        (
            "sqlite:///{file}/af.db",
            "cannot open the store sqlite:///{file}/af.db: folder {file} cannot be created",
        ),
        (
            "postgresql://postgres@127.0.0.1:{closed}/af",
            "cannot open the store postgresql://postgres@127.0.0.1:{closed}/af: connection failed",
        ),
        (
            "mysql://root@127.0.0.1/af",
            "database URL 'mysql://root@127.0.0.1/af' names 'mysql'; AzuraForge stores in",
        ),
        ("not a url", "database URL 'not a url' is not a URL"),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["serve", "--upgrade"], ["db", "upgrade"]])
def test_a_store_that_cannot_be_opened_is_one_line_and_exit_code_1(
    tmp_path, command, url, message
):
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    names = {"file": file, "closed": free_port()}
    result = runner.invoke(app, [*command, "--database-url", url.format(**names)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert f"error: {message.format(**names)}" in result.output


def test_serve_says_where_it_keeps_its_store_files_and_home_and_that_the_default_is_shared(
    tmp_path, serves
):
    """``make run`` in a fresh clone: no AZURAFORGE_* setting, so the store and files are in
    ~/.azuraforge, which every clone of the user shares; the start says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURAFORGE_")}
    env["HOME"] = str(tmp_path)
    home = tmp_path / ".azuraforge"
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "serve",
               "--port", str(free_port()), "--workers", "0"]  # fmt: skip
    serve = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True,
                             start_new_session=True)  # fmt: skip
    serves.append(serve)
    printed = " ".join(printed_until(serve, "Ctrl-C stops.").split())
    assert (
        f"kept in: store sqlite:///{home / 'azuraforge.db'}, files {home / 'blobs'}, home {home} "
        "(the default home, ~/.azuraforge: every clone and command of this user that sets no "
        "AZURAFORGE_HOME shares it)"
    ) in printed


def test_a_home_given_is_said_as_given(tmp_path):
    from azuraforge.cli.serve import where_kept

    settings = Settings(home=tmp_path, database_url="postgresql://me:secret@db:5432/af",
                        blob_store="s3://bucket/af")  # fmt: skip
    with mock.patch.dict(os.environ, {"AZURAFORGE_HOME": str(tmp_path)}):
        said = where_kept(settings)
    store = "postgresql://me:***@db:5432/af"
    assert said == f"kept in: store {store}, files s3://bucket/af, home {tmp_path}"

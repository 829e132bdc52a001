"""Real servers for tests: ``azuraforge serve`` processes, started on a free port (the test
process then holds a token of the server's admin), found by their worker children, killed
with their whole process group at the end; and an app served by uvicorn in a thread."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from socketserver import BaseServer
from typing import TypeVar

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from azuraforge.client.environment import TOKEN_VARIABLE
from azuraforge.platform.api.processes import KEEP_ALIVE_SECONDS
from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.services.access import FIRST_ADMIN, first_admin, login_link, new_token
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, Store

Served = TypeVar("Served", bound=BaseServer)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


STARTS_WITHIN = 10.0
"""Seconds an app served in a thread has to start answering."""
WORKER_STARTS_WITHIN = 60.0
"""Seconds a worker process has to be ready (or to claim its first run): it imports the
platform first, several seconds of CPU on a loaded 2-core machine (10 s was too few once in
CI), and several interpreters may start at once."""


@contextlib.contextmanager
def served_in_thread(config: uvicorn.Config) -> Iterator[str]:
    """The app of ``config`` served by uvicorn in a thread of this process, on a free port of
    127.0.0.1, while the block runs: its ``host:port``.

    Raises
    ------
    AssertionError
        When it has not started within :data:`STARTS_WITHIN` seconds.
    """
    config.timeout_keep_alive = KEEP_ALIVE_SECONDS  # as serve's: no reset of a pooled connection
    server = uvicorn.Server(config)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + STARTS_WITHIN
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.01)
            yield f"127.0.0.1:{listener.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(10)


def start_serve(
    settings: Settings, port: int, *options: str, pythonpath: Path | None = None
) -> subprocess.Popen[bytes]:
    """``azuraforge serve --port PORT OPTIONS`` on ``settings``, once its API answers;
    ``pythonpath`` is put first on the processes' PYTHONPATH (a test plugin)."""
    process = launch_serve(settings, port, *options, pythonpath=pythonpath)
    try:
        wait_answering(process, port)
    except AssertionError:
        kill_group(process)  # not left running to be counted as a later test's child
        raise
    given = options.index("--database-url") + 1 if "--database-url" in options else 0
    sign_in(options[given] if given else settings.database_url)
    LAST_SERVER.update(
        url=f"http://127.0.0.1:{port}",
        database_url=options[given] if given else settings.database_url,
    )
    return process


def launch_serve(
    settings: Settings, port: int, *options: str, pythonpath: Path | None = None
) -> subprocess.Popen[bytes]:
    """``azuraforge serve --port PORT OPTIONS`` on ``settings``, started (in a session of
    its own); :func:`wait_answering` waits for its API."""
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()",
               "serve", "--port", str(port), *options]  # fmt: skip
    env = settings_environment(settings)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.Popen(command, env=env, start_new_session=True)


def answers(url: str, headers: dict[str, str] | None = None) -> bool:
    """Whether ``url`` answers 200 now (nothing listening yet: no)."""
    try:
        return httpx.get(url, headers=headers).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def serving(server: Served) -> Iterator[Served]:
    """``server`` (one of the standard library's) answering in a thread until the block
    ends."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


ANSWERS_WITHIN = 90.0
"""How long a ``serve`` may take to answer: each API process it spawns imports the app anew,
which took over 30 s on a loaded 2-core CI machine with two of them starting at once."""


def wait_answering(process: subprocess.Popen[bytes], port: int) -> None:
    """Wait until the ``serve`` ``process`` answers on ``port`` (:data:`ANSWERS_WITHIN` at
    most)."""
    deadline = time.monotonic() + ANSWERS_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"azuraforge serve exited {process.returncode} at start")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"azuraforge serve did not answer within {ANSWERS_WITHIN:.0f} s")


def sign_in(database_url: str) -> str:
    """Give this test process a token of the server admin of the store at ``database_url``,
    as ``AZURAFORGE_TOKEN`` (the CLI, in this process or started from it, sends it, as after
    ``azuraforge login``); the token."""
    store = Store(database_url)
    try:
        first_admin(store)
        token, _ = new_token(store, user=FIRST_ADMIN, project=DEFAULT_PROJECT, role="admin")
    finally:
        store.close()
    os.environ[TOKEN_VARIABLE] = token
    return token


LAST_SERVER: dict[str, str] = {}
"""The address and store of the server :func:`start_serve` started last."""


def login_url() -> str:
    """A one-time login link of the admin of the server started last (a browser that
    follows it holds a session cookie, as after ``make run``'s link)."""
    store = Store(LAST_SERVER["database_url"])
    try:
        token = login_link(store, FIRST_ADMIN, DEFAULT_PROJECT)
    finally:
        store.close()
    return f"{LAST_SERVER['url']}/api/v1/auth/link?token={token}"


def bearer() -> dict[str, str]:
    """The ``Authorization`` header of the token :func:`sign_in` gave last."""
    return {"Authorization": f"Bearer {os.environ[TOKEN_VARIABLE]}"}


def children(pid: int) -> list[int]:
    """Pids of the children of process ``pid`` (the workers of a serve)."""
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``process`` and everything in its process group (its workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def sample_sum(text: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels``."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )

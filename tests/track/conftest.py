"""What the ``azuraforge.track`` tests share: a real API served by uvicorn in a thread of
the test process, on a port of its own so that it can be stopped and served again, the
client's home in the test's folder, and what to read of a run."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, short_settings
from tests.platform.servers import free_port

FAST = {"flush_interval": 0.1, "end_timeout": 10.0}
"""Batches every 0.1 s here (the tests wait less)."""


@contextlib.contextmanager
def serving(settings: Settings, store: Store, port: int) -> Iterator[None]:
    """The API on ``store`` served at ``127.0.0.1:port`` while the block runs."""
    server = uvicorn.Server(uvicorn.Config(create_app(settings, store=store), log_level="error"))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


class Api:
    """A served API: its settings, store, port, URL and an admin's token."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store, self.port = settings, store, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = admin_headers(store)["Authorization"].removeprefix("Bearer ")

    def serve(self) -> contextlib.AbstractContextManager[None]:
        return serving(self.settings, self.store, self.port)


@pytest.fixture(scope="module")
def api(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("track-api")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    settings = short_settings(f"sqlite:///{home / 'azuraforge.db'}", home)
    store = Store(settings.database_url)
    yield Api(settings, store)
    store.close()


@pytest.fixture(autouse=True)
def client_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client's home (its spool) in the test's folder, no token in the environment."""
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path / "client"))
    monkeypatch.delenv("AZURAFORGE_TOKEN", raising=False)
    return tmp_path / "client"


def steps(store: Store, run: int | None, key: str = "loss") -> list[int]:
    assert run is not None
    return [point[0] for point in store.get_metrics(run).get(key, [])]


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)

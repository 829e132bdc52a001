"""An API over a fresh store per test (SQLite and PostgreSQL), called with a token of the
server's admin or without a credential; one API per module for tests that only read, the
same on a Celery broker that is down, and a real worker process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, install_plugin, settings_on_copy
from tests.platform.servers import free_port

BROKER_PASSWORD = "s3cret"


@pytest.fixture
def client(settings: Settings, store: Store, sleeper: object) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, store=store), headers=admin_headers(store)
    ) as test_client:
        yield test_client


@pytest.fixture
def anonymous(settings: Settings, store: Store) -> Iterator[TestClient]:
    """The API of ``client``'s store, called without a credential."""
    with TestClient(create_app(settings, store=store)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def read_only_client(
    sleeper_path: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One API for the tests of a module that only read (or are refused before they write):
    its own SQLite store, the sleeper plugin installed."""
    settings = settings_on_copy(sqlite_template, tmp_path_factory.mktemp("read-only-api"))
    with pytest.MonkeyPatch.context() as patch:
        install_plugin(patch, sleeper_path)
        store = Store(settings.database_url)
        with TestClient(
            create_app(settings, store=store), headers=admin_headers(store)
        ) as test_client:
            yield test_client
        store.close()


@pytest.fixture
def dead_broker() -> str:
    """A Redis URL, with a password, where nothing listens."""
    return f"redis://:{BROKER_PASSWORD}@127.0.0.1:{free_port()}/0"


@pytest.fixture
def broker_down_client(
    settings: Settings, store: Store, sleeper: object, dead_broker: str
) -> Iterator[TestClient]:
    """An API on the Celery transport whose broker cannot be reached."""
    on_celery = settings.model_copy(update={"transport": "celery", "broker_url": dead_broker})
    app = create_app(on_celery, store=store)
    with TestClient(app, headers=admin_headers(store)) as test_client:
        yield test_client
    app.state.transport.close()


@pytest.fixture
def worker(settings: Settings, sleeper: object) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process polling the test store (as ``azuraforge worker`` runs; a worker
    forks each run, so it must not run as a thread of this multi-threaded test process)."""
    process = subprocess.Popen(
        [sys.executable, "-m", WORKER_MODULE], env=settings_environment(settings)
    )
    yield process
    process.terminate()
    process.wait(30)

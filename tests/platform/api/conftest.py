"""An API over a fresh store per test (SQLite and PostgreSQL), and a real worker process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store


@pytest.fixture
def client(settings: Settings, store: Store, sleeper: object) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store)) as test_client:
        yield test_client


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

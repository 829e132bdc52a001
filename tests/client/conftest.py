"""A real API for the client's tests: the app over its own SQLite store, served by uvicorn in
a thread of the test process (no worker: runs stay queued), shared by a module's tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from azuraforge.platform.api.app import create_app
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, install_plugin, short_settings
from tests.platform.servers import served_in_thread


@pytest.fixture(scope="module")
def served(
    sleeper_path: Path, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Store]]:
    """The API's URL and its store (the sleeper plugin installed)."""
    home = tmp_path_factory.mktemp("client-api")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    settings = short_settings(f"sqlite:///{home / 'azuraforge.db'}", home)
    with pytest.MonkeyPatch.context() as patch:
        install_plugin(patch, sleeper_path)
        store = Store(settings.database_url)
        app = create_app(settings, store=store)
        with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
            yield f"http://{address}", store
        store.close()


@pytest.fixture(scope="module")
def admin_token(served: tuple[str, Store]) -> str:
    """A token of the server's admin in the default project."""
    return admin_headers(served[1])["Authorization"].removeprefix("Bearer ")

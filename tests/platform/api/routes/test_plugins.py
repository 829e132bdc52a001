"""/api/v1/plugins: the plugin folder's files and their SHA-256, a server admin's alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from azuraforge.learn.plugin_folder import load_folder
from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.learn.plugin_files import WEATHER, weather_folder
from tests.platform.fixtures import admin_headers, user_headers


@pytest.fixture(autouse=True)
def no_folder_after() -> Iterator[None]:
    yield
    load_folder(None)


@pytest.fixture
def plugins_client(settings: Settings, store: Store, tmp_path: Path) -> Iterator[TestClient]:
    """An API whose plugin folder holds the weather plugin and a broken file."""
    folder = weather_folder(tmp_path / "plugins")
    with pytest.warns(UserWarning, match="plugin file 'broken.py' was not loaded"):
        app = create_app(settings.model_copy(update={"plugins_dir": folder}), store=store)
    with TestClient(app) as client:
        yield client


def test_a_server_admin_sees_each_file_its_hash_and_why_one_did_not_load(
    plugins_client: TestClient, store: Store, tmp_path: Path
) -> None:
    answer = plugins_client.get("/api/v1/plugins", headers=admin_headers(store))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["configured"] is True
    broken, weather = body["data"]
    assert weather == {
        "name": "weather.py", "sha256": hashlib.sha256(WEATHER.encode()).hexdigest(),
        "declares": ["azuraforge.pipelines:tiny-weather", "azuraforge.sources:weather-feed",
                     "azuraforge.job_kinds:forecast-weather"],
        "error": None,
    }  # fmt: skip
    assert broken["name"] == "broken.py" and "azuraforge_no_such_module" in broken["error"]
    assert body["digest"] == plugins_client.get("/api/v1/health").json()["plugins"]["digest"]
    assert str(tmp_path) not in answer.text  # the server's paths stay its own


def test_no_one_else_sees_them(plugins_client: TestClient, store: Store) -> None:
    assert plugins_client.get("/api/v1/plugins").status_code == 401
    for role in ("viewer", "editor", "admin"):  # a project's admin is no server admin
        headers = user_headers(store, f"{role}-user", role=role)
        refused = plugins_client.get("/api/v1/plugins", headers=headers)
        assert refused.status_code == 403, (role, refused.text)
        assert "not a server admin" in refused.json()["error"]["message"]


def test_without_a_folder_the_list_is_empty(settings: Settings, store: Store) -> None:
    with TestClient(create_app(settings, store=store), headers=admin_headers(store)) as client:
        body = client.get("/api/v1/plugins").json()
    assert body == {"configured": False, "digest": hashlib.sha256(b"").hexdigest(), "data": []}

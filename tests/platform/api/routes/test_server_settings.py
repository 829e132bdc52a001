"""/api/v1/server/settings: the server's live settings, a server admin's alone: read, changed
as versions (checked as a whole), in force at once, secrets never shown, each change audited,
and every answer naming the version it was served under."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, user_headers

PATH = "/api/v1/server/settings"
TOKEN = "t" * 40


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store=store)) as served:
        yield served


@pytest.fixture
def admin(store: Store) -> dict[str, str]:
    return admin_headers(store)


def _by_name(body: dict[str, object]) -> dict[str, dict[str, object]]:
    return {setting["name"]: setting for setting in body["data"]}  # type: ignore[attr-defined,index]


def test_every_setting_is_listed_with_how_it_applies_and_where_it_comes_from(
    client: TestClient, admin: dict[str, str]
) -> None:
    answer = client.get(PATH, headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == 0 and answer.headers["X-AzuraForge-Settings-Version"] == "0"
    settings = _by_name(body)
    assert settings["max_predict_rows"] == {
        **settings["max_predict_rows"], "value": 10_000, "default": 10_000, "applies": "live",
        "source": "default", "secret": False, "restart_pending": False,
    }  # fmt: skip
    assert settings["workers"]["applies"] == "restart"
    assert settings["log_level"]["value"] == "NOTSET"
    assert "database_url" not in settings and "session_key" not in settings
    assert settings["metrics_token"]["secret"] and settings["metrics_token"]["value"] is None


def test_a_change_is_a_version_in_force_at_once(client: TestClient, admin: dict[str, str]) -> None:
    answer = client.patch(PATH, json={"max_predict_rows": 5, "max_request_bytes": 2000},
                          headers=admin)  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == 1 and body["changed"] == ["max_predict_rows", "max_request_bytes"]
    assert body["restart_required"] == []
    assert _by_name(body)["max_predict_rows"]["source"] == "store"
    # the next request is served under it: its header, /health, and the body limit
    health = client.get("/api/v1/health")
    assert health.headers["X-AzuraForge-Settings-Version"] == "1"
    assert health.json()["settings_version"] == 1
    refused = client.post("/api/v1/runs", content=b"x" * 3000, headers=admin)
    assert refused.status_code == 413, refused.text
    assert "2,000 bytes" in refused.json()["error"]["message"]
    assert refused.headers["X-AzuraForge-Settings-Version"] == "1"


def test_null_takes_a_change_away(client: TestClient, admin: dict[str, str]) -> None:
    client.patch(PATH, json={"max_predict_rows": 5}, headers=admin)
    answer = client.patch(PATH, json={"max_predict_rows": None}, headers=admin)
    setting = _by_name(answer.json())["max_predict_rows"]
    assert answer.json()["version"] == 2
    assert setting["value"] == 10_000 and setting["source"] == "default"


@pytest.mark.parametrize(
    ("change", "named", "why"),
    [
        ({"max_predict_rows": 0}, "max_predict_rows", "greater than or equal to 1"),
        ({"alert_webhooks": ["ftp://hooks.lan"]}, "alert_webhooks", "not an http:// or https://"),
        ({"log_level": "LOUD"}, "log_level", "'NOTSET', 'DEBUG'"),
        ({"no_such_setting": 1}, "no_such_setting", "Extra inputs are not permitted"),
        ({"database_url": "sqlite:///other.db"}, "database_url", "AZURAFORGE_DATABASE_URL"),
        ({"session_key": "k" * 64}, "session_key", "not set through the API"),
        ({"plugins_dir": "/tmp"}, "plugins_dir", "AZURAFORGE_PLUGINS_DIR"),
        ({"data_dir": "/etc"}, "data_dir", "not set through the API"),
        ({"blob_store": "/var/lib"}, "blob_store", "not set through the API"),
        (
            {"assist_backends": [{"name": "m", "kind": "llama", "model": "/srv/x.gguf"}]},
            "assist_backends",
            "is a file's path",
        ),
        ({"heartbeat_interval": 60}, "body", "heartbeat_interval (60.0 s) must be shorter"),
    ],
)
def test_a_wrong_change_is_refused_naming_the_setting_and_nothing_changes(
    client: TestClient, admin: dict[str, str], change: dict[str, object], named: str, why: str
) -> None:
    client.patch(PATH, json={"max_predict_rows": 7}, headers=admin)
    answer = client.patch(PATH, json={**change, "max_upload_bytes": 10}, headers=admin)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert named in error["message"] and why in error["message"]
    after = client.get(PATH, headers=admin).json()
    assert after["version"] == 1
    assert _by_name(after)["max_upload_bytes"]["value"] == 50_000_000


def test_a_restart_setting_is_stored_and_says_so(
    client: TestClient, admin: dict[str, str], settings: Settings, store: Store
) -> None:
    answer = client.patch(PATH, json={"workers": 5, "max_predict_rows": 9}, headers=admin)
    body = answer.json()
    assert answer.status_code == 200 and body["restart_required"] == ["workers"]
    workers = _by_name(body)["workers"]
    assert workers["value"] == settings.workers and workers["restart_pending"] is True
    with TestClient(create_app(settings, store=store)) as restarted:
        after = _by_name(restarted.get(PATH, headers=admin).json())["workers"]
    assert after["value"] == 5 and after["restart_pending"] is False


def test_secrets_are_never_returned(
    client: TestClient, admin: dict[str, str], store: Store
) -> None:
    answer = client.patch(PATH, json={"metrics_token": TOKEN}, headers=admin)
    assert answer.status_code == 200, answer.text
    token = _by_name(answer.json())["metrics_token"]
    assert token["value"] is None and token["set"] is True and token["default"] is None
    history = client.get(f"{PATH}/history", headers=admin)
    for text in (answer.text, history.text, client.get(PATH, headers=admin).text):
        assert TOKEN not in text
    assert history.json()["data"][0]["overrides"] == {"metrics_token": "set"}
    # and in force: the token opens /metrics
    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200


def test_history_says_who_when_and_what_and_the_audit_log_has_each_change(
    client: TestClient, admin: dict[str, str], store: Store
) -> None:
    client.patch(PATH, json={"max_predict_rows": 5}, headers=admin)
    client.patch(PATH, json={"alias_refresh": 0.5, "log_level": "INFO"}, headers=admin)
    versions = client.get(f"{PATH}/history", headers=admin).json()["data"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["changed"] == ["alias_refresh", "log_level"]
    assert versions[0]["overrides"] == {"max_predict_rows": 5, "alias_refresh": 0.5,
                                        "log_level": "INFO"}  # fmt: skip
    assert versions[0]["actor"] == versions[1]["actor"] == "admin"
    assert versions[0]["changed_at"] >= versions[1]["changed_at"] > 0
    audit = store.list_audit(action="settings.set")
    assert [entry.target for entry in audit] == [
        "version 2: alias_refresh, log_level", "version 1: max_predict_rows",
    ]  # fmt: skip
    assert audit[0].actor == "admin"


def test_no_one_but_a_server_admin_reads_or_changes_them(client: TestClient, store: Store) -> None:
    assert client.get(PATH).status_code == 401
    for role in ("viewer", "editor", "admin"):  # a project's admin is no server admin
        headers = user_headers(store, f"{role}-user", role=role)
        for method, path in (("GET", PATH), ("PATCH", PATH), ("GET", f"{PATH}/history")):
            json = {"max_predict_rows": 1} if method == "PATCH" else None
            refused = client.request(method, path, json=json, headers=headers)
            assert refused.status_code == 403, (role, method, path, refused.text)
    assert store.find_server_settings() is None


def test_another_process_applies_a_version_at_its_next_look(
    settings: Settings, store: Store, admin: dict[str, str]
) -> None:
    one, other = create_app(settings, store=store), create_app(settings, store=store)
    with TestClient(one) as first, TestClient(other) as second:
        first.patch(PATH, json={"max_request_bytes": 2000}, headers=admin)
        other.state.live.refresh(store)  # what its poller does every settings_poll_interval
        refused = second.post("/api/v1/runs", content=b"x" * 3000, headers=admin)
    assert refused.status_code == 413
    assert refused.headers["X-AzuraForge-Settings-Version"] == "1"


def test_the_services_read_the_new_values(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    backends = [{"name": "echo", "kind": "echo"}]
    change = {"assist_backends": backends, "assist_max_tokens": 64, "assist_cache_ttl": 0,
              "alias_refresh": 2.0, "max_predict_rows": 3}  # fmt: skip
    assert client.patch(PATH, json=change, headers=admin).status_code == 200
    state = client.app.state  # type: ignore[attr-defined]
    assert list(state.chat.declared) == ["echo"] and state.chat.max_tokens == 64
    assert state.chat.answers is None  # a ttl of 0 turns the cache off
    assert state.models.settings.alias_refresh == 2.0
    assert state.models.settings.max_predict_rows == 3 and state.settings.max_predict_rows == 3
    models = client.get("/v1/models", headers=admin)  # the chat's OpenAI list: its backends
    assert "echo" in models.text, models.text
    assert settings.max_predict_rows == 10_000  # the environment's settings are kept

"""/api/v1/health: the store, its schema and, on Celery, the broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, head_revision
from azuraforge.platform.store.engine import current_revision, downgrade, upgrade
from tests.platform.api.conftest import BROKER_PASSWORD
from tests.platform.fixtures import SmallDisk, admin_headers
from tests.platform.servers import free_port

if TYPE_CHECKING:
    from tests.platform.s3_server import S3Server

REDIS = "redis://127.0.0.1:6379/0"


def test_health_names_database_and_schema(client: TestClient, store: Store):
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["database"] == store.dialect
    assert body["schema_revision"] == body["schema_expected"] == head_revision()
    assert body["transport"] == "local" and body["broker"] is None


def test_health_reports_the_databases_schema_and_503_when_it_is_not_this_versions(
    client: TestClient, store: Store
):
    """It reported the head revision whatever the database was at."""
    downgrade(store.engine, "-1")  # another version's `azuraforge db upgrade`, say
    try:
        older = current_revision(store.engine)
        response = client.get("/api/v1/health")
    finally:
        upgrade(store.engine)
    assert older is not None and older != head_revision()
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "SCHEMA_MISMATCH"
    assert f"is at schema {older}, this AzuraForge needs {head_revision()}" in error["message"]


def test_health_reports_an_unreachable_broker_and_stays_200(
    broker_down_client: TestClient, dead_broker: str
):
    """It said ok while no run could be submitted."""
    response = broker_down_client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    shown = dead_broker.replace(BROKER_PASSWORD, "**")
    assert body["broker"]["url"] == shown and body["broker"]["reachable"] is False
    assert body["broker"]["error"].startswith(f"the broker at {shown} is unreachable: ")
    assert BROKER_PASSWORD not in response.text


@pytest.fixture
def celery_client(settings: Settings, store: Store) -> Iterator[TestClient]:
    on_celery = settings.model_copy(update={"transport": "celery", "broker_url": REDIS})
    app = create_app(on_celery, store=store)
    with TestClient(app, headers=admin_headers(store)) as test_client:
        yield test_client
    app.state.transport.close()


def test_health_reports_a_reachable_broker(celery_client: TestClient):
    body = celery_client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["broker"] == {"url": REDIS, "reachable": True, "error": None}


def test_health_is_degraded_naming_the_check_while_the_homes_disk_is_full(
    settings: Settings, store: Store, small_disk: SmallDisk
):
    """It said ok while every write failed (the home's disk full for 48 s)."""
    on_disk = settings.model_copy(update={"home": small_disk.path / "home"})
    with TestClient(create_app(on_disk, store=store)) as anonymous:
        assert anonymous.get("/api/v1/health").json()["disk"] == {"writable": True, "error": None}
        small_disk.fill()
        full = anonymous.get("/api/v1/health")
        small_disk.free()
        again = anonymous.get("/api/v1/health").json()
    assert full.status_code == 200
    assert full.json()["status"] == "degraded"
    assert full.json()["disk"] == {
        "writable": False,
        "error": "the home folder cannot be written: No space left on device; free space on "
        "its disk, or make it writable",
    }
    assert str(small_disk.path) not in full.text
    assert (again["status"], again["disk"]["writable"]) == ("ok", True)


def test_health_is_degraded_naming_the_object_store_while_it_cannot_be_reached(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
):
    """It said ok while the object store was down and every file read or upload answered 503."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens: the store is down
    down = settings.model_copy(update={"blob_store": "s3://af/prod", "s3_endpoint": endpoint})
    with TestClient(create_app(down, store=store)) as anonymous:
        response = anonymous.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["blob_store"] == {
        "url": "s3://af/prod",
        "reachable": False,
        "error": "the object store does not answer: start it, or check s3_endpoint",
    }
    assert endpoint not in response.text


def test_health_reports_a_reachable_object_store(
    settings: Settings, store: Store, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
):
    environment = s3_server.environment("health")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    url = environment["AZURAFORGE_BLOB_STORE"]
    up = settings.model_copy(update={"blob_store": url, "s3_endpoint": s3_server.endpoint})
    with TestClient(create_app(up, store=store)) as anonymous:
        body = anonymous.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["blob_store"] == {"url": url, "reachable": True, "error": None}


def test_health_names_no_folder_for_a_local_blob_store(anonymous: TestClient):
    assert anonymous.get("/api/v1/health").json()["blob_store"] == {
        "url": None,
        "reachable": True,
        "error": None,
    }

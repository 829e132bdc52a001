"""API errors tell the client what it sent and nothing of the server (issue 32, point 4): no
home or data folder, no store URL in any form (its password, host or database), no other
model's name, no traceback; a run's recorded error names its data file relative to the data
folder. Each test makes the server fail as a client can, through a real app and store.

The 404s of the store also run on PostgreSQL, whose URL (user, password, host, database)
is written differently from SQLite's file path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from starlette.websockets import WebSocketDisconnect

from azuraforge.errors import GradientError
from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, head_revision
from azuraforge.platform.store.engine import downgrade, upgrade
from azuraforge.platform.store.states import COMPLETED, FAILED
from tests.platform.fixtures import short_settings
from tests.platform.servers import free_port

API = "/api/v1"
PASSWORD = "s3cret-pw"
OTHER_MODEL = "their-private-model"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The test's store, its PostgreSQL URL with a password (trust auth ignores it)."""
    url = database_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    return short_settings(url, tmp_path / "home")


def private(settings: Settings) -> list[str]:
    """What no API answer may hold: the server's folders, its store's URL and each part of it
    a client could not know (password, host and port, database)."""
    url = make_url(settings.database_url)
    parts = [str(settings.home), str(settings.data_dir), settings.database_url, PASSWORD]
    if url.get_backend_name() == "postgresql":
        parts += [f"{url.host}:{url.port}", str(url.database)]
    return parts


def assert_private(text: str, settings: Settings) -> None:
    leaked = [part for part in private(settings) if part in text]
    assert not leaked, f"the answer names {leaked}: {text}"
    assert "Traceback" not in text, text


def refused(response, status: int, settings: Settings) -> str:  # type: ignore[no-untyped-def]
    """The error message of ``response``, after checking its status and that it names
    nothing private."""
    assert response.status_code == status, response.text
    assert_private(response.text, settings)
    message: str = response.json()["error"]["message"]
    return message


@pytest.mark.on_both_databases
def test_a_404_names_what_was_asked_and_not_the_store(client: TestClient, settings: Settings):
    for path, params in [
        ("/runs/999999", None),
        ("/runs/999999/report", None),
        ("/studies/999999", None),
        ("/studies/999999/trials", None),
        ("/compare", {"experiments": "999998,999999"}),
        ("/compare", {"study": "999999"}),
    ]:
        message = refused(client.get(f"{API}{path}", params=params), 404, settings)
        assert "999999 not found" in message
    with (
        client.websocket_connect(f"{API}/runs/999999/events") as socket,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        socket.receive_json()
    assert closed.value.code == 4404 and "experiment 999999 not found" in closed.value.reason
    assert_private(closed.value.reason, settings)


def test_an_unknown_model_is_a_404_naming_no_other_model(client: TestClient, settings):
    assert client.post(f"{API}/models", json={"name": OTHER_MODEL}).status_code == 201
    rows = {"rows": [{"x": 1}]}
    for response in [
        client.get(f"{API}/models/nope"),
        client.get(f"{API}/models/nope/versions"),
        client.get(f"{API}/models/nope/predictions"),
        client.post(f"{API}/models/nope/predict", json=rows),
        client.post(f"{API}/models/nope/predictions", json=rows),
        client.post(f"{API}/models/nope/versions", json={"experiment": 1}),
        client.put(f"{API}/models/nope/aliases/prod", json={"version": 1}),
    ]:
        message = refused(response, 404, settings)
        assert message == "no model named 'nope' in project 'default'"
        assert OTHER_MODEL not in response.text


def test_a_refused_file_is_named_as_the_client_sent_it(client: TestClient, settings):
    settings.data_dir.mkdir(parents=True)
    for csv in ("../outside.csv", str(settings.home / "azuraforge.db")):
        body = {"pipeline": "forecaster", "config": {"csv": csv, "target": "y"}}
        response = client.post(f"{API}/runs", json=body)
        assert response.status_code == 422, response.text
        assert "../outside.csv" in response.text or "azuraforge.db" in response.text
        assert str(settings.data_dir) not in response.text
        assert str(settings.home / "azuraforge") not in response.text


@pytest.fixture
def version(client: TestClient, store: Store, settings: Settings, blobs: BlobStore) -> str:
    """Model ``m`` version 1, registered from a completed run; the prefix of its files."""
    record = store.create_experiment("sleeper", {}, name="source")
    blobs.put_bytes(f"runs/{record.id}/artifact/artifact.json", b"{}")
    lease = store.claim(record.id, "test-worker", settings.lease_ttl)
    assert lease is not None
    store.finish(lease, COMPLETED, result={"artifact_dir": "artifact"})
    assert client.post(f"{API}/models", json={"name": "m"}).status_code == 201
    created = client.post(f"{API}/models/m/versions", json={"experiment": "source"})
    assert created.status_code == 201, created.text
    return store.get_version("m", 1).artifact_path


def test_a_changed_model_is_a_409_naming_no_folder(
    client: TestClient, store: Store, settings: Settings, blobs: BlobStore, version: str
):
    blobs.put_bytes(f"{version}/artifact.json", b'{"changed": true}')
    predicted = client.post(f"{API}/models/m/predict", json={"rows": [{"x": 1}]})
    message = refused(predicted, 409, settings)
    assert message.startswith("model m version 1: its files changed since registration")
    job = client.post(f"{API}/models/m/predictions", json={"rows": [{"x": 1}]})
    assert job.status_code == 202, job.text
    lease = store.claim(job.json()["id"], "test-worker", settings.lease_ttl)
    assert lease is not None and execute(store, lease, settings) == FAILED
    shown = client.get(f"{API}/runs/{lease.experiment_id}")
    assert_private(shown.json()["error"], settings)
    assert "its files changed since registration" in shown.json()["error"]


def test_a_missing_input_file_is_named_as_sent(client: TestClient, settings, version: str):
    settings.data_dir.mkdir(parents=True)
    for inputs in ("missing.csv", "../../escape.csv"):
        response = client.post(f"{API}/models/m/predictions", json={"inputs": inputs})
        assert inputs in refused(response, 422, settings)


def test_a_runs_error_names_its_data_file_relative_to_the_data_folder(
    client: TestClient, store: Store, settings: Settings
):
    """A run's ``error`` is shown to every client (the run, the list, its events, a study's
    trial note); its log, the run's own output, keeps the full path."""
    (settings.data_dir / "sales").mkdir(parents=True)
    (settings.data_dir / "sales" / "bad.csv").write_text("date,y\n2024-01-01,1\n2024-01-02,oops\n")
    body = {"pipeline": "forecaster", "config": {"csv": "sales/bad.csv", "target": "y"}}
    created = client.post(f"{API}/runs", json=body)
    assert created.status_code == 201, created.text
    lease = store.claim(created.json()["data"][0]["id"], "test-worker", settings.lease_ttl)
    assert lease is not None and execute(store, lease, settings) == FAILED
    listed = client.get(f"{API}/runs")
    assert_private(listed.text, settings)
    error = listed.json()["data"][0]["error"]
    assert error.startswith("DataFormatError: sales/bad.csv, line 3"), error


@pytest.fixture
def broken_client(settings: Settings, store: Store, sleeper: object) -> Iterator[TestClient]:
    """An API with a route that fails as no error of the table: with one of ours, and with
    an operating-system error naming a file."""
    app = create_app(settings, store=store)

    @app.get(f"{API}/broken/{{kind}}")
    def broken(kind: str) -> None:
        if kind == "ours":
            raise GradientError(f"backward() of {settings.home}/runs/1/model.npz")
        raise OSError(2, "No such file or directory", str(settings.home / "work" / "1"))

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("kind, name", [("ours", "GradientError"), ("os", "FileNotFoundError")])
def test_an_unexpected_error_is_a_500_naming_its_class_alone(
    broken_client: TestClient, settings: Settings, kind: str, name: str
):
    message = refused(broken_client.get(f"{API}/broken/{kind}"), 500, settings)
    assert message == f"internal error ({name}); the server's log says more"


def test_a_store_that_cannot_be_reached_is_a_503_naming_no_url(tmp_path: Path, sleeper):
    """The same with the store down: a PostgreSQL URL where nothing listens."""
    dead = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/nowhere"
    settings = short_settings(dead, tmp_path / "home")
    store = Store(dead, check_schema=False)
    token = {"Authorization": f"Bearer af_{'0' * 12}_{'a' * 43}"}  # checked against the store
    with TestClient(create_app(settings, store=store), headers=token) as client:
        message = refused(client.get(f"{API}/runs/1"), 503, settings)
    store.close()
    assert message.startswith("the store cannot be reached now")


def test_a_store_at_another_schema_is_a_503_naming_no_url(
    client: TestClient, store: Store, settings: Settings
):
    downgrade(store.engine, "-1")  # another version's `azuraforge db upgrade`, say
    try:
        message = refused(client.get(f"{API}/health"), 503, settings)
    finally:
        upgrade(store.engine)
    assert f"this AzuraForge needs {head_revision()}" in message

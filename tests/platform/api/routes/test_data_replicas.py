"""``/data`` behind a balancer: a data file uploaded through one API process ("replica") is
listed, downloaded, trained on, replaced and deleted through another, and read by a worker of
a third machine, each with a home of its own (data folder and cache) and only the store and
the blob store in common; on SQLite with a folder blob store, and on PostgreSQL with S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.states import COMPLETED
from tests.platform.api.routes.test_data import gspc_slice
from tests.platform.fixtures import admin_headers, short_settings

if TYPE_CHECKING:
    from tests.platform.s3_server import S3Server

FORECAST = {"time_column": "Date", "target": "Close", "missing": "fill", "epochs": 1,
            "sequence_length": 8, "hidden_size": 8, "batch_size": 64}  # fmt: skip


@pytest.fixture
def machines(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Settings]:  # fmt: skip
    """The settings of three machines (``a`` and ``b`` serve the API, ``worker`` runs jobs) on
    one store and one blob store: a folder outside every home on SQLite, a prefix of the S3
    test server's bucket on PostgreSQL."""
    shared: dict[str, object] = {"blob_store": str(tmp_path / "shared-blobs")}
    if not database_url.startswith("sqlite"):
        s3: S3Server = request.getfixturevalue("s3_server")
        environment = s3.environment(f"data-{uuid.uuid4().hex}")
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        shared = {"blob_store": environment["AZURAFORGE_BLOB_STORE"], "s3_endpoint": s3.endpoint}
    return {
        name: short_settings(database_url, tmp_path / name, **shared)  # type: ignore[arg-type]
        for name in ("a", "b", "worker")
    }


@pytest.fixture
def project(machines: dict[str, Settings]) -> Iterator[tuple[Store, str]]:
    """The store, and a project of this test's own (the PostgreSQL store is the session's)."""
    store = Store(machines["a"].database_url)
    name = f"p{uuid.uuid4().hex[:8]}"
    store.create_project(name)
    yield store, name
    store.close()


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_file_uploaded_through_one_replica_serves_a_run_submitted_through_another(
    machines: dict[str, Settings], project: tuple[Store, str]
) -> None:
    store, name = project
    headers = admin_headers(store, name)
    body = gspc_slice(200)
    with (
        TestClient(create_app(machines["a"], store=store), headers=headers) as a,
        TestClient(create_app(machines["b"], store=store), headers=headers) as b,
    ):
        put = a.put("/api/v1/data/stocks/gspc.csv", content=body)
        assert put.status_code == 201, put.text
        assert b.get("/api/v1/data").json() == [put.json()]
        assert b.get("/api/v1/data/stocks/gspc.csv", params={"download": True}).content == body
        job = {"pipeline": "forecaster", "config": {"csv": "stocks/gspc.csv", **FORECAST}}
        submitted = b.post("/api/v1/runs", json=job)
        assert submitted.status_code == 201, submitted.text
        run = submitted.json()["data"][0]["id"]
        Worker(machines["worker"], store).run_until_ended(run)
        ended = store.get_experiment(run)
        assert ended.status == COMPLETED, ended.error
        assert ended.config["csv"] == "stocks/gspc.csv"  # a name, never a machine's path

        refused = b.delete("/api/v1/data/stocks/gspc.csv")
        assert refused.status_code == 409 and f"run {run} " in refused.text, refused.text
        assert a.delete(f"/api/v1/runs/{run}").status_code == 204

        shorter = gspc_slice(50)
        again = b.put("/api/v1/data/stocks/gspc.csv", content=shorter)
        assert again.status_code == 409 and "overwrite=true" in again.text
        replaced = b.put(
            "/api/v1/data/stocks/gspc.csv", content=shorter, params={"overwrite": True}
        )
        assert replaced.status_code == 201 and replaced.json()["rows"] == 50
        assert a.get("/api/v1/data/stocks/gspc.csv").json() == replaced.json()
        assert a.get("/api/v1/data/stocks/gspc.csv", params={"download": True}).content == shorter
        blobs = open_blobs(machines["a"])
        digest = replaced.json()["sha256"]
        assert list(blobs.list_keys(f"data/{name}")) == [
            f"data/{name}/sha256/{digest}/stocks/gspc.csv"  # the replaced version's bytes dropped
        ]

        assert a.delete("/api/v1/data/stocks/gspc.csv").status_code == 204
        assert b.get("/api/v1/data/stocks/gspc.csv").status_code == 404
        assert b.get("/api/v1/data").json() == []
        assert list(blobs.list_keys(f"data/{name}")) == []
    for machine in machines.values():  # nothing was written into a machine's data folder
        folder = machine.data_dir
        assert not folder.exists() or not [p for p in folder.rglob("*") if p.is_file()]


def test_a_copy_altered_in_a_machines_cache_is_refused_and_fetched_again(
    machines: dict[str, Settings], project: tuple[Store, str]
) -> None:
    store, name = project
    headers = admin_headers(store, name)
    body = gspc_slice(30)
    with TestClient(create_app(machines["a"], store=store), headers=headers) as a:
        assert a.put("/api/v1/data/s.csv", content=body).status_code == 201
        assert a.get("/api/v1/data/s.csv", params={"download": True}).content == body
        [copy] = (machines["a"].cache_dir / "data" / name).rglob("s.csv")
        copy.write_bytes(body.replace(b"Close", b"Closd"))
        refused = a.get("/api/v1/data/s.csv", params={"download": True})
        assert refused.status_code == 404 and str(machines["a"].home) not in refused.text
        assert a.get("/api/v1/data/s.csv", params={"download": True}).content == body

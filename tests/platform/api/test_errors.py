"""The error table of api/errors.py, driven through a real app and store."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs.s3 import S3Blobs
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.servers import free_port


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite converts
@pytest.mark.parametrize("through_store", [True, False])
def test_a_value_the_database_refuses_is_422_not_500(
    settings: Settings, store: Store, through_store: bool
):
    """Defense in depth: a value no check caught before the database (here a seed past the
    32-bit column) is the request's fault, never a 500: refused in the store's own
    transaction (UnstorableValueError) or in another (SQLAlchemy's DataError)."""
    app = create_app(settings, store=store)

    @app.get("/api/v1/out-of-range")
    def out_of_range() -> None:
        if through_store:
            store.create_experiment("sleeper", {"seed": 2**40})
        with store.engine.connect() as connection:
            connection.execute(text("SELECT CAST(:big AS integer)"), {"big": 2**40})

    with TestClient(app) as client:
        response = client.get("/api/v1/out-of-range")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_DATA"
    assert error["message"] == (
        "the database refused a value: integer out of range; check the values given"
    )


def test_a_blob_store_that_cannot_be_reached_is_503_without_its_address(
    settings: Settings, store: Store
):
    app = create_app(settings, store=store)
    endpoint = f"http://127.0.0.1:{free_port()}"
    blobs = S3Blobs("s3://af-bucket/prod", endpoint=endpoint, access_key_id="a",
                    secret_access_key="b")  # fmt: skip

    @app.get("/api/v1/report")
    def report() -> bytes:
        return blobs.get_bytes("runs/1/report.md")

    with TestClient(app) as client:
        response = client.get("/api/v1/report")
    assert response.status_code == 503, response.text
    assert response.json()["error"] == {
        "code": "BLOB_STORE_UNAVAILABLE",
        "message": "the server's file store is unavailable; try again later, or tell its operator",
    }

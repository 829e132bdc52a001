"""The error table of api/errors.py, driven through a real app and store."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite converts
def test_a_value_the_database_refuses_is_422_not_500(settings: Settings, store: Store):
    """Defense in depth: a DataError that no check caught before the store is the request's
    fault (a value out of range, text the database cannot hold), never a 500."""
    app = create_app(settings, store=store)

    @app.get("/api/v1/out-of-range")
    def out_of_range() -> None:
        with store.engine.connect() as connection:
            connection.execute(text("SELECT CAST(:big AS integer)"), {"big": 2**40})

    with TestClient(app) as client:
        response = client.get("/api/v1/out-of-range")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_DATA"
    assert error["message"] == (
        "the database refused a value of this request: integer out of range; check the values sent"
    )

"""The app's start: what the process made to start is left out of the collector's full passes
(a big study's page otherwise paid a full pass over them per request)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers


def test_the_objects_made_to_start_are_frozen(settings: Settings, store: Store) -> None:
    with TestClient(create_app(settings, store=store), headers=admin_headers(store)) as client:
        assert client.get("/api/v1/health").status_code == 200
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
    with TestClient(create_app(settings, store=store)):
        assert gc.get_freeze_count() <= frozen  # once per process: no new objects frozen

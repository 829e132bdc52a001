"""The app's start: what the process made to start is left out of the collector's full passes
(a big study's page otherwise paid a full pass over them per request), and the routes are
built once for every app of the process."""

from __future__ import annotations

import gc

import pytest
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


def test_two_apps_share_the_routes_answer_alike_and_refuse_dependency_overrides(
    settings: Settings, store: Store
) -> None:
    first, second = create_app(settings, store=store), create_app(settings, store=store)
    shared = [route for route in first.router.routes if route in second.router.routes]
    assert len(shared) >= 17  # every resource's router, MLflow's and OpenAI's
    for app in (first, second):
        with TestClient(app, headers=admin_headers(store)) as client:
            assert client.get("/api/v1/runs").status_code == 200
            assert client.get("/api/v1/nowhere").status_code == 404
        with pytest.raises(TypeError):  # ignored by the shared routes: refused, not lost
            app.dependency_overrides[create_app] = create_app

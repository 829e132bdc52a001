"""The run routes' former paths (``/api/v1/experiments...``), kept for one release: the same
routes as at ``/api/v1/runs...`` (endpoint, methods, permission, answer), marked deprecated in
the OpenAPI, answering as the current ones do. Schemathesis and the file-settings test go over
the current paths alone (``test_schemathesis.py``, ``test_file_settings.py``): this test is
what lets them."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from azuraforge.platform.api.access import api_routes, declared_permission
from azuraforge.platform.api.app import API_PREFIX, DEPRECATED_RUNS, RUNS, create_app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

SUBMISSION = {"pipeline": "sleeper", "config": {"steps": 1}}


def routes_under(app: FastAPI, prefix: str) -> dict[tuple[str, frozenset[str]], Any]:
    """The app's API and WebSocket routes at ``prefix`` or below it, by their path after it and
    their methods (``WS`` for a WebSocket route)."""
    found = {}
    for route in api_routes(app):
        path = route.path or ""
        if path == prefix or path.startswith(prefix + "/"):
            methods = frozenset(route.methods or {"WS"})
            found[path.removeprefix(prefix), methods] = route
    return found


def test_each_run_route_is_served_at_its_former_path_as_the_same_route(
    settings: Settings, store: Store
) -> None:
    app = create_app(settings, store=store)
    current, former = routes_under(app, RUNS), routes_under(app, DEPRECATED_RUNS)
    assert current.keys() == former.keys() and len(current) >= 18
    assert ("/{experiment_id}/events", frozenset({"WS"})) in current
    for key, route in current.items():
        old = former[key]
        assert old.original_route is route.original_route, key
        assert [d.dependency for d in old.dependencies] == [
            d.dependency for d in route.dependencies
        ], key
        assert declared_permission(old) == declared_permission(route) is not None, key


def test_the_openapi_marks_the_former_paths_deprecated_and_nothing_else(
    read_only_client: TestClient,
) -> None:
    paths = read_only_client.get("/openapi.json").json()["paths"]
    former = {p for p in paths if p.startswith(DEPRECATED_RUNS)}
    assert {p.replace(DEPRECATED_RUNS, RUNS, 1) for p in former} == {
        p for p in paths if p.startswith(RUNS)
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("deprecated", False) == (path in former), (path, method)
            if path in former:
                assert operation["tags"] == ["experiments"]
                now = copy.deepcopy(paths[path.replace(DEPRECATED_RUNS, RUNS, 1)][method])
                assert now.pop("tags") == ["runs"]
                kept = {k: v for k, v in operation.items() if k not in ("tags", "deprecated")}
                assert {k: v for k, v in now.items() if k != "operationId"} == {
                    k: v for k, v in kept.items() if k != "operationId"
                }, (path, method)


def test_a_run_is_submitted_read_changed_followed_and_deleted_at_the_former_paths(
    client: TestClient,
) -> None:
    made = client.post(DEPRECATED_RUNS, json=SUBMISSION)
    assert made.status_code == 201, made.text
    run = made.json()["data"][0]["id"]
    shown = client.get(f"{DEPRECATED_RUNS}/{run}")
    assert shown.status_code == 200 and shown.json() == client.get(f"{RUNS}/{run}").json()
    assert [r["id"] for r in client.get(DEPRECATED_RUNS).json()["data"]] == [run]
    renamed = client.patch(f"{DEPRECATED_RUNS}/{run}", json={"name": "former-path"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "former-path"
    tagged = client.put(f"{DEPRECATED_RUNS}/{run}/tags/team", json={"value": "ops"})
    assert tagged.json() == {"experiment_id": run, "tags": {"team": "ops"}}
    with client.websocket_connect(f"{DEPRECATED_RUNS}/{run}/events") as socket:
        history = socket.receive_json()
    assert history["type"] == "history" and history["experiment"]["id"] == run
    assert client.get(f"{DEPRECATED_RUNS}/{run}/report").status_code == 409  # not ended yet
    assert client.delete(f"{DEPRECATED_RUNS}/{run}").status_code == 204
    assert client.get(f"{RUNS}/{run}").status_code == 404
    assert client.get(f"{DEPRECATED_RUNS}/{run}").status_code == 404


def test_a_run_credential_writes_its_run_at_the_former_paths(client: TestClient) -> None:
    made = client.post(f"{API_PREFIX}/external-runs", json={"pipeline": "my-script"}).json()
    run, credential = made["experiment"]["id"], made["credential"]
    own = {"Authorization": f"Bearer {credential}"}
    batch = {"metrics": [{"key": "loss", "step": 1, "value": 0.5}]}
    written = client.post(f"{DEPRECATED_RUNS}/{run}/batch", json=batch, headers=own)
    assert written.status_code == 200, written.text
    assert (
        client.post(f"{DEPRECATED_RUNS}/{run + 1}/batch", json={}, headers=own).status_code == 403
    )
    ended = client.post(f"{DEPRECATED_RUNS}/{run}/end", json={"status": "completed"}, headers=own)
    assert ended.status_code == 200 and ended.json()["status"] == "completed"
    curve = client.get(f"{RUNS}/{run}/metrics").json()["metrics"]["loss"]
    assert curve["values"] == [0.5]

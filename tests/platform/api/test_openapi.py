"""The OpenAPI declares the rules the API enforces: for each request here, the live
``/openapi.json`` calls it valid exactly when the API does not answer 422."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

API = "/api/v1"


def parameter(openapi: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    """The schema of query parameter ``name`` of ``GET path``."""
    (found,) = (p for p in openapi["paths"][API + path]["get"]["parameters"] if p["name"] == name)
    return found["schema"]


def declared_valid(schema: dict[str, Any], value: Any, openapi: dict[str, Any]) -> bool:
    """Whether ``value`` is valid against ``schema`` of ``openapi`` (its components at hand)."""
    bundled = {**schema, "components": openapi["components"]}
    return jsonschema_rs.Draft202012Validator(bundled).is_valid(value)


@pytest.mark.parametrize(
    "selection",
    [
        {},
        {"experiments": "1"},
        {"experiments": "1,2"},
        {"batch": "b"},
        {"study": 1},
        {"experiments": "1", "batch": "b"},
        {"batch": "b", "study": 1},
        {"experiments": "1, 2"},
        {"experiments": "1,,2"},
        {"experiments": ",".join(["1"] * 101)},
        {"batch": ""},
    ],
)
def test_compare_declares_exactly_one_selector(read_only_client: TestClient, selection):
    openapi = read_only_client.get("/openapi.json").json()
    declared = declared_valid(parameter(openapi, "/compare", "selection"), selection, openapi)
    status = read_only_client.get(f"{API}/compare", params=selection).status_code
    assert declared == (status != 422), (selection, status)


@pytest.mark.parametrize(
    "metric_filter",
    [
        {},
        {"metric": "loss"},
        {"metric": ""},
        {"metric": "loss", "metric_min": 0.5},
        {"metric": "loss", "metric_max": 2},
        {"metric_min": 0},
        {"metric_max": 0},
        {"metric": "", "metric_min": 0},
    ],
)
def test_a_metric_bound_declares_it_needs_metric(read_only_client: TestClient, metric_filter):
    openapi = read_only_client.get("/openapi.json").json()
    schema = parameter(openapi, "/experiments", "metric_filter")
    declared = declared_valid(schema, metric_filter, openapi)
    status = read_only_client.get(f"{API}/experiments", params=metric_filter).status_code
    assert declared == (status != 422), (metric_filter, status)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/experiments", "queued,running"),
        ("/experiments", "queued, running"),
        ("/experiments", ",queued"),
        ("/experiments", "hä1"),
        ("/studies/1/trials", "completed,pruned"),
        ("/studies/1/trials", "completed,"),
        ("/studies/1/trials", "hä1"),
    ],
)
def test_status_lists_declare_their_statuses(read_only_client: TestClient, path, value):
    openapi = read_only_client.get("/openapi.json").json()
    items = parameter(openapi, path.replace("1", "{study_id}"), "status")["anyOf"][0]["items"]
    declared = declared_valid(items, value, openapi)
    status = read_only_client.get(API + path, params={"status": value}).status_code
    assert declared == (status != 422), (value, status)


@pytest.mark.parametrize(
    ("path", "component", "body"),
    [
        ("/models/weather/versions", "VersionCreate", {"experiment": 0}),
        ("/models/weather/versions", "VersionCreate", {"experiment": 2**31}),
        ("/models/weather/versions", "VersionCreate", {"experiment": "weather-0"}),
        ("/studies", "StudyCreate", {"pipeline": "sleeper", "space": {}}),
    ],
)
def test_bodies_declare_their_bounds(read_only_client: TestClient, path, component, body):
    openapi = read_only_client.get("/openapi.json").json()
    schema = {"$ref": f"#/components/schemas/{component}"}
    declared = declared_valid(schema, body, openapi)
    status = read_only_client.post(API + path, json=body).status_code
    assert declared == (status != 422), (body, status)

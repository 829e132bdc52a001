"""The OpenAPI declares the rules the API enforces: for each request here, the live
``/openapi.json`` calls it valid exactly when the API does not answer 422."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

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
    schema = parameter(openapi, "/runs", "metric_filter")
    declared = declared_valid(schema, metric_filter, openapi)
    status = read_only_client.get(f"{API}/runs", params=metric_filter).status_code
    assert declared == (status != 422), (metric_filter, status)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/runs", "queued,running"),
        ("/runs", "queued, running"),
        ("/runs", ",queued"),
        ("/runs", "hä1"),
        ("/studies/1/trials", "completed,pruned"),
        ("/studies/1/trials", "completed,"),
        ("/studies/1/trials", "hä1"),
    ],
)
def test_status_lists_declare_their_statuses(read_only_client: TestClient, path, value):
    openapi = read_only_client.get("/openapi.json").json()
    items = parameter(openapi, path.replace("1", "{study_id}"), "status")["items"]
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


def test_sort_keys_are_the_metrics_logged_when_fetched(
    client: TestClient, store: Store, settings: Settings
):
    def sort_keys() -> list[str]:
        openapi = client.get("/openapi.json").json()
        return parameter(openapi, "/runs", "sort")["enum"]

    assert not [key for key in sort_keys() if key.startswith("metric:")]
    run = store.create_experiment("sleeper", {"steps": 1, "sleep": 0})
    lease = store.claim(run.id, "test-worker", 60.0)
    assert lease is not None and execute(store, lease, settings) == "completed"
    keys = sort_keys()
    assert [key for key in keys if key.startswith("metric:")] == ["metric:loss", "metric:val_loss"]
    for key in ("metric:loss", "name"):
        assert client.get(f"{API}/runs", params={"sort": key}).status_code == 200
    assert "metric:MAE" not in keys
    assert client.get(f"{API}/runs", params={"sort": "metric:MAE"}).status_code == 422


CHECKED_BY_CODE = "checked by code"
"""A body the OpenAPI declares valid that the API refuses (422) for what its schema cannot
say: a grid value or search entry of the setting's type (one schema serves every setting's),
a file of the data folder."""


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({"pipeline": "sleeper", "config": {"steps": 2, "sleep": 0}}, True),
        ({"pipeline": "sleeper", "grid": {"steps": [1, 2]}, "name": "g" * 195}, True),
        ({"pipeline": "sleeper", "name": "n" * 196}, False),
        ({"pipeline": "sleeper", "config": {"steps": 0}}, False),
        ({"pipeline": "sleeper", "config": {"steps": 2.0, "sleep": 0}}, True),  # JSON: 2.0 is 2
        ({"pipeline": "sleeper", "config": {"steps": True}}, False),
        ({"pipeline": "sleeper", "config": {"steps": "2"}}, False),
        ({"pipeline": "sleeper", "config": {"ignore_cancel": 1}}, False),
        ({"pipeline": "sleeper", "config": {"nope": 1}}, False),
        ({"pipeline": "sleeper", "grid": {"steps": []}}, False),
        ({"pipeline": "sleeper", "grid": {"steps": ["x"]}}, CHECKED_BY_CODE),
        ({"pipeline": "sleeper", "grid": {"nope": [1]}}, False),
        # a list setting's grid values are lists (here refused for the file, not for them)
        (
            {
                "pipeline": "forecaster",
                "config": {"csv": "nope.csv", "target": "load"},
                "grid": {"features": [["temp"], ["temp", "dewp"]]},
            },
            CHECKED_BY_CODE,
        ),
        ({"pipeline": "forecaster", "config": {"csv": "a.csv"}}, False),  # target required
        ({"pipeline": "weather-forecaster", "config": {"seed": 2**31}}, False),
    ],
)
def test_a_submission_declares_its_pipeline_settings(
    client: TestClient, components: dict[str, Any], body, accepted
):
    declared_as_answered(client, components, "/runs", "ExperimentCreate", body, accepted)


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({"pipeline": "sleeper", "space": {"steps": [1, 2]}, "n_trials": 1}, True),
        ({"pipeline": "sleeper", "space": {"steps": {"type": "int", "low": 1, "high": 3}}}, True),
        ({"pipeline": "sleeper", "space": {"steps": [1]}, "n_trials": 1.0}, True),
        ({"pipeline": "sleeper", "space": {"steps": [1]}, "n_trials": True}, False),
        ({"pipeline": "sleeper", "space": {"nope": [1, 2]}}, False),
        (
            {"pipeline": "sleeper", "space": {"steps": {"type": "int", "low": 0, "high": 3}}},
            CHECKED_BY_CODE,
        ),
        ({"pipeline": "sleeper", "space": {"steps": {"type": "int", "low": 1}}}, False),
        ({"pipeline": "sleeper", "space": {"steps": {"type": "log", "low": 1, "high": 3}}}, False),
        ({"pipeline": "sleeper", "space": {"steps": [1]}, "config": {"nope": 1}}, False),
        ({"pipeline": "forecaster", "space": {"epochs": [1]}, "config": {"csv": "a.csv"}}, False),
    ],
)
def test_a_study_declares_its_pipeline_settings(
    client: TestClient, components: dict[str, Any], body, accepted
):
    declared_as_answered(client, components, "/studies", "StudyCreate", body, accepted)


@pytest.fixture(scope="module")
def components(read_only_client: TestClient) -> dict[str, Any]:
    """The OpenAPI of the module's API, fetched once (its components are every API's: an
    OpenAPI is built in some 0.4 s, each ``client`` would build its own)."""
    return dict(read_only_client.get("/openapi.json").json())


def declared_as_answered(
    client: TestClient,
    openapi: dict[str, Any],
    path: str,
    component: str,
    body: dict[str, Any],
    accepted: bool | str,
) -> None:
    """``body`` is declared valid by ``component`` of ``openapi`` unless ``accepted`` is
    False, and ``POST path`` creates it when ``accepted`` is True, else refuses it (422)."""
    schema = {"$ref": f"#/components/schemas/{component}"}
    assert declared_valid(schema, body, openapi) == (accepted is not False)
    status = client.post(API + path, json=body).status_code
    assert status == (201 if accepted is True else 422), (body, status)


@pytest.mark.parametrize(
    ("path", "params", "refused"),
    [
        ("/runs", [("batch_id", "a"), ("batch_id", "b")], "batch_id"),
        ("/runs", [("limit", "1"), ("limit", "1")], "limit"),
        ("/runs", [("metric", "loss"), ("metric", "mae")], "metric"),
        ("/runs", [("status", "queued"), ("status", "running")], None),
        ("/runs", [("colour", "red"), ("colour", "blue")], None),
        ("/compare", [("batch", "a"), ("batch", "b")], "batch"),
        ("/compare", [("batch", "b"), ("metrics", "a"), ("metrics", "b")], None),
    ],
)
def test_a_parameter_of_one_value_sent_twice_is_refused(
    read_only_client: TestClient, path, params, refused
):
    """The OpenAPI declares one value; reading the first or the last would be a guess. A list
    parameter takes every value, and parameters the API does not read are not its to judge."""
    response = read_only_client.get(API + path, params=params)
    if refused is None:
        assert response.status_code != 422, response.text
        return
    assert response.status_code == 422, response.text
    assert (
        f"query.{refused}: sent 2 times; it takes one value" in response.json()["error"]["message"]
    )


def test_no_query_parameter_says_it_may_be_null(read_only_client: TestClient):
    """A query string cannot send null; schemathesis sent ?keys=true as a 'null' branch turned
    boolean, which the API rightly read as a key, and called it an accepted invalid request."""
    openapi = read_only_client.get("/openapi.json").json()
    schemas = [
        p["schema"]
        for operations in openapi["paths"].values()
        for operation in operations.values()
        for p in operation.get("parameters", [])
        if p["in"] == "query"
    ]
    assert schemas and not [s for s in schemas if {"type": "null"} in s.get("anyOf", [])]

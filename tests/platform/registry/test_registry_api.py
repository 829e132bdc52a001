"""The registry through /api/v1/models on SQLite and PostgreSQL: register, alias, history,
rollback, delete, references, and the errors of each.

Doubled on PostgreSQL (``on_both_databases``): versions are numbered under a row lock there
and the database's write lock on SQLite, and uniqueness violations become 409s from each
dialect's own errors."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.services.access import FIRST_ADMIN
from azuraforge.platform.services.registry import blob_digest
from azuraforge.platform.store import ExperimentRecord, Store
from tests.platform.fixtures import user_headers
from tests.platform.registry.conftest import call, registered

pytestmark = pytest.mark.on_both_databases


def test_register_versions_from_runs(
    api: TestClient, runs: list[ExperimentRecord], store: Store, blobs: BlobStore
):
    registered(api, runs)
    versions = call(api, "GET", "/models/weather/versions")
    assert [v["version"] for v in versions["data"]] == [2, 1]
    first = call(api, "GET", "/models/weather/versions/1")
    assert first["source_experiment_id"] == runs[0].id
    assert first["source_experiment_name"] == "run-0"
    assert first["pipeline"] == "weather-forecaster"
    assert first["metrics"]["MAE"]["persistence"] > 0
    assert len(first["data_fingerprint"]) == 64 and len(first["artifact_digest"]) == 64
    assert first["config"]["sequence_length"] == 8
    model = call(api, "GET", "/models/weather")
    assert model["latest_version"] == 2 and model["aliases"] == {}
    listing = call(api, "GET", "/models")
    assert [m["name"] for m in listing["data"]] == ["weather"] and listing["total"] == 1
    copies = {key.split("/")[2] for key in blobs.list_keys("models/weather")}
    assert len(copies) == 2  # each version's files below a prefix of its own
    kept = store.get_version("weather", 1).artifact_path
    assert blob_digest(blobs, kept) == first["artifact_digest"]
    assert sorted(blobs.list_keys(kept)) == [
        key.replace(f"runs/{runs[0].id}/artifact", kept)
        for key in sorted(blobs.list_keys(f"runs/{runs[0].id}/artifact"))
    ]


def test_alias_history_and_rollback_round_trip(
    api: TestClient, runs: list[ExperimentRecord], store: Store
):
    """Each move is recorded as made by the caller (the token's user), never a name sent."""
    registered(api, runs)
    ana, bo, cy = (user_headers(store, name) for name in ("ana", "bo", "cy"))
    base = "/models/weather/aliases/champion"
    made = call(api, "PUT", base, json={"version": 1, "reason": "first"}, headers=ana)
    assert made["version"] == 1 and made["move"]["from_version"] is None
    assert call(api, "PUT", base, json={"version": 1})["move"] is None  # nothing changed
    claimed = {"version": 2, "reason": "better MAE", "actor": "somebody else"}
    assert "actor" in call(api, "PUT", base, 422, json=claimed, headers=bo)["error"]["message"]
    call(api, "PUT", base, json={"version": 2, "reason": "better MAE"}, headers=bo)
    assert call(api, "GET", base)["version"] == 2
    assert call(api, "GET", "/models/weather/versions/champion")["version"] == 2
    back = call(api, "POST", f"{base}/rollback", json={"reason": "regression"}, headers=cy)
    assert back["version"] == 1 and back["move"]["rollback"] is True
    assert call(api, "GET", "/models/weather")["aliases"] == {"champion": 1}
    removed = call(api, "DELETE", base, params={"reason": "retired"}, headers=ana)
    assert removed["version"] is None
    call(api, "GET", base, 404)
    again = call(api, "POST", f"{base}/rollback")  # the removal is undone
    assert again["version"] == 1 and again["move"]["actor"] == FIRST_ADMIN
    history = call(api, "GET", f"{base}/history")
    moves = [
        (m["from_version"], m["to_version"], m["actor"], m["rollback"]) for m in history["data"]
    ]
    assert moves == [
        (None, 1, FIRST_ADMIN, True),
        (1, None, "ana", False),
        (2, 1, "cy", True),
        (1, 2, "bo", False),
        (None, 1, "ana", False),
    ]
    assert history["total"] == 5
    assert [m["reason"] for m in history["data"]][1:] == [
        "retired",
        "regression",
        "better MAE",
        "first",
    ]


def test_deleting_an_aliased_version_is_refused(
    api: TestClient, runs: list[ExperimentRecord], blobs: BlobStore
):
    registered(api, runs)
    call(api, "PUT", "/models/weather/aliases/champion", json={"version": 1})
    call(api, "PUT", "/models/weather/aliases/staging", json={"version": 1})
    refused = call(api, "DELETE", "/models/weather/versions/1", 409)["error"]["message"]
    assert "in use by alias(es) weather@champion, weather@staging" in refused
    call(api, "DELETE", "/models/weather/versions/2", 204)
    assert len({key.split("/")[2] for key in blobs.list_keys("models/weather")}) == 1
    call(api, "GET", "/models/weather/versions/2", 404)
    # Numbers are not given again: the next version is 3.
    call(api, "POST", "/models/weather/versions", 201, json={"experiment": runs[1].id})
    assert call(api, "GET", "/models/weather")["latest_version"] == 3


def test_registry_errors(api: TestClient, runs: list[ExperimentRecord], store):
    registered(api, runs)
    call(api, "POST", "/models", 409, json={"name": "weather"})
    assert (
        "may hold only"
        in call(api, "POST", "/models", 422, json={"name": "a/b"})["error"]["message"]
    )
    bad_alias = call(api, "PUT", "/models/weather/aliases/a.b", 422, json={"version": 1})
    assert "path.alias: Value error, alias 'a.b' may hold only" in bad_alias["error"]["message"]
    digits = call(api, "PUT", "/models/weather/aliases/42", 422, json={"version": 1})
    assert "only digits, which reads as a version number" in digits["error"]["message"]
    missing = call(api, "PUT", "/models/weather/aliases/x", 404, json={"version": 9})
    assert "has no version 9; its versions: 1, 2" in missing["error"]["message"]
    first = call(api, "PUT", "/models/weather/aliases/x", json={"version": 1})
    assert first["move"]["actor"] == FIRST_ADMIN
    fresh = call(api, "POST", "/models/weather/aliases/x/rollback", 409)["error"]["message"]
    assert "no earlier version to roll back to" in fresh
    unknown = call(api, "POST", "/models/weather/versions", 422, json={"experiment": "nope"})
    assert unknown["error"]["code"] == "UNKNOWN_REFERENCE"
    assert "no experiment named 'nope'" in unknown["error"]["message"]
    queued = store.create_experiment("weather-forecaster", {}, name="queued-run")
    not_done = call(api, "POST", "/models/weather/versions", 409, json={"experiment": queued.id})
    assert (
        "is queued; only a completed run's model can be registered" in not_done["error"]["message"]
    )
    call(api, "GET", "/models/nope/versions", 404)


def test_a_run_id_no_database_holds_is_a_422(api: TestClient):
    # Found by tests/platform/api/test_schemathesis.py: SQLite raised OverflowError, a 500.
    call(api, "POST", "/models", 201, json={"name": "weather"})
    for experiment in (0, 2**31, 10**30):
        body = {"experiment": experiment}
        message = call(api, "POST", "/models/weather/versions", 422, json=body)["error"]["message"]
        assert "body.experiment: Value error, a run id is from 1 to 2147483647" in message


def test_a_run_named_empty_is_a_422_and_an_unknown_name_is_looked_for_in_the_callers_project(
    api: TestClient, store: Store
):
    # Found by a trial: "" answered "no experiment named '' in project 'default'" to a
    # caller of another project.
    store.create_project("lab")
    lab = user_headers(store, "bo", "admin", project="lab")
    call(api, "POST", "/models", 201, json={"name": "weather"}, headers=lab)
    empty = call(
        api, "POST", "/models/weather/versions", 422, json={"experiment": ""}, headers=lab
    )
    assert "body.experiment: Value error, the run's name is empty" in empty["error"]["message"]
    unknown = call(api, "POST", "/models/weather/versions", 422, json={"experiment": "nope"},
                   headers=lab)  # fmt: skip
    assert unknown["error"]["message"].endswith("no experiment named 'nope' in project 'lab'")


NAMES = ["weather", "w", "a.b-c_d", "-w", ".w", "a/b", "a@b", "é", "a b", "a" * 200, "a" * 201]
ALIASES = ["champion", "v42", "42", "_1", "-", "a.b", "a@b", "x" * 100, "x" * 101, "٤٢"]


def declared(schema: dict, value: str) -> bool:
    return (
        re.fullmatch(schema["pattern"].strip("^$"), value) is not None
        and schema["minLength"] <= len(value) <= schema["maxLength"]
    )


def test_the_openapi_declares_the_name_rules_the_api_enforces(api: TestClient):
    """Each name and alias the OpenAPI's pattern and lengths admit is accepted, and each they
    refuse is a 4xx; a digits-only alias was declared valid and refused."""
    spec = api.get("/openapi.json").json()
    name_rule = spec["components"]["schemas"]["ModelCreate"]["properties"]["name"]
    alias_path = spec["paths"]["/api/v1/models/{name}/aliases/{alias}"]["get"]["parameters"]
    alias_rule = next(p["schema"] for p in alias_path if p["name"] == "alias")
    for name in NAMES:
        created = api.post("/api/v1/models", json={"name": name})
        assert (created.status_code == 201) == declared(name_rule, name), (name, created.text)
    for alias in ALIASES:
        found = api.get(f"/api/v1/models/weather/aliases/{alias}")
        assert (found.status_code == 404) == declared(alias_rule, alias), (alias, found.text)
        assert found.status_code in (404, 422)


def test_a_prediction_job_declares_and_takes_exactly_one_of_rows_and_inputs(api: TestClient):
    """Declared as a oneOf; a null beside the other was accepted as "only inputs"."""
    spec = api.get("/openapi.json").json()["components"]["schemas"]["PredictionJobCreate"]
    assert spec["oneOf"] == [{"required": ["rows"]}, {"required": ["inputs"]}]
    call(api, "POST", "/models", 201, json={"name": "weather"})
    for body in ({"rows": None, "inputs": "x.csv"}, {"rows": [{"a": 1}], "inputs": None}):
        call(api, "POST", "/models/weather/predictions", 422, json=body)

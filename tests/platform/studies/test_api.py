"""``/studies`` through the API over a fresh store: bad definitions are 422s naming the
entry, nothing stored then; listing, detail and cancel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, user_headers

X = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


@pytest.fixture
def client(settings: Settings, no_studies: Store, quadratic: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, store=no_studies), headers=admin_headers(no_studies)
    ) as test_client:
        yield test_client


def study(**fields: Any) -> dict[str, Any]:
    return {"pipeline": "quadratic", "space": X, "n_trials": 4, **fields}


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        (study(space={"x": {"type": "float", "low": 2, "high": 1}}), ["space", "x", "high"],
         "at least low"),
        (study(space={"epochs": [1, 2]}), ["space", "epochs"], "not a setting of quadratic"),
        (study(sampler="grid"), ["space", "x"], "the grid sampler needs finite choices"),
        (study(config={"steps": 0}), ["config", "steps"], "greater than or equal to 1"),
        (study(config={"nope": 1}), ["config", "nope"], "unknown setting"),
        (study(objective=""), ["body", "objective"], "does not fit the store"),
    ],
)  # fmt: skip
def test_a_bad_study_is_a_422_naming_the_entry_and_stores_nothing(
    client: TestClient, store: Store, body: dict[str, Any], loc: list[Any], words: str
) -> None:
    response = client.post("/api/v1/studies", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_CONFIG"
    assert [d["loc"] for d in error["details"]] == [loc]
    assert words in error["details"][0]["msg"]
    assert store.list_studies() == ([], 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("sampler", "cmaes"), ("pruner", "asha"), ("direction", "up"), ("n_trials", 0),
     ("parallelism", 65), ("seed", -1), ("space", [1, 2])],
)  # fmt: skip
def test_a_bad_option_is_a_422_naming_it(client: TestClient, field: str, value: Any) -> None:
    response = client.post("/api/v1/studies", json=study(**{field: value}))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", field]


def test_an_unknown_pipeline_or_study_is_a_404(client: TestClient) -> None:
    response = client.post("/api/v1/studies", json=study(pipeline="nope"))
    assert response.status_code == 404 and "nope" in response.json()["error"]["message"]
    assert client.get("/api/v1/studies/999").status_code == 404
    assert client.post("/api/v1/studies/999/cancel").status_code == 404


def test_create_list_show_and_cancel(client: TestClient) -> None:
    created = client.post("/api/v1/studies", json=study(name="s1", parallelism=2))
    assert created.status_code == 201, created.text
    detail = created.json()
    assert (detail["name"], detail["status"], detail["trials_created"]) == ("s1", "running", 2)
    assert [t["status"] for t in detail["trials"]] == ["queued", "queued"]
    assert detail["space"]["x"] == {"type": "float", "low": 0.0, "high": 1.0, "log": False,
                                    "step": None}  # fmt: skip
    assert detail["best"] is None and detail["importances_note"].startswith("needs at least 2")
    assert client.post("/api/v1/studies", json=study(name="s1")).status_code == 409

    page = client.get("/api/v1/studies", params={"limit": 1}).json()
    assert (page["total"], [s["name"] for s in page["data"]]) == (1, ["s1"])

    cancelled = client.post(f"/api/v1/studies/{detail['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/studies/{detail['id']}/cancel")
    assert again.status_code == 409
    shown = client.get(f"/api/v1/studies/{detail['id']}").json()
    assert [t["status"] for t in shown["trials"]] == ["cancelled", "cancelled"]


def test_summary_trials_points_and_importances(
    client: TestClient, settings: Settings, store: Store
) -> None:
    created = client.post("/api/v1/studies", json=study(n_trials=5, parallelism=2, seed=1,
                                                       sampler="random"))  # fmt: skip
    study_id = created.json()["id"]
    worker = Worker(settings, store)
    while worker.run_next() is not None:
        pass
    detail = client.get(f"/api/v1/studies/{study_id}").json()

    summary = client.get(f"/api/v1/studies/{study_id}/summary").json()
    assert summary["counts"] == {"completed": 5} and summary["best"] == detail["best"]
    assert summary["trials_finished"] == 5
    assert "trials" not in summary and summary["space"] == detail["space"]

    page = client.get(f"/api/v1/studies/{study_id}/trials",
                      params={"sort": "value", "order": "desc", "limit": 2}).json()  # fmt: skip
    worst = sorted(detail["trials"], key=lambda t: -t["value"])[:2]
    assert (page["total"], page["offset"], page["limit"]) == (5, 0, 2)
    assert page["data"] == worst and page["data"][0]["started_at"] is not None
    filtered = client.get(f"/api/v1/studies/{study_id}/trials?status=pruned,failed").json()
    assert (filtered["total"], filtered["data"]) == (0, [])

    points = client.get(f"/api/v1/studies/{study_id}/points").json()
    assert points["number"] == [0, 1, 2, 3, 4] and points["status"] == ["completed"] * 5
    assert points["params"]["x"] == [t["params"]["x"] for t in detail["trials"]]
    assert points["value"] == [t["value"] for t in detail["trials"]]

    queued = client.post("/api/v1/studies", json=study(name="queued")).json()
    listed = {s["id"]: s for s in client.get("/api/v1/studies").json()["data"]}
    assert (listed[study_id]["trials_finished"], listed[study_id]["best_value"]) == (
        5, summary["best"]["value"]
    )  # fmt: skip
    assert (listed[queued["id"]]["trials_finished"], listed[queued["id"]]["best_value"]) == (
        0, None
    )  # fmt: skip

    importances = client.get(f"/api/v1/studies/{study_id}/importances").json()
    assert importances == {"importances": {"x": 1.0}, "note": None, "completed": 5,
                           "sampled": 5}  # fmt: skip
    assert detail["importances"] == {"x": 1.0}


@pytest.mark.parametrize(
    ("query", "parameter", "words"),
    [
        ("sort=loss", "sort", "Input should be 'number', 'value' or 'status'"),
        ("status=done", "status", "status 'done' is not a trial status; statuses: cancelled"),
        ("status=completed,done&sort=value", "status", "status 'done' is not a trial status"),
        ("order=up", "order", "String should match pattern"),
        ("limit=501", "limit", "less than or equal to 500"),
        ("offset=-1", "offset", "greater than or equal to 0"),
    ],
)
def test_a_bad_trials_query_is_a_422_naming_the_parameter(
    client: TestClient, query: str, parameter: str, words: str
) -> None:
    study_id = client.post("/api/v1/studies", json=study()).json()["id"]
    response = client.get(f"/api/v1/studies/{study_id}/trials?{query}")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert f"query.{parameter}: " in error["message"] and words in error["message"]
    assert [d["loc"] for d in error["details"]] == [["query", parameter]]


@pytest.mark.parametrize("view", ["summary", "trials", "points", "importances"])
def test_the_views_of_an_unknown_study_are_404s(client: TestClient, view: str) -> None:
    response = client.get(f"/api/v1/studies/999/{view}")
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("study 999 not found")


def test_each_project_sees_its_own_studies_whoever_asked_first(
    client: TestClient, no_studies: Store
) -> None:
    """The study service is made on the first request: it must not keep that caller's
    project for the next callers."""
    no_studies.create_project("lab")
    lab = user_headers(no_studies, "lu", "editor", project="lab")
    theirs = client.post("/api/v1/studies", json=study(n_trials=1), headers=lab)
    assert theirs.status_code == 201, theirs.text  # the first request: made in lab
    ours = client.post("/api/v1/studies", json=study(n_trials=1))  # the admin's, in default
    assert ours.status_code == 201, ours.text
    listed = {s["id"] for s in client.get("/api/v1/studies").json()["data"]}
    assert listed == {ours.json()["id"]}
    in_lab = {s["id"] for s in client.get("/api/v1/studies", headers=lab).json()["data"]}
    assert in_lab == {theirs.json()["id"]}
    assert client.get(f"/api/v1/studies/{theirs.json()['id']}").status_code == 404


def test_studies_and_their_trials_export_as_csv(client: TestClient) -> None:
    made = client.post("/api/v1/studies", json=study(name="=sum(a1)", parallelism=2)).json()
    studies = client.get("/api/v1/studies", params={"format": "csv", "limit": 1})
    assert studies.headers["content-type"].startswith("text/csv")
    assert 'filename="studies.csv"' in studies.headers["content-disposition"]
    lines = studies.text.splitlines()
    assert lines[0].split(",")[:3] == ["id", "name", "pipeline"] and len(lines) == 2
    assert lines[1].startswith(f"{made['id']},'=sum(a1),quadratic,")  # no formula to run
    asked = {"columns": "number,status,params,value", "order": "desc"}
    trials = client.get(
        f"/api/v1/studies/{made['id']}/trials", headers={"Accept": "text/csv"}, params=asked
    )
    xs = [t["params"]["x"] for t in made["trials"]][::-1]
    assert trials.text.splitlines() == ["number,status,params,value"] + [
        f'{n},queued,"{{""x"":{x}}}",' for n, x in zip((1, 0), xs, strict=True)]  # fmt: skip
    refused = client.get(f"/api/v1/studies/{made['id']}/trials?format=csv&columns=loss")
    assert refused.status_code == 422 and "query.columns" in refused.json()["error"]["message"]
    declared = client.get("/openapi.json").json()["paths"]["/api/v1/studies/{study_id}/trials"]
    columns = next(p for p in declared["get"]["parameters"] if p["name"] == "columns")
    assert "intermediate_values" in str(columns["schema"])  # the fields the OpenAPI names

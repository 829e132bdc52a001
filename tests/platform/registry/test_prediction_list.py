"""GET /api/v1/models/{name}/predictions on SQLite and PostgreSQL: a model's prediction jobs,
newest first, paged; never another model's jobs nor a run whose config names the model."""

from __future__ import annotations

from fastapi.testclient import TestClient

from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.platform.store.states import COMPLETED
from tests.platform.registry.conftest import SEQUENCE, call, registered


def test_a_models_prediction_jobs_are_listed_newest_first(
    api: TestClient, runs: list[ExperimentRecord], store: Store, beijing_rows
):
    registered(api, runs)
    registered(api, runs, name="other")
    rows = {"rows": beijing_rows[:SEQUENCE]}
    assert call(api, "GET", "/models/weather/predictions") == {
        "data": [], "total": 0, "offset": 0, "limit": 50
    }  # fmt: skip
    submitted = [
        call(api, "POST", f"/models/{ref}/predictions", 202, json=rows)["id"]
        for ref in ("weather/1", "other", "weather")
    ]
    store.create_experiment("sleeper", {"model": "weather"}, name="a-run-naming-weather")
    listed = call(api, "GET", "/models/weather/predictions")
    assert [job["id"] for job in listed["data"]] == [submitted[2], submitted[0]]
    assert listed["total"] == 2
    newest = listed["data"][0]
    assert (newest["model"], newest["version"], newest["reference"]) == ("weather", 2, "weather")
    assert newest["status"] == "queued" and newest["predictions"] is None
    page = call(api, "GET", "/models/weather/predictions?offset=1&limit=1")
    assert [job["id"] for job in page["data"]] == [submitted[0]] and page["total"] == 2
    other = call(api, "GET", "/models/other/predictions")["data"]
    assert [job["id"] for job in other] == [submitted[1]]


def test_a_completed_job_is_listed_with_its_download(
    api: TestClient, runs: list[ExperimentRecord], store: Store, settings: Settings, beijing_rows
):
    registered(api, runs)
    rows = {"rows": beijing_rows[:SEQUENCE]}
    queued, done = (
        call(api, "POST", "/models/weather/predictions", 202, json=rows)["id"] for _ in "ab"
    )
    lease = store.claim(done, "test-worker", settings.lease_ttl)
    assert lease is not None and execute(store, lease, settings) == COMPLETED
    listed = {job["id"]: job for job in call(api, "GET", "/models/weather/predictions")["data"]}
    assert listed[done]["download"] == f"/api/v1/runs/{done}/artifacts/predictions.csv"
    assert (listed[done]["status"], listed[done]["rows"]) == (COMPLETED, 1)
    assert listed[done]["predictions"] is None  # the first rows: GET …/predictions/{id}
    assert listed[queued]["download"] is None and listed[queued]["status"] == "queued"
    assert api.get(listed[done]["download"]).status_code == 200


def test_listing_an_unknown_model_or_a_bad_page_is_a_4xx(api: TestClient, runs):
    registered(api, runs)
    missing = call(api, "GET", "/models/wether/predictions", 404)["error"]["message"]
    assert missing == "no model named 'wether' in project 'default'"
    call(api, "GET", "/models/weather/predictions?limit=0", 422)
    call(api, "GET", "/models/weather/predictions?offset=-1", 422)


def test_the_listing_takes_a_model_name_and_says_so_to_a_reference(api: TestClient, runs):
    registered(api, runs)
    call(api, "PUT", "/models/weather/aliases/champion", json={"version": 1})
    for ref in ("weather@champion", "weather/1"):
        error = call(api, "GET", f"/models/{ref}/predictions", 422)["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert error["message"].endswith(
            "GET /models/{name}/predictions lists every prediction job of a model and takes "
            f"its name, not a reference: got '{ref}'; ask for /models/weather/predictions "
            "(each job names the reference and version it was submitted with)"
        )
        assert "pattern" not in error["message"]
    bad = call(api, "GET", "/models/-weather/predictions", 422)["error"]["message"]
    assert "model name '-weather' may hold only letters, digits" in bad
    paths = api.get("/openapi.json").json()["paths"]
    # One path, as the server routes it: the listing's and the submission's (405's Allow: both).
    assert {"get", "post"} <= set(paths["/api/v1/models/{ref}/predictions"])


def test_models_versions_and_prediction_jobs_export_as_csv(
    api: TestClient, runs: list[ExperimentRecord], beijing_rows
):
    registered(api, runs)
    job = call(api, "POST", "/models/weather/predictions", 202,
               json={"rows": beijing_rows[:SEQUENCE]})["id"]  # fmt: skip
    models = api.get(
        "/api/v1/models", params={"format": "csv", "columns": "name,latest_version,aliases"}
    )
    assert models.text.splitlines() == ["name,latest_version,aliases", "weather,2,{}"]
    versions = api.get("/api/v1/models/weather/versions?format=csv").text.splitlines()
    header = versions[0].split(",")
    assert header[:4] == ["model", "version", "pipeline", "source_experiment_id"]
    assert [line.split(",")[:2] for line in versions[1:]] == [["weather", "2"], ["weather", "1"]]
    assert "created_at" in header and versions[1].count("T") >= 1  # an ISO time, UTC
    jobs = api.get("/api/v1/models/weather/predictions", headers={"Accept": "text/csv"},
                   params={"columns": "id,reference,status,created_at"})  # fmt: skip
    assert 'filename="weather-predictions.csv"' in jobs.headers["content-disposition"]
    lines = jobs.text.splitlines()
    assert lines[0] == "id,reference,status,created_at"
    assert lines[1].startswith(f"{job},weather,queued,20") and lines[1].endswith("+00:00")

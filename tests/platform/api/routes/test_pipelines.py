"""/api/v1/pipelines."""

from fastapi.testclient import TestClient


def test_pipelines_have_schema_and_defaults(read_only_client: TestClient):
    data = {p["name"]: p for p in read_only_client.get("/api/v1/pipelines").json()["data"]}
    assert {"weather-forecaster", "sleeper"} <= set(data)
    sleeper = data["sleeper"]
    assert sleeper["defaults"] == {
        "steps": 5, "sleep": 0.01, "fail_at": 0, "crash_at": 0, "ignore_cancel": False,
        "last_step_after": "",
    }  # fmt: skip
    assert sleeper["config_schema"]["properties"]["steps"]["description"] == "Steps to run."
    assert sleeper["error"] is None


def test_openapi_lists_every_route(read_only_client: TestClient):
    paths = read_only_client.get("/openapi.json").json()["paths"]
    assert "/api/v1/runs/{experiment_id}/metrics" in paths
    assert read_only_client.get("/docs").status_code == 200

"""``/streams``: start a stream, list and read it while a worker runs it, stop one; a bad
config is 422 naming the field, another job's id is 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.jobs.worker import Worker
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

CONFIG = {"source": "btc-hourly", "max_events": 600, "checkpoint_every": 200}


def test_a_stream_started_runs_and_reads_back(
    client: TestClient, settings: Settings, store: Store, real_data: object
) -> None:
    created = client.post("/api/v1/streams", json={"config": CONFIG, "name": "btc"})
    assert created.status_code == 201, created.text
    stream = created.json()
    assert (stream["name"], stream["status"], stream["source"]) == ("btc", "queued", "btc-hourly")
    assert stream["learner"] == "logreg-adam" and stream["config"]["horizon"] == 1
    listed = client.get("/api/v1/streams").json()
    assert [s["id"] for s in listed["data"]] == [stream["id"]] and listed["total"] == 1
    Worker(settings, store).run_next()
    done = client.get(f"/api/v1/streams/{stream['id']}").json()
    assert (done["status"], done["events"], done["scored"]) == ("completed", 600, 600 - 24 - 1)
    assert 0 < done["scores"]["model/accuracy"] < 1 and "always up/log_loss" in done["scores"]
    assert done["restarts"] == 0 and done["restart_history"] == []
    curve = client.get(f"/api/v1/experiments/{stream['id']}/metrics?keys=model/accuracy").json()
    assert curve["metrics"]["model/accuracy"]["steps"] == [200, 400, 600]
    whole = client.get(f"/api/v1/streams/{stream['id']}/scores").json()["models"]
    assert whole["model"]["predictions"] == 575
    assert whole["model"]["accuracy"] == pytest.approx(done["scores"]["model/accuracy"])
    window = client.get(f"/api/v1/streams/{stream['id']}/scores?start=100&end=300").json()
    assert {m["predictions"] for m in window["models"].values()} == {200}
    backwards = client.get(f"/api/v1/streams/{stream['id']}/scores?start=300&end=100")
    assert backwards.status_code == 400 and "end (100) must be after start (300)" in backwards.text


def test_a_bad_config_is_422_naming_the_field_and_no_server_path(client: TestClient) -> None:
    for config, loc in (
        ({"source": "btc-hourly", "horizon": 0}, ["config", "horizon"]),
        ({"source": "/etc/passwd"}, ["config", "source"]),
        ({"learner": "mlp"}, ["config", "source"]),
    ):
        refused = client.post("/api/v1/streams", json={"config": config})
        assert refused.status_code == 422, refused.text
        assert [d["loc"] for d in refused.json()["error"]["details"]] == [loc]
        assert "/tmp" not in refused.text and "pytest" not in refused.text
    assert client.get("/api/v1/streams").json()["total"] == 0


def test_stop_ends_a_queued_stream_and_other_jobs_are_not_streams(client: TestClient) -> None:
    stream = client.post("/api/v1/streams", json={"config": CONFIG}).json()
    stopped = client.post(f"/api/v1/streams/{stream['id']}/stop")
    assert stopped.status_code == 202 and stopped.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/streams/{stream['id']}/stop").status_code == 409
    run = client.post("/api/v1/experiments", json={"pipeline": "sleeper", "config": {}}).json()
    run_id = run["data"][0]["id"]
    assert client.get(f"/api/v1/streams/{run_id}").status_code == 404
    assert client.post(f"/api/v1/streams/{run_id}/stop").status_code == 404
    schema = client.get("/api/v1/streams/schema").json()
    assert "source" in schema["required"] and "learner" in schema["properties"]


def test_a_csv_without_the_price_column_is_refused_naming_its_columns(
    client: TestClient, settings: Settings
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "prices.csv").write_text(
        "Created by an exchange\ndate,open,last\n2024-01-01,1.0,1.5\n2024-01-02,1.5,1.2\n"
    )
    refused = client.post("/api/v1/streams", json={"config": {"source": "prices.csv"}})
    assert refused.status_code == 422, refused.text
    (detail,) = refused.json()["error"]["details"]
    assert detail["loc"] == ["config", "price_column"]
    assert detail["msg"] == "prices.csv has no column 'close'; its columns: date, open, last"
    config = {"source": "prices.csv", "price_column": "Last"}  # case aside, as the replay reads
    assert client.post("/api/v1/streams", json={"config": config}).status_code == 201
    (settings.data_dir / "blank.csv").write_text("\n")
    blank = client.post("/api/v1/streams", json={"config": {"source": "blank.csv"}})
    assert blank.status_code == 422 and blank.json()["error"]["details"][0]["loc"] == [
        "config", "source"]  # fmt: skip
    assert str(settings.data_dir) not in blank.text

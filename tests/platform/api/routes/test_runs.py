"""/api/v1/runs on SQLite and PostgreSQL: submit, list, read, cancel, delete, errors.

The API's one pass on both databases (``on_both_databases``): every layer from the route to
the SQL on each dialect, its errors (constraint violations, an unreachable server) included;
a request refused before any query, or a run's files, on SQLite alone (``SQLITE_ALONE``).
Most other API tests run on SQLite alone; the WebSocket streams and schemathesis are doubled
too, for reasons of their own."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from typing import TYPE_CHECKING, Annotated

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient

from azuraforge.cli.runs import _print_detail
from azuraforge.platform.api.app import create_app
from azuraforge.platform.api.schemas.runs import ExperimentPublic, ExperimentsPublic, RunListQuery
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.queueing import withdraw
from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.api.conftest import BROKER_PASSWORD
from tests.platform.fixtures import SQLITE_ALONE, admin_headers
from tests.platform.servers import free_port

if TYPE_CHECKING:
    from tests.platform.s3_server import S3Server

pytestmark = pytest.mark.on_both_databases

API = "/api/v1"


def wait_for(client: TestClient, experiment_id: int, statuses: set[str], timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = client.get(f"{API}/runs/{experiment_id}").json()
        if row["status"] in statuses:
            return row
        time.sleep(0.05)
    raise AssertionError(f"experiment {experiment_id} still {row['status']}, wanted {statuses}")


def submit(client: TestClient, **config) -> dict:
    response = client.post(f"{API}/runs", json={"pipeline": "sleeper", "config": config})
    assert response.status_code == 201, response.text
    return response.json()["data"][0]


def test_submit_fills_defaults_and_queues(client: TestClient):
    row = submit(client, steps=3)
    detail = client.get(f"{API}/runs/{row['id']}").json()
    assert detail["status"] == "queued"
    assert detail["config"] == {
        "steps": 3, "sleep": 0.01, "fail_at": 0, "crash_at": 0, "ignore_cancel": False,
        "last_step_after": "",
    }  # fmt: skip
    assert detail["project"] == "default"


def test_grid_makes_a_batch(client: TestClient):
    body = {"pipeline": "sleeper", "config": {"sleep": 0}, "grid": {"steps": [1, 2, 3]}}
    created = client.post(f"{API}/runs", json=body).json()
    assert created["total"] == 3
    batch = created["data"][0]["batch_id"]
    assert batch and {r["batch_id"] for r in created["data"]} == {batch}
    listed = client.get(f"{API}/runs", params={"batch_id": batch}).json()
    assert listed["total"] == 3


@SQLITE_ALONE
def test_invalid_config_names_the_field_and_queues_nothing(client: TestClient):
    body = {"pipeline": "sleeper", "config": {"steps": "many"}, "grid": {"sleep": [0, 1]}}
    response = client.post(f"{API}/runs", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_CONFIG"
    assert {"loc": ["config", "steps"]}.items() <= error["details"][0].items()
    assert client.get(f"{API}/runs").json()["total"] == 0


@SQLITE_ALONE
@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"pipeline": "wether"}, 404, "no pipeline named 'wether'"),
        ({"pipeline": "sleeper", "config": {"bogus": 1}}, 422, "bogus: unknown setting"),
        ({"pipeline": "sleeper", "extra": 1}, 422, "extra"),
        ({}, 422, "pipeline"),
    ],
)
def test_bad_submissions_are_4xx_with_a_message(client, body, status, fragment):
    response = client.post(f"{API}/runs", json=body)
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]


@SQLITE_ALONE
def test_malformed_json_and_huge_bodies_are_refused(client: TestClient):
    malformed = client.post(
        f"{API}/runs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "INVALID_REQUEST"
    huge = client.post(
        f"{API}/runs",
        content=b'{"pipeline": "' + b"x" * 2_000_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert "1,000,000 bytes" in huge.json()["error"]["message"]


def test_duplicate_name_conflicts_until_deleted(client: TestClient):
    body = {"pipeline": "sleeper", "name": "baseline"}
    first = client.post(f"{API}/runs", json=body).json()["data"][0]
    again = client.post(f"{API}/runs", json=body)
    assert again.status_code == 409
    assert "'baseline' already exists" in again.json()["error"]["message"]
    assert client.delete(f"{API}/runs/{first['id']}").status_code == 204
    assert client.post(f"{API}/runs", json=body).status_code == 201


def test_run_completes_with_metrics_logs_artifacts(client: TestClient, worker):
    row = submit(client, steps=4)
    detail = wait_for(client, row["id"], {"completed"})
    assert detail["progress"] == 1.0
    assert detail["scores"] == {"MAE": {"model": 0.25, "persistence": 2.0}}
    assert detail["summaries"]["loss"]["count"] == 4
    assert detail["summaries"]["loss"]["min"] == 0.25
    assert [a["path"] for a in detail["artifacts"]] == ["report.md"]
    metrics = client.get(f"{API}/runs/{row['id']}/metrics", params={"keys": "loss"}).json()
    assert metrics["metrics"]["loss"]["steps"] == [1, 2, 3, 4]
    assert list(metrics["metrics"]) == ["loss"]
    sampled = client.get(f"{API}/runs/{row['id']}/metrics", params={"max_points": 2})
    assert sampled.json()["metrics"]["val_loss"]["steps"] == [1, 4]
    logs = client.get(f"{API}/runs/{row['id']}/logs").json()
    assert any("finished after 4 steps" in line["message"] for line in logs["data"])
    report = client.get(f"{API}/runs/{row['id']}/artifacts/report.md")
    assert report.status_code == 200 and report.text.startswith("# sleeper report")


@SQLITE_ALONE
@pytest.mark.parametrize("path", ["../1/report.md", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"])
def test_artifact_paths_cannot_leave_the_run_folder(client: TestClient, path: str):
    row = submit(client)
    response = client.get(f"{API}/runs/{row['id']}/artifacts/{path}")
    assert response.status_code in (400, 404)
    assert "error" in response.json()


@SQLITE_ALONE
@pytest.mark.parametrize("path", ["a" * 5000, "a" * 300, "d/" * 1000 + "x", "é" * 200])
def test_an_overlong_artifact_path_is_refused_by_name(client: TestClient, path: str):
    """A 5,000-character path answered 500 (OSError: file name too long)."""
    row = submit(client)
    response = client.get(f"{API}/runs/{row['id']}/artifacts/{path}")
    assert response.status_code == 400
    assert "at most 1,024 characters and names of at most 255 bytes" in response.text


@SQLITE_ALONE
def test_a_symlink_loop_among_a_runs_files_is_404(client: TestClient, settings):
    row = submit(client)
    folder = settings.home / "blobs" / "runs" / str(row["id"])  # the default blob store's
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "loop").symlink_to(folder / "loop")
    response = client.get(f"{API}/runs/{row['id']}/artifacts/loop")
    assert response.status_code == 404


@SQLITE_ALONE
def test_missing_artifact_is_404(client: TestClient):
    row = submit(client)
    response = client.get(f"{API}/runs/{row['id']}/artifacts/nothing.txt")
    assert response.status_code == 404


def test_list_filters_sorts_and_pages(client: TestClient, store: Store):
    ids = [submit(client, steps=i + 1)["id"] for i in range(5)]
    for experiment_id, loss in zip(ids, [0.5, 0.1, 0.9, 0.3, 0.7], strict=True):
        lease = store.claim(experiment_id, "tester", 30)
        store.log_metrics(lease, [("loss", 1, loss, 0.0)])
        store.finish(lease, "completed")
    page = client.get(
        f"{API}/runs",
        params={"metric": "loss", "metric_max": 0.6, "sort": "metric:loss", "order": "asc"},
    ).json()
    assert [r["metrics"]["loss"] for r in page["data"]] == [0.1, 0.3, 0.5]
    second = client.get(f"{API}/runs", params={"limit": 2, "offset": 2, "order": "asc"})
    assert [r["id"] for r in second.json()["data"]] == ids[2:4]
    assert second.json()["total"] == 5


@SQLITE_ALONE
@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"sort": "bogus"}, "cannot sort by 'bogus'"),
        ({"status": "sleeping"}, "'sleeping' is not a run status"),
        ({"metric_min": 1}, "need metric=<key>"),
        ({"limit": 0}, "limit"),
        ({"order": "sideways"}, "order"),
    ],
)
def test_bad_list_queries_are_4xx(client: TestClient, params, fragment):
    response = client.get(f"{API}/runs", params=params)
    assert 400 <= response.status_code < 500
    assert fragment in response.json()["error"]["message"]


def test_unknown_ids_are_404(client: TestClient):
    for method, path in [
        ("GET", "/runs/42"),
        ("GET", "/runs/42/metrics"),
        ("GET", "/runs/42/logs"),
        ("GET", "/runs/42/artifacts/report.md"),
        ("POST", "/runs/42/cancel"),
        ("DELETE", "/runs/42"),
    ]:
        response = client.request(method, f"{API}{path}")
        assert response.status_code == 404, (method, path)
        assert "experiment 42 not found" in response.json()["error"]["message"]


@pytest.mark.parametrize("experiment_id", [0, 2**31, 2**63])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/metrics"), ("GET", "/logs"), ("GET", "/artifacts/report.md"),
     ("POST", "/cancel"), ("DELETE", "")],
)  # fmt: skip
def test_ids_no_run_can_have_are_422_not_a_database_error(
    client: TestClient, experiment_id: int, method: str, suffix: str
):
    """Found by schemathesis: an id over 2**31 - 1 (PostgreSQL's integer) or 2**63 - 1
    (SQLite's) reached the store and failed there, a 500."""
    response = client.request(method, f"{API}/runs/{experiment_id}{suffix}")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["message"].startswith("invalid request: path.experiment_id: Input should be")


def test_log_cursor_past_the_largest_event_id_is_422(client: TestClient):
    row = submit(client)
    response = client.get(f"{API}/runs/{row['id']}/logs", params={"after": 2**63})
    assert response.status_code == 422
    assert (
        "query.after: Input should be less than or equal to" in response.json()["error"]["message"]
    )


def test_cancel_queued_then_running(client: TestClient, worker):
    queued = submit(client, steps=1)
    # The worker may take it first; cancel only counts when it was still queued.
    response = client.post(f"{API}/runs/{queued['id']}/cancel")
    assert response.status_code in (202, 409)
    running = submit(client, steps=500, sleep=0.02)
    wait_for(client, running["id"], {"running"})
    while "loss" not in client.get(f"{API}/runs/{running['id']}").json()["metrics"]:
        time.sleep(0.02)
    asked = time.monotonic()
    assert client.post(f"{API}/runs/{running['id']}/cancel").status_code == 202
    detail = wait_for(client, running["id"], {"cancelled"})
    assert time.monotonic() - asked < 2.0
    assert detail["summaries"]["loss"]["count"] >= 1
    again = client.post(f"{API}/runs/{running['id']}/cancel")
    assert again.status_code == 409


def test_cancelled_queued_run_never_starts(client: TestClient, store: Store):
    row = submit(client)
    assert client.post(f"{API}/runs/{row['id']}/cancel").json()["status"] == "cancelled"
    assert store.claim_next("late-worker", 30) is None


def test_delete_removes_rows_and_files(client: TestClient, worker, blobs):
    row = submit(client, steps=2)
    wait_for(client, row["id"], {"completed"})
    assert blobs.exists(f"runs/{row['id']}/report.md")
    assert client.delete(f"{API}/runs/{row['id']}").status_code == 204
    assert not list(blobs.list_keys(f"runs/{row['id']}"))
    assert client.get(f"{API}/runs/{row['id']}").status_code == 404


def test_running_run_cannot_be_deleted(client: TestClient, store: Store):
    row = submit(client)
    store.claim(row["id"], "tester", 30)
    response = client.delete(f"{API}/runs/{row['id']}")
    assert response.status_code == 409
    assert "cancel it first" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("", {"q": "a\x00b"}, ["query", "q"]),
        ("", {"pipeline": "\x00"}, ["query", "pipeline"]),
        ("", {"batch_id": "\x00"}, ["query", "batch_id"]),
        ("", {"sort": "metric:\x00"}, ["query", "sort"]),
        ("", {"metric": "\x00", "metric_min": 1}, ["query", "metric"]),
        ("", [("status", "queued"), ("status", "queued\x00")], ["query", "status"]),
        ("/1/metrics", {"keys": "\x00"}, ["query", "keys"]),
    ],
)
def test_nul_in_a_query_parameter_is_422_naming_it(client: TestClient, path, params, loc):
    """PostgreSQL cannot store or compare text holding NUL (a 500 there), SQLite took it:
    both refuse it now, before any route runs."""
    submit(client)
    response = client.get(f"{API}/runs{path}", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"][0]["loc"] == loc
    assert f"{'.'.join(loc)}: text may not contain NUL" in error["message"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"pipeline": "sleeper", "name": "a\x00b"}, ["body", "name"]),
        ({"pipeline": "sle\x00eper"}, ["body", "pipeline"]),
        (
            {"pipeline": "stock-predictor", "config": {"date_column": "Da\x00te"}},
            ["body", "config", "date_column"],
        ),
        ({"pipeline": "sleeper", "config": {"st\x00eps": 2}}, ["body", "config"]),
        ({"pipeline": "sleeper", "grid": {"steps": [1, "\x00"]}}, ["body", "grid", "steps", "1"]),
    ],
)
def test_nul_in_a_json_body_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, body, loc
):
    response = client.post(f"{API}/runs", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"][0]["loc"] == loc
    assert "may not contain NUL" in error["message"]
    assert client.get(f"{API}/runs").json()["total"] == 0


@SQLITE_ALONE
@pytest.mark.parametrize(
    "literal",
    [b"Infinity", b"-Infinity", b"NaN", b"1e999", b"1E+0309", b"9" * 400 + b".0",
     b"9" * 250 + b"e99"],  # the last overflows with a two-digit exponent
)  # fmt: skip
def test_non_finite_numbers_in_a_json_body_are_422(client: TestClient, literal: bytes):
    """Python's JSON parser reads Infinity and NaN, which JSON has no spelling for: PostgreSQL
    refused the config (a 500), SQLite stored it."""
    body = b'{"pipeline": "weather-forecaster", "config": {"learning_rate": ' + literal + b"}}"
    response = client.post(
        f"{API}/runs", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["loc"] == ["body", "config", "learning_rate"]
    assert "not a JSON number" in error["message"]
    assert client.get(f"{API}/runs").json()["total"] == 0


@SQLITE_ALONE
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_metric_bounds_are_422(client: TestClient, value: str):
    response = client.get(f"{API}/runs", params={"metric": "loss", "metric_min": value})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["loc"] == ["query", "metric_min"]


def test_a_seed_beyond_the_stores_integer_is_422_at_config_seed(client: TestClient):
    """PostgreSQL keeps the seed in a 32-bit integer: a larger one was a 500 there."""
    body = {"pipeline": "weather-forecaster", "config": {"seed": 2**31}}
    response = client.post(f"{API}/runs", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_CONFIG"
    assert error["details"][0]["loc"] == ["config", "seed"]
    assert "seed: must be between -2147483648 and 2147483647" in error["message"]
    assert client.get(f"{API}/runs").json()["total"] == 0


def test_a_nan_score_reads_as_null_and_experiments_show_prints_n_a(
    client: TestClient, store: Store, capsys: pytest.CaptureFixture[str]
):
    """The store keeps a NaN test score as null; the detail's ``scores`` refused null (a
    500), and ``azuraforge runs show`` must print what the API answers."""
    record = store.create_experiment("sleeper", {})
    lease = store.claim(record.id, "tester", 30)
    scores = {"R2": {"model": float("nan"), "persistence": 1.0}}
    store.finish(lease, "completed", result={"metrics": scores})
    response = client.get(f"{API}/runs/{record.id}")
    assert response.status_code == 200, response.text
    assert response.json()["scores"] == {"R2": {"model": None, "persistence": 1.0}}
    _print_detail(response.json())
    row = next(line for line in capsys.readouterr().out.splitlines() if "R2" in line)
    assert [cell.strip() for cell in row.split("│")[1:4]] == ["R2", "n/a", "1"]


def test_a_grid_whose_name_collides_partway_queues_nothing(client: TestClient):
    """Names y-1, y-2, y-3: y-2 is taken. The grid used to answer 409 and leave y-1 queued."""
    client.post(f"{API}/runs", json={"pipeline": "sleeper", "name": "y-2"})
    body = {"pipeline": "sleeper", "name": "y", "grid": {"steps": [1, 2, 3]}}
    response = client.post(f"{API}/runs", json=body)
    assert response.status_code == 409
    assert "'y-2' already exists" in response.json()["error"]["message"]
    assert [r["name"] for r in client.get(f"{API}/runs").json()["data"]] == ["y-2"]
    alone = client.post(f"{API}/runs", json={"pipeline": "sleeper", "name": "y-1"})
    assert alone.status_code == 201  # its name is free again


def test_withdrawing_a_submission_cancels_a_run_a_worker_claimed_meanwhile(store: Store):
    first, second = (store.create_experiment("sleeper", {}) for _ in range(2))
    store.claim(second.id, "quick-worker", 30)
    left = withdraw(store, [first, second])
    assert left == [f"experiment {second.id} had already started and was asked to cancel"]
    assert store.find_experiment(first.id) is None
    assert store.get_experiment(second.id).cancel_requested_at is not None


def test_submit_with_the_broker_down_is_503_and_queues_nothing(
    broker_down_client: TestClient, dead_broker: str
):
    """The rows were committed queued, the message never sent, and the answer was a 500."""
    body = {"pipeline": "sleeper", "name": "z", "grid": {"steps": [1, 2]}}
    response = broker_down_client.post(f"{API}/runs", json=body)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "BROKER_UNAVAILABLE"
    shown = dead_broker.replace(BROKER_PASSWORD, "**")
    assert error["message"].startswith(f"the broker at {shown} is unreachable: ")
    assert error["message"].endswith("; nothing was queued")
    assert BROKER_PASSWORD not in response.text
    assert broker_down_client.get(f"{API}/runs").json()["total"] == 0


def test_cancel_with_the_broker_down_cancels_and_logs_the_revoke(
    broker_down_client: TestClient, store: Store, caplog: pytest.LogCaptureFixture
):
    """Workers act on the store's cancel request; the revoke only spares a failed claim."""
    record = store.create_experiment("sleeper", {})
    with caplog.at_level(logging.WARNING):
        response = broker_down_client.post(f"{API}/runs/{record.id}/cancel")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "cancelled"
    assert store.claim(record.id, "late-worker", 30) is None
    assert f"experiment {record.id}: its task was not revoked" in caplog.text
    assert BROKER_PASSWORD not in caplog.text


@SQLITE_ALONE
@pytest.mark.parametrize(
    ("grid", "loc", "message"),
    [
        ({"steps": []}, ["grid", "steps"], "bad grid: steps: needs a non-empty list of values"),
        # each value at its place: the OpenAPI leaves a value's type to the API
        (
            {"steps": [2, "many"], "sleep": [0, -1]},
            ["grid", "steps", 1],
            "bad grid: steps.1: Input should be a valid integer (got 'many'); sleep.1: Input "
            "should be greater than or equal to 0 (got -1)",
        ),
        ({"nope": [1]}, ["grid", "nope"], "bad grid: nope: unknown setting"),
        (
            {"steps": list(range(1, 41)), "sleep": [0.0] * 26},
            ["grid"],
            "bad grid: makes 1040 runs; at most 1000",
        ),
    ],
)
def test_a_bad_grid_is_reported_at_grid_not_config(client: TestClient, grid, loc, message):
    """It read "bad config for grid" at config.grid.steps."""
    response = client.post(f"{API}/runs", json={"pipeline": "sleeper", "grid": grid})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_CONFIG"
    assert error["message"] == message
    assert error["details"][0]["loc"] == loc


@SQLITE_ALONE
@pytest.mark.parametrize(
    "csv", ["/etc/passwd", "../../etc/passwd", "sub/../../outside.csv", "link-out.csv"]
)
def test_a_file_setting_may_not_leave_the_servers_data_folder(
    client: TestClient, settings, tmp_path, csv: str
):
    """A request naming a file opened any file the server could read (csv=/etc/passwd)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "link-out.csv").symlink_to(tmp_path / "outside.csv")
    body = {"pipeline": "forecaster", "config": {"csv": csv, "target": "x"}}
    response = client.post(f"{API}/runs", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["loc"] == ["config", "csv"]
    assert f"{csv!r} is not a file of the server's data folder" in error["message"]
    assert str(settings.data_dir) not in response.text
    assert client.get(f"{API}/runs").json()["total"] == 0


@SQLITE_ALONE
def test_a_grids_file_values_are_refused_at_their_place_in_the_grid(client: TestClient, settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "a.csv").write_text("date,x\n")
    grid = {"csv": ["a.csv", "../b.csv"]}
    body = {"pipeline": "forecaster", "config": {"target": "x"}, "grid": grid}
    response = client.post(f"{API}/runs", json=body)
    assert response.status_code == 422, response.text
    assert [d["loc"] for d in response.json()["error"]["details"]] == [["grid", "csv", 1]]


def test_a_file_in_the_data_folder_or_a_dataset_name_is_accepted(client: TestClient, settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "sales.csv").write_text("date,sales\n")
    for csv, stored in [
        ("sales.csv", "sales.csv"),
        ("./sub/../sales.csv", "sales.csv"),
        (str(settings.data_dir / "sales.csv"), "sales.csv"),
        ("london-daily", "london-daily"),
    ]:
        body = {"pipeline": "forecaster", "config": {"csv": csv, "target": "sales"}}
        response = client.post(f"{API}/runs", json=body)
        assert response.status_code == 201, response.text
        detail = client.get(f"{API}/runs/{response.json()['data'][0]['id']}").json()
        assert detail["config"]["csv"] == stored


@SQLITE_ALONE
def test_the_report_reads_as_markdown_and_html(client: TestClient, worker):
    row = submit(client, steps=2)
    wait_for(client, row["id"], {"completed"})
    report = client.get(f"{API}/runs/{row['id']}/report").json()
    assert report["path"] == "report.md"
    assert report["markdown"] == "# sleeper report\n"
    assert report["html"] == "<h1>sleeper report</h1>\n"


@SQLITE_ALONE
def test_a_reports_html_escapes_raw_html_and_points_images_at_the_runs_files(
    client: TestClient, worker, blobs
):
    row = submit(client, steps=1)
    wait_for(client, row["id"], {"completed"})
    blobs.put_bytes(
        f"runs/{row['id']}/report.md",
        b"<script>alert(1)</script>\n\n![loss](plots/loss.png)\n\n[bad](javascript:alert(1)) "
        b"[site](https://example.org)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    )
    html = client.get(f"{API}/runs/{row['id']}/report").json()["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert f'src="/api/v1/runs/{row["id"]}/artifacts/plots/loss.png"' in html
    assert "javascript:" not in html.replace("[bad](javascript:alert(1))", "")
    assert 'href="https://example.org" rel="noopener noreferrer" target="_blank"' in html
    assert "<table>" in html


def test_no_report_yet_is_409_none_ever_404_and_an_oversized_one_409(
    client: TestClient, worker, blobs
):
    # The run is there, its report not yet: a state, not a missing resource.
    queued = submit(client, steps=1, sleep=5)
    response = client.get(f"{API}/runs/{queued['id']}/report")
    assert response.status_code == 409
    assert "writes it when it ends" in response.json()["error"]["message"]
    client.post(f"{API}/runs/{queued['id']}/cancel")
    wait_for(client, queued["id"], {"cancelled"})
    response = client.get(f"{API}/runs/{queued['id']}/report")
    assert response.status_code == 404
    assert "it ended cancelled before writing one" in response.json()["error"]["message"]
    row = submit(client, steps=1)
    wait_for(client, row["id"], {"completed"})
    blobs.put_bytes(f"runs/{row['id']}/report.md", b"x" * 2_000_001)
    response = client.get(f"{API}/runs/{row['id']}/report")
    assert response.status_code == 409
    assert "download it instead" in response.json()["error"]["message"]


@pytest.mark.parametrize("sort", ["metric:MAE", "colour"])
def test_an_unknown_sort_key_is_a_422_naming_the_known_ones(
    client: TestClient, store: Store, sort: str
):
    """``metric:MAE`` where no run logged MAE sorted nothing and answered 200."""
    run = submit(client, steps=1)["id"]
    lease = store.claim(run, "tester", 30)
    store.log_metrics(lease, [("loss", 1, 0.5, 0.0), ("val_loss", 1, 0.6, 0.0)])
    response = client.get(f"{API}/runs", params={"sort": sort})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["loc"] == ["query", "sort"]
    assert f"cannot sort by {sort!r}" in error["message"]
    assert "id, name, pipeline, status, progress, created_at" in error["message"]
    if sort.startswith("metric:"):
        assert "metric:loss, metric:val_loss" in error["message"]
    assert client.get(f"{API}/runs", params={"sort": "metric:loss"}).status_code == 200


@SQLITE_ALONE
def test_a_run_whose_end_could_not_store_its_files_lists_those_the_store_holds(
    settings: Settings, store: Store, sleeper: object, s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
):  # fmt: skip
    """It listed report.md while opening it answered 404, and its report route said it had
    none."""
    from azuraforge.platform.blobs.s3 import S3Blobs  # boto3: imported where it is needed

    environment = s3_server.environment(f"listed-{uuid.uuid4().hex}")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    on_s3 = settings.model_copy(update={"blob_store": environment["AZURAFORGE_BLOB_STORE"],
                                        "s3_endpoint": s3_server.endpoint})  # fmt: skip
    down = S3Blobs("s3://af/down", endpoint=f"http://127.0.0.1:{free_port()}",
                   access_key_id="a", secret_access_key="b")  # fmt: skip
    record = store.create_experiment("sleeper", {"steps": 2, "sleep": 0})
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    assert execute(store, lease, on_s3, blobs=down) == "failed"

    with TestClient(create_app(on_s3, store=store), headers=admin_headers(store)) as client:
        detail = client.get(f"/api/v1/runs/{record.id}").json()
        report = client.get(f"/api/v1/runs/{record.id}/report")
        assert detail["status"] == "failed" and detail["artifacts"] == []
        from azuraforge.platform.jobs.run_files import keep_left_files

        assert keep_left_files(on_s3.work_dir, open_blobs(on_s3)) == [record.id]
        again = client.get(f"/api/v1/runs/{record.id}").json()
        kept = client.get(f"/api/v1/runs/{record.id}/report")
    assert report.status_code == 404
    assert report.json()["error"]["message"] == (
        f"the report of run {record.id} is not in the file store yet: the run's end could not "
        f"copy its files, kept on machine {socket.gethostname()!r} until it takes them"
    )
    assert [a["path"] for a in again["artifacts"]] == ["report.md"]
    assert kept.status_code == 200 and kept.json()["markdown"] == "# sleeper report\n"


def varied_runs(client: TestClient, store: Store) -> None:
    """Runs of every shape a list shows: queued in a batch, running with progress, completed
    with metrics of awkward floats, scores and tags, failed with an error in other scripts."""
    client.post(f"{API}/runs", json={"pipeline": "sleeper", "grid": {"steps": [1, 2]}})
    running = store.create_experiment("sleeper", {}, name="läuft ✓")
    lease = store.claim(running.id, "worker-ü", 30)
    assert lease is not None
    store.set_progress(lease, 1, 3, 'epoch 1 "of" 3 \\ ✓')
    done = store.create_experiment("sleeper", {"steps": 3}, name="done")
    lease = store.claim(done.id, "tester", 30)
    assert lease is not None
    awkward = [1e-05, 1e16, 0.1, -2.5, 3.0, 123456789.123456789, 5e-324]
    store.log_metrics(lease, [(f"m{i}", i, v, 0.0) for i, v in enumerate(awkward)])
    scores = {"MAE": {"model": 0.25, "persistence": 1e-07}, "R2": {"model": float("nan")}}
    store.finish(lease, "completed", result={"metrics": scores})
    store.set_run_tags(done.id, {"team": "ƒorecast", "note": "<b>&</b>"})
    failed = store.create_experiment("sleeper", {}, name="失败")
    lease = store.claim(failed.id, "tester", 30)
    assert lease is not None
    store.finish(lease, "failed", error="ValueError: 値が不正 \u2028 line\nnext")


def test_the_list_answers_byte_for_byte_what_its_response_model_made(
    client: TestClient, store: Store
):
    """The list serializes its page once (routes/runs.py) instead of returning the model
    for FastAPI to dump, validate again and dump: its body must stay what response_model
    made, byte for byte. A route of the old kind over the same store's page answers the
    same bytes, on runs of every shape and several pages."""
    varied_runs(client, store)
    old = FastAPI()

    @old.get("/page", response_model=ExperimentsPublic)
    def page(filters: Annotated[RunListQuery, Query()]) -> ExperimentsPublic:
        listed = store.list_experiments(filters.store_query())
        return ExperimentsPublic(
            data=[ExperimentPublic.of(r) for r in listed.items],
            total=listed.total,
            offset=listed.offset,
            limit=listed.limit,
            total_exact=listed.total_exact,
        )

    queries = [{}, {"limit": 2, "offset": 1, "order": "asc"}, {"sort": "name"},
               {"status": "completed,failed"}, {"sort": "score:metrics.MAE.model"}]  # fmt: skip
    with TestClient(old) as reference:
        for params in queries:
            new = client.get(f"{API}/runs", params=params)
            assert new.status_code == 200, new.text
            assert new.content == reference.get("/page", params=params).content
            assert new.headers["content-type"] == "application/json"
    assert len(client.get(f"{API}/runs").json()["data"]) == 5

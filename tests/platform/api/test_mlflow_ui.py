"""MLflow's web page's calls (routes/mlflow_ui) where MLflow's vendored tests leave them
unchecked: the sampled history as ``mlflow server`` 3.17 samples it (MLflow's own test of it
expects an older sampling), the bulk history's cut across runs, another project's run unseen,
the upload's size limit and paths, ``/get-artifact``'s. One server for the module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from azuraforge.platform.api.app import create_app
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, short_settings
from tests.platform.servers import served_in_thread

MAX_FILE = 1024
"""The server's max_artifact_bytes here."""
AJAX = "/ajax-api/2.0/mlflow"


@pytest.fixture(scope="module")
def clients(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Clients of the server with an admin's token of the default project and of another."""
    home = tmp_path_factory.mktemp("mlflow-ui")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    settings = short_settings(f"sqlite:///{home / 'azuraforge.db'}", home,
                              max_artifact_bytes=MAX_FILE)  # fmt: skip
    store = Store(settings.database_url)
    store.create_project("other")
    app = create_app(settings, store=store)
    with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
        ours = httpx.Client(base_url=f"http://{address}", headers=admin_headers(store))
        theirs = httpx.Client(base_url=f"http://{address}", headers=admin_headers(store, "other"))
        with ours, theirs:
            yield ours, theirs
    store.close()


def _run(client: httpx.Client, steps: int = 0) -> str:
    """A new MLflow run of the client's project with ``loss`` logged at steps 0 to
    ``steps - 1`` (value: the step, time 1 ms)."""
    made = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    run_id = str(made.json()["run"]["info"]["run_id"])
    metrics = [{"key": "loss", "value": s, "timestamp": 1, "step": s} for s in range(steps)]
    assert client.post("/api/2.0/mlflow/runs/log-batch",
                       json={"run_id": run_id, "metrics": metrics}).status_code == 200  # fmt: skip
    return run_id


def _steps(answer: httpx.Response) -> list[tuple[str, int]]:
    assert answer.status_code == 200, answer.text
    return [(m["run_id"], m["step"]) for m in answer.json()["metrics"]]


def test_sampled_history_is_mlflow_317s(clients: tuple[httpx.Client, httpx.Client]) -> None:
    ours, _ = clients
    ten, twenty = _run(ours, 10), _run(ours, 20)
    url = f"{AJAX}/metrics/get-history-bulk-interval"
    sampled = ours.get(url, params={"run_ids": [twenty, ten], "metric_key": "loss",
                                    "max_results": 5})  # fmt: skip
    assert _steps(sampled) == [(twenty, s) for s in (0, 4, 8, 12, 19)] + [
        (ten, s) for s in (0, 2, 4, 6, 9)
    ]
    ranged = ours.get(url, params={"run_ids": [ten], "metric_key": "loss", "start_step": 3,
                                   "end_step": 7, "max_results": 2})  # fmt: skip
    assert _steps(ranged) == [(ten, 3), (ten, 7)]
    last = ours.get(url, params={"run_ids": [ten], "metric_key": "loss", "max_results": 1})
    assert _steps(last) == [(ten, 9)]
    api = "/api/2.0/mlflow/metrics/get-history-bulk-interval"
    assert ours.get(api, params={"run_ids": [ten], "metric_key": "loss"}).json()["metrics"][3] == {
        "key": "loss",
        "value": 3.0,
        "timestamp": 1,
        "step": 3,
        "run_id": ten,
    }


def test_bulk_history_cut_across_runs(clients: tuple[httpx.Client, httpx.Client]) -> None:
    ours, _ = clients
    first, second = sorted((_run(ours, 2), _run(ours, 2)))
    answer = ours.get(f"{AJAX}/metrics/get-history-bulk",
                      params={"run_id": [second, first], "metric_key": "loss",
                              "max_results": 3})  # fmt: skip
    assert _steps(answer) == [(first, 0), (first, 1), (second, 0)]


def test_another_projects_run_is_unseen(clients: tuple[httpx.Client, httpx.Client]) -> None:
    ours, theirs = clients
    run_id = _run(ours, 3)
    params: dict[str, Any] = {"metric_key": "loss"}
    bulk = theirs.get(f"{AJAX}/metrics/get-history-bulk", params={**params, "run_id": [run_id]})
    sampled = theirs.get(f"{AJAX}/metrics/get-history-bulk-interval",
                         params={**params, "run_ids": [run_id]})  # fmt: skip
    assert _steps(bulk) == _steps(sampled) == []
    upload = theirs.post(f"{AJAX}/upload-artifact", params={"run_uuid": run_id, "path": "a.txt"},
                         content=b"theirs")  # fmt: skip
    assert upload.status_code == 404
    assert upload.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST",
                             "message": f"Run with id={run_id} not found"}  # fmt: skip
    fetched = theirs.get("/get-artifact", params={"run_id": run_id, "path": "a.txt"})
    assert fetched.status_code == 404


def test_upload_as_the_artifact_proxys(clients: tuple[httpx.Client, httpx.Client]) -> None:
    ours, _ = clients
    run_id = _run(ours)
    url = f"{AJAX}/upload-artifact"
    stored = ours.post(url, params={"run_uuid": run_id, "path": "./docs/a.txt"}, content=b"a")
    assert stored.status_code == 200, stored.text
    listed = ours.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "docs"})
    assert [f["path"] for f in listed.json()["files"]] == ["docs/a.txt"]
    fetched = ours.get("/get-artifact", params={"run_uuid": run_id, "path": "docs/a.txt"})
    assert (fetched.content, fetched.headers["content-disposition"]) == (b"a", "attachment")
    too_large = ours.post(url, params={"run_uuid": run_id, "path": "big.bin"},
                          content=b"x" * (MAX_FILE + 1))  # fmt: skip
    assert too_large.status_code == 413
    for path in (".", "docs/../../a.txt"):
        refused = ours.post(url, params={"run_uuid": run_id, "path": path}, content=b"a")
        assert refused.json() == {"error_code": "INVALID_PARAMETER_VALUE",
                                  "message": "Invalid path"}, path  # fmt: skip
    escaped = ours.get("/get-artifact", params={"run_id": run_id, "path": "../a.txt"})
    assert (escaped.status_code, escaped.json()["message"]) == (400, "Invalid path")


def test_a_registry_versions_file_downloads(clients: tuple[httpx.Client, httpx.Client]) -> None:
    ours, theirs = clients
    run_id = _run(ours)
    stored = ours.post(f"{AJAX}/upload-artifact", params={"run_uuid": run_id, "path": "m/MLmodel"},
                       content=b"flavors: {}")  # fmt: skip
    assert stored.status_code == 200, stored.text
    registry = "/api/2.0/mlflow"
    assert ours.patch("/api/v1/settings", json={"mlflow_models": True}).is_success
    assert ours.post(f"{registry}/registered-models/create", json={"name": "ui-model"}).is_success
    made = ours.post(
        f"{registry}/model-versions/create",
        json={"name": "ui-model", "source": f"runs:/{run_id}/m", "run_id": run_id},
    )
    assert made.status_code == 200, made.text
    version = made.json()["model_version"]["version"]
    where = {"name": "ui-model", "version": version}
    doubled = f"{ours.base_url}//model-versions/get-artifact"  # as MLflow's own test asks
    assert "//model-versions" in doubled
    fetched = ours.get(doubled, params={**where, "path": "MLmodel"})
    assert (fetched.status_code, fetched.content) == (200, b"flavors: {}")
    assert fetched.headers["content-disposition"] == "attachment"
    folder = ours.get("/model-versions/get-artifact", params={**where, "path": "."})
    assert folder.status_code == 404 and folder.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    unseen = theirs.get("/model-versions/get-artifact", params={**where, "path": "MLmodel"})
    assert unseen.status_code == 404
    missing = ours.get("/model-versions/get-artifact", params={**where, "path": "none.txt"})
    assert missing.status_code == 404
    escaped = ours.get("/model-versions/get-artifact", params={**where, "path": "a/../../b"})
    assert escaped.json() == {"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid path"}

"""Runs written from outside over plain HTTP: made with a project token, written (batches,
files, end) with their own credential, which writes that run alone and reads nothing, expires
with the run's idle limit, and never ends a run twice. One API served by uvicorn for the
module, its store its own."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from azuraforge.platform.api.app import create_app
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, short_settings, user_headers
from tests.platform.servers import served_in_thread

MAX_FILE = 4096
"""The server's max_artifact_bytes here."""


@pytest.fixture(scope="module")
def api(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Store]]:
    """The API's base URL (``http://host:port/api/v1``) and its store."""
    home = tmp_path_factory.mktemp("external-api")
    shutil.copy(sqlite_template, home / "azuraforge.db")
    settings = short_settings(
        f"sqlite:///{home / 'azuraforge.db'}", home, max_artifact_bytes=MAX_FILE
    )
    store = Store(settings.database_url)
    app = create_app(settings, store=store)
    with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
        yield f"http://{address}/api/v1", store
    store.close()


@pytest.fixture(scope="module")
def admin(api: tuple[str, Store]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api[0], headers=admin_headers(api[1])) as client:
        yield client


def started(admin: httpx.Client, **body: Any) -> tuple[int, httpx.Client]:
    """A new external run, and a plain HTTP client sending its credential."""
    made = admin.post("/external-runs", json=body)
    assert made.status_code == 201, made.text
    answer = made.json()
    assert answer["credential"].startswith("afr_")
    writer = httpx.Client(base_url=str(admin.base_url),
                          headers={"Authorization": f"Bearer {answer['credential']}"})  # fmt: skip
    return answer["experiment"]["id"], writer


def test_a_run_written_with_its_own_credential_shows_in_the_list_and_on_its_page(
    admin: httpx.Client,
) -> None:
    run, writer = started(admin, pipeline="my-script", params={"lr": 0.1}, name="by-hand")
    batch = {"metrics": [{"key": "loss", "step": 1, "value": 0.5},
                         {"key": "loss", "step": 2, "value": 0.25, "time": 1.0e9}],
             "logs": [{"message": "epoch 2 done", "level": "WARNING"}],
             "progress": {"done": 2, "total": 4, "message": "epoch 2"}}  # fmt: skip
    assert writer.post(f"/runs/{run}/batch", json=batch).json() == {"cancel_requested": False}
    uploaded = writer.put(f"/runs/{run}/artifacts/notes/a.txt", content=b"hello")
    assert uploaded.status_code == 201 and uploaded.json()["size"] == 5, uploaded.text
    assert writer.post(f"/runs/{run}/batch", json={}).status_code == 200  # a heartbeat
    result = {"metrics": {"MAE": {"model": 1.5, "persistence": 2.0}}}
    ended = writer.post(f"/runs/{run}/end", json={"status": "completed", "result": result})
    assert (ended.status_code, ended.json()["status"]) == (200, "completed"), ended.text

    listed = admin.get("/runs").json()["data"]
    assert [(r["id"], r["kind"], r["pipeline"]) for r in listed if r["id"] == run] == [
        (run, "external", "my-script")
    ]
    page = admin.get(f"/runs/{run}").json()
    assert (page["status"], page["config"], page["progress"]) == ("completed", {"lr": 0.1}, 1.0)
    assert page["summaries"]["loss"]["last"] == 0.25
    assert page["scores"] == result["metrics"]
    assert [a["path"] for a in page["artifacts"]] == ["notes/a.txt"]
    assert admin.get(f"/runs/{run}/artifacts/notes/a.txt").content == b"hello"
    lines = admin.get(f"/runs/{run}/logs").json()["data"]
    assert [(line["level"], line["message"]) for line in lines] == [("WARNING", "epoch 2 done")]

    again = writer.post(f"/runs/{run}/end", json={"status": "failed"})
    assert again.status_code == 409
    assert f"run {run} already ended as completed" in again.json()["error"]["message"]
    assert writer.post(f"/runs/{run}/batch", json={}).status_code == 409


def test_an_external_runs_report_is_asked_as_a_runs(admin: httpx.Client) -> None:
    run, writer = started(admin)
    assert admin.get(f"/runs/{run}/report").status_code == 409  # not ended yet
    assert writer.post(f"/runs/{run}/end", json={"status": "completed"}).status_code == 200
    missing = admin.get(f"/runs/{run}/report")
    assert missing.status_code == 404
    assert "ended completed before writing one" in missing.json()["error"]["message"]


def test_a_run_credential_writes_its_run_alone_and_expires_with_the_run(
    api: tuple[str, Store], admin: httpx.Client
) -> None:
    url, store = api
    run, writer = started(admin)
    other, _ = started(admin)
    refused = writer.post(f"/runs/{other}/batch", json={})
    assert refused.status_code == 403
    assert f"this is the credential of run {run}" in refused.json()["error"]["message"]
    assert writer.get(f"/runs/{run}").status_code == 403  # it reads nothing
    assert writer.post("/external-runs", json={}).status_code == 403
    elsewhere = {"AzuraForge-Project": "beta"}
    assert writer.get("/runs", headers=elsewhere).status_code == 404
    with httpx.Client(base_url=url, headers=user_headers(store, "ed", "editor")) as editor:
        assert editor.post(f"/runs/{other}/batch", json={}).status_code == 200
        worked = store.create_experiment("sleeper", {}).id
        answer = editor.post(f"/runs/{worked}/batch", json={})
        assert answer.status_code == 409 and "executed by a worker" in answer.text
    with httpx.Client(base_url=url, headers=user_headers(store, "vi", "viewer")) as viewer:
        assert viewer.post(f"/runs/{other}/batch", json={}).status_code == 403

    short, silent = started(admin, idle_limit=1)
    assert (short, "lost") in store.reap_expired(now=time.time() + 2)
    expired = silent.post(f"/runs/{short}/batch", json={})
    assert expired.status_code == 401
    assert f"the credential of run {short} expired" in expired.json()["error"]["message"]
    assert "its writer sent no word" in admin.get(f"/runs/{short}").json()["error"]
    made_up = {"Authorization": "Bearer afr_" + "x" * 43}
    assert admin.post(f"/runs/{run}/batch", json={}, headers=made_up).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metrics": [{"key": "loss", "step": "1", "value": 0.5}]}, "step"),
        ({"metrics": [{"key": "x" * 201, "step": 1, "value": 0.5}]}, "key"),
        ({"metrics": [{"key": "loss", "step": 1, "value": "NaN"}]}, "value"),
        ({"logs": [{"message": "hi", "level": "LOUD"}]}, "level"),
        ({"metric": []}, "metric"),
        ({"batch_id": "a/b"}, "batch_id"),
        ({"batch_id": "x" * 65}, "batch_id"),
    ],
)
def test_a_bad_batch_is_refused_naming_its_field(
    admin: httpx.Client, body: dict[str, Any], field: str
) -> None:
    run, writer = started(admin)
    refused = writer.post(f"/runs/{run}/batch", json=body)
    assert refused.status_code == 422, refused.text
    assert field in refused.text


def test_bad_files_ends_and_limits_are_refused_with_what_to_change(admin: httpx.Client) -> None:
    run, writer = started(admin)
    outside = writer.post(
        f"/runs/{run}/batch", json={"artifacts": [{"path": "../1/x", "size": 1}]}
    )
    assert outside.status_code == 422 and "leaves the run's files" in outside.text
    upload = writer.put(f"/runs/{run}/artifacts/{'n' * 256}", content=b"x")
    assert upload.status_code == 422 and "names of at most 255 bytes" in upload.text
    big = writer.put(f"/runs/{run}/artifacts/big.bin", content=b"0" * (MAX_FILE + 1))
    assert big.status_code == 413 and "AZURAFORGE_MAX_ARTIFACT_BYTES" in big.text
    assert writer.post(f"/runs/{run}/end", json={"status": "lost"}).status_code == 422
    made = admin.post("/external-runs", json={"idle_limit": 0})
    assert made.status_code == 422 and "idle_limit" in made.text
    assert admin.get(f"/runs/{run}").json()["artifacts"] == []


def test_a_retried_batch_writes_nothing_twice_and_a_heartbeat_keeps_a_run_alive(
    api: tuple[str, Store], admin: httpx.Client
) -> None:
    store = api[1]
    run, writer = started(admin, idle_limit=1)
    batch = {"batch_id": "0f3c-1", "metrics": [{"key": "loss", "step": s, "value": 1 / s}
                                               for s in (1, 2, 3)]}  # fmt: skip
    first = writer.post(f"/runs/{run}/batch", json=batch)
    again = writer.post(f"/runs/{run}/batch", json=batch)
    assert (again.status_code, again.json()) == (first.status_code, first.json()), again.text
    assert len(points(admin, run)) == 3

    until = time.time() + 1.6  # past its idle limit of 1 s, with a heartbeat every 0.3 s
    while time.time() < until:
        beat = writer.post(f"/runs/{run}/heartbeat")
        assert beat.json() == {"cancel_requested": False}, beat.text
        time.sleep(0.3)
    assert run not in [found for found, _ in store.reap_expired()]
    assert admin.get(f"/runs/{run}").json()["status"] == "running"
    assert len(points(admin, run)) == 3  # no point
    writer.post(f"/runs/{run}/end", json={"status": "completed"})
    late = writer.post(f"/runs/{run}/heartbeat")
    assert late.status_code == 409 and "already ended as completed" in late.text


def points(admin: httpx.Client, run: int) -> list[int]:
    """The steps of the run's ``loss`` points, as the API serves them."""
    curve = admin.get(f"/runs/{run}/metrics").json()["metrics"]["loss"]
    return list(curve["steps"])

"""A home from before the blob store, upgraded with ``azuraforge db upgrade``: every file its
rows name (a run's folder, a prediction job's, a folder ``azuraforge run`` recorded, a
registered version's) is copied to the key the migration gives it, the originals stay, and
the upgraded API serves them from the blob store."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import LocalBlobs
from azuraforge.platform.services.predictions import read_predictions
from azuraforge.platform.services.registry import folder_digest
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, make_engine, upgrade_database
from azuraforge.platform.store import engine as engines
from azuraforge.platform.store.legacy import BLOB_KEYS
from tests.platform.fixtures import admin_headers, short_settings

BEFORE = "0021_run_credentials"


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)


def _home_before_the_blob_store(settings: Settings, elsewhere: Path) -> dict[str, int]:
    """A store at :data:`BEFORE` whose rows name folders of ``settings.home`` (and one
    elsewhere, as ``azuraforge run`` recorded), with their files; the jobs' ids."""
    upgrade_database(settings.database_url)
    store = Store(settings.database_url)
    kinds = {"run": "run", "prediction": "prediction", "recorded": "run"}
    ids = {
        name: store.create_experiment("sleeper", {"inputs": "inputs.csv"}, kind=kind).id
        for name, kind in kinds.items()
    }
    for job in ids.values():
        lease = store.claim(job, "w", 30.0)
        assert lease is not None
        store.finish(lease, "completed", result={"report_path": "report.md", "rows": 1})
    store.create_model("m")
    store.create_version(
        "m", pipeline="sleeper", artifact_path="m/3f2a9c1d0e4b", artifact_digest="",
        source_experiment_id=ids["run"], source_experiment_name="r", metrics={}, config={},
        data_fingerprint="", description="", created_by="test",
    )  # fmt: skip
    store.close()
    engine = make_engine(settings.database_url)
    engines.downgrade(engine, BEFORE)
    with engine.begin() as connection:
        for kind, folder in (("prediction", settings.home / "runs" / "prediction-3f2a"),
                             ("recorded", elsewhere)):  # fmt: skip
            connection.execute(text("UPDATE experiments SET output_dir = :f WHERE id = :id"),
                               {"f": str(folder), "id": ids[kind]})  # fmt: skip
    engine.dispose()
    _write(settings.home / "runs" / str(ids["run"]), {"report.md": "# run", "spool.jsonl": ""})
    _write(settings.home / "runs" / "prediction-3f2a", {"inputs.csv": "x\n1\n",
                                                        "predictions.csv": "y\n7\n"})  # fmt: skip
    _write(elsewhere, {"report.md": "# recorded", "plots/loss.png": "png"})
    _write(settings.home / "models" / "m" / "3f2a9c1d0e4b", {"artifact.json": "{}"})
    return ids


@pytest.fixture
def old_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, dict[str, int]]:
    settings = short_settings(
        f"sqlite:///{tmp_path / 'home' / 'azuraforge.db'}", tmp_path / "home"
    )
    monkeypatch.setenv("AZURAFORGE_HOME", str(settings.home))
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("AZURAFORGE_BLOB_STORE", raising=False)
    return settings, _home_before_the_blob_store(settings, tmp_path / "my-runs" / "weather-1")


def test_an_old_homes_files_are_copied_to_their_keys_and_served(
    old_home: tuple[Settings, dict[str, int]],
) -> None:
    settings, ids = old_home
    upgraded = CliRunner().invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    said = " ".join(upgraded.output.split())
    assert f"into {settings.home / 'blobs'}: 7 files copied, 0 already there" in said  # a spool
    blobs = LocalBlobs(settings.home / "blobs")
    run, job, recorded = ids["run"], ids["prediction"], ids["recorded"]
    assert blobs.get_bytes(f"runs/{job}/inputs.csv") == b"x\n1\n"
    assert blobs.get_bytes(f"runs/{recorded}/plots/loss.png") == b"png"
    assert (settings.home / "runs" / str(run) / "report.md").is_file()  # the originals stay
    store = Store(settings.database_url)
    try:
        prediction = store.get_experiment(job)
        assert prediction.config["inputs"] == f"runs/{job}/inputs.csv"
        assert read_predictions(blobs, prediction, 10) == ({"y": [7]}, 1)
        version = store.get_version("m", 1)
        assert version.artifact_path == "models/m/3f2a9c1d0e4b"
        copy = settings.home / "copy"
        blobs.get_folder(version.artifact_path, copy)
        assert folder_digest(copy) == folder_digest(
            settings.home / "models" / "m" / "3f2a9c1d0e4b"
        )
        with TestClient(create_app(settings, store=store), headers=admin_headers(store)) as api:
            for experiment, markdown in ((run, "# run"), (recorded, "# recorded")):
                report = api.get(f"/api/v1/runs/{experiment}/report")
                assert report.json()["markdown"] == markdown, report.text
    finally:
        store.close()
    again = CliRunner().invoke(app, ["db", "upgrade"])  # at head: nothing more to copy
    assert again.exit_code == 0 and "copied" not in again.output, again.output
    assert BLOB_KEYS in engines.revisions_after(BEFORE)


@pytest.fixture
def old_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A home at migration ``0034`` whose data folders hold CSV files, as uploads kept them
    before data files were blobs (the default project's, project ``lab``'s, a hidden upload
    left over, a file that is no CSV)."""
    settings = short_settings(
        f"sqlite:///{tmp_path / 'home' / 'azuraforge.db'}", tmp_path / "home"
    )
    monkeypatch.setenv("AZURAFORGE_HOME", str(settings.home))
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("AZURAFORGE_BLOB_STORE", raising=False)
    upgrade_database(settings.database_url)
    store = Store(settings.database_url)
    store.create_project("lab")
    store.close()
    engine = make_engine(settings.database_url)
    engines.downgrade(engine, "0034_mlflow_lifecycle")
    engine.dispose()
    data = settings.data_dir
    _write(data, {"sales.csv": "day,sales\n1,10\n2,12\n", "shops/paris.csv": "a;b\n1;2\n",
                  ".upload-1f.csv": "a,b\n", "notes.txt": "x",
                  "projects/lab/sales.csv": "day,sales\n1,99\n"})  # fmt: skip
    return settings


def test_an_old_homes_data_files_are_taken_in_at_upgrade_once(old_data_home: Settings) -> None:
    settings = old_data_home
    upgraded = CliRunner().invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "3 files copied, 0 already there" in " ".join(upgraded.output.split())
    store = Store(settings.database_url)
    try:
        assert [f.name for f in store.list_data_files()] == ["sales.csv", "shops/paris.csv"]
        [lab] = store.list_data_files(project="lab")
        blobs = LocalBlobs(settings.home / "blobs")
        assert blobs.get_bytes(f"data/lab/sha256/{lab.sha256}/sales.csv") == b"day,sales\n1,99\n"
        assert (settings.data_dir / "sales.csv").is_file()  # the originals stay
        again = CliRunner().invoke(app, ["db", "upgrade"])
        assert again.exit_code == 0, again.output
        assert "0 files copied, 3 already there" in " ".join(again.output.split())
        with TestClient(create_app(settings, store=store), headers=admin_headers(store)) as api:
            listed = api.get("/api/v1/data").json()
            assert [(f["name"], f["rows"]) for f in listed] == [
                ("sales.csv", 2), ("shops/paris.csv", 1)
            ]  # fmt: skip
            assert api.delete("/api/v1/data/sales.csv").status_code == 204
            assert api.get("/api/v1/data/sales.csv").status_code == 404  # the original too
        assert not (settings.data_dir / "sales.csv").exists()
        assert [f.name for f in store.list_data_files()] == ["shops/paris.csv"]
    finally:
        store.close()

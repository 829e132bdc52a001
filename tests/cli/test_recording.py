"""`azuraforge run` records into the platform's store (and never fails because of it)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.blobs import LocalBlobs
from azuraforge.platform.store import ExperimentQuery, Store, upgrade_database
from azuraforge.platform.store.engine import downgrade, make_engine

runner = CliRunner()


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", url)
    monkeypatch.setenv("AZURAFORGE_BLOB_STORE", str(tmp_path / "blobs"))
    return url


def run(tmp_path, *args):
    return runner.invoke(app, ["run", "constant", "--output-dir", str(tmp_path / "runs"), *args])


def test_a_cli_run_appears_in_the_store_with_its_metrics(plugin_distribution, tmp_path, store_url):
    plugin_distribution({"constant": "fakeplugin:Constant"})
    result = run(tmp_path, "--set", "epochs=3")
    assert result.exit_code == 0, result.output
    assert "recorded as experiment 1" in result.output
    store = Store(store_url)  # created on first use
    record = store.get_experiment(1)
    assert (record.status, record.pipeline, record.config["epochs"]) == (
        "completed",
        "constant",
        3,
    )
    assert [p[:2] for p in store.get_metrics(1)["loss"]] == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
    assert record.result["metrics"] == {"MAE": {"model": 1.0, "persistence": 2.0}}
    (folder,) = (tmp_path / "runs").iterdir()  # its files stay in its folder, and are kept
    kept = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    blobs = list(LocalBlobs(tmp_path / "blobs").list_keys("runs/1"))
    assert blobs == [f"runs/1/{name}" for name in kept]
    assert store.list_experiments(ExperimentQuery()).total == 1


def test_a_failing_cli_run_is_recorded_failed(plugin_distribution, tmp_path, store_url):
    plugin_distribution({"constant": "fakeplugin:Constant"})
    result = run(tmp_path, "--set", "data_error=bad value on line 3")
    assert result.exit_code == 1
    record = Store(store_url).get_experiment(1)
    assert record.status == "failed"
    assert record.error == "DataFormatError: bad value on line 3"


def test_no_record_leaves_the_store_alone(plugin_distribution, tmp_path, store_url):
    plugin_distribution({"constant": "fakeplugin:Constant"})
    assert run(tmp_path, "--no-record").exit_code == 0
    engine = make_engine(store_url)
    assert not engine.dialect.has_table(engine.connect(), "experiments")


def test_an_out_of_date_store_is_not_migrated_and_the_run_goes_on(
    plugin_distribution, tmp_path, store_url
):
    plugin_distribution({"constant": "fakeplugin:Constant"})
    upgrade_database(store_url)
    engine = make_engine(store_url)
    downgrade(engine, "0001_initial")
    result = run(tmp_path)
    assert result.exit_code == 0
    assert "not recorded in the store" in result.output
    assert "azuraforge db upgrade" in result.output
    assert "Test set" in result.output

"""`azuraforge run` records its run on the platform (and never fails because of it): into the
store, or over the API of a server configured (a token in the environment), with no lease."""

from __future__ import annotations

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import LocalBlobs
from azuraforge.platform.store import ExperimentQuery, Store, upgrade_database
from azuraforge.platform.store.engine import downgrade, make_engine
from tests.helpers import write_pipeline_plugin
from tests.platform.fixtures import admin_headers, short_settings
from tests.platform.servers import served_in_thread

runner = CliRunner()


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    """A store of the test's own, and no server configured (no token in the environment or
    kept by a login): the run is recorded in the store."""
    monkeypatch.delenv("AZURAFORGE_TOKEN", raising=False)
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path / "home"))
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
    assert "not recorded: the store" in result.output
    assert "azuraforge db upgrade" in result.output
    assert "Test set" in result.output


NOTED = """
from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult


class NotedConfig(PipelineConfig):
    epochs: int = 3


class Noted(Pipeline[NotedConfig]):
    name = "noted"
    description = "Logs a loss, a line and a file."
    Config = NotedConfig

    def run(self, config, ctx):
        for epoch in range(1, config.epochs + 1):
            ctx.log_metrics({"loss": 1.0 / epoch}, step=epoch)
            ctx.progress(epoch, config.epochs)
        ctx.logger.info("trained %d epochs", config.epochs)
        notes = ctx.output_dir / "notes" / "a.txt"
        notes.parent.mkdir(parents=True)
        notes.write_text("noted")
        ctx.log_artifact(notes)
        return RunResult(metrics={"MAE": {"model": 0.5, "persistence": 2.0}}, report_path=notes)
"""


def test_a_cli_run_is_recorded_over_the_api_with_its_own_credential(
    tmp_path, store_url, monkeypatch
):
    write_pipeline_plugin(tmp_path, "notedplugin", NOTED, {"noted": "notedplugin:Noted"})
    monkeypatch.syspath_prepend(str(tmp_path))
    home = tmp_path / "server"
    settings = short_settings(f"sqlite:///{tmp_path / 'server.db'}", home)
    upgrade_database(settings.database_url)
    served = Store(settings.database_url)
    headers = admin_headers(served)
    monkeypatch.setenv("AZURAFORGE_TOKEN", headers["Authorization"].removeprefix("Bearer "))
    config = uvicorn.Config(create_app(settings, store=served), log_level="warning")
    with served_in_thread(config) as address:
        monkeypatch.setenv("AZURAFORGE_API_URL", f"http://{address}")
        result = runner.invoke(app, ["run", "noted", "--output-dir", str(tmp_path / "runs")])
        assert result.exit_code == 0, result.output
        assert f"recorded as experiment 1 at http://{address}" in result.output
        with httpx.Client(base_url=f"http://{address}/api/v1", headers=headers) as api:
            page = api.get("/runs/1").json()
            served_file = api.get("/runs/1/artifacts/notes/a.txt").content
    record = served.get_experiment(1)
    assert (record.kind, record.status, record.pipeline, record.worker) == (
        "external", "completed", "noted", None,
    )  # fmt: skip
    assert [p[:2] for p in served.get_metrics(1)["loss"]] == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
    assert page["scores"] == {"MAE": {"model": 0.5, "persistence": 2.0}}
    assert page["result"]["report_path"] == "notes/a.txt"
    assert [a["path"] for a in page["artifacts"]] == ["notes/a.txt"] and served_file == b"noted"
    logged = [e.payload["message"] for e in served.list_events(experiment_id=1, kinds=["log"])]
    assert logged == ["trained 3 epochs"]
    engine = make_engine(store_url)  # the local store is left alone
    assert not engine.dialect.has_table(engine.connect(), "experiments")

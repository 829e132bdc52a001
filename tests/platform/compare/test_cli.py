"""``azuraforge runs compare`` against a real ``azuraforge serve`` (SQLite store): the
table a user reads, JSON, and one line with an exit code for bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, upgrade_database
from tests.platform.compare.conftest import Runs
from tests.platform.servers import free_port, kill_group, start_serve

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    """A serve (no workers) over a store holding a completed, a failed and a pruned run."""
    folder = tmp_path_factory.mktemp("compare-cli")
    settings = Settings(home=folder / "home", database_url=f"sqlite:///{folder / 'af.db'}")
    upgrade_database(settings.database_url)
    store = Store(settings.database_url)
    runs = Runs(store)
    made = [
        runs.make({"lr": 0.1, "hidden": 8}, "completed", {"loss": [1.0, 0.5]}),
        runs.make({"lr": 0.01, "hidden": 8}, "failed", {"loss": [2.0]}),
        runs.make({"lr": 0.1, "hidden": 16, "dropout": 0.2}, "pruned", {"loss": [3.0, 2.5]}),
    ]
    store.close()
    port = free_port()
    serve = start_serve(settings, port, "--workers", "0")
    yield f"http://127.0.0.1:{port}", made
    kill_group(serve)


def test_compare_shows_the_differing_settings_and_metrics_of_every_run(api):
    url, made = api
    result = runner.invoke(app, ["runs", "compare", ",".join(map(str, made)), "--api-url", url])
    assert result.exit_code == 0, result.output
    assert "3 experiments compared" in result.output
    header = next(line for line in result.output.splitlines() if "status" in line)
    assert [word for word in ("dropout", "hidden", "lr", "loss") if word in header] == [
        "dropout", "hidden", "lr", "loss"
    ]  # fmt: skip
    assert "epochs" not in header
    for status in ("completed", "failed", "pruned"):
        assert status in result.output


def test_compare_json_has_the_curves(api):
    url, made = api
    result = runner.invoke(
        app, ["runs", "compare", ",".join(map(str, made)), "--json", "--api-url", url]
    )
    assert result.exit_code == 0, result.output
    curves = json.loads(result.output)["curves"]
    assert [c["key"] for c in curves] == ["loss"]
    assert [len(run["steps"]) for run in curves[0]["runs"]] == [2, 1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of experiments=1,2,3"),
        (["1", "--batch", "b"], "got experiments and batch"),
        (["999999"], "experiment 999999 not found"),
        (["--batch", "nope"], "no runs in batch 'nope'"),
        (["1", "--metrics", "acc"], "none of these runs logged metric 'acc'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(api, args: list[str], message: str):
    url, _ = api
    result = runner.invoke(app, ["runs", "compare", *args, "--api-url", url])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output

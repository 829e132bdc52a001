"""``azuraforge submit`` and ``azuraforge runs …`` against a real ``azuraforge serve``
(SQLite store, one worker, the sleeper plugin): what a user types and reads, and exit codes."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.settings import Settings
from tests.platform.servers import bearer, free_port, kill_group, start_serve

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, sleeper_path: Path) -> Iterator[str]:
    """The URL of a serve shared by this module's tests (each makes runs of its own)."""
    folder = tmp_path_factory.mktemp("cli-api")
    settings = Settings(
        home=folder / "home",
        database_url=f"sqlite:///{folder / 'azuraforge.db'}",
        poll_interval=0.05,
        flush_interval=0.02,
        cancel_grace=2.0,
    )
    port = free_port()
    serve: subprocess.Popen[bytes] = start_serve(
        settings, port, "--workers", "1", pythonpath=sleeper_path
    )
    yield f"http://127.0.0.1:{port}"
    kill_group(serve)


def cli(api: str, *args: str):
    return runner.invoke(app, [*args, "--api-url", api])


def queued_ids(output: str) -> list[int]:
    return [int(i) for i in re.findall(r"queued experiment (\d+)", output)]


def status(api: str, experiment_id: int) -> str:
    return str(httpx.get(f"{api}/api/v1/runs/{experiment_id}", headers=bearer()).json()["status"])


def test_submit_follow_shows_the_run_and_its_scores_beside_the_baseline(api):
    result = cli(api, "submit", "sleeper", "--set", "steps=3", "--name", "cli-follow", "--follow")
    assert result.exit_code == 0, result.output
    assert "queued experiment" in result.output and "(cli-follow)" in result.output
    assert "cli-follow (sleeper): completed" in result.output
    assert "MAE" in result.output and "persistence" in result.output
    assert "artifact report.md" in result.output


def test_a_failing_run_followed_exits_1_with_its_error(api):
    result = cli(api, "submit", "sleeper", "--set", "fail_at=2", "--follow")
    assert result.exit_code == 1, result.output
    assert "failed" in result.output and "failed at step 2" in result.output


def test_cancel_a_running_run_and_follow_it_to_its_end(api):
    submitted = cli(api, "submit", "sleeper", "--set", "steps=400", "--set", "sleep=0.05")
    (run,) = queued_ids(submitted.output)  # 20 s: still running at the cancel
    deadline = time.monotonic() + 20
    while status(api, run) != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    cancelled = cli(api, "runs", "cancel", str(run))
    assert cancelled.exit_code == 0, cancelled.output
    assert f"experiment {run}: running (stop requested)" in cancelled.output
    followed = cli(api, "runs", "follow", str(run))
    assert followed.exit_code == 3, followed.output
    assert "cancelled" in followed.output


def completed_grid(api: str, submitted: str) -> tuple[int, int, str]:
    """The two runs of the grid ``submitted`` says it queued, and its batch, once both
    completed."""
    first, second = queued_ids(submitted)
    batch = re.search(r"batch (\w+)", submitted).group(1)
    deadline = time.monotonic() + 30
    while {status(api, first), status(api, second)} != {"completed"}:
        assert time.monotonic() < deadline, "the grid runs did not complete"
        time.sleep(0.05)
    return first, second, batch


def test_grid_list_filters_and_show(api):
    result = cli(api, "submit", "sleeper", "--grid", "steps=[2,4]", "--set", "sleep=0")
    assert result.exit_code == 0, result.output
    first, second, batch = completed_grid(api, result.output)
    listed = cli(api, "runs", "list", "--batch", batch)
    assert listed.exit_code == 0, listed.output
    assert "2 experiments" in listed.output
    low_loss = cli(api, "runs", "list", "--batch", batch, "--metric", "loss", "--max", "0.3")
    assert "1 experiments" in low_loss.output and f"│ {second} " in low_loss.output
    sorted_rows = cli(api, "runs", "list", "--batch", batch, "--sort", "metric:loss", "--asc")
    assert sorted_rows.output.index(f"│ {second} ") < sorted_rows.output.index(f"│ {first} ")
    shown = cli(api, "runs", "show", str(second))
    assert shown.exit_code == 0, shown.output
    assert '"steps": 4' in shown.output and "completed" in shown.output


def test_list_sorts_filters_and_shows_scores_and_prints_csv(api):
    """The sleeper's result holds MAE 1/steps beside persistence's 2.0."""
    result = cli(api, "submit", "sleeper", "--grid", "steps=[2,4]", "--set", "sleep=0")
    first, second, batch = completed_grid(api, result.output)
    ranked = ["--batch", batch, "--sort", "metrics.MAE.model", "--asc"]
    listed = cli(api, "runs", "list", *ranked, "--where", "metrics.MAE.model<0.4",
                 "--columns", "metrics.MAE.model,metric:loss")  # fmt: skip
    assert listed.exit_code == 0, listed.output
    assert "1 experiments" in listed.output and f"│ {second} " in listed.output
    assert "0.25" in listed.output
    exported = cli(api, "runs", "list", *ranked, "--csv", "--columns",
                   "id,metrics.MAE.model,metrics.MAE.persistence")  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert exported.output.splitlines() == [
        "id,metrics.MAE.model,metrics.MAE.persistence", f"{second},0.25,2.0", f"{first},0.5,2.0"
    ]  # fmt: skip
    names = cli(api, "runs", "scores")
    assert "metrics.MAE.model\nmetrics.MAE.persistence\n" in names.output
    bad = cli(api, "runs", "list", "--where", "metrics.MAE.model<x")
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1, bad.output
    assert "'x' is not a finite number" in bad.output


def test_delete_frees_the_name(api):
    created = cli(api, "submit", "sleeper", "--set", "sleep=0", "--name", "reused", "--follow")
    assert created.exit_code == 0, created.output
    (run,) = queued_ids(created.output)
    taken = cli(api, "submit", "sleeper", "--name", "reused")
    assert taken.exit_code == 1 and "'reused' already exists" in taken.output
    deleted = cli(api, "runs", "delete", str(run))
    assert deleted.exit_code == 0 and f"deleted experiment {run}" in deleted.output
    assert cli(api, "runs", "show", str(run)).exit_code == 2
    assert cli(api, "submit", "sleeper", "--name", "reused").exit_code == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["submit", "nope"], 2, "no pipeline named 'nope'"),
        (["submit", "sleeper", "--set", "steps=0"], 2, "steps: Input should be greater than"),
        (["submit", "sleeper", "--set", "colour=red"], 2, "colour: unknown setting"),
        (["submit", "sleeper", "--grid", "steps=3"], 2, "--grid steps= needs a list of values"),
        (["runs", "show", "999999"], 2, "experiment 999999 not found"),
        (["runs", "list", "--sort", "nope"], 2, "sort"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(api, args, code, message):
    result = cli(api, *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_api_says_how_to_start_it():
    result = runner.invoke(app, ["runs", "list", "--api-url", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert (
        "cannot reach the AzuraForge API" in result.output and "azuraforge serve" in result.output
    )


def test_experiments_is_the_runs_group_under_its_former_name_hidden_and_deprecated(api):
    """``azuraforge experiments`` (for one release) prints on stdout what ``azuraforge runs``
    prints, says on stderr that it is deprecated, and is not listed by ``--help``."""
    assert cli(api, "submit", "sleeper", "--set", "steps=1").exit_code == 0
    current = cli(api, "runs", "list", "--csv", "--columns", "id,name")
    former = cli(api, "experiments", "list", "--csv", "--columns", "id,name")
    assert former.exit_code == current.exit_code == 0, former.output
    assert former.stdout == current.stdout and current.stdout.startswith("id,")
    assert "deprecated" in former.stderr and "deprecated" not in current.stderr
    listed = runner.invoke(app, ["--help"]).stdout
    assert re.search(r"│ runs ", listed) and not re.search(r"│ experiments ", listed)

"""``azuraforge rename`` and ``azuraforge note`` against a real ``azuraforge serve`` (no
worker: the runs stay queued, which changes nothing of what they are called): what a user
types and reads, and exit codes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.settings import Settings
from tests.platform.servers import bearer, free_port, kill_group, start_serve

runner = CliRunner()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, sleeper_path: Path) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("cli-notes")
    settings = Settings(home=folder / "home", database_url=f"sqlite:///{folder / 'af.db'}")
    serve: subprocess.Popen[bytes] = start_serve(
        settings, port := free_port(), "--workers", "0", pythonpath=sleeper_path
    )
    yield f"http://127.0.0.1:{port}"
    kill_group(serve)


def queued(api: str, name: str) -> int:
    made = httpx.post(f"{api}/api/v1/runs", headers=bearer(),
                      json={"pipeline": "sleeper", "name": name})  # fmt: skip
    assert made.status_code == 201, made.text
    return int(made.json()["data"][0]["id"])


def cli(api: str, *args: str, stdin: str | None = None):
    return runner.invoke(app, [*args, "--api-url", api], input=stdin)


def test_rename_and_note_a_run_then_show_it(api: str) -> None:
    run = queued(api, "first try")
    renamed = cli(api, "rename", str(run), "baseline")
    assert renamed.exit_code == 0, renamed.output
    assert f"experiment {run} is named baseline" in renamed.output
    noted = cli(api, "note", str(run), "Loss plateaus at 0.3.\nTry lr=0.01 next.")
    assert noted.exit_code == 0 and f"experiment {run}: notes 39 characters" in noted.output
    shown = cli(api, "runs", "show", str(run))
    assert "baseline" in shown.output
    assert "notes Loss plateaus at 0.3.\n        Try lr=0.01 next." in shown.output
    piped = cli(api, "note", str(run), "-", stdin="from a file\n")
    assert piped.exit_code == 0
    detail = httpx.get(f"{api}/api/v1/runs/{run}", headers=bearer()).json()
    assert (detail["name"], detail["notes"]) == ("baseline", "from a file\n")
    cleared = cli(api, "note", str(run), "")
    assert cleared.exit_code == 0 and f"experiment {run}: notes none" in cleared.output


def test_a_taken_name_long_notes_and_an_unknown_run_are_one_line_and_an_exit_code(
    api: str,
) -> None:
    run, _ = queued(api, "mine"), queued(api, "taken")
    for args, code, message in [
        (["rename", str(run), "taken"], 1, "an experiment named 'taken' already exists"),
        (["note", str(run), "n" * 10_001], 2, "at most 10000 characters"),
        (["rename", "999999", "x"], 2, "experiment 999999 not found"),
    ]:
        result = cli(api, *args)
        assert result.exit_code == code, result.output
        assert message in result.output and "Traceback" not in result.output
    assert httpx.get(f"{api}/api/v1/runs/{run}", headers=bearer()).json()["name"] == "mine"

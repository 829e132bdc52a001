"""``azuraforge data upload|list|rm`` against a real ``azuraforge serve`` (SQLite store, no
worker): what a user types and reads, and the exit codes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.settings import Settings
from tests.platform.servers import free_port, kill_group, start_serve

runner = CliRunner()
SALES = "day,shop,sales\n2024-01-01,paris,10\n2024-01-02,paris,12.5\n2024-01-03,paris,11\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("cli-data")
    settings = Settings(home=folder / "home", database_url=f"sqlite:///{folder / 'af.db'}")
    port = free_port()
    serve: subprocess.Popen[bytes] = start_serve(settings, port, "--workers", "0")
    yield f"http://127.0.0.1:{port}"
    kill_group(serve)


def cli(api: str, *args: str):
    return runner.invoke(app, [*args, "--api-url", api], terminal_width=200)


def test_upload_list_and_remove_a_file(api: str, tmp_path: Path) -> None:
    local = tmp_path / "sales.csv"
    local.write_text(SALES)
    uploaded = cli(api, "data", "upload", str(local), "--name", "shops/sales.csv")
    assert uploaded.exit_code == 0, uploaded.output
    assert "uploaded shops/sales.csv: 3 rows, columns day, shop, sales" in uploaded.output
    listed = cli(api, "data", "list")
    assert listed.exit_code == 0 and "│ shops/sales.csv │ 3 " in listed.output, listed.output

    again = cli(api, "data", "upload", str(local), "--name", "shops/sales.csv")
    assert again.exit_code == 1 and "overwrite=true" in again.output, again.output
    local.write_text(SALES + "2024-01-04,paris,9\n")
    replaced = cli(api, "data", "upload", str(local), "--name", "shops/sales.csv", "--overwrite")
    assert replaced.exit_code == 0 and ": 4 rows" in replaced.output, replaced.output

    removed = cli(api, "data", "rm", "shops/sales.csv")
    assert removed.exit_code == 0 and "deleted shops/sales.csv" in removed.output
    assert "shops/sales.csv" not in cli(api, "data", "list").output


def test_a_file_the_server_refuses_is_one_line_and_exit_2(api: str, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("jour;clôture\n2024-01-01;3,5\n".encode("latin-1"))
    refused = cli(api, "data", "upload", str(latin))
    assert refused.exit_code == 2, refused.output
    assert refused.output.startswith("error: latin.csv is not a UTF-8 text CSV file: line 1")
    assert len(refused.output.strip().splitlines()) == 1
    missing = cli(api, "data", "upload", str(tmp_path / "nowhere.csv"))
    assert missing.exit_code == 2 and "no file" in missing.output, missing.output
    outside = cli(api, "data", "upload", str(latin), "--name", "../latin.csv")
    assert outside.exit_code == 2, outside.output
    assert cli(api, "data", "rm", "nothing.csv").exit_code == 2


def test_a_file_a_run_names_is_not_removed(api: str, tmp_path: Path) -> None:
    local = tmp_path / "kept.csv"
    local.write_text(SALES)
    assert cli(api, "data", "upload", str(local)).exit_code == 0
    submitted = cli(api, "submit", "forecaster", "--set", "csv=kept.csv", "--set", "target=sales",
                    "--set", "time_column=day")  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    refused = cli(api, "data", "rm", "kept.csv")
    assert refused.exit_code == 1, refused.output
    assert "data file 'kept.csv' is named by run 1 (" in refused.output
    assert "kept.csv" in cli(api, "data", "list").output

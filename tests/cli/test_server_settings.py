"""``azuraforge settings get|set|history``: in this machine's store when no server is logged
in to, through a real ``azuraforge serve``'s API when one is; what a user types and reads, and
exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from azuraforge.client.environment import TOKEN_VARIABLE
from azuraforge.platform.store import Store
from tests.cli.test_notes import api, cli, runner
from tests.platform.servers import bearer

__all__ = ["api"]  # the server, a fixture of this module too


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_template: Path) -> Store:
    """No server logged in to; the environment's store, a fresh one."""
    shutil.copy(sqlite_template, tmp_path / "af.db")
    url = f"sqlite:///{tmp_path / 'af.db'}"
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", url)
    return Store(url)


def _run(*args: str):
    from azuraforge.cli.main import app

    return runner.invoke(app, list(args))


def test_set_get_and_history_in_the_store_without_a_server(embedded: Store) -> None:
    done = _run("settings", "set", "max_predict_rows=500", "workers=3", "log_level=INFO")
    assert done.exit_code == 0, done.output
    assert "settings version 1: log_level, max_predict_rows, workers" in done.output
    assert "restart required for: workers" in done.output
    assert _run("settings", "get", "max_predict_rows").output == "500\n"
    assert _run("settings", "get", "metrics_token").output == "(unset)\n"
    listed = _run("settings", "get")
    assert "settings version 1" in listed.output and "restart" in listed.output
    cleared = _run("settings", "set", "max_predict_rows=")  # back to the default
    assert (
        cleared.exit_code == 0 and _run("settings", "get", "max_predict_rows").output == "10000\n"
    )
    history = _run("settings", "history")
    assert (
        history.exit_code == 0
        and "cli:" in history.output
        and "max_predict_rows" in history.output
    )
    assert [entry.action for entry in embedded.list_audit(action="settings.set")] == [
        "settings.set"
    ] * 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["set", "max_predict_rows=0"],
            "max_predict_rows: Input should be greater than or equal to 1",
        ),
        (["set", "max_predict_rows"], "a setting is KEY=VALUE, got 'max_predict_rows'"),
        (["set", "database_url=sqlite:///x.db"], "set AZURAFORGE_DATABASE_URL in the server's"),
        (["get", "nope"], "no server setting is named 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    embedded: Store, args: list[str], message: str
) -> None:
    result = _run("settings", *args)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert embedded.find_server_settings() is None


def test_through_the_api_of_the_server_logged_in_to(api: str) -> None:
    done = cli(api, "settings", "set", "max_request_bytes=4000", "metrics_token=" + "m" * 40)
    assert done.exit_code == 0, done.output
    health = httpx.get(f"{api}/api/v1/health")
    assert health.json()["settings_version"] >= 1  # the server that made it runs it at once
    assert cli(api, "settings", "get", "max_request_bytes").output == "4000\n"
    assert cli(api, "settings", "get", "metrics_token").output == "(set)\n"
    refused = httpx.post(f"{api}/api/v1/runs", content=b"x" * 5000, headers=bearer())
    assert refused.status_code == 413
    bad = cli(api, "settings", "set", "alert_webhooks=ftp://hooks.lan")
    assert bad.exit_code == 1 and "alert_webhooks" in bad.output and "Traceback" not in bad.output
    assert "m" * 40 not in cli(api, "settings", "history").output

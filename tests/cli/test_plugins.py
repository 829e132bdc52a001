"""The seed's test of the plugin folder, as written: a weather plugin file dropped into the
folder the administrator configured appears in ``azuraforge pipelines`` and runs (on this
machine with ``azuraforge run``, and through a real ``azuraforge serve``'s embedded worker,
submitted by the CLI and by the API); a broken file is a warning naming it while the rest
load; ``azuraforge plugins`` lists the files with their SHA-256."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.learn.plugin_folder import load_folder
from azuraforge.platform.jobs.local import settings_environment
from azuraforge.platform.settings import Settings
from tests.learn.plugin_files import WEATHER, weather_folder
from tests.platform.servers import bearer, free_port, kill_group, start_serve

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("plugin-folder")
    return Settings(
        home=folder / "home",
        database_url=f"sqlite:///{folder / 'azuraforge.db'}",
        plugins_dir=weather_folder(folder / "plugins"),
        poll_interval=0.05,
    )


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[str]:
    port = free_port()
    serve = start_serve(settings, port, "--workers", "1")
    yield f"http://127.0.0.1:{port}"
    kill_group(serve)


@pytest.fixture
def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's environment as the server's: its plugin folder, its home."""
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    yield
    load_folder(None)


def azuraforge(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", *args]
    env = {**settings_environment(settings), "COLUMNS": "200"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_the_weather_plugin_appears_in_pipelines_and_the_broken_file_is_named(settings):
    listed = azuraforge(settings, "pipelines")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "tiny-weather" in line)
    assert "plugin folder: weather.py" in row and "ok" in row
    assert "weather-forecaster" in listed.stdout  # the installed pipelines stay
    assert "plugin file 'broken.py' was not loaded: import failed" in listed.stderr
    assert "weather.py" not in listed.stderr


def test_plugins_lists_the_files_their_hashes_and_the_digest(settings, environment):
    with pytest.warns(UserWarning, match="broken.py"):
        result = runner.invoke(app, ["plugins"])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(WEATHER.encode()).hexdigest() in result.output
    assert "ModuleNotFoundError" in result.output
    assert f"digest {load_folder(settings.plugins_dir).digest}" in result.output


def test_the_weather_plugin_runs_on_this_machine(settings, environment, tmp_path):
    with pytest.warns(UserWarning, match="broken.py"):
        result = runner.invoke(app, ["run", "tiny-weather", "--set", "days=60", "--no-record",
                                     "--output-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "MAE" in result.output


def test_the_weather_plugin_runs_through_the_servers_worker_from_the_cli(api, environment):
    result = runner.invoke(  # a client: the server's processes load the folder, not this one
        app, ["submit", "tiny-weather", "--set", "days=40", "--follow", "--api-url", api]
    )
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "MAE" in result.output


def test_the_weather_plugin_runs_through_the_api_and_health_shows_its_digest(api, settings):
    answer = httpx.post(f"{api}/api/v1/runs", headers=bearer(),
                        json={"pipeline": "tiny-weather", "config": {"days": 50}})  # fmt: skip
    assert answer.status_code == 201, answer.text
    run = f"{api}/api/v1/runs/{answer.json()['data'][0]['id']}"
    deadline = time.monotonic() + 120  # a wait for the worker, not a speed check
    while (body := httpx.get(run, headers=bearer()).json())["status"] not in (
        "completed", "failed", "lost"
    ):  # fmt: skip
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    assert body["status"] == "completed", body.get("error")
    with pytest.warns(UserWarning, match="broken.py"):
        expected = load_folder(settings.plugins_dir).digest
    load_folder(None)
    plugins = httpx.get(f"{api}/api/v1/health").json()["plugins"]
    assert (plugins["digest"], plugins["loaded"], plugins["failed"]) == (expected, 1, 1)
    assert plugins["consistent"] is True
    listed = httpx.get(f"{api}/api/v1/plugins", headers=bearer()).json()
    assert [f["name"] for f in listed["data"]] == ["broken.py", "weather.py"]
    assert os.fspath(settings.plugins_dir) not in str(listed)

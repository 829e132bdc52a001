"""Settings from the environment and the TOML file AZURAFORGE_SETTINGS_FILE names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.settings import Settings


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file AZURAFORGE_SETTINGS_FILE names, with no AZURAFORGE_* variable set besides."""
    import os

    for name in list(os.environ):
        if name.startswith("AZURAFORGE_"):
            monkeypatch.delenv(name)
    path = tmp_path / "settings.toml"
    monkeypatch.setenv("AZURAFORGE_SETTINGS_FILE", str(path))
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path / "home"))
    return path


def test_settings_are_read_from_the_file(settings_file: Path, tmp_path: Path):
    settings_file.write_text('workers = 7\nlease_ttl = 60.0\ntransport = "local"\n')
    settings = Settings()
    assert (settings.workers, settings.lease_ttl) == (7, 60.0)
    assert settings.database_url == f"sqlite:///{tmp_path / 'home' / 'azuraforge.db'}"


def test_the_environment_wins_over_the_file(settings_file: Path, monkeypatch: pytest.MonkeyPatch):
    settings_file.write_text("workers = 7\nlease_ttl = 60.0\n")
    monkeypatch.setenv("AZURAFORGE_WORKERS", "3")
    settings = Settings()
    assert (settings.workers, settings.lease_ttl) == (3, 60.0)


def test_a_missing_file_is_no_error(settings_file: Path):
    assert Settings().workers == 2


def test_an_unknown_key_in_the_file_is_refused(settings_file: Path):
    settings_file.write_text("wrokers = 7\n")
    with pytest.raises(ValidationError, match="wrokers"):
        Settings()


@pytest.mark.parametrize("content", ["workers = [\n", "workers = 7\nworkers = 8\n", "w\xe9 = 1\n"])
def test_a_malformed_file_is_one_readable_error_naming_it(settings_file: Path, content: str):
    """It was a bare TOMLDecodeError, which the CLI printed as an internal error to report."""
    settings_file.write_bytes(content.encode("latin-1"))
    with pytest.raises(InvalidParameterError) as raised:
        Settings()
    message = str(raised.value)
    assert message.startswith(f"settings file {settings_file} is not valid TOML: ")
    assert message.endswith("; fix it, or name another file with AZURAFORGE_SETTINGS_FILE")
    assert "\n" not in message


def test_the_cli_exits_2_with_one_line_on_a_malformed_settings_file(settings_file: Path):
    settings_file.write_text("workers = [\n")
    result = CliRunner().invoke(app, ["db", "current"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: settings file {settings_file} is not valid TOML")


def test_the_defaults_reap_a_dead_workers_run_within_30_s(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AZURAFORGE_SETTINGS_FILE", str(tmp_path / "none.toml"))
    settings = Settings()
    assert settings.lease_ttl + settings.reaper_interval <= 30.0
    assert settings.heartbeat_interval * 5 <= settings.lease_ttl  # five renewals may be missed


def test_a_duty_is_taken_over_within_seconds_and_renewed_often_enough(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.duty_ttl + settings.duty_renew_interval <= 7.0  # a dead holder's duty
    with pytest.raises(ValidationError, match=r"duty_renew_interval \(2.5 s\) must be"):
        Settings(home=tmp_path, duty_ttl=5.0, duty_renew_interval=2.5)


@pytest.mark.parametrize(
    ("given", "allowed"),
    [
        ("af.example.org, *.Lab.example:8000,[fd00::1]:80", ["af.example.org", "*.lab.example",
                                                             "fd00::1"]),
        ('["af.example.org", "10.0.0.5"]', ["af.example.org", "10.0.0.5"]),
        ("", []),
    ],
)  # fmt: skip
def test_allowed_hosts_are_read_from_the_environment_separated_by_commas_or_as_json(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch, given: str, allowed: list[str]
):
    monkeypatch.setenv("AZURAFORGE_ALLOWED_HOSTS", given)
    assert Settings().allowed_hosts == allowed


@pytest.mark.parametrize(
    "given",
    ["https://ops.example.org,https://af.lan", '["https://ops.example.org", "https://af.lan"]'],
)
def test_allowed_origins_are_read_separated_by_commas_or_as_json(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch, given: str
):
    """A single origin, not JSON, ended in "internal error: SettingsError"."""
    monkeypatch.setenv("AZURAFORGE_ALLOWED_ORIGINS", given)
    assert Settings().allowed_origins == ["https://ops.example.org", "https://af.lan"]


def test_the_cli_names_an_allowed_host_that_is_no_host(settings_file: Path):
    settings_file.write_text('allowed_hosts = ["https://af.example.org/"]\n')
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2, result.output
    assert result.output == (
        "error: bad platform settings: allowed_hosts: 'https://af.example.org/' is not a host: "
        "give a name (af.example.org), an address (192.168.1.5, [fd00::1]) or a pattern "
        "(*.example.org), without scheme or path\n"
    )


def test_alert_webhooks_are_read_separated_by_commas_and_must_be_http(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(
        "AZURAFORGE_ALERT_WEBHOOKS", "https://hooks.example.org/af, http://10.0.0.2/h"
    )
    assert Settings().alert_webhooks == ["https://hooks.example.org/af", "http://10.0.0.2/h"]
    settings_file.write_text('alert_webhooks = ["file:///etc/passwd"]\n')
    monkeypatch.delenv("AZURAFORGE_ALERT_WEBHOOKS")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2, result.output
    assert (
        "alert_webhooks: 'file:///etc/passwd' is not an http:// or https:// address"
        in result.output
    )


def test_a_chat_cache_address_that_is_not_redis_is_refused_naming_the_setting(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AZURAFORGE_ASSIST_CACHE_URL", "http://cache.lan:6379")
    with pytest.raises(ValueError, match=r"assist_cache_url\n.*is not a Redis address"):
        Settings()
    monkeypatch.setenv("AZURAFORGE_ASSIST_CACHE_URL", "redis://cache.lan:6379/1")
    assert Settings().assist_cache_url == "redis://cache.lan:6379/1"


def test_a_memory_address_must_be_a_database_other_than_the_stores_sqlite_file(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("AZURAFORGE_ASSIST_MEMORY_URL", "redis://cache.lan:6379")
    with pytest.raises(ValueError, match=r"assist_memory_url\n.*is not a database address"):
        Settings()
    store = tmp_path / "azuraforge.db"
    monkeypatch.setenv("AZURAFORGE_DATABASE_URL", f"sqlite:///{store}")
    monkeypatch.setenv("AZURAFORGE_ASSIST_MEMORY_URL", f"sqlite:///{tmp_path}/./azuraforge.db")
    with pytest.raises(ValueError, match="names the store's own SQLite file"):
        Settings()
    monkeypatch.setenv("AZURAFORGE_ASSIST_MEMORY_URL", f"sqlite:///{tmp_path / 'memory.db'}")
    assert Settings().assist_memory_url.endswith("memory.db")

"""Where a client finds its API, token and project: what it is given, then the environment,
then the tokens ``azuraforge login`` kept (one per server, in a file its owner alone reads)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from azuraforge.client import Client, save_token, saved_tokens
from azuraforge.client.environment import credentials_file
from azuraforge.client.session import PROJECT_HEADER


def test_given_wins_over_the_environment_which_wins_over_the_kept_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path))
    for variable in ("AZURAFORGE_API_URL", "AZURAFORGE_TOKEN", "AZURAFORGE_PROJECT"):
        monkeypatch.delenv(variable, raising=False)
    save_token("http://af.lan:8000", "af_kept")
    save_token("http://other:8000", "af_other")
    default = Client.from_environment()
    assert default.url == "http://127.0.0.1:8000" and default.session.headers == {}
    monkeypatch.setenv("AZURAFORGE_API_URL", "http://af.lan:8000/")
    monkeypatch.setenv("AZURAFORGE_PROJECT", "lab")
    kept = Client.from_environment()
    assert kept.url == "http://af.lan:8000"
    assert kept.session.headers == {"Authorization": "Bearer af_kept", PROJECT_HEADER: "lab"}
    monkeypatch.setenv("AZURAFORGE_TOKEN", "af_env")
    given = Client.from_environment("http://other:8000", "mine")
    assert given.url == "http://other:8000"
    assert given.session.headers == {"Authorization": "Bearer af_env", PROJECT_HEADER: "mine"}
    for client in (default, kept, given):
        client.close()


def test_kept_tokens_are_the_owners_alone_and_forgotten_one_server_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path / "home"))
    assert saved_tokens() == {}  # no file yet
    save_token("http://a:8000", "af_a")
    save_token("http://b:8000", "af_b")
    save_token("http://a:8000", None)
    assert saved_tokens() == {"http://b:8000": "af_b"}
    assert stat.S_IMODE(credentials_file().stat().st_mode) == 0o600
    credentials_file().write_text("[1, 2]")  # not a mapping: no token, no crash
    assert saved_tokens() == {}

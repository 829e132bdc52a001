"""``azuraforge login|logout`` against a real ``azuraforge serve``: a token the server
recognises is kept for that server only (in a file its owner alone reads) and sent from then
on; one it refuses is not kept."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.client import Client
from azuraforge.errors import CredentialError
from azuraforge.platform.services.access import create_user, new_token
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.servers import free_port, kill_group, start_serve

pytestmark = pytest.mark.slow
runner = CliRunner()
STORES: dict[str, str] = {}
"""The store of each serve of the module, by its address."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A serve's address and a token of user ``ana`` (viewer in ``default``); its store's URL
    in :data:`STORES`."""
    folder = tmp_path_factory.mktemp("cli-login")
    settings = Settings(home=folder / "home", database_url=f"sqlite:///{folder / 'af.db'}")
    port = free_port()
    serve: subprocess.Popen[bytes] = start_serve(settings, port, "--workers", "0")
    store = Store(settings.database_url)
    create_user(store, "ana", "correct horse battery")
    store.set_member("default", "ana", "viewer")
    token, _ = new_token(store, user="ana", project="default", role="viewer")
    store.close()
    STORES[f"http://127.0.0.1:{port}"] = settings.database_url
    yield f"http://127.0.0.1:{port}", token
    kill_group(serve)


def test_a_token_the_server_knows_is_kept_and_sent_until_logout(
    served: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, token = served
    monkeypatch.setenv("AZURAFORGE_HOME", str(tmp_path))
    monkeypatch.delenv("AZURAFORGE_TOKEN", raising=False)
    refused = runner.invoke(app, ["login", "--token-stdin", "--api-url", api],
                            input=token[:-1] + "x\n")  # fmt: skip
    assert refused.exit_code == 1 and "no valid credential" in refused.output
    assert not (tmp_path / "credentials.json").exists()
    empty = runner.invoke(app, ["login", "--token-stdin", "--api-url", api], input="\n")
    assert empty.exit_code == 1 and "that is not a token" in empty.output
    signed = runner.invoke(app, ["login", "--token-stdin", "--api-url", api], input=token + "\n")
    assert signed.exit_code == 0, signed.output
    assert f"signed in to {api} as ana (viewer in default)" in signed.output
    kept = tmp_path / "credentials.json"
    assert json.loads(kept.read_text()) == {api: token}
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert Client.from_environment(api).access.me()["user"] == "ana"  # sent from now on
    assert runner.invoke(app, ["logout", "--api-url", api]).exit_code == 0
    assert json.loads(kept.read_text()) == {}
    with pytest.raises(CredentialError, match="no valid credential") as refused_after:
        Client.from_environment(api).access.me()
    assert f"then `azuraforge login --api-url {api}`" in str(refused_after.value)  # what to do


@pytest.mark.parametrize("given", ["", "af_" + "0" * 12 + "_" + "x" * 43 + "\n"])
def test_a_token_piped_without_the_flag_is_refused_naming_it(
    served: tuple[str, str], tmp_path: Path, given: str
) -> None:
    """``echo af_... | azuraforge login``: the prompt cannot hide what a pipe gives (Python's
    getpass said "Password input may be echoed" and read the pipe); one line naming
    ``--token-stdin``, nothing kept. With the flag, no such warning."""
    command = [sys.executable, "-c", "from azuraforge.cli.main import main; main()", "login",
               "--api-url", served[0]]  # fmt: skip
    env = {**os.environ, "AZURAFORGE_HOME": str(tmp_path)}
    env.pop("AZURAFORGE_TOKEN", None)
    piped = subprocess.run(command, input=given, env=env, capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert piped.returncode == 2, piped.stderr
    assert piped.stderr.splitlines() == [
        "error: standard input is not a terminal to ask the token at: to give it on standard "
        "input, add --token-stdin (echo ... | azuraforge login --token-stdin)"
    ]
    assert piped.stdout == "" and not list(tmp_path.rglob("*credentials*"))  # nothing kept
    flagged = subprocess.run([*command, "--token-stdin"], input=given, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert flagged.returncode == 1, flagged.stderr  # not a token, or one the server refuses
    assert "echoed" not in flagged.stderr + flagged.stdout
    assert len(flagged.stderr.splitlines()) == 1, flagged.stderr


def test_a_login_link_is_on_the_address_the_server_runs_at(
    served: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serve started on a port of its own, not 8000: ``users link`` run where it runs
    (on its store) prints a link to that port, which signs the browser in there."""
    api, _ = served
    monkeypatch.delenv("AZURAFORGE_API_URL", raising=False)
    made = runner.invoke(app, ["users", "link", "admin", "--database-url", STORES[api]])
    assert made.exit_code == 0, made.output
    link = made.output.strip()
    assert link.startswith(f"{api}/api/v1/auth/link?token="), link
    followed = httpx.get(link)
    assert followed.status_code == 303, followed.text
    assert httpx.get(f"{api}/api/v1/auth/me", cookies=followed.cookies).json()["user"] == "admin"
    elsewhere = runner.invoke(app, ["users", "link", "admin", "--url", "https://af.example.org/",
                                    "--database-url", STORES[api]])  # fmt: skip
    assert elsewhere.output.startswith("https://af.example.org/api/v1/auth/link?token=")

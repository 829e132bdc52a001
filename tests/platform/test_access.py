"""Users, projects, roles and API tokens: argon2id at its stated cost, tokens of 256 random
bits kept only as a hash, refused when wrong, revoked or expired, and never for more than the
user's role; every route of the API declares who may call it, and every method of the store
is kept to a project or refused to the API on purpose."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.errors import ConflictError, CredentialError, InvalidParameterError, NotFoundError
from azuraforge.platform.api.access import api_routes, declared_permission
from azuraforge.platform.api.app import create_app
from azuraforge.platform.services.access import (
    BY_SESSION,
    FIRST_ADMIN,
    TOKEN,
    Identity,
    allows,
    authenticate,
    create_user,
    current_role,
    first_admin,
    new_token,
    password_matches,
    read_claims,
    sign_claims,
)
from azuraforge.platform.services.keys import SESSION, ServerKeys
from azuraforge.platform.services.logins import Logins
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.scope import ProjectStore, unclassified

PASSWORD = "correct horse battery"


def test_passwords_are_argon2id_at_the_stated_cost_and_checked() -> None:
    from azuraforge.platform.services.access import hash_password

    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")  # RFC 9106, second choice
    assert PASSWORD not in stored and hash_password(PASSWORD) != stored  # salted
    assert password_matches(stored, PASSWORD) and not password_matches(stored, PASSWORD + "!")
    assert not password_matches("not a hash", PASSWORD)
    with pytest.raises(InvalidParameterError, match="12 characters or more, got 5"):
        hash_password("short")


def test_a_token_is_random_kept_as_a_hash_and_says_who_for_what(store: Store) -> None:
    create_user(store, "ana", PASSWORD)
    store.set_member("default", "ana", "editor")
    token, record = new_token(store, user="ana", project="default", role="editor", name="ci")
    other, _ = new_token(store, user="ana", project="default", role="viewer")
    parts = TOKEN.fullmatch(token)
    assert parts and len(parts[2]) == 43 and token != other  # 32 random bytes: 256 bits
    stored = store.find_token(record.prefix)
    assert stored is not None and parts[2] not in repr(stored)  # the secret is not kept
    assert authenticate(store, token) == Identity("ana", "default", "editor")
    assert store.find_token(record.prefix).last_used_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("forge", ["wrong secret", "unknown prefix", "malformed"])
def test_a_forged_token_is_refused(store: Store, forge: str) -> None:
    create_user(store, "ana", PASSWORD, is_admin=True)
    token, _ = new_token(store, user="ana", project="default", role="admin")
    forged = {
        "wrong secret": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "unknown prefix": re.sub(r"af_[0-9a-f]{12}", "af_000000000000", token),
        "malformed": f"Bearer {token}",
    }[forge]
    with pytest.raises(CredentialError):
        authenticate(store, forged)


def test_a_token_gives_no_more_than_its_users_role_now(store: Store) -> None:
    create_user(store, "dee", PASSWORD)
    store.set_member("default", "dee", "admin")
    token, _ = new_token(store, user="dee", project="default", role="editor")
    assert authenticate(store, token).role == "editor"
    store.set_member("default", "dee", "viewer")  # demoted: the token follows
    assert authenticate(store, token).role == "viewer"
    with store._begin() as connection:  # removed from the project
        connection.exec_driver_sql("DELETE FROM project_members")
    with pytest.raises(CredentialError, match="no longer a member of default"):
        authenticate(store, token)
    store.set_member("default", "dee", "viewer")
    for days in (float("nan"), float("inf"), 0.0, 401 * 86_400.0):
        with pytest.raises(InvalidParameterError, match="expires_in must be above 0"):
            new_token(store, user="dee", project="default", role="viewer", expires_in=days)


def test_a_revoked_or_expired_token_is_refused(store: Store) -> None:
    create_user(store, "ana", PASSWORD, is_admin=True)
    token, record = new_token(store, user="ana", project="default", role="viewer", expires_in=60)
    assert authenticate(store, token, now=record.created_at + 59).role == "viewer"
    with pytest.raises(CredentialError, match="expired"):
        authenticate(store, token, now=record.created_at + 60)
    store.revoke_token(record.prefix)
    with pytest.raises(CredentialError, match="revoked"):
        authenticate(store, token, now=record.created_at)


def test_a_token_never_carries_more_than_the_users_role(store: Store) -> None:
    create_user(store, "bo", PASSWORD)
    store.create_project("team-b")
    with pytest.raises(InvalidParameterError, match="bo is not a member of team-b"):
        new_token(store, user="bo", project="team-b", role="viewer")
    store.set_member("team-b", "bo", "viewer")
    with pytest.raises(InvalidParameterError, match="bo is viewer in team-b: a token for editor"):
        new_token(store, user="bo", project="team-b", role="editor")
    with pytest.raises(InvalidParameterError, match="role must be one of viewer, editor, admin"):
        new_token(store, user="bo", project="team-b", role="owner")
    with pytest.raises(ConflictError, match="a user is named 'bo' already"):
        create_user(store, "bo", PASSWORD)
    assert [allows(role, "write") for role in ("viewer", "editor", "admin")] == [0, 1, 1]
    assert [allows(role, "manage") for role in ("viewer", "editor", "admin")] == [0, 0, 1]


@pytest.mark.parametrize("command", [["users", "create", "bob"], ["users", "password", "bob"]])
def test_a_password_piped_without_the_flag_is_refused_naming_it(settings: Settings, command):
    piped = subprocess.run(  # echo pw | azuraforge users create bob
        [sys.executable, "-c", "from azuraforge.cli.main import main; main()", *command,
         "--database-url", settings.database_url],
        input=f"{PASSWORD}\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 2, piped.stderr
    assert piped.stderr.splitlines() == [
        "error: standard input is not a terminal to ask the password at: to give it on "
        f"standard input, add --password-stdin (echo ... | azuraforge {' '.join(command)} "
        "--password-stdin)"
    ]
    assert PASSWORD not in piped.stdout + piped.stderr


def test_the_cli_makes_users_projects_members_and_tokens(settings: Settings, store: Store):
    runner, url = CliRunner(), ["--database-url", settings.database_url]
    made = runner.invoke(app, ["users", "create", "cy", "--password-stdin", *url],
                         input=f"{PASSWORD}\n")  # fmt: skip
    assert made.exit_code == 0 and "user cy created" in made.output, made.output
    short = runner.invoke(app, ["users", "create", "dee", "--password-stdin", *url], input="x\n")
    assert short.exit_code != 0 and "12 characters or more" in short.output
    assert runner.invoke(app, ["projects", "create", "lab", *url]).exit_code == 0
    member = ["projects", "member", "lab", "cy", "--role", "editor", *url]
    assert runner.invoke(app, member).exit_code == 0
    created = runner.invoke(app, ["tokens", "create", "--user", "cy", "--project", "lab",
                                  "--role", "editor", "--name", "laptop", *url])  # fmt: skip
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert authenticate(store, token)[:3] == ("cy", "lab", "editor")  # and the token's end
    prefix = TOKEN.fullmatch(token)[1]  # type: ignore[index]
    listed = runner.invoke(app, ["tokens", "list", *url]).output
    assert prefix in listed and "active" in listed and token not in listed
    assert runner.invoke(app, ["tokens", "revoke", prefix, *url]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["tokens", "list", *url]).output
    actions = [(e.action, e.target, e.project) for e in reversed(store.list_audit())]
    assert actions == [
        ("user.create", "cy", None), ("project.create", "lab", "lab"),
        ("member.set", "cy: editor", "lab"), ("token.create", f"{prefix} of cy: editor", "lab"),
        ("token.revoke", f"{prefix} of cy", "lab"),
    ]  # fmt: skip
    assert all(e.actor.startswith("cli:") for e in store.list_audit())
    shown = runner.invoke(app, ["audit", "--project", "lab", *url]).output
    assert "token.revoke" in shown and "user.create" not in shown and token not in shown
    logins = Logins(store)
    with pytest.raises(CredentialError):  # a name meant to garble the admin's terminal
        logins.sign_in("[/]\x1b]8;;http://x\x07", PASSWORD, "10.0.0.9")
    logins.refusals.flush()
    whole = runner.invoke(app, ["audit", *url])
    assert whole.exit_code == 0 and "[/]?]8;;http://x?  login.failed" in whole.output


def test_the_first_admin_signs_in_by_a_link_until_they_set_a_password(
    settings: Settings, store: Store
) -> None:
    assert first_admin(store) and not first_admin(store)  # made once
    runner, url = CliRunner(), ["--database-url", settings.database_url]
    link = runner.invoke(app, ["users", "link", FIRST_ADMIN, "--url", "http://af.lan:8000", *url])
    assert link.exit_code == 0, link.output
    token = link.output.strip().removeprefix("http://af.lan:8000/api/v1/auth/link?token=")
    with pytest.raises(CredentialError, match="of kind 'link', not 'api'"):
        authenticate(store, token)  # a link is not an API token
    assert authenticate(store, token, kind="link").user == FIRST_ADMIN
    with pytest.raises(CredentialError, match="revoked"):
        authenticate(store, token, kind="link")  # once
    with pytest.raises(CredentialError):
        Logins(store).sign_in(FIRST_ADMIN, "", "127.0.0.1")  # no password yet
    changed = runner.invoke(app, ["users", "password", FIRST_ADMIN, "--password-stdin", *url],
                            input=f"{PASSWORD}\n")  # fmt: skip
    assert changed.exit_code == 0, changed.output
    assert Logins(store).sign_in(FIRST_ADMIN, PASSWORD, "127.0.0.1").is_admin


SERVER = "5e55e55e55e5"
"""A server's id, the audience of its sessions' claims."""


def test_claims_are_signed_with_the_servers_own_key_and_one_pinned_algorithm(
    settings: Settings, store: Store, sqlite_template: Path, tmp_path: Path
) -> None:
    import jwt

    keys = ServerKeys(store, settings)
    who = Identity("ana", "lab", "editor")
    claim = sign_claims(keys, who, seconds=60, audience=SERVER, now=time.time())
    claimed, signed_at = read_claims(keys, claim, audience=SERVER)
    assert claimed == who._replace(expires_at=signed_at + 60, kind=BY_SESSION)  # its tokens' end
    key = keys.signing(SESSION)
    assert len(bytes.fromhex(key.decode())) == 32 and not settings.home.exists()  # no file
    body = {"sub": "ana", "project": "lab", "role": "admin", "iat": time.time(),
            "exp": time.time() + 60, "aud": SERVER}  # fmt: skip
    forged = {
        "none": jwt.encode(body, None, algorithm="none"),
        "HS512 with its key": jwt.encode(body, key, algorithm="HS512"),
        "another key": jwt.encode(body, "0" * 64, algorithm="HS256"),
        "no expiry": jwt.encode({k: v for k, v in body.items() if k != "exp"}, key),
        "for another server": jwt.encode({**body, "aud": "another"}, key),  # sharing its keys
        "for no server": jwt.encode({k: v for k, v in body.items() if k != "aud"}, key),
        "not a claim": "af_" + "0" * 12,
    }
    for how, token in forged.items():
        with pytest.raises(CredentialError, match="claim refused"):
            read_claims(keys, token, audience=SERVER)
            pytest.fail(f"{how} was read")
    expired = jwt.encode({**body, "exp": time.time() - 1}, key, algorithm="HS256")
    ended, signed_at = read_claims(keys, expired, audience=SERVER)  # judged by the store's clock
    create_user(store, "ana", PASSWORD)
    with pytest.raises(CredentialError, match="a session that ended"):
        current_role(store, ended, signed_at=signed_at)
    shutil.copy(sqlite_template, tmp_path / "other.db")
    other = Store(f"sqlite:///{tmp_path / 'other.db'}")  # another server, the same home
    assert (
        sign_claims(ServerKeys(other, settings), who, seconds=60, audience=SERVER, now=time.time())
        != claim
    )
    other.close()


def test_every_route_declares_one_permission(settings: Settings, store: Store) -> None:
    """A route without a declared permission (or with two) fails here, whoever adds it."""
    served = api_routes(create_app(settings, store=store))
    api = [r for r in served if r.path_format.startswith("/api/v1")]
    assert len(api) > 50
    undeclared = [r.path for r in api if declared_permission(r) is None]
    assert not undeclared, f"routes without a permission: {undeclared}"
    public = sorted(r.path for r in api if declared_permission(r) == "public")
    assert public == ["/api/v1/auth/link", "/api/v1/auth/login", "/api/v1/auth/logout",
                      "/api/v1/health"]  # fmt: skip


def test_every_store_method_is_kept_to_a_project_or_refused_on_purpose(store: Store) -> None:
    assert unclassified() == []
    scoped = ProjectStore(store, "default")
    assert not hasattr(scoped, "claim_next")  # a worker's: no method of the view (nor typed)
    store.create_project("other")
    theirs = store.create_experiment("sleeper", {}, name="theirs", project="other")
    with pytest.raises(NotFoundError, match=f"experiment {theirs.id} not found"):
        scoped.get_metrics(theirs.id)  # an id of another project: as if it did not exist
    assert scoped.find_experiment(theirs.id) is None
    assert scoped.list_experiments(ExperimentQuery(project="other")).total == 0

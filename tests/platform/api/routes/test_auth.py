"""``/auth``: sign in for a session cookie (HttpOnly, SameSite=Strict) holding a signed
claim, by a password or a one-time link, or send an API token; ``/auth/me`` says who that
is; anything else is 401 in words that do not say which part was wrong. A viewer's write is
403; another project than the credential's, 404."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from azuraforge.cli.main import app
from azuraforge.platform.api.access import CHECKED_FOR, session_cookie
from azuraforge.platform.api.app import create_app
from azuraforge.platform.api.routes.auth import SESSION_SECONDS
from azuraforge.platform.services.access import (
    FIRST_ADMIN,
    create_user,
    first_admin,
    login_link,
    new_token,
)
from azuraforge.platform.services.keys import KEPT_FOR, SESSION, WEBHOOK
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import user_headers

PASSWORD = "correct horse battery"
REFUSED = "no valid credential: sign in, or send a token (Authorization: Bearer af_...)"


def test_a_session_signed_in_says_who_and_ends_at_logout(anonymous: TestClient, store: Store):
    create_user(store, "ana", PASSWORD)
    store.set_member("default", "ana", "editor")
    assert anonymous.get("/api/v1/auth/me").json()["error"]["message"] == REFUSED
    signed = anonymous.post("/api/v1/auth/login", json={"name": "ana", "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    assert signed.json() == {"user": "ana", "project": "default", "role": "editor"}
    cookie, named = signed.headers["set-cookie"], session_cookie(anonymous.app)
    assert f"{named}=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert anonymous.get("/api/v1/auth/me").json()["user"] == "ana"
    session = anonymous.cookies[named]
    middle = len(session) - 20  # inside the signature, away from its last, partial character
    tampered = session[:middle] + ("A" if session[middle] != "A" else "B") + session[middle + 1 :]
    anonymous.cookies.clear()
    anonymous.cookies.set(named, tampered)
    assert anonymous.get("/api/v1/auth/me").status_code == 401  # tampered
    anonymous.cookies.clear()
    anonymous.post("/api/v1/auth/login", json={"name": "ana", "password": PASSWORD})
    kept = anonymous.cookies[named]  # a copy someone kept
    assert anonymous.post("/api/v1/auth/logout").status_code == 204
    assert anonymous.get("/api/v1/auth/me").status_code == 401
    anonymous.cookies.set(named, kept)
    assert anonymous.get("/api/v1/auth/me").status_code == 401  # signed out: the copy too
    anonymous.cookies.clear()
    anonymous.post("/api/v1/auth/login", json={"name": "ana", "password": PASSWORD})
    store.set_member("default", "ana", "viewer")  # demoted while signed in
    assert anonymous.get("/api/v1/auth/me").json()["role"] == "viewer"


def test_wrong_names_and_passwords_read_alike_and_projects_do_not_leak(
    anonymous: TestClient, store: Store
):
    create_user(store, "bo", PASSWORD)
    store.create_project("secret-lab")
    wrong = anonymous.post("/api/v1/auth/login", json={"name": "bo", "password": "nope" * 3})
    nobody = anonymous.post("/api/v1/auth/login", json={"name": "zed", "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["error"]["message"] == nobody.json()["error"]["message"] == REFUSED
    for project in ("secret-lab", "no-such-lab"):  # bo is in neither: the same answer
        body = {"name": "bo", "password": PASSWORD, "project": project}
        refused = anonymous.post("/api/v1/auth/login", json=body)
        assert refused.status_code == 404
        assert refused.json()["error"]["message"] == f"no project named {project!r}"


def test_an_api_token_says_who_until_it_is_revoked(anonymous: TestClient, store: Store):
    create_user(store, "cy", PASSWORD, is_admin=True)
    token, record = new_token(store, user="cy", project="default", role="viewer")
    bearer = {"Authorization": f"Bearer {token}"}
    assert anonymous.get("/api/v1/auth/me", headers=bearer).json() == {
        "user": "cy", "project": "default", "role": "viewer",
    }  # fmt: skip
    store.revoke_token(record.prefix)
    assert anonymous.get("/api/v1/auth/me", headers=bearer).status_code == 200  # found good
    later(anonymous)  # a second ago, so read again: a revocation holds within a second
    refused = anonymous.get("/api/v1/auth/me", headers=bearer)
    assert refused.status_code == 401 and refused.json()["error"]["message"] == REFUSED


def later(client: TestClient) -> None:
    """Move the API's clocks of recently checked credentials and of the keys it read past
    their time."""
    state = client.app.state  # type: ignore[attr-defined]
    for kept, good_for in ((state.credentials, CHECKED_FOR), (state.keys, KEPT_FOR)):
        now = kept.clock
        kept.clock = lambda now=now, good_for=good_for: now() + good_for + 0.01


def test_a_login_link_signs_in_once_and_sends_the_browser_only_to_this_server(
    anonymous: TestClient, store: Store
):
    first_admin(store)
    link = login_link(store, FIRST_ADMIN, "default")
    bearer = anonymous.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {link}"})
    assert bearer.status_code == 401  # a link is not an API token
    followed = anonymous.get("/api/v1/auth/link", params={"token": link, "next": "//evil.example"},
                             follow_redirects=False)  # fmt: skip
    assert followed.status_code == 303 and followed.headers["location"] == "/"
    assert anonymous.get("/api/v1/auth/me").json()["user"] == FIRST_ADMIN
    anonymous.cookies.clear()
    again = anonymous.get("/api/v1/auth/link", params={"token": link}, follow_redirects=False)
    assert again.status_code == 401  # used once already
    fresh = login_link(store, FIRST_ADMIN, "default")
    to_run = anonymous.get(
        "/api/v1/auth/link", params={"token": fresh, "next": "/#/experiments/1"},
        follow_redirects=False,
    )  # fmt: skip
    assert to_run.headers["location"] == "/#/experiments/1"


def test_a_session_switches_to_a_project_of_its_user_only(anonymous: TestClient, store: Store):
    create_user(store, "di", PASSWORD)
    store.create_project("lab")
    store.create_project("other")
    store.set_member("default", "di", "editor")
    store.set_member("lab", "di", "viewer")
    anonymous.post("/api/v1/auth/login", json={"name": "di", "password": PASSWORD})
    assert anonymous.get("/api/v1/auth/projects").json() == [
        {"name": "default", "role": "editor", "active": True},
        {"name": "lab", "role": "viewer", "active": False},
    ]  # not "other": di is not a member
    made = anonymous.post("/api/v1/auth/projects", json={"project": "di-lab"})
    assert made.status_code == 403  # an editor here: a project's maker becomes its admin
    moved = anonymous.post("/api/v1/auth/project", json={"project": "lab"})
    assert moved.json() == {"user": "di", "project": "lab", "role": "viewer"}
    assert anonymous.get("/api/v1/auth/me").json()["project"] == "lab"
    for project in ("other", "nowhere"):
        refused = anonymous.post("/api/v1/auth/project", json={"project": project})
        assert refused.status_code == 404  # not theirs: as if it did not exist
        assert refused.json()["error"]["message"] == f"no project named {project!r}"
    assert anonymous.get("/api/v1/auth/me").json()["project"] == "lab"


def test_an_admin_session_is_not_moved_to_a_project_that_does_not_exist(
    anonymous: TestClient, store: Store
):
    """A server admin may work in any project, but only one that exists: 404 naming it, and
    the session stays where it was (it moved there, before)."""
    create_user(store, "ad", PASSWORD, is_admin=True)
    signed = anonymous.post("/api/v1/auth/login", json={"name": "ad", "password": PASSWORD})
    assert signed.json() == {"user": "ad", "project": "default", "role": "admin"}
    refused = anonymous.post("/api/v1/auth/project", json={"project": "no-such-project"})
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"] == {
        "code": "NOT_FOUND",
        "message": "no project named 'no-such-project'",
    }
    assert "set-cookie" not in refused.headers
    assert anonymous.get("/api/v1/auth/me").json()["project"] == "default"
    store.create_project("lab")
    moved = anonymous.post("/api/v1/auth/project", json={"project": "lab"})
    assert moved.json() == {"user": "ad", "project": "lab", "role": "admin"}


def test_roles_and_projects_of_a_token_bound_what_it_reaches(anonymous: TestClient, store: Store):
    create_user(store, "ed", PASSWORD)
    store.set_member("default", "ed", "editor")
    viewer, _ = new_token(store, user="ed", project="default", role="viewer")
    editor, _ = new_token(store, user="ed", project="default", role="editor")
    expired, _ = new_token(store, user="ed", project="default", role="editor", expires_in=1e-6)
    run = {"pipeline": "sleeper", "config": {"steps": 1}}

    def post(token: str, **headers: str) -> int:
        sent = {"Authorization": f"Bearer {token}", **headers}
        return anonymous.post("/api/v1/runs", json=run, headers=sent).status_code

    assert anonymous.post("/api/v1/runs", json=run).status_code == 401
    assert post(viewer) == 403
    assert post(expired) == 401
    assert post(editor, **{"AzuraForge-Project": "lab"}) == 404  # not the token's project
    assert anonymous.get("/api/v1/health").status_code == 200  # anyone: the health check
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        anonymous.websocket_connect("/api/v1/events") as socket,
    ):
        socket.receive_text()  # accepted, then closed with the code
    assert closed.value.code == 4401


def test_the_apis_writes_are_in_the_audit_log_for_the_projects_admins(
    anonymous: TestClient, store: Store
):
    editor = user_headers(store, "fa", "editor")
    made = anonymous.post("/api/v1/models", json={"name": "audited"}, headers=editor)
    assert made.status_code == 201
    anonymous.post("/api/v1/models", json={"name": "audited"}, headers=editor)  # 409: not a write
    assert anonymous.get("/api/v1/auth/audit", headers=editor).status_code == 403
    log = anonymous.get("/api/v1/auth/audit", headers=user_headers(store, "gi", "admin")).json()
    writes = [e for e in log if e["action"] == "POST"]
    assert [(e["actor"], e["target"], e["project"]) for e in writes] == [
        ("fa", "/api/v1/models", "default")
    ]
    assert writes[0]["address"] == "testclient"


def test_admins_manage_members_and_each_user_their_own_tokens(anonymous: TestClient, store: Store):
    admin, editor = user_headers(store, "ha", "admin"), user_headers(store, "io", "editor")
    create_user(store, "ju", PASSWORD)
    store.create_project("lab")  # ju is in a project ha administers: ha may add them here
    store.set_member("lab", "ha", "admin")
    store.set_member("lab", "ju", "editor")
    assert anonymous.get("/api/v1/access/members", headers=editor).status_code == 403
    added = anonymous.put("/api/v1/access/members/ju", json={"role": "viewer"}, headers=admin)
    assert added.json() == {"user": "ju", "role": "viewer"}
    members = anonymous.get("/api/v1/access/members", headers=admin).json()
    assert {"user": "ju", "role": "viewer"} in members
    last = anonymous.delete("/api/v1/access/members/ha", headers=admin)
    assert last.status_code == 409 and "last admin" in last.text
    assert anonymous.put("/api/v1/access/members/nobody", json={"role": "viewer"},
                         headers=admin).status_code == 404  # fmt: skip
    made = anonymous.post("/api/v1/access/tokens", json={"name": "laptop", "role": "editor"},
                          headers=editor).json()  # fmt: skip
    assert made["role"] == "editor" and made["token"].startswith(f"af_{made['prefix']}_")
    too_much = anonymous.post("/api/v1/access/tokens", json={"role": "admin"}, headers=editor)
    assert too_much.status_code == 403  # above io's token's role
    mine = anonymous.get("/api/v1/access/tokens", headers=editor).json()
    assert made["prefix"] in [t["prefix"] for t in mine] and "token" not in mine[0]
    assert (
        anonymous.delete(f"/api/v1/access/tokens/{made['prefix']}", headers=admin).status_code
        == 404
    )
    assert (
        anonymous.delete(f"/api/v1/access/tokens/{made['prefix']}", headers=editor).status_code
        == 204
    )
    later(anonymous)
    fresh = {"Authorization": f"Bearer {made['token']}"}
    assert anonymous.get("/api/v1/auth/me", headers=fresh).status_code == 401  # revoked
    assert anonymous.delete("/api/v1/access/members/ju", headers=admin).status_code == 204


def test_a_project_is_made_by_an_admin_who_becomes_its_admin(anonymous: TestClient, store: Store):
    admin = user_headers(store, "ka", "admin")
    made = anonymous.post("/api/v1/auth/projects", json={"project": "ka-lab"}, headers=admin)
    assert made.status_code == 201 and made.json()["role"] == "admin"
    assert store.member_role("ka-lab", "ka") == "admin"
    taken = anonymous.post("/api/v1/auth/projects", json={"project": "ka-lab"}, headers=admin)
    assert taken.status_code == 409


def test_two_servers_on_one_host_keep_a_session_each(
    settings: Settings, store: Store, sqlite_template: Path, tmp_path: Path
):
    """A browser sends a host's cookies to every port of it: each server (each store) names
    its own."""
    shutil.copy(sqlite_template, tmp_path / "another.db")
    elsewhere = settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'another.db'}"}
    )
    other = Store(elsewhere.database_url)
    for server in (store, other):
        create_user(server, "la", PASSWORD)
        server.set_member("default", "la", "viewer")
    with (
        TestClient(create_app(settings, store=store)) as first,
        TestClient(create_app(elsewhere, store=other)) as second,
    ):
        second.cookies.jar = first.cookies.jar  # one browser's cookies for the host
        for server in (first, second):
            signed = server.post("/api/v1/auth/login", json={"name": "la", "password": PASSWORD})
            assert signed.status_code == 200, signed.text
        assert first.get("/api/v1/auth/me").status_code == 200  # still signed in
        assert second.get("/api/v1/auth/me").status_code == 200
        names = {cookie.name for cookie in first.cookies.jar}
        assert names == {session_cookie(first.app), session_cookie(second.app)}
        assert all(name.startswith("azuraforge_session_") for name in names)
    other.close()


def test_two_homes_on_one_store_are_one_server_and_write_no_key(settings: Settings, store: Store):
    """The API on one machine, another on a second, each with its home: a session signed at
    one is good at the other, and neither writes a key file (the keys are the store's)."""
    create_user(store, "lu", PASSWORD)
    store.set_member("default", "lu", "viewer")
    elsewhere = settings.model_copy(update={"home": settings.home.parent / "another-machine"})
    with (
        TestClient(create_app(settings, store=store)) as first,
        TestClient(create_app(elsewhere, store=store)) as second,
    ):
        signed = first.post("/api/v1/auth/login", json={"name": "lu", "password": PASSWORD})
        assert signed.status_code == 200, signed.text
        assert session_cookie(first.app) == session_cookie(second.app)
        second.cookies = first.cookies
        assert second.get("/api/v1/auth/me").json()["user"] == "lu"
        assert second.post("/api/v1/auth/logout").status_code == 204
        later(first)
        assert first.get("/api/v1/auth/me").status_code == 401  # signed out everywhere
    for home in (settings.home, elsewhere.home):
        assert not list(home.rglob("*.key"))


def test_a_rotation_keeps_sessions_until_the_old_key_is_dropped(settings: Settings, store: Store):
    """``azuraforge keys rotate session``: sessions signed before stay good, new ones are
    signed with the new key, under the same cookie; ``drop-old`` ends the old ones only."""
    create_user(store, "ly", PASSWORD)
    store.set_member("default", "ly", "viewer")
    cli, url = CliRunner(), ["--database-url", settings.database_url]
    with TestClient(create_app(settings, store=store)) as client:
        named = session_cookie(client.app)
        client.post("/api/v1/auth/login", json={"name": "ly", "password": PASSWORD})
        old = client.cookies[named]
        rotated = cli.invoke(app, ["keys", "rotate", "session", *url])
        assert rotated.exit_code == 0 and "generation 2 signs from now on" in rotated.output
        later(client)
        assert session_cookie(client.app) == named and client.get("/api/v1/auth/me").is_success
        client.post("/api/v1/auth/login", json={"name": "ly", "password": PASSWORD})
        new = client.cookies[named]
        newest = store.list_server_keys(SESSION)[0].secret
        assert jwt.decode(new, newest, algorithms=["HS256"], audience=named.rsplit("_")[-1])
        listed = cli.invoke(app, ["keys", "list", *url]).output
        assert "session  generation 2" in listed and "session  generation 1" in listed
        assert newest not in listed
        dropped = cli.invoke(app, ["keys", "drop-old", "session", *url])
        assert dropped.exit_code == 0 and "generation 1 dropped" in dropped.output
        later(client)
        for cookie, status in ((old, 401), (new, 200)):
            client.cookies.clear()
            client.cookies.set(named, cookie)
            assert client.get("/api/v1/auth/me").status_code == status
    shown = cli.invoke(app, ["keys", "show", "webhook", *url])
    assert shown.output.strip() == store.list_server_keys(WEBHOOK)[0].secret
    for wrong, message in ((["show", "session"], "only the webhook key is shown"),
                           (["rotate", "jwt"], "no key named 'jwt'")):  # fmt: skip
        refused = cli.invoke(app, ["keys", *wrong, *url])
        assert refused.exit_code == 2 and refused.output.count("\n") == 1, refused.output
        assert message in refused.output


def test_the_replicas_of_one_server_name_its_cookie_alike(
    settings: Settings, store: Store, tmp_path: Path
):
    """Replicas behind a balancer reach one store by URLs spelled differently (another host
    name, a path through a link): they name the session cookie alike, or a browser's session
    would hold at one replica and not the next."""
    (tmp_path / "linked").symlink_to(tmp_path)
    path = store.engine.url.database
    respelled = settings.database_url.replace(path, str(tmp_path / "linked" / Path(path).name))
    assert respelled != settings.database_url
    replica = settings.model_copy(update={"database_url": respelled})
    same = Store(respelled)
    with (
        TestClient(create_app(settings, store=store)) as first,
        TestClient(create_app(replica, store=same)) as second,
    ):
        assert session_cookie(first.app) == session_cookie(second.app)
    same.close()


def test_a_session_is_good_at_its_own_server_only(
    settings: Settings, store: Store, sqlite_template: Path, tmp_path: Path
):
    """Two servers sharing a home (its key) but not a store: each has an ``admin``, and a
    copy of one's session cookie is refused at the other."""
    shutil.copy(sqlite_template, tmp_path / "other.db")
    elsewhere = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'other.db'}"})
    other = Store(elsewhere.database_url)
    with (
        TestClient(create_app(settings, store=store)) as first,
        TestClient(create_app(elsewhere, store=other)) as second,
    ):
        for server in (store, other):
            first_admin(server)
        link = {"token": login_link(store, FIRST_ADMIN, "default")}
        first.get("/api/v1/auth/link", params=link, follow_redirects=False)
        assert first.get("/api/v1/auth/me").status_code == 200
        second.cookies.set(session_cookie(second.app), first.cookies[session_cookie(first.app)])
        assert second.get("/api/v1/auth/me").status_code == 401
    other.close()


def test_a_session_makes_a_token_ending_with_it_unless_the_password_is_given(
    anonymous: TestClient, store: Store
):
    """A session's cookie reaches every program on its host: without its user's password
    again, a session makes only a token that ends when it does (its expiry or signing out)."""
    create_user(store, "ma", PASSWORD)
    store.set_member("default", "ma", "admin")
    anonymous.post("/api/v1/auth/login", json={"name": "ma", "password": PASSWORD})
    tokens, long = "/api/v1/access/tokens", {"role": "admin", "expires_in_days": 400}
    refused = anonymous.post(tokens, json=long)  # what a copy of the cookie asked for
    assert refused.status_code == 400 and "password" in refused.json()["error"]["message"]
    assert anonymous.post(tokens, json={**long, "password": "not her password"}).status_code == 403
    lasting = anonymous.post(tokens, json={**long, "password": PASSWORD}).json()
    assert lasting["kind"] == "api" and lasting["expires_at"] > time.time() + 399 * 86_400
    bound = anonymous.post(tokens, json={"role": "admin"}).json()
    assert bound["kind"] == "session"
    assert abs(bound["expires_at"] - (time.time() + SESSION_SECONDS)) < 60
    assert {t["prefix"] for t in anonymous.get(tokens).json()} == {
        lasting["prefix"], bound["prefix"]
    }  # fmt: skip
    assert anonymous.post("/api/v1/auth/logout").status_code == 204
    later(anonymous)
    for made, status in ((bound, 401), (lasting, 200)):
        sent = {"Authorization": f"Bearer {made['token']}"}
        assert anonymous.get("/api/v1/auth/me", headers=sent).status_code == status


def test_a_token_made_by_a_session_token_ends_with_the_session_too(
    anonymous: TestClient, store: Store
):
    """A program that read the cookie makes a session's token, then sends it: what that
    token makes ends with the session as well (or it would outlive signing out), and one
    lasting longer than the session asks for the password."""
    create_user(store, "mo", PASSWORD)
    store.set_member("default", "mo", "admin")
    anonymous.post("/api/v1/auth/login", json={"name": "mo", "password": PASSWORD})
    tokens = "/api/v1/access/tokens"
    made = anonymous.post(tokens, json={"role": "admin"}).json()
    bound = {"Authorization": f"Bearer {made['token']}"}
    anonymous.cookies.clear()
    long = anonymous.post(tokens, json={"role": "admin", "expires_in_days": 400}, headers=bound)
    assert long.status_code == 400 and "give your password" in long.json()["error"]["message"]
    derived = anonymous.post(tokens, json={"role": "admin"}, headers=bound).json()
    assert derived["kind"] == "session"
    lasting = anonymous.post(tokens, json={"role": "admin", "password": PASSWORD}, headers=bound)
    assert lasting.json()["kind"] == "api"
    anonymous.post("/api/v1/auth/login", json={"name": "mo", "password": PASSWORD})
    assert anonymous.post("/api/v1/auth/logout").status_code == 204
    later(anonymous)
    derived_sent = {"Authorization": f"Bearer {derived['token']}"}
    for sent, status in ((bound, 401), (derived_sent, 401)):
        assert anonymous.get("/api/v1/auth/me", headers=sent).status_code == status


def test_a_user_without_a_password_makes_tokens_that_end_with_the_session(
    anonymous: TestClient, store: Store
):
    """The first start's admin has no password: their session makes tokens that end with it."""
    first_admin(store)
    link = login_link(store, FIRST_ADMIN, "default")
    anonymous.get("/api/v1/auth/link", params={"token": link}, follow_redirects=False)
    tokens = "/api/v1/access/tokens"
    guessed = anonymous.post(tokens, json={"role": "admin", "password": "any password at all"})
    assert guessed.status_code == 403
    assert anonymous.post(tokens, json={"role": "admin"}).json()["kind"] == "session"

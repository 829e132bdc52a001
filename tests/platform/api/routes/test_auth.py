"""``/auth``: sign in for a session cookie (HttpOnly, SameSite=Strict) holding a signed
claim, or send an API token; ``/auth/me`` says who that is; anything else is 401 in words
that do not say which part was wrong."""

from __future__ import annotations

from fastapi.testclient import TestClient

from azuraforge.platform.services.access import create_user, new_token
from azuraforge.platform.store import Store

PASSWORD = "correct horse battery"
REFUSED = "no valid credential: sign in, or send a token (Authorization: Bearer af_...)"


def test_a_session_signed_in_says_who_and_ends_at_logout(client: TestClient, store: Store):
    create_user(store, "ana", PASSWORD)
    store.set_member("default", "ana", "editor")
    assert client.get("/api/v1/auth/me").json()["error"]["message"] == REFUSED
    signed = client.post("/api/v1/auth/login", json={"name": "ana", "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    assert signed.json() == {"user": "ana", "project": "default", "role": "editor"}
    cookie = signed.headers["set-cookie"]
    assert "azuraforge_session=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert client.get("/api/v1/auth/me").json()["user"] == "ana"
    session = client.cookies["azuraforge_session"]
    middle = len(session) - 20  # inside the signature, away from its last, partial character
    tampered = session[:middle] + ("A" if session[middle] != "A" else "B") + session[middle + 1 :]
    client.cookies.clear()
    client.cookies.set("azuraforge_session", tampered)
    assert client.get("/api/v1/auth/me").status_code == 401  # tampered
    client.cookies.clear()
    client.post("/api/v1/auth/login", json={"name": "ana", "password": PASSWORD})
    kept = client.cookies["azuraforge_session"]  # a copy someone kept
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    client.cookies.set("azuraforge_session", kept)
    assert client.get("/api/v1/auth/me").status_code == 401  # signed out: the copy too
    client.cookies.clear()
    client.post("/api/v1/auth/login", json={"name": "ana", "password": PASSWORD})
    store.set_member("default", "ana", "viewer")  # demoted while signed in
    assert client.get("/api/v1/auth/me").json()["role"] == "viewer"


def test_wrong_names_and_passwords_read_alike_and_projects_do_not_leak(
    client: TestClient, store: Store
):
    create_user(store, "bo", PASSWORD)
    store.create_project("secret-lab")
    wrong = client.post("/api/v1/auth/login", json={"name": "bo", "password": "nope" * 3})
    nobody = client.post("/api/v1/auth/login", json={"name": "zed", "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["error"]["message"] == nobody.json()["error"]["message"] == REFUSED
    for project in ("secret-lab", "no-such-lab"):  # bo is in neither: the same answer
        body = {"name": "bo", "password": PASSWORD, "project": project}
        refused = client.post("/api/v1/auth/login", json=body)
        assert refused.status_code == 404
        assert refused.json()["error"]["message"] == f"no project named {project!r}"


def test_an_api_token_says_who_until_it_is_revoked(client: TestClient, store: Store):
    create_user(store, "cy", PASSWORD, is_admin=True)
    token, record = new_token(store, user="cy", project="default", role="viewer")
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/auth/me", headers=bearer).json() == {
        "user": "cy", "project": "default", "role": "viewer",
    }  # fmt: skip
    store.revoke_token(record.prefix)
    refused = client.get("/api/v1/auth/me", headers=bearer)
    assert refused.status_code == 401 and refused.json()["error"]["message"] == REFUSED

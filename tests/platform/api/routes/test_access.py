"""``/access``: adding or removing a member tells a project's admin nothing of which user
names exist; a token made with a token ends no later than it. (That no credential makes,
grants, lists or revokes above its own role: tests/platform/api/test_credentials.py.)"""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from azuraforge.platform.services.access import NO_PASSWORD, new_token
from azuraforge.platform.store import Store
from tests.platform.fixtures import user_headers


def test_adding_a_member_tells_an_admin_no_user_names(anonymous: TestClient, store: Store):
    admin = user_headers(store, "ha", "admin")
    store.create_user("ju", NO_PASSWORD)  # in no project
    store.create_project("other")
    user_headers(store, "ko", "viewer", project="other")  # in a project ha does not administer
    answers = [
        anonymous.put(f"/api/v1/access/members/{user}", json={"role": "viewer"}, headers=admin)
        for user in ("ju", "ko", "nobody")
    ]
    shown = [(a.status_code, a.json()["error"]["message"].replace(u, "?"))
             for a, u in zip(answers, ("ju", "ko", "nobody"), strict=True)]  # fmt: skip
    assert shown[0] == shown[1] == shown[2] and shown[0][0] == 404, shown
    assert store.member_role("default", "ju") is None
    gone = [anonymous.delete(f"/api/v1/access/members/{user}", headers=admin)
            for user in ("ju", "nobody")]  # fmt: skip
    assert [a.status_code for a in gone] == [404, 404]
    assert gone[0].text.replace("ju", "?") == gone[1].text.replace("nobody", "?")
    store.set_member("other", "ha", "admin")  # ko is now in a project ha administers
    added = anonymous.put("/api/v1/access/members/ko", json={"role": "editor"}, headers=admin)
    assert added.status_code == 200 and store.member_role("default", "ko") == "editor"
    store.create_user("root", NO_PASSWORD, is_admin=True)  # a server admin sees every user
    root, _ = new_token(store, user="root", project="default", role="admin")
    added = anonymous.put("/api/v1/access/members/ju", json={"role": "viewer"},
                          headers={"Authorization": f"Bearer {root}"})  # fmt: skip
    assert added.status_code == 200 and store.member_role("default", "ju") == "viewer"


def test_a_token_made_with_a_token_ends_no_later_than_it(anonymous: TestClient, store: Store):
    user_headers(store, "li", "editor")
    token, maker = new_token(store, user="li", project="default", role="editor",
                             expires_in=10 * 86_400)  # fmt: skip
    signed = {"Authorization": f"Bearer {token}"}
    made = anonymous.post("/api/v1/access/tokens", json={"name": "ci"}, headers=signed)
    assert made.status_code == 201
    assert maker.expires_at is not None and made.json()["expires_at"] <= maker.expires_at + 1
    shorter = anonymous.post("/api/v1/access/tokens", json={"expires_in_days": 2}, headers=signed)
    assert abs(shorter.json()["expires_at"] - (time.time() + 2 * 86_400)) < 60
    longer = anonymous.post("/api/v1/access/tokens", json={"expires_in_days": 30}, headers=signed)
    assert longer.status_code == 400
    assert "ends in 9.99 days cannot last 30 days" in longer.json()["error"]["message"]
    forever, _ = new_token(store, user="li", project="default", role="editor")  # never ends
    made = anonymous.post("/api/v1/access/tokens", json={},
                          headers={"Authorization": f"Bearer {forever}"})  # fmt: skip
    assert abs(made.json()["expires_at"] - (time.time() + 90 * 86_400)) < 60  # the default

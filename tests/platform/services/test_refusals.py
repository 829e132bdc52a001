"""Refused credentials and sign-ins leave a trace without letting a flood write a line or a
row each: the first refusal of a kind, actor and address is logged with the reason the
caller is never told, and the audit log sums each kind, actor and address. Passwords are
hashed cheaply (8 KiB)."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from azuraforge.platform.api.access import session_cookie
from azuraforge.platform.api.app import create_app
from azuraforge.platform.services.access import new_token
from azuraforge.platform.services.refusals import SUMMARY_KEYS, Refusals, summary
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

PASSWORD = "correct horse battery"


def test_refused_tokens_cookies_and_sign_ins_are_logged_once_and_summed(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture,
    cheap_hasher: PasswordHasher,
) -> None:  # fmt: skip
    store.create_user("ana", cheap_hasher.hash(PASSWORD), is_admin=True)
    token, record = new_token(store, user="ana", project="default", role="viewer")
    store.revoke_token(record.prefix)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    app = create_app(settings, store=store)
    app.state.logins.clock = lambda: 1000.0  # the holds do not pass during the test
    with TestClient(app, client=("10.0.0.7", 40000)) as client:
        for sent in [token] * 40 + [forged] * 20:
            assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {sent}"}
                              ).status_code == 401  # fmt: skip
        client.cookies.set(session_cookie(app), "not.a.claim")
        assert client.get("/api/v1/auth/me").status_code == 401
        client.cookies.clear()
        link = {"token": f"af_{'0' * 12}_{'A' * 43}"}
        assert client.get("/api/v1/auth/link", params=link).status_code == 401
        login = {"name": "ana", "password": "guess number 1"}
        statuses = [client.post("/api/v1/auth/login", json=login).status_code for _ in range(30)]
        assert statuses == [401] * 5 + [429] * 25
        assert store.list_audit() == []  # summed, not a row each
    rows = {(e.action, e.actor, e.address): e.target for e in store.list_audit()}  # at shutdown
    prefix = record.prefix
    assert rows == {
        ("token.refused", "-", "10.0.0.7"): f"60 times within 60 s: token {prefix}: revoked (40),"
        f" token {prefix}: wrong secret (20)",
        ("session.refused", "-", "10.0.0.7"): "once within 60 s: claim refused: Invalid header "
        "padding (1)",
        ("link.refused", "-", "10.0.0.7"): "once within 60 s: not a token of this server (1)",
        ("login.failed", "ana", "10.0.0.7"): "5 times within 60 s: wrong name or password (5)",
        ("login.refused", "ana", "10.0.0.7"): "25 times within 60 s: held back after 5 "
        "failures of 'ana' (25)",
    }
    logged = [r.getMessage() for r in caplog.records if r.name.endswith("refusals")]
    assert len(logged) == 5 + 3  # the first of each at once, the sums of those above once
    assert f"refused token.refused from 10.0.0.7: token {prefix}: revoked" in logged
    assert "refused login.failed of 'ana' from 10.0.0.7: wrong name or password" in logged
    assert "guess number" not in caplog.text + repr(rows)  # never a password


def test_a_serving_api_writes_its_summaries_as_it_goes(settings: Settings, store: Store):
    app = create_app(settings, store=store)
    app.state.refusals.seconds = 0.1
    with TestClient(app) as client:
        client.get("/api/v1/auth/me", headers={"Authorization": "Bearer af_not_a_token"})
        deadline = time.monotonic() + 10
        while not store.list_audit() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e.action for e in store.list_audit()] == ["token.refused"]  # before the end


def test_a_flood_from_any_number_of_addresses_writes_a_bounded_number_of_rows(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    refusals = Refusals(store)
    for address in range(3 * SUMMARY_KEYS):
        for _ in range(2):
            refusals.record("token.refused", "", f"10.9.{address // 256}.{address % 256}",
                            "not a token of this server")  # fmt: skip
    refusals.flush()
    rows = store.list_audit(limit=1000)
    assert len(rows) == SUMMARY_KEYS + 1 and len(caplog.records) == 2 * (SUMMARY_KEYS + 1)
    others = [r for r in rows if r.address == "*"]
    assert [r.target for r in others] == [
        f"{2 * 2 * SUMMARY_KEYS} times within 60 s: not a token of this server "
        f"({4 * SUMMARY_KEYS})"
    ]
    refusals.flush()
    assert len(store.list_audit(limit=1000)) == SUMMARY_KEYS + 1  # nothing new, nothing written
    many = Counter({f"reason {n}": 1 for n in range(5)})
    assert summary(many, 60.0).endswith("reason 2 (1), 2 other reasons")

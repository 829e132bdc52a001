"""Signing in: guesses of a name from one address hold that name back from that address only,
longer each time, and say when to try again; every API process holds back the same
attempts (the counts are in the store: tests/platform/store/test_logins.py runs them on SQLite
and PostgreSQL); password checks are capped, an unknown name costing one as a known one
does; a right password never counts against its address. The hashes are cheap (8 KiB) but
where their cost is the point."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from azuraforge.errors import CredentialError, TooManyRequestsError
from azuraforge.platform.api.app import create_app
from azuraforge.platform.services import access
from azuraforge.platform.services.access import HASHER
from azuraforge.platform.services.logins import (
    ADDRESS_FREE_FAILURES,
    ANY_NAME,
    MAX_HOLD,
    MAX_PASSWORD_CHECKS,
    UNKNOWN_USER_HASH,
    Logins,
    PasswordChecks,
    hold_for,
)
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import LoginFailures, Store

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def unknown_hash(cheap_hasher: PasswordHasher) -> str:
    """What an unknown name's password is checked against, cheaply."""
    return cheap_hasher.hash("a password nobody has")


def test_an_attacker_slows_themselves_not_the_user_they_aim_at(
    settings: Settings, store: Store, cheap_hasher: PasswordHasher
) -> None:
    store.create_user("ana", cheap_hasher.hash(PASSWORD))
    store.set_member("default", "ana", "viewer")
    app, clock = create_app(settings, store=store), [1000.0]
    app.state.logins.clock = lambda: clock[0]
    attacker = TestClient(app, client=("10.0.0.2", 40000))
    user = TestClient(app, client=("10.0.0.3", 40000))

    def attempt(client: TestClient, password: str) -> tuple[int, str | None]:
        answer = client.post("/api/v1/auth/login", json={"name": "ana", "password": password})
        return answer.status_code, answer.headers.get("retry-after")

    assert [attempt(attacker, f"guess number {n}") for n in range(5)] == [(401, None)] * 5
    assert attempt(attacker, PASSWORD) == (429, "2")  # the right password too, from there
    assert attempt(user, PASSWORD) == (200, None)  # not from elsewhere
    clock[0] += 2.0
    assert attempt(attacker, "guess number 5") == (401, None)
    assert attempt(attacker, PASSWORD) == (429, "4")  # twice as long each time
    refused = attacker.post("/api/v1/auth/login", json={"name": "ana", "password": PASSWORD})
    assert refused.json()["error"] == {
        "code": "TOO_MANY_REQUESTS",
        "message": "too many failed sign-ins of 'ana' from this address: try again in 4 s",
    }
    other_process = Logins(store, clock=lambda: clock[0])
    with pytest.raises(TooManyRequestsError):  # the counts are in the store
        other_process.sign_in("ana", PASSWORD, "10.0.0.2")
    clock[0] += 4.0
    assert attempt(attacker, PASSWORD) == (200, None)  # then its failures are forgotten
    assert store.find_login_failures("ana", "10.0.0.2") is None
    assert [hold_for(n) for n in (4, 5, 6, 14, 40)] == [0.0, 2.0, 4.0, 900.0, 900.0]


def test_an_address_trying_many_names_slows_itself(
    store: Store, cheap_hasher: PasswordHasher, unknown_hash: str
) -> None:
    store.create_user("ana", cheap_hasher.hash(PASSWORD))
    logins = Logins(store, clock=lambda: 1000.0, unknown_hash=unknown_hash)
    sprayed = LoginFailures(ADDRESS_FREE_FAILURES, 1000.0, 1000.0)  # as after 20 names tried
    store.set_login_failures(ANY_NAME, "10.0.0.5", None, sprayed)
    with pytest.raises(CredentialError):
        logins.sign_in("zed", PASSWORD, "10.0.0.5")  # one name more
    with pytest.raises(TooManyRequestsError) as held:
        logins.sign_in("ana", PASSWORD, "10.0.0.5")  # every name, from there
    assert held.value.public == (
        "too many failed sign-ins of any name from this address: try again in 2 s"
    )
    assert logins.sign_in("ana", PASSWORD, "10.0.0.6").name == "ana"  # not from elsewhere


def test_right_sign_ins_from_one_address_never_hold_it_back(
    store: Store, cheap_hasher: PasswordHasher
) -> None:
    """Everyone behind one address (a proxy, a NAT, localhost) signs in as often as they
    like: each sign-in counted as a failure of the address until its password was checked,
    and a right one did not take it back (the 25th of these was held back, every name then)."""
    for name in ("ana", "bo"):
        store.create_user(name, cheap_hasher.hash(PASSWORD))
    clock = [1000.0]
    logins = Logins(store, clock=lambda: clock[0])
    for _ in range(ADDRESS_FREE_FAILURES + 10):
        clock[0] += 10.0
        assert logins.sign_in("ana", PASSWORD, "127.0.0.1").name == "ana"
    assert logins.sign_in("bo", PASSWORD, "127.0.0.1").name == "bo"
    assert store.find_login_failures(ANY_NAME, "127.0.0.1") is None


def test_a_name_held_back_a_thousand_times_is_still_answered(
    store: Store, cheap_hasher: PasswordHasher, unknown_hash: str
) -> None:
    """Past 1,028 failures a hold doubled each time overflowed a float: an OverflowError, a
    500 from the API. The hold stays at its longest."""
    store.create_user("ana", cheap_hasher.hash(PASSWORD))
    logins = Logins(store, clock=lambda: 1000.0, unknown_hash=unknown_hash)
    over = LoginFailures(1100, 1000.0, 1000.0)  # its last hold just ended
    for name in ("ana", ANY_NAME):
        store.set_login_failures(name, "10.0.0.4", None, over)
    with pytest.raises(CredentialError):
        logins.sign_in("ana", "guess number 1101", "10.0.0.4")
    held = LoginFailures(1101, 1000.0, 1000.0 + MAX_HOLD)
    assert store.find_login_failures("ana", "10.0.0.4") == held
    assert store.find_login_failures(ANY_NAME, "10.0.0.4") == held  # of any name too
    assert hold_for(10**6) == MAX_HOLD


def test_attempts_at_once_each_count(store: Store, cheap_hasher: PasswordHasher) -> None:
    store.create_user("bo", cheap_hasher.hash(PASSWORD))
    logins = Logins(store, checks=PasswordChecks(most=8), clock=lambda: 1000.0)  # no waits
    answers: list[str] = []

    def guess() -> None:
        try:
            logins.sign_in("bo", "a wrong guess!", "10.0.0.9")
        except (CredentialError, TooManyRequestsError) as e:
            answers.append(type(e).__name__)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["CredentialError"] * 5 + ["TooManyRequestsError"] * 3
    assert store.find_login_failures("bo", "10.0.0.9").failures == 5  # type: ignore[union-attr]


class _PeakHasher(PasswordHasher):
    """The real argon2id hasher, counting the checks that run at once."""

    def __init__(self) -> None:
        super().__init__(HASHER.time_cost, HASHER.memory_cost, HASHER.parallelism)
        self.running = self.peak = self.checks = 0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.running += 1
            self.checks += 1
            self.peak = max(self.peak, self.running)
        try:
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def peak_hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[_PeakHasher]:
    hasher = _PeakHasher()
    monkeypatch.setattr(access, "HASHER", hasher)
    yield hasher


def test_password_checks_are_capped_and_an_unknown_name_costs_one(
    settings: Settings, store: Store, peak_hasher: _PeakHasher, cheap_hasher: PasswordHasher
) -> None:
    """16 unknown names at once from 16 addresses (the 1,167 MiB of issue 48): at most
    MAX_PASSWORD_CHECKS argon2id checks run at once; the others wait (half a second here, not
    CHECK_WAIT), or are told to retry. The unknown names' hash is the server's: the cap is on its
    cost, which is a known name's (its parameters are the server's hasher's)."""
    app = create_app(settings, store=store)
    app.state.logins.checks = PasswordChecks(wait=0.5)
    answers: list[tuple[int, str | None]] = []

    def sign_in(number: int) -> None:
        client = TestClient(app, client=(f"10.1.0.{number}", 40000))
        body = {"name": f"nobody{number}", "password": PASSWORD}
        answer = client.post("/api/v1/auth/login", json=body)
        answers.append((answer.status_code, answer.headers.get("retry-after")))

    threads = [threading.Thread(target=sign_in, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= peak_hasher.peak <= MAX_PASSWORD_CHECKS
    refused = [status for status, _ in answers if status == 401]
    assert set(answers) <= {(401, None), (429, "1")} and len(answers) == 16
    assert peak_hasher.checks == len(refused) >= MAX_PASSWORD_CHECKS  # one check a name
    store.create_user("known", cheap_hasher.hash(PASSWORD))
    peak_hasher.checks = 0
    client = TestClient(app, client=("10.2.0.1", 40000))
    known = client.post("/api/v1/auth/login", json={"name": "known", "password": "wrong"})
    assert known.status_code == 401
    assert peak_hasher.checks == 1  # a known name: one check too
    assert not HASHER.check_needs_rehash(UNKNOWN_USER_HASH)

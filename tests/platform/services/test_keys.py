"""The server's keys: in the store, one per purpose however many processes make it at once (on
SQLite and PostgreSQL, ``on_both_databases``: the compare and set is the dialect's unique
key), taken from an earlier version's home file once and never written to a home, overridden
by the settings, rotated and dropped; never shown in an error or a ``repr``."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from pathlib import Path

import jwt
import pytest
from sqlalchemy import text

from azuraforge.errors import ConflictError, CredentialError, InvalidParameterError
from azuraforge.platform.api.app import create_app
from azuraforge.platform.services.access import Identity, read_claims, sign_claims
from azuraforge.platform.services.keys import (
    KEPT_FOR,
    PURPOSES,
    SESSION,
    WEBHOOK,
    ServerKeys,
)
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

WHO = Identity("ana", "lab", "editor")
SERVER = "5e55e55e55e5"
"""A server's name, the audience of its sessions' claims."""


@pytest.mark.on_both_databases
def test_processes_starting_at_once_on_an_empty_store_keep_one_key(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """Four servers, each with a home of its own and its own connections, start at once on a
    store without keys: each signs with the same key, and names its sessions alike."""
    with store.engine.begin() as connection:  # PostgreSQL's database is the session's
        connection.execute(text("DELETE FROM server_keys"))
        connection.execute(text("UPDATE server_identity SET session_name = NULL"))
    start, found, errors = threading.Barrier(4), [], []

    def server(number: int) -> None:
        home = tmp_path / f"home-{number}"
        opened = Store(settings.database_url)
        keys = ServerKeys(opened, settings.model_copy(update={"home": home}))
        start.wait()
        try:
            found.append((keys.signing(SESSION), keys.signing(WEBHOOK), keys.server_name()))
        except BaseException as e:
            errors.append(e)
        finally:
            opened.close()

    threads = [threading.Thread(target=server, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(found) == 4 and len(set(found)) == 1
    for purpose in PURPOSES:
        (kept,) = store.list_server_keys(purpose)
        assert kept.generation == 1 and len(bytes.fromhex(kept.secret)) == 32
        assert kept.secret not in repr(kept)
    assert found[0][0] != found[0][1]  # a key per purpose
    assert not any(path.is_file() for path in tmp_path.rglob("*.key"))


def test_a_home_upgraded_keeps_its_sessions_and_nothing_is_written_to_it(
    settings: Settings, store: Store
) -> None:
    """A server whose home holds the files an earlier version made: their keys are taken
    into the store, so a session signed before (and its cookie's name) and a receiver's key
    stay good; the home is left as it was."""
    settings.home.mkdir(parents=True)
    before = {SESSION: "a1" * 32, WEBHOOK: "b2" * 32}
    (settings.home / "jwt.key").write_text(before[SESSION] + "\n")
    (settings.home / "webhook.key").write_text(before[WEBHOOK])
    old_name = hmac.new(before[SESSION].encode(), store.get_server_id().encode(), hashlib.sha256)
    claims = {"sub": "ana", "project": "lab", "role": "editor", "iat": 1, "exp": 4e9,
              "aud": old_name.hexdigest()[:12]}  # fmt: skip
    signed_before = jwt.encode(claims, before[SESSION].encode(), algorithm="HS256")
    home = sorted((p.name, p.read_bytes()) for p in settings.home.iterdir())
    create_app(settings, store=store)  # the server started: the files' keys are the store's
    assert [k.secret for p in PURPOSES for k in store.list_server_keys(p)] == list(before.values())
    keys = ServerKeys(store, settings)
    assert keys.server_name() == old_name.hexdigest()[:12]  # the cookie's name unchanged
    assert read_claims(keys, signed_before, audience=keys.server_name())[0].user == "ana"
    assert keys.signing(WEBHOOK) == before[WEBHOOK].encode()
    another_home = settings.model_copy(update={"home": settings.home.parent / "elsewhere"})
    assert ServerKeys(store, another_home).signing(WEBHOOK) == before[WEBHOOK].encode()
    assert sorted((p.name, p.read_bytes()) for p in settings.home.iterdir()) == home
    assert not (settings.home.parent / "elsewhere").exists()


def test_a_cut_home_file_is_refused_naming_the_file_not_the_key(
    settings: Settings, store: Store
) -> None:
    settings.home.mkdir(parents=True)
    (settings.home / "jwt.key").write_text("abc123")  # emptied or cut short: no key
    with pytest.raises(ConflictError, match=r"jwt\.key holds no usable key") as refused:
        ServerKeys(store, settings).signing(SESSION)
    assert "abc123" not in str(refused.value) and store.list_server_keys(SESSION) == []


def test_a_rotation_signs_anew_and_the_previous_key_verifies_until_dropped(
    settings: Settings, store: Store
) -> None:
    """What one process rotates, another signs with within :data:`KEPT_FOR` seconds; a
    claim signed before still reads until the old key is dropped."""
    now = [0.0]
    keys, other = ServerKeys(store, settings), ServerKeys(store, settings, clock=lambda: now[0])
    first = sign_claims(other, WHO, seconds=60, audience=SERVER, now=time.time())
    assert keys.rotate(SESSION) == 2
    assert read_claims(other, first, audience=SERVER)[0] is not None
    now[0] += KEPT_FOR + 0.01
    second = sign_claims(other, WHO, seconds=60, audience=SERVER, now=time.time())
    newest, previous = (k.secret.encode() for k in store.list_server_keys(SESSION))
    assert jwt.decode(second, newest, algorithms=["HS256"], audience=SERVER)["sub"] == "ana"
    assert jwt.decode(first, previous, algorithms=["HS256"], audience=SERVER)["sub"] == "ana"
    assert read_claims(other, first, audience=SERVER)[0].user == "ana"  # a previous key
    assert keys.drop_old(SESSION) == [1] and keys.drop_old(SESSION) == []
    now[0] += KEPT_FOR + 0.01
    with pytest.raises(CredentialError, match="claim refused: Signature verification failed"):
        read_claims(other, first, audience=SERVER)
    assert read_claims(other, second, audience=SERVER)[0].user == "ana"
    assert keys.rotate(WEBHOOK) == 2 and store.list_server_keys(SESSION)[0].generation == 2
    with pytest.raises(InvalidParameterError, match="no key named 'jwt'; the server's keys: "):
        keys.rotate("jwt")


def test_keys_in_the_settings_win_and_are_never_shown(settings: Settings, store: Store) -> None:
    """Keys set in the settings sign (the first) and verify (each); the store's are neither
    used nor made; a short one is refused naming its place, not its text."""
    given = ["k" * 40, "p" * 32]
    configured = Settings.model_validate({**settings.model_dump(), "session_key": given})
    keys = ServerKeys(store, configured)
    signed = sign_claims(keys, WHO, seconds=60, audience=SERVER, now=time.time())
    assert jwt.decode(signed, given[0], algorithms=["HS256"], audience=SERVER)["sub"] == "ana"
    by_previous = jwt.encode(jwt.decode(signed, options={"verify_signature": False}), given[1])
    assert read_claims(keys, by_previous, audience=SERVER)[0].user == "ana"
    assert store.list_server_keys(SESSION) == []
    by_store = sign_claims(
        ServerKeys(store, settings), WHO, seconds=60, audience=SERVER, now=time.time()
    )
    with pytest.raises(CredentialError, match="claim refused"):
        read_claims(keys, by_store, audience=SERVER)
    with pytest.raises(ConflictError, match=r"set in the settings \(AZURAFORGE_SESSION_KEY\)"):
        keys.rotate(SESSION)
    assert given[0] not in repr(keys.ring(SESSION)) + repr(configured)
    short = Settings.model_validate({**settings.model_dump(), "webhook_key": "tooshort,"})
    with pytest.raises(InvalidParameterError, match="key 1 of 1 has 8 characters, at least 32"):
        ServerKeys(store, short)
    with pytest.raises(InvalidParameterError) as refused:
        ServerKeys(store, short)
    assert "tooshort" not in str(refused.value)

"""Tokens and sessions by the database's clock: a replica whose machine's clock runs two hours
ahead or behind judges a token's expiry and a sign-out as the others do. The skewed process
runs under Debian's ``faketime`` on the same PostgreSQL store (SQLite's clock is each
process's own: see tests/platform/jobs/test_clock.py)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import textwrap

import pytest

from azuraforge.errors import CredentialError
from azuraforge.platform.services.access import (
    BY_SESSION,
    authenticate,
    create_user,
    new_token,
)
from azuraforge.platform.store import Store

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

HOUR = 3600.0


def a_user(store: Store) -> str:
    """A new server admin (the session's PostgreSQL database keeps its users from test to test)."""
    name = f"ana{secrets.token_hex(4)}"
    create_user(store, name, "a long password", is_admin=True)
    return name


def skewed(database_url: str, skew: str, code: str) -> str:
    """What ``code`` prints, run in a process whose clock is ``skew`` (``faketime -f``) off,
    with ``store`` open on ``database_url``."""
    if shutil.which("faketime") is None:
        pytest.fail("these tests need Debian's faketime: apt-get install faketime",
                    pytrace=False)  # fmt: skip
    script = "from azuraforge.platform.store import Store\n"
    script += f"store = Store({database_url!r})\n" + textwrap.dedent(code)
    done = subprocess.run(["faketime", "-f", skew, sys.executable, "-c", script],
                          capture_output=True, text=True, env=dict(os.environ),
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_replica_ahead_accepts_a_token_that_has_not_ended(store: Store, database_url: str):
    ana = a_user(store)
    token, _ = new_token(store, user=ana, project="default", role="viewer", expires_in=HOUR)
    said = skewed(
        database_url,
        "+2h",
        f"""
        from azuraforge.platform.services.access import authenticate
        print(authenticate(store, {token!r}).user)
    """,
    )
    assert said == ana


def test_a_token_made_on_a_replica_behind_lasts_its_length(store: Store, database_url: str):
    ana = a_user(store)
    made = f"""
        from azuraforge.platform.services.access import new_token
        print(new_token(store, user={ana!r}, project="default", role="viewer",
                        expires_in=3600)[0])
    """
    token = skewed(database_url, "-2h", made)
    record = store.find_credential(token.split("_")[1])
    assert record is not None and record.token.expires_at is not None
    assert HOUR - 60 < record.token.expires_at - store.database_now() <= HOUR
    assert authenticate(store, token).user == ana


def test_a_sign_out_on_a_replica_behind_ends_the_sessions_signed_before(
    store: Store, database_url: str
) -> None:
    ana = a_user(store)
    by_session, _ = new_token(store, user=ana, project="default", role="viewer",
                              expires_in=HOUR, kind=BY_SESSION)  # fmt: skip
    assert authenticate(store, by_session).user == ana
    skewed(database_url, "-2h", f"store.end_sessions({ana!r})")
    with pytest.raises(CredentialError, match="signed out of"):
        authenticate(store, by_session)

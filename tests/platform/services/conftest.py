"""Fixtures of the services' tests."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher


@pytest.fixture(scope="module")
def cheap_hasher() -> PasswordHasher:
    """argon2id over 8 KiB in one pass (the server's: 64 MiB in three), for the tests whose
    point is not a hash's cost: a password is checked at the cost its hash names, so users
    stored with these hashes, and :class:`~azuraforge.platform.services.logins.Logins` given
    one as its ``unknown_hash``, sign in within a millisecond."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

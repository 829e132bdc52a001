"""Failed sign-ins counted in the store: a count changes only from the value it was read at,
so that attempts at once, in any processes, each count once. On SQLite and PostgreSQL: the
compare and set is SQL whose outcome each dialect reports in its own way."""

from __future__ import annotations

import pytest

from azuraforge.platform.store import LoginFailures, Store

pytestmark = pytest.mark.on_both_databases


def test_a_count_is_set_only_from_the_value_it_was_read_at(store: Store) -> None:
    first, second = LoginFailures(1, 100.0, 100.0), LoginFailures(2, 101.0, 101.0)
    assert store.find_login_failures("ana", "10.0.0.1") is None
    assert store.set_login_failures("ana", "10.0.0.1", None, first)
    assert not store.set_login_failures("ana", "10.0.0.1", None, first)  # inserted already
    assert store.set_login_failures("ana", "10.0.0.1", first, second)
    assert not store.set_login_failures("ana", "10.0.0.1", first, second)  # read before that
    assert store.find_login_failures("ana", "10.0.0.1") == second
    assert store.find_login_failures("ana", "10.0.0.2") is None  # by name and address
    store.set_login_failures("bo", "10.0.0.1", None, LoginFailures(1, 50.0, 50.0))
    assert store.delete_login_failures_before(100.0) == 1  # bo's, older
    assert store.find_login_failures("bo", "10.0.0.1") is None
    store.delete_login_failures("ana", "10.0.0.1")
    assert store.find_login_failures("ana", "10.0.0.1") is None

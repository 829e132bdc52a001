"""The server settings' versions in the store (``on_both_databases``: the version's time is
each dialect's clock, and two changes at once meet at the primary key)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import delete

from azuraforge.errors import ConflictError
from azuraforge.platform.store import Store
from azuraforge.platform.store.models import ServerSettingsVersion

pytestmark = pytest.mark.on_both_databases


@pytest.fixture
def versions(store: Store) -> Store:
    """The store without versions (the PostgreSQL database is shared by a session)."""
    with store.engine.begin() as connection:
        connection.execute(delete(ServerSettingsVersion))
    return store


def test_versions_are_written_whole_and_read_newest_first(versions: Store) -> None:
    assert versions.server_settings_version() == 0 and versions.find_server_settings() is None
    before = time.time()
    first = versions.create_server_settings(
        1, {"max_predict_rows": 5}, ["max_predict_rows"], "ada"
    )
    overrides = {"max_predict_rows": 5, "assist_backends": [{"name": "e", "kind": "echo"}]}
    second = versions.create_server_settings(2, overrides, ["assist_backends"], "bob")
    assert versions.server_settings_version() == 2
    assert versions.find_server_settings() == second
    assert second.overrides == overrides and second.actor == "bob"
    assert abs(first.changed_at - before) < 5  # the database's clock, in epoch seconds
    assert versions.list_server_settings() == [second, first]
    assert versions.list_server_settings(limit=1, offset=1) == [first]


def test_a_version_written_meanwhile_is_a_conflict(versions: Store) -> None:
    versions.create_server_settings(1, {"workers": 3}, ["workers"], "ada")
    with pytest.raises(ConflictError, match="version 1 was written by another change"):
        versions.create_server_settings(1, {"workers": 4}, ["workers"], "bob")
    assert versions.find_server_settings().overrides == {"workers": 3}  # type: ignore[union-attr]

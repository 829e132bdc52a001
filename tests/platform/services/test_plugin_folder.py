"""Replicas' plugin sets: each API process reports its digest through the store, and
``/health`` names a replica whose files differ from the others'. On SQLite and PostgreSQL: the
reports are duties' rows, listed and deleted by the database's clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from azuraforge.learn.plugin_folder import load_folder
from azuraforge.platform.api.app import create_app
from azuraforge.platform.services.plugin_folder import PREFIX
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.learn.plugin_files import weather_folder

pytestmark = pytest.mark.on_both_databases


@pytest.fixture(autouse=True)
def no_folder_after() -> Iterator[None]:
    yield
    load_folder(None)


def test_health_shows_the_digest_and_names_the_replica_whose_files_differ(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    same = weather_folder(tmp_path / "same", broken=False)
    other = weather_folder(tmp_path / "other", broken=False)
    (other / "extra.py").write_text("TEMPERATURE_UNIT = 'C'\n")
    apps = [create_app(settings.model_copy(update={"plugins_dir": folder}), store=store)
            for folder in (same, same, other)]  # fmt: skip
    with TestClient(apps[0]) as client, TestClient(apps[1]) as twin:
        with TestClient(apps[2]) as odd_client:
            bodies = [c.get("/api/v1/health").json() for c in (client, twin, odd_client)]
        first, _, odd = (body["plugins"] for body in bodies)
        assert first["digest"] == bodies[1]["plugins"]["digest"] != odd["digest"]
        assert (first["loaded"], first["failed"], odd["loaded"]) == (1, 0, 2)
        expected = [{"replica": apps[2].state.plugins.replica, "digest": odd["digest"]}]
        for seen in (first, odd):  # every replica names the odd one, itself included
            assert (seen["replicas"], seen["consistent"]) == (3, False)
            assert seen["differing"] == expected
        assert all(body["status"] == "ok" for body in bodies)  # reported, not judged
        after = client.get("/api/v1/health").json()["plugins"]  # the odd one stopped
        assert (after["replicas"], after["consistent"], after["differing"]) == (2, True, [])


def test_a_report_lapses_and_is_deleted_by_the_next_beat(store: Store) -> None:
    store.delete_lapsed_duties(PREFIX)  # PostgreSQL's database is the session's: others' rows
    assert store.hold_duty(f"{PREFIX}gone:1:aaaaaa", "d" * 64, 0.0) == 1  # lapsed at once
    assert store.hold_duty(f"{PREFIX}live:2:bbbbbb", "e" * 64, 60.0) == 1
    assert store.hold_duty("not-plugins:3", "host:3:cccccc", 0.0) == 1  # another duty
    assert store.list_duties(PREFIX) == {f"{PREFIX}live:2:bbbbbb": "e" * 64}
    assert store.delete_lapsed_duties(PREFIX) == 1
    assert store.delete_lapsed_duties(PREFIX) == 0
    assert store.hold_duty("not-plugins:3", "host:4:dddddd", 10.0) == 2  # left alone
    store.release_duty(f"{PREFIX}live:2:bbbbbb", "e" * 64)
    assert store.list_duties(PREFIX) == {}

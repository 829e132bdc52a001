"""A stream's promotions registered by two keepers racing, each on a connection of its own:
each learner gets one version, each promotion one alias move, and the loser's files are not
left behind. On SQLite and PostgreSQL: the compare and set (the change's version recorded with
its alias moves, a version made once under the model's lock) is each dialect's SQL and
locking."""

from __future__ import annotations

import itertools
import posixpath
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from azuraforge.platform.blobs import LocalBlobs
from azuraforge.platform.services.streams.registry import register_changes
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import JobWrites, Lease, Store
from tests.platform.fixtures import running_stream

pytestmark = pytest.mark.on_both_databases


def snapshot(learner: str, learned_to: int) -> dict[str, Any]:
    """A learner as a promotion's snapshot holds it."""
    return {"name": learner, "kind": "logreg-adam", "state": {}, "learned_from": 0,
            "learned_to": learned_to, "warmed_on": 0}  # fmt: skip


def promote(store: Store, lease: Lease, old: str, new: str, event: int) -> None:
    """A promotion of ``new`` over ``old`` in the stream's lineage, as its loop writes it."""
    change = {"event": event, "time": 0.0, "kind": "promote", "model": new, "other": old,
              "evidence": {}, "actor": "loop", "reason": "better", "trigger_id": None,
              "snapshots": {old: snapshot(old, event), new: snapshot(new, event)}}  # fmt: skip
    store.write(lease, JobWrites(changes=[change]))


def test_two_keepers_racing_register_each_promotion_once(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    lease = running_stream(store, settings)
    learners = [f"logreg-adam-{n}" for n in range(1, 5)]
    for event, (old, new) in enumerate(itertools.pairwise(learners), start=1):
        promote(store, lease, old, new, 100 * event)
    blobs = LocalBlobs(tmp_path / "blobs")  # the store both keepers write the versions to
    stores = [Store(settings.database_url) for _ in range(2)]
    start = threading.Barrier(len(stores))

    def race(own: Store) -> int:
        own.list_unregistered_changes()  # connected before the start
        start.wait()
        return register_changes(own, blobs)

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            registered = list(pool.map(race, stores))
    finally:
        for own in stores:
            own.close()
    assert sum(registered) == 3  # each promotion by one of them
    name = store.get_experiment(lease.experiment_id).name
    versions, _ = store.list_versions(name)
    assert sorted((v.config["learner"], v.version) for v in versions) == [
        (learner, number) for number, learner in enumerate(learners, start=1)
    ]
    moves, _ = store.list_alias_moves(name, "champion")
    assert [(m.from_version, m.to_version) for m in reversed(moves)] == [
        (None, 1), (1, 2), (2, 3), (3, 4)]  # fmt: skip
    changes = store.list_changes(lease.experiment_id, kinds=["promote"])
    assert [c.version for c in changes] == [2, 3, 4]
    kept = sorted(posixpath.dirname(key) for key in blobs.list_keys("models"))
    assert kept == sorted(v.artifact_path for v in versions)  # the loser's: removed

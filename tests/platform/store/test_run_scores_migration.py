"""Migration 0026_run_scores on SQLite and PostgreSQL: the scores of runs that ended before
are written from their results, and dropped again on the way down."""

from __future__ import annotations

import pytest

from azuraforge.platform.store import Store, make_engine
from azuraforge.platform.store import engine as engines

pytestmark = pytest.mark.on_both_databases
BEFORE = "0025_run_notes"


def test_runs_that_ended_before_get_their_scores(database_url: str) -> None:
    store = Store(database_url)
    try:
        record = store.create_experiment("sleeper", {}, name="before")
        lease = store.claim(record.id, "test-worker", 30.0)
        assert lease is not None
        store.finish(lease, "completed", result={"metrics": {"MAE": {"model": 0.2}}, "n": [1, 2]})
        store.create_experiment("sleeper", {}, name="queued")
    finally:
        store.close()
    engine = make_engine(database_url)
    try:  # down to the schema before scores, and up again: the upgrade fills them
        engines.downgrade(engine, BEFORE)
        engines.upgrade(engine)
    finally:
        engine.dispose()
    store = Store(database_url)
    try:
        items = {r.name: r.scores for r in store.list_experiments().items}
        assert items == {"before": {"metrics.MAE.model": 0.2, "n.0": 1.0, "n.1": 2.0},
                         "queued": {}}  # fmt: skip
        assert store.list_score_names() == ["metrics.MAE.model", "n.0", "n.1"]
    finally:
        store.close()

"""insert_runs: finished runs in bulk, as the listing reads them, beside runs already there.

Doubled on PostgreSQL (``on_both_databases``): the runs are written straight into each
dialect's tables in bulk (and PostgreSQL's are analysed after), not through the store."""

from __future__ import annotations

import pytest

from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.testing.runs import FinishedRun, insert_runs

pytestmark = pytest.mark.on_both_databases


def test_inserted_runs_list_filter_and_sort_like_logged_ones(store: Store):
    existing = store.create_experiment("sleeper", {"steps": 1})
    runs = [
        FinishedRun(f"run-{i}", {"lr": 0.1 * i, "model": {"units": i}}, {"loss": 1.0 / (i + 1)},
                    status="failed" if i == 3 else "completed", step=4)
        for i in range(7)
    ]  # fmt: skip
    insert_runs(store, runs)
    page = store.list_experiments(ExperimentQuery(sort="metric:loss", descending=False, limit=3))
    assert [r.name for r in page.items] == ["run-6", "run-5", "run-4"]
    assert page.total == 8
    failed = store.list_experiments(ExperimentQuery(statuses=["failed"]))
    assert [r.name for r in failed.items] == ["run-3"]
    assert store.get_summaries(page.items[0].id)[0].step == 4
    assert store.get_experiment(existing.id).status == "queued"
    assert store.get_experiment(page.items[0].id).config == {"lr": 0.6000000000000001,
                                                              "model": {"units": 6}}  # fmt: skip

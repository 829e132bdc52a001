"""A listing filtered on a metric keeps runs, trials and retrains (not prediction jobs or
streams) by the kind its metric summaries carry: counting the matches walks the summaries'
index alone and never reads a run (it read 10,001 runs to say "over 10,000"), on SQLite and
PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event

from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.states import PREDICTION, RETRAIN, RUN, TRIAL
from azuraforge.testing.runs import FinishedRun, insert_runs

pytestmark = pytest.mark.on_both_databases

STREAM = "stream"  # a kind the platform layer declares
LISTED = (RUN, TRIAL, RETRAIN)  # what the run list asks for (jobs.kinds.listed_kinds)
LOSS = ExperimentQuery(
    kinds=LISTED, metric="loss", metric_max=0.5, sort="metric:loss", descending=False
)


def _runs_of_every_kind(store: Store) -> None:
    kinds = [RUN, TRIAL, RETRAIN, PREDICTION, STREAM]
    insert_runs(store, [
        FinishedRun(f"{kind}-{i}", {"lr": 0.1}, {"loss": 0.1 * i + 0.01 * n},
                    extra={"kind": kind})
        for n, kind in enumerate(kinds) for i in range(3)
    ])  # fmt: skip


def test_a_metric_listing_keeps_the_kinds_it_lists(store: Store) -> None:
    _runs_of_every_kind(store)
    page = store.list_experiments(LOSS)
    assert [r.name for r in page.items] == [
        "run-0", "trial-0", "retrain-0", "run-1", "trial-1", "retrain-1", "run-2", "trial-2",
        "retrain-2",
    ]  # fmt: skip
    assert page.total == 9 and {r.kind for r in page.items} == {RUN, TRIAL, RETRAIN}
    streams = store.list_experiments(ExperimentQuery(kinds=(STREAM,), metric="loss", metric_min=0))
    assert [r.name for r in streams.items] == ["stream-2", "stream-1", "stream-0"]


def test_logged_metrics_carry_their_runs_kind(store: Store) -> None:
    trial = store.create_experiment("sleeper", {}, kind=TRIAL)
    claimed = store.claim_job("w1", 30.0, trial.id)
    assert claimed is not None
    store.log_metrics(claimed[0], [("loss", 0, 0.25, 0.0)])
    found = store.list_experiments(ExperimentQuery(kinds=(TRIAL,), metric="loss", metric_max=1))
    assert [r.id for r in found.items] == [trial.id]
    assert store.list_experiments(ExperimentQuery(kinds=(RUN,), metric="loss")).total == 0


def test_counting_a_metric_listing_reads_no_run(store: Store) -> None:
    _runs_of_every_kind(store)
    counts = _counts_run(store, replace(LOSS, limit=2))
    assert len(counts) == 1 and "experiments" not in counts[0], counts[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_counting_a_listing_reads_the_runs_index_alone_on_sqlite(store: Store) -> None:
    _runs_of_every_kind(store)
    ((statement, parameters),) = _counts_run(store, ExperimentQuery(limit=2), with_parameters=True)
    with store.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    steps = [row[-1] for row in plan if "experiments" in row[-1]]
    assert steps and all("COVERING INDEX" in step for step in steps), plan


def _counts_run(store: Store, query: ExperimentQuery, with_parameters: bool = False) -> list[Any]:
    """The SQL of each count ``list_experiments(query)`` runs (with its parameters); a page
    that runs out says its total without one, so ``query`` asks for fewer than match."""
    seen: list[Any] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "count(" in statement.lower():
            seen.append((statement, parameters) if with_parameters else statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        store.list_experiments(query)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return seen

"""ExperimentStore: create, read, list (filter, sort, page), cancel, delete; on SQLite and
PostgreSQL (``on_both_databases``: the store's queries, paging and uniqueness checks are SQL
that each dialect runs its own way)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import update

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.platform.store import ExperimentQuery, Store
from azuraforge.platform.store.experiments import flatten
from azuraforge.platform.store.models import Experiment

pytestmark = pytest.mark.on_both_databases


def finished_run(
    store: Store,
    name: str,
    metrics: dict[str, float] | None = None,
    *,
    pipeline: str = "sleeper",
    batch_id: str | None = None,
    status: str = "completed",
) -> int:
    """A run that was claimed, logged ``metrics`` at step 1, and ended as ``status``."""
    record = store.create_experiment(pipeline, {"steps": 3}, name=name, batch_id=batch_id)
    lease = store.claim(record.id, "test-worker", 30.0)
    assert lease is not None
    points = [(key, 1, value, time.time()) for key, value in (metrics or {}).items()]
    store.log_metrics(lease, points)
    store.finish(lease, status)
    return record.id


def test_create_stores_the_run_queued_with_its_config(store: Store) -> None:
    config = {"steps": 3, "seed": 7, "model": {"hidden": 32}}
    before = time.time()
    record = store.create_experiment("sleeper", config, name="first", batch_id="b1")
    assert record.id >= 1
    assert (record.name, record.pipeline, record.project) == ("first", "sleeper", "default")
    assert record.config == config
    assert record.status == "queued"
    assert (record.progress, record.progress_message) == (0.0, "")
    assert before <= record.created_at <= time.time()
    assert record.started_at is None and record.finished_at is None
    assert (record.lease_owner, record.lease_epoch, record.attempts) == (None, 0, 0)
    assert (record.batch_id, record.seed, record.requeue_lost) == ("b1", 7, False)
    assert record.metrics == {}
    assert store.get_experiment(record.id) == record
    events = store.list_events(experiment_id=record.id)
    assert [(e.kind, e.payload) for e in events] == [("status", {"status": "queued"})]


def test_create_without_name_names_the_run_after_its_pipeline(store: Store) -> None:
    first = store.create_experiment("sleeper", {})
    second = store.create_experiment("sleeper", {})
    assert re.fullmatch(r"sleeper-[0-9a-f]{8}", first.name)
    assert first.name != second.name


def test_flatten_joins_nested_keys_and_keeps_strings_bare() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "s": "x", "l": [1, 2], "n": None}) == {
        "a.b.c": "1",
        "s": "x",
        "l": "[1, 2]",
        "n": "null",
    }


def test_get_of_a_missing_run_names_the_id_and_the_store(store: Store) -> None:
    with pytest.raises(
        NotFoundError, match=f"^experiment 42 not found in {re.escape(store.shown_url)}$"
    ):
        store.get_experiment(42)
    assert store.find_experiment(42) is None


def test_get_in_another_project_is_not_found(store: Store) -> None:
    record = store.create_experiment("sleeper", {})
    assert store.get_experiment(record.id, project="default").id == record.id
    with pytest.raises(
        NotFoundError, match=f"experiment {record.id} not found in project 'other'"
    ):
        store.get_experiment(record.id, project="other")


def test_shown_url_hides_the_driver(store: Store) -> None:
    assert "+psycopg" not in store.shown_url
    assert store.shown_url.startswith(("sqlite:///", "postgresql://"))


def test_a_taken_name_is_a_conflict(store: Store) -> None:
    store.create_experiment("sleeper", {}, name="twin")
    with pytest.raises(ConflictError, match="an experiment named 'twin' already exists"):
        store.create_experiment("other", {}, name="twin")
    assert store.list_experiments().total == 1
    # The failed insert left the connection usable and wrote no stray event.
    assert [e.kind for e in store.list_events()] == ["status"]


def test_unknown_project_is_not_found_and_lists_the_known_ones(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no project named 'nope'; projects: default"):
        store.create_experiment("sleeper", {}, project="nope")
    with pytest.raises(NotFoundError, match="no project named 'nope'"):
        store.list_experiments(ExperimentQuery(project="nope"))


def test_delete_frees_the_name_and_removes_metrics_and_events(store: Store) -> None:
    run_id = finished_run(store, "reused", {"loss": 0.5})
    deleted = store.delete_experiment(run_id)
    assert deleted.id == run_id and deleted.name == "reused"
    assert store.find_experiment(run_id) is None
    assert store.get_metrics(run_id) == {}
    assert store.get_summaries(run_id) == []
    assert store.list_events(experiment_id=run_id) == []
    assert store.create_experiment("sleeper", {}, name="reused").name == "reused"


def test_ids_of_a_deleted_run_and_its_events_are_never_reused(store: Store) -> None:
    # A run's id names its folder and its links; a listener resumes after the last event
    # id it saw. SQLite reused the highest deleted id until the tables got AUTOINCREMENT.
    run_id = finished_run(store, "newest", {"loss": 0.5})
    seen = store.last_event_id()
    store.delete_experiment(run_id)
    again = store.create_experiment("sleeper", {})
    assert again.id > run_id
    assert [e.experiment_id for e in store.list_events(after=seen)] == [again.id]


def test_delete_of_a_queued_run(store: Store) -> None:
    record = store.create_experiment("sleeper", {})
    store.delete_experiment(record.id)
    assert store.find_experiment(record.id) is None


def test_delete_of_a_running_run_is_refused(store: Store) -> None:
    record = store.create_experiment("sleeper", {})
    assert store.claim(record.id, "w", 30.0) is not None
    with pytest.raises(ConflictError, match=f"experiment {record.id} is running; cancel it first"):
        store.delete_experiment(record.id)
    assert store.get_experiment(record.id).status == "running"


def test_delete_of_a_missing_run_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="experiment 42 not found"):
        store.delete_experiment(42)


def test_cancel_of_a_queued_run_cancels_it_at_once(store: Store) -> None:
    record = store.create_experiment("sleeper", {})
    cancelled = store.request_cancel(record.id)
    assert cancelled.status == "cancelled"
    assert cancelled.finished_at is not None and cancelled.cancel_requested_at is not None
    assert store.claim(record.id, "w", 30.0) is None
    assert store.claim_next("w", 30.0) is None
    last = store.list_events(experiment_id=record.id)[-1]
    assert last.payload == {"status": "cancelled", "reason": "cancelled while queued"}


def test_cancel_of_a_running_run_only_asks_it_to_stop(store: Store) -> None:
    record = store.create_experiment("sleeper", {})
    lease = store.claim(record.id, "w", 30.0)
    assert lease is not None
    assert store.cancel_requested(record.id) is False
    asked = store.request_cancel(record.id)
    assert asked.status == "running" and asked.cancel_requested_at is not None
    assert store.cancel_requested(record.id) is True
    # Asking twice keeps the first request's time.
    assert store.request_cancel(record.id).cancel_requested_at == asked.cancel_requested_at
    assert store.renew(lease, 30.0) is True


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_cancel_of_a_finished_run_is_a_conflict(store: Store, status: str) -> None:
    run_id = finished_run(store, "done", status=status)
    with pytest.raises(ConflictError, match=f"experiment {run_id} already ended as {status}"):
        store.request_cancel(run_id)
    assert store.get_experiment(run_id).status == status


def test_cancel_of_a_missing_run_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="experiment 42 not found"):
        store.request_cancel(42)


# Listing -------------------------------------------------------------------------------


@pytest.fixture
def runs(store: Store) -> dict[str, int]:
    """Five runs: three completed with a loss, one failed without one, one queued."""
    ids = {
        "alpha": finished_run(store, "alpha", {"loss": 0.3, "acc": 0.9}, batch_id="b1"),
        "beta": finished_run(store, "beta", {"loss": 0.1}, batch_id="b1"),
        "gamma": finished_run(store, "gamma", {"loss": 0.2}, pipeline="weather-forecaster"),
        "delta": finished_run(store, "delta", status="failed"),
    }
    ids["epsilon"] = store.create_experiment("sleeper", {}, name="Epsilon-Queued").id
    return ids


def names(store: Store, **query: object) -> list[str]:
    return [r.name for r in store.list_experiments(ExperimentQuery(**query)).items]  # type: ignore[arg-type]


def test_list_is_newest_first_by_default(store: Store, runs: dict[str, int]) -> None:
    assert names(store) == ["Epsilon-Queued", "delta", "gamma", "beta", "alpha"]


def test_list_carries_each_runs_last_metrics(store: Store, runs: dict[str, int]) -> None:
    items = {r.name: r for r in store.list_experiments().items}
    assert items["alpha"].metrics == {"loss": 0.3, "acc": 0.9}
    assert items["delta"].metrics == {}


def test_list_filters_by_status(store: Store, runs: dict[str, int]) -> None:
    assert names(store, statuses=["failed"]) == ["delta"]
    assert names(store, statuses=["queued", "failed"]) == ["Epsilon-Queued", "delta"]
    assert names(store, statuses=["running"]) == []


def test_list_filters_by_pipeline_and_batch(store: Store, runs: dict[str, int]) -> None:
    assert names(store, pipeline="weather-forecaster") == ["gamma"]
    assert names(store, batch_id="b1") == ["beta", "alpha"]
    assert names(store, batch_id="b1", pipeline="weather-forecaster") == []


def test_list_filters_by_text_in_name_or_pipeline_ignoring_case(
    store: Store, runs: dict[str, int]
) -> None:
    assert names(store, text="EPSILON") == ["Epsilon-Queued"]
    assert names(store, text="queued") == ["Epsilon-Queued"]
    assert names(store, text="weather") == ["gamma"]
    assert names(store, text="a") == ["delta", "gamma", "beta", "alpha"]


def test_list_text_is_matched_literally_not_as_a_pattern(store: Store) -> None:
    store.create_experiment("sleeper", {}, name="lr_0.1")
    store.create_experiment("sleeper", {}, name="lrx0.1")
    store.create_experiment("sleeper", {}, name="100%")
    assert names(store, text="lr_") == ["lr_0.1"]
    assert names(store, text="%") == ["100%"]
    assert names(store, text="\\") == []


def test_list_filters_by_a_metric_range_inclusive(store: Store, runs: dict[str, int]) -> None:
    assert names(store, metric="loss", metric_min=0.15) == ["gamma", "alpha"]
    assert names(store, metric="loss", metric_max=0.2) == ["gamma", "beta"]
    assert names(store, metric="loss", metric_min=0.1, metric_max=0.2) == ["gamma", "beta"]
    assert names(store, metric="acc", metric_min=0.0) == ["alpha"]
    assert names(store, metric="missing", metric_min=0.0) == []


def test_list_sorts_by_columns(store: Store, runs: dict[str, int]) -> None:
    assert names(store, sort="name", descending=False) == [
        "Epsilon-Queued", "alpha", "beta", "delta", "gamma"
    ]  # fmt: skip
    assert names(store, sort="id", descending=False) == [
        "alpha", "beta", "gamma", "delta", "Epsilon-Queued"
    ]  # fmt: skip
    # Ties (same status) fall back to id, in the same direction.
    assert names(store, sort="status", descending=False) == [
        "alpha", "beta", "gamma", "delta", "Epsilon-Queued"
    ]  # fmt: skip
    # Queued runs have not started: they come last either way.
    assert names(store, sort="started_at")[-1] == "Epsilon-Queued"
    assert names(store, sort="started_at", descending=False)[-1] == "Epsilon-Queued"


def test_list_sorts_by_a_metric_with_runs_lacking_it_last(
    store: Store, runs: dict[str, int]
) -> None:
    # Runs without the metric come last both ways, among themselves by id.
    assert names(store, sort="metric:loss", descending=False) == [
        "beta", "gamma", "alpha", "delta", "Epsilon-Queued"
    ]  # fmt: skip
    assert names(store, sort="metric:loss", descending=True) == [
        "alpha", "gamma", "beta", "Epsilon-Queued", "delta"
    ]  # fmt: skip
    assert names(store, sort="metric:acc")[0] == "alpha"


@pytest.mark.parametrize("descending", [False, True])
def test_pages_sorted_by_a_metric_cross_into_the_runs_lacking_it(
    store: Store, runs: dict[str, int], descending: bool
) -> None:
    ordered = (
        ["alpha", "gamma", "beta", "Epsilon-Queued", "delta"]
        if descending
        else ["beta", "gamma", "alpha", "delta", "Epsilon-Queued"]
    )
    for limit in (1, 2, 3, 5):
        for offset in range(7):
            page = names(
                store, sort="metric:loss", descending=descending, offset=offset, limit=limit
            )
            assert page == ordered[offset : offset + limit], (offset, limit)
    finished = names(store, sort="metric:loss", descending=descending, statuses=["failed"])
    assert finished == ["delta"]
    in_batch = names(store, sort="metric:acc", descending=descending, batch_id="b1")
    assert in_batch == ["alpha", "beta"]


def test_list_pages_with_total_offset_and_limit(store: Store, runs: dict[str, int]) -> None:
    page = store.list_experiments(ExperimentQuery(offset=1, limit=2))
    assert [r.name for r in page.items] == ["delta", "gamma"]
    assert (page.total, page.offset, page.limit) == (5, 1, 2)
    last = store.list_experiments(ExperimentQuery(offset=4, limit=2))
    assert [r.name for r in last.items] == ["alpha"] and last.total == 5
    past = store.list_experiments(ExperimentQuery(offset=10, limit=2))
    assert past.items == [] and past.total == 5
    filtered = store.list_experiments(ExperimentQuery(statuses=["completed"], limit=1))
    assert filtered.total == 3 and len(filtered.items) == 1


def test_list_of_an_empty_store(store: Store) -> None:
    page = store.list_experiments()
    assert (page.items, page.total) == ([], 0)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (ExperimentQuery(statuses=["done"]), "status 'done' is not a run status; statuses: "),
        (ExperimentQuery(sort="colour"), "cannot sort by 'colour'; sort by id, name"),
        (ExperimentQuery(sort="metric:"), "cannot sort by 'metric:'"),
        (ExperimentQuery(metric_min=0.1), "metric_min/metric_max need metric=<key>"),
        (ExperimentQuery(metric_max=0.1), "metric_min/metric_max need metric=<key>"),
        (ExperimentQuery(limit=0), "limit must be between 1 and 500, got 0"),
        (ExperimentQuery(limit=501), "limit must be between 1 and 500, got 501"),
        (ExperimentQuery(offset=-1), "offset must be 0 or more, got -1"),
    ],
)
def test_a_bad_query_names_the_field(store: Store, query: ExperimentQuery, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"^{re.escape(message)}"):
        store.list_experiments(query)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite keeps NUL
def test_a_value_the_database_cannot_hold_is_an_invalid_parameter(store: Store) -> None:
    with pytest.raises(InvalidParameterError, match=r"refused a value: .*0x00"):
        store.create_experiment("sleeper", {"note": "a\x00b"})
    assert store.list_experiments().total == 0


def test_reads_do_not_wait_for_a_run_being_written(store: Store) -> None:
    """SQLite: a read took the write lock too, so every listing waited for each metric flush
    (and up to the busy time-out behind a long write)."""
    run = store.create_experiment("sleeper", {}).id
    with store.engine.connect() as writer, writer.begin():  # holds the write lock
        writer.execute(update(Experiment).where(Experiment.id == run).values(progress=0.5))
        with ThreadPoolExecutor(1) as pool:
            reads = pool.submit(
                lambda: (
                    store.list_experiments().total,
                    store.get_experiment(run).progress,
                    len(store.list_events(experiment_id=run)),
                    store.get_metrics(run),
                )
            )
            assert reads.result(timeout=10) == (1, 0.0, 1, {})  # the committed snapshot


@pytest.mark.parametrize(
    ("query", "total", "exact"),
    [
        ({"limit": 3}, 5, False),  # past the limit: the probe finds a 6th
        ({"limit": 50}, 5, False),  # the page ran out: 12 shown, no count
        ({"offset": 10, "limit": 5}, 5, False),  # ran out after an offset
        ({"offset": 20, "limit": 5}, 5, False),  # an empty page: counted
        ({"limit": 2, "text": "keep"}, 5, True),  # at the limit: counted
        ({"offset": 4, "limit": 2, "text": "keep"}, 5, True),
        ({"limit": 5, "text": "keep"}, 5, True),
        ({"limit": 2, "text": "other-1"}, 1, True),
    ],
)
def test_a_pages_total_is_the_count_up_to_the_limit_however_it_is_found(
    store: Store, monkeypatch: pytest.MonkeyPatch, query, total, exact
):
    """Totals are counted up to COUNT_LIMIT and one more; a page that ran out gives it
    without a count, a probe past the limit says "more" without counting: each way, the
    same total and exactness as a count."""
    from azuraforge.platform.store import experiment_query, experiments
    from azuraforge.testing.runs import FinishedRun, insert_runs

    for module in (experiment_query, experiments):
        monkeypatch.setattr(module, "COUNT_LIMIT", 5)
    names = [f"keep-{i}" for i in range(5)] + [f"other-{i}" for i in range(7)]
    insert_runs(store, [FinishedRun(name, {"lr": 0.1}, {"loss": 0.5}) for name in names])
    page = store.list_experiments(ExperimentQuery(**query))
    assert (page.total, page.total_exact) == (total, exact)

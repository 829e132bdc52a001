"""MetricStore: metric points and summaries, progress, log lines, artifacts, events; on
SQLite and PostgreSQL (``on_both_databases``: the points' driver-level batch insert, JSON
payloads (PostgreSQL refuses NaN), name lengths and events read in transaction order differ
by dialect)."""

from __future__ import annotations

import contextlib
import time

import pytest

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.store import Lease, MetricSummaryRecord, Store
from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.metrics import downsample
from tests.platform.fixtures import committed_events

pytestmark = pytest.mark.on_both_databases

T = 1_700_000_000.0


def running(store: Store) -> Lease:
    record = store.create_experiment("sleeper", {})
    lease = store.claim(record.id, "w1", 30.0)
    assert lease is not None
    return lease


def test_points_come_back_per_metric_in_step_order(store: Store) -> None:
    lease = running(store)
    store.log_metrics(lease, [("loss", 2, 0.5, T + 2), ("acc", 1, 0.7, T + 1)])
    store.log_metrics(lease, [("loss", 1, 0.9, T + 1), ("loss", 3, 0.4, T + 3)])
    assert store.get_metrics(lease.experiment_id) == {
        "acc": [(1, 0.7, T + 1)],
        "loss": [(1, 0.9, T + 1), (2, 0.5, T + 2), (3, 0.4, T + 3)],
    }
    assert store.get_metrics(lease.experiment_id, keys=["acc"]) == {"acc": [(1, 0.7, T + 1)]}
    assert store.get_metrics(lease.experiment_id, keys=["nope"]) == {}


def test_summaries_keep_last_at_highest_step_min_max_and_count_across_batches(
    store: Store,
) -> None:
    lease = running(store)
    store.log_metrics(lease, [("loss", 1, 0.9, T), ("loss", 3, 0.5, T), ("loss", 2, 0.1, T)])
    assert store.get_summaries(lease.experiment_id) == [
        MetricSummaryRecord("loss", last=0.5, min=0.1, max=0.9, step=3, count=3)
    ]
    # A later batch with a lower step changes min, max and count, not the last value.
    store.log_metrics(lease, [("loss", 2, 1.5, T), ("acc", 1, 0.3, T)])
    assert store.get_summaries(lease.experiment_id) == [
        MetricSummaryRecord("acc", last=0.3, min=0.3, max=0.3, step=1, count=1),
        MetricSummaryRecord("loss", last=0.5, min=0.1, max=1.5, step=3, count=4),
    ]
    # A higher step takes over as last; the same step again counts as newer.
    store.log_metrics(lease, [("loss", 4, 0.2, T)])
    store.log_metrics(lease, [("acc", 1, 0.6, T)])
    assert store.get_summaries(lease.experiment_id) == [
        MetricSummaryRecord("acc", last=0.6, min=0.3, max=0.6, step=1, count=2),
        MetricSummaryRecord("loss", last=0.2, min=0.1, max=1.5, step=4, count=5),
    ]
    assert store.get_experiment(lease.experiment_id).metrics == {"acc": 0.6, "loss": 0.2}


def test_summaries_match_the_points(store: Store) -> None:
    lease = running(store)
    values = [0.5, 0.25, 0.75, 0.125, 0.375, 0.625]
    for start in range(0, len(values), 2):
        batch = [("m", s, values[s], T) for s in (start + 1, start)]  # steps out of order
        store.log_metrics(lease, batch)
    points = store.get_metrics(lease.experiment_id)["m"]
    assert [v for _, v, _ in points] == values
    (summary,) = store.get_summaries(lease.experiment_id)
    assert summary == MetricSummaryRecord("m", values[-1], min(values), max(values), 5, 6)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_value_is_refused_naming_it_and_nothing_is_written(
    store: Store, value: float
) -> None:
    # SQLite stores NaN as NULL and PostgreSQL's JSON rejects NaN and Infinity: each broke
    # the transaction with a backend's own error.
    lease = running(store)
    with pytest.raises(
        InvalidParameterError, match=f"^metric 'loss' at step 2 is {value}; only finite"
    ):
        store.log_metrics(lease, [("loss", 1, 0.5, T), ("loss", 2, value, T)])
    assert store.get_metrics(lease.experiment_id) == {}
    assert store.get_summaries(lease.experiment_id) == []


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_a_metric_name_that_does_not_fit_is_refused_on_every_backend(
    store: Store, key: str
) -> None:
    # PostgreSQL refused a name over 200 characters with its own error; SQLite kept it.
    lease = running(store)
    with pytest.raises(InvalidParameterError, match="does not fit the store; use 1 to 200"):
        store.log_metrics(lease, [("loss", 1, 0.5, T), (key, 1, 0.5, T)])
    assert store.get_metrics(lease.experiment_id) == {}
    store.log_metrics(lease, [("k" * 200, 1, 0.5, T)])
    assert list(store.get_metrics(lease.experiment_id)) == ["k" * 200]


def test_summaries_of_a_run_without_metrics(store: Store) -> None:
    lease = running(store)
    store.log_metrics(lease, [])
    assert store.get_summaries(lease.experiment_id) == []
    assert store.list_events(experiment_id=lease.experiment_id, kinds=["metrics"]) == []


def test_downsampling_keeps_the_first_and_last_points(store: Store) -> None:
    lease = running(store)
    store.log_metrics(lease, [("loss", s, 1.0 / s, T + s) for s in range(1, 102)])
    store.log_metrics(lease, [("acc", 1, 0.5, T)])
    curves = store.get_metrics(lease.experiment_id, max_points=11)
    steps = [s for s, _, _ in curves["loss"]]
    assert steps == list(range(1, 102, 10))
    assert curves["loss"][-1] == (101, 1.0 / 101, T + 101)
    assert curves["acc"] == [(1, 0.5, T)]  # fewer points than asked: all of them
    full = store.get_metrics(lease.experiment_id, max_points=500)["loss"]
    assert len(full) == 101


@pytest.mark.parametrize(
    ("count", "most", "expected"),
    [
        (10, 4, [0, 3, 6, 9]),
        (10, 2, [0, 9]),
        (10, 10, list(range(10))),
        (3, 5, [0, 1, 2]),
        (0, 5, []),
        (100, 3, [0, 50, 99]),
    ],
)
def test_downsample(count: int, most: int, expected: list[int]) -> None:
    assert downsample(list(range(count)), most) == expected


def test_progress_is_a_clamped_fraction_with_a_message(store: Store) -> None:
    lease = running(store)
    store.set_progress(lease, 3, 4, "step 3")
    record = store.get_experiment(lease.experiment_id)
    assert (record.progress, record.progress_message) == (0.75, "step 3")
    store.set_progress(lease, 9, 4, "x" * 300)
    record = store.get_experiment(lease.experiment_id)
    assert (record.progress, record.progress_message) == (1.0, "x" * 200)
    store.set_progress(lease, 1, 0)
    assert store.get_experiment(lease.experiment_id).progress == 0.0


def test_artifacts_are_listed_in_the_order_recorded(store: Store) -> None:
    lease = running(store)
    store.add_artifact(lease, "report.md", 12, False)
    store.add_artifact(lease, "model", 4096, True)
    listed = store.list_artifacts(lease.experiment_id)
    assert [(a.path, a.size, a.is_dir) for a in listed] == [
        ("report.md", 12, False),
        ("model", 4096, True),
    ]


def test_an_artifact_recorded_again_updates_its_row(store: Store) -> None:
    # A model folder saved every epoch is recorded each time (it used to break the unique
    # constraint, which killed the run's metric flusher).
    lease = running(store)
    store.add_artifact(lease, "model", 10, True)
    store.add_artifact(lease, "report.md", 5, False)
    store.add_artifact(lease, "model", 30, True)
    listed = store.list_artifacts(lease.experiment_id)
    assert [(a.path, a.size, a.is_dir) for a in listed] == [
        ("model", 30, True),
        ("report.md", 5, False),
    ]
    events = store.list_events(experiment_id=lease.experiment_id, kinds=["artifact"])
    assert [(e.payload["path"], e.payload["size"]) for e in events] == [
        ("model", 10),
        ("report.md", 5),
        ("model", 30),
    ]


def test_events_are_written_in_order_with_their_kinds(store: Store) -> None:
    start = store.last_event_id()
    lease = running(store)
    run = lease.experiment_id
    store.log_metrics(lease, [("loss", 1, 0.5, T), ("acc", 1, 0.7, T)])
    store.set_progress(lease, 1, 2, "half")
    store.log_lines(lease, [(T, "INFO", "one"), (T + 1, "WARNING", "two")])
    store.add_artifact(lease, "report.md", 12, False)
    store.finish(lease, "completed")
    events = store.list_events(experiment_id=run)
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all(e.id > start for e in events)
    assert {e.experiment_id for e in events} == {run}
    assert [(e.kind, e.payload) for e in events] == [
        ("status", {"status": "queued"}),
        ("status", {"status": "running", "worker": "w1", "epoch": 1}),
        ("metrics", {"points": [["loss", 1, 0.5], ["acc", 1, 0.7]]}),
        ("progress", {"progress": 0.5, "done": 1, "total": 2, "message": "half"}),
        ("log", {"time": T, "level": "INFO", "message": "one"}),
        ("log", {"time": T + 1, "level": "WARNING", "message": "two"}),
        (
            "artifact",
            {
                "path": "report.md",
                "size": 12,
                "is_dir": False,
                "created_at": pytest.approx(time.time(), abs=5),
            },
        ),
        ("status", {"status": "completed"}),
    ]
    assert store.last_event_id() == events[-1].id


def test_events_read_after_an_id_by_kind_by_project_and_up_to_a_limit(store: Store) -> None:
    first, second = running(store), running(store)
    store.log_lines(first, [(T, "INFO", "a")])
    store.log_lines(second, [(T, "INFO", "b")])
    events = store.list_events()
    project_id = events[0].project_id
    assert store.list_events(project_id=project_id) == events
    assert store.list_events(project_id=project_id + 1000) == []
    assert store.list_events(after=events[2].id) == events[3:]
    assert store.list_events(limit=2) == events[:2]
    logs = store.list_events(kinds=["log"])
    assert [(e.experiment_id, e.payload["message"]) for e in logs] == [
        (first.experiment_id, "a"),
        (second.experiment_id, "b"),
    ]
    assert store.list_events(experiment_id=second.experiment_id, kinds=["log", "status"]) == [
        e for e in events if e.experiment_id == second.experiment_id
    ]


def test_last_event_id_of_an_empty_store_is_zero(store: Store) -> None:
    assert store.last_event_id() == 0
    assert store.list_events() == []


def test_a_long_log_line_is_cut(store: Store) -> None:
    lease = running(store)
    store.log_lines(lease, [(T, "INFO", "x" * 20_000)])
    (line,) = store.list_events(experiment_id=lease.experiment_id, kinds=["log"])
    assert line.payload["message"] == "x" * 10_000


def test_events_of_every_run_are_read_from_a_position_on(store: Store):
    before = store.create_experiment("sleeper", {}).id
    start = store.event_position()
    first, second = (store.create_experiment("sleeper", {}).id for _ in range(2))
    store.request_cancel(first)
    committed_events(store, start, {first, second}, 3, kinds=["status"])
    page = store.list_committed_events(start, kinds=["status"], limit=2)
    rest = store.list_committed_events(page[-1].position, kinds=["status"])
    events = [(e.experiment_id, e.payload["status"]) for e in page + rest]
    assert [pair for pair in events if pair[0] != before] == [
        (first, "queued"),
        (second, "queued"),
        (first, "cancelled"),
    ]
    if store.dialect == "sqlite":  # the start is exact there; PostgreSQL's: see committed_events
        assert before not in {run for run, _ in events}
    assert [e.position for e in page + rest] == sorted(e.position for e in page + rest)
    assert store.list_committed_events(rest[-1].position) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_event_id_committed_after_a_higher_one_is_not_skipped(store: Store):
    """On PostgreSQL two runs' transactions can commit against their id order: a stream
    reading ``id > last seen`` misses the lower one (why ``list_committed_events`` exists)."""
    first, second = (store.create_experiment("sleeper", {}).id for _ in range(2))
    start, last_id = store.event_position(), store.last_event_id()
    with store.engine.begin() as slow:
        StoreBase._event(slow, store.project_of(slow, first), first, "progress", {"p": 0.5})
        with store.engine.begin() as quick:
            StoreBase._event(quick, store.project_of(quick, second), second, "progress", {"p": 1})
        by_id = store.list_events(after=last_id)
        assert [event.experiment_id for event in by_id] == [second]
        # Waits for the older transaction (the runs' status events, committed just before
        # start, may come: the progress ones may not).
        early = store.list_committed_events(start)
        assert [event for event in early if event.kind == "progress"] == []
    assert store.list_events(after=by_id[-1].id) == []  # an id cursor lost the first event
    # Read once every older transaction of the server has ended: other pytest-xdist workers'
    # too, in their own databases (committed_events).
    # Its runs' status events, committed just before start, may come too: progress ones only.
    committed = committed_events(store, start, {first, second}, count=2, kinds=["progress"])
    assert [event.experiment_id for event in committed] == [first, second]


def test_an_event_position_is_found_in_its_project_and_run_alone(store: Store):
    """Where a stream resumes: the position of a kept event of the project (of the run when
    given); another project's, another run's, a deleted run's or an unwritten id has none."""
    mine = store.create_experiment("sleeper", {}).id
    (event,) = store.list_events(experiment_id=mine)
    # On PostgreSQL a project-wide place waits for every older transaction of the server
    # (other test processes' too); once placed, it stays so (the oldest running only grows).
    deadline = time.monotonic() + 30
    while store.find_event_position(event.id, project="default") != event.position:
        assert time.monotonic() < deadline, "the event was never placed"
        time.sleep(0.05)
    assert store.find_event_position(event.id, experiment_id=mine) == event.position
    other = store.create_experiment("sleeper", {}).id
    assert store.find_event_position(event.id, experiment_id=other) is None
    with contextlib.suppress(ConflictError):  # PostgreSQL's projects outlive a test
        store.create_project("elsewhere-events")  # not 'elsewhere': other modules make it
    assert store.find_event_position(event.id, project="elsewhere-events") is None
    assert store.find_event_position(store.last_event_id() + 1) is None
    store.delete_experiment(mine)
    assert store.find_event_position(event.id) is None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_resume_point_behind_a_running_transaction_is_not_placed(store: Store):
    """A stream over every run sends an event only once every older transaction has ended: an
    id committed while an older one still runs is no place it can have reached (resuming
    there would skip the older transaction's events), until that one ends."""
    run = store.create_experiment("sleeper", {}).id
    with store.engine.begin() as older:
        StoreBase._event(older, store.project_of(older, run), run, "progress", {"p": 0.5})
        with store.engine.begin() as newer:
            StoreBase._event(newer, store.project_of(newer, run), run, "progress", {"p": 1})
        newest = store.last_event_id()
        assert store.find_event_position(newest) is None
        assert store.find_event_position(newest, experiment_id=run) is not None  # by id there
    deadline = time.monotonic() + 30  # other tests' transactions on the server may run on
    while store.find_event_position(newest) is None:
        assert time.monotonic() < deadline, "the event was never placed"
        time.sleep(0.05)

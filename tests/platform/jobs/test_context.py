"""StoreContext: buffered metric writes in batches, nothing lost, progress, log lines,
artifacts, a lost lease, and spooling while the store is unreachable."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.jobs.context import SPOOL_NAME, StoreContext
from azuraforge.platform.store import JobWrites, Lease, Store
from tests.platform.fixtures import SmallDisk
from tests.platform.jobs.conftest import TcpProxy, wait_for


def running(store: Store) -> Lease:
    record = store.create_experiment("sleeper", {})
    lease = store.claim(record.id, "w1", 30.0)
    assert lease is not None
    return lease


@pytest.fixture
def lease(store: Store) -> Lease:
    return running(store)


@pytest.fixture
def ctx(store: Store, lease: Lease, tmp_path: Path) -> Iterator[StoreContext]:
    context = StoreContext(store, lease, tmp_path / "run", flush_interval=0.02)
    yield context
    context.close(timeout=10)


def test_metrics_are_written_in_batches_and_none_is_lost(
    store: Store, lease: Lease, ctx: StoreContext
) -> None:
    steps = 1000
    for step in range(1, steps + 1):
        ctx.log_metrics({"loss": 1.0 / step, "acc": step / steps}, step=step)
        if step % 100 == 0:
            time.sleep(0.03)  # let a few flushes happen while logging goes on
    assert ctx.close(timeout=10) is True
    curves = store.get_metrics(lease.experiment_id)
    assert [(s, v) for s, v, _ in curves["loss"]] == [(s, 1.0 / s) for s in range(1, steps + 1)]
    assert [s for s, _, _ in curves["acc"]] == list(range(1, steps + 1))
    batches = store.list_events(experiment_id=lease.experiment_id, kinds=["metrics"], limit=5000)
    assert 2 <= len(batches) <= 100  # many points per commit
    assert sum(len(e.payload["points"]) for e in batches) == 2 * steps
    summaries = {s.key: s for s in store.get_summaries(lease.experiment_id)}
    assert (summaries["loss"].last, summaries["loss"].count) == (1.0 / steps, steps)


def test_a_logged_point_is_stored_within_the_flush_interval(
    store: Store, lease: Lease, ctx: StoreContext
) -> None:
    logged = time.monotonic()
    ctx.log_metrics({"loss": 0.5}, step=1)
    wait_for(lambda: store.get_metrics(lease.experiment_id), timeout=2)
    assert time.monotonic() - logged < 0.5


def logging_during_a_write(ctx: StoreContext, during: Callable[[], None]) -> None:
    """Log a first point and call ``during`` while the store writes it (a run logging faster
    than the store writes): what follows waits ``flush_interval`` after that write."""
    entered, release = threading.Event(), threading.Event()
    write = ctx.writer.write

    def slow(writes: JobWrites) -> None:
        entered.set()
        release.wait(10)
        write(writes)

    ctx.writer.write = slow  # type: ignore[method-assign]
    ctx.log_metrics({"loss": 1.0}, step=0)
    assert entered.wait(10)
    during()
    ctx.writer.write = write  # type: ignore[method-assign]
    release.set()


def test_a_lone_point_is_written_at_once_and_what_comes_during_its_write_in_one_transaction(
    store: Store, lease: Lease, tmp_path: Path
) -> None:
    ctx = StoreContext(store, lease, tmp_path / "run", flush_interval=60)

    def burst() -> None:
        for step in range(1, 201):
            ctx.log_metrics({"loss": 1.0 / step}, step=step)

    logging_during_a_write(ctx, burst)
    wait_for(lambda: store.get_metrics(lease.experiment_id), timeout=10)  # not 60 s later
    time.sleep(0.3)  # the burst waits for the interval after that write
    assert len(store.get_metrics(lease.experiment_id)["loss"]) == 1
    assert ctx.close(timeout=10) is True  # a close cuts the wait short
    batches = store.list_events(experiment_id=lease.experiment_id, kinds=["metrics"])
    assert [len(e.payload["points"]) for e in batches] == [1, 200]


def test_points_logged_slower_than_the_store_writes_are_each_written_at_once(
    store: Store, lease: Lease, tmp_path: Path
) -> None:
    ctx = StoreContext(store, lease, tmp_path / "run", flush_interval=1.0)
    ctx.log_metrics({"loss": 1.0}, step=0)
    wait_for(lambda: store.get_metrics(lease.experiment_id), timeout=10)
    logged = time.monotonic()  # right after that write: nothing came during it
    ctx.log_metrics({"loss": 0.5}, step=1)
    wait_for(lambda: len(store.get_metrics(lease.experiment_id)["loss"]) == 2, every=0.005)
    assert time.monotonic() - logged < 0.8
    assert ctx.close(timeout=10) is True


def test_only_the_newest_progress_is_written(
    store: Store, lease: Lease, ctx: StoreContext
) -> None:
    for done in range(1, 101):
        ctx.progress(done, 100, f"step {done}")
    assert ctx.close(timeout=10) is True
    record = store.get_experiment(lease.experiment_id)
    assert (record.progress, record.progress_message) == (1.0, "step 100")
    written = store.list_events(experiment_id=lease.experiment_id, kinds=["progress"])
    assert 1 <= len(written) < 100
    assert written[-1].payload == {
        "progress": 1.0,
        "done": 100,
        "total": 100,
        "message": "step 100",
    }


def test_log_records_become_log_events(store: Store, lease: Lease, ctx: StoreContext) -> None:
    ctx.logger.info("hello %s", "world")
    ctx.logger.debug("not kept")
    ctx.logger.warning("careful")
    assert ctx.close(timeout=10) is True
    lines = store.list_events(experiment_id=lease.experiment_id, kinds=["log"])
    assert [(e.payload["level"], e.payload["message"]) for e in lines] == [
        ("INFO", "hello world"),
        ("WARNING", "careful"),
    ]
    # Closing detaches the handler: later records go nowhere near the store.
    ctx.logger.info("after close")
    assert len(store.list_events(experiment_id=lease.experiment_id, kinds=["log"])) == 2


def test_artifacts_inside_the_run_folder_are_recorded_with_their_size(
    store: Store, lease: Lease, ctx: StoreContext, tmp_path: Path
) -> None:
    (ctx.output_dir / "report.md").write_text("12345")
    model = ctx.output_dir / "model"
    model.mkdir()
    (model / "a.bin").write_bytes(b"x" * 100)
    (model / "b.bin").write_bytes(b"x" * 20)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    ctx.log_artifact(ctx.output_dir / "report.md")
    ctx.log_artifact(model)
    ctx.log_artifact(outside)
    assert ctx.close(timeout=10) is True
    listed = store.list_artifacts(lease.experiment_id)
    assert [(a.path, a.size, a.is_dir) for a in listed] == [
        ("report.md", 5, False),
        ("model", 120, True),
    ]
    lines = store.list_events(experiment_id=lease.experiment_id, kinds=["log"])
    assert [e.payload["message"] for e in lines] == [
        f"artifact {outside} is outside the run folder; not recorded"
    ]


def test_should_stop_follows_the_stop_request(store: Store, lease: Lease, tmp_path: Path) -> None:
    asked = False
    ctx = StoreContext(store, lease, tmp_path / "run", stop_requested=lambda: asked)
    try:
        assert ctx.should_stop() is False
        asked = True
        assert ctx.should_stop() is True
    finally:
        ctx.close(timeout=10)


def test_a_lost_lease_stops_the_run_and_writes_nothing_more(
    store: Store, lease: Lease, ctx: StoreContext, caplog: pytest.LogCaptureFixture
) -> None:
    ctx.log_metrics({"loss": 1.0}, step=1)
    wait_for(lambda: store.get_metrics(lease.experiment_id))
    store.reap_expired(now=time.time() + 60)
    events = store.list_events(experiment_id=lease.experiment_id)
    with caplog.at_level(logging.WARNING, logger="azuraforge.platform.jobs.context"):
        ctx.log_metrics({"loss": 0.5}, step=2)
        ctx.progress(2, 2)
        wait_for(lambda: ctx.lease_lost, timeout=5)
    assert ctx.should_stop() is True
    assert "is no longer held" in caplog.text
    assert ctx.close(timeout=10) is False  # the last point was never written
    assert store.list_events(experiment_id=lease.experiment_id) == events
    assert [s for s, _, _ in store.get_metrics(lease.experiment_id)["loss"]] == [1]
    assert store.get_experiment(lease.experiment_id).status == "lost"


def test_an_unreachable_store_spools_then_replays_in_order(
    postgres_url: str, postgres_proxy: TcpProxy, tmp_path: Path
) -> None:
    direct = Store(postgres_url)
    proxied = Store(postgres_proxy.url(postgres_url))
    lease = running(direct)
    ctx = StoreContext(proxied, lease, tmp_path / "run", flush_interval=0.02)
    spool = ctx.output_dir / SPOOL_NAME
    try:
        ctx.log_metrics({"loss": 1.0}, step=1)
        wait_for(lambda: direct.get_metrics(lease.experiment_id))
        postgres_proxy.cut()
        for step in range(2, 12):
            ctx.log_metrics({"loss": 1.0 / step}, step=step)
            time.sleep(0.02)
        wait_for(spool.exists, timeout=5)
        assert [s for s, _, _ in direct.get_metrics(lease.experiment_id)["loss"]] == [1]
        postgres_proxy.restore()
        for step in range(12, 15):
            ctx.log_metrics({"loss": 1.0 / step}, step=step)
        assert ctx.close(timeout=10) is True
    finally:
        postgres_proxy.restore()
        ctx.close(timeout=10)
        proxied.close()
    assert postgres_proxy.refused > 0
    assert not spool.exists()
    points = direct.get_metrics(lease.experiment_id)["loss"]
    assert [(s, v) for s, v, _ in points] == [(s, 1.0 / s) for s in range(1, 15)]
    # Written in the order logged: event by event, steps only go up.
    batches = direct.list_events(experiment_id=lease.experiment_id, kinds=["metrics"])
    steps = [p[1] for e in batches for p in e.payload["points"]]
    assert steps == list(range(1, 15))
    direct.close()


def test_an_artifact_logged_again_is_updated_and_nothing_after_it_is_lost(
    store: Store, lease: Lease, ctx: StoreContext
) -> None:
    # A pipeline saving its model folder every epoch logs the same path each time.
    model = ctx.output_dir / "model"
    model.mkdir()
    for epoch in range(1, 4):
        (model / f"epoch{epoch}.bin").write_bytes(b"x" * 10)
        ctx.log_artifact(model)
        ctx.log_metrics({"loss": 1.0 / epoch}, step=epoch)
        wait_for(lambda e=epoch: len(store.get_metrics(lease.experiment_id).get("loss", [])) >= e)
    assert ctx.close(timeout=10) is True
    assert [(a.path, a.size) for a in store.list_artifacts(lease.experiment_id)] == [("model", 30)]


def test_a_diverging_run_keeps_its_finite_metrics_and_logs_the_rest_once(
    store: Store, lease: Lease, ctx: StoreContext
) -> None:
    ctx.log_metrics({"loss": 0.5, "acc": 0.1}, step=1)
    ctx.log_metrics({"loss": float("nan"), "acc": 0.2}, step=2)
    ctx.log_metrics({"loss": float("inf"), "acc": 0.3}, step=3)
    ctx.log_metrics({"loss": 0.25, "acc": 0.4}, step=4)
    assert ctx.close(timeout=10) is True
    curves = store.get_metrics(lease.experiment_id)
    assert [(s, v) for s, v, _ in curves["loss"]] == [(1, 0.5), (4, 0.25)]
    assert [s for s, _, _ in curves["acc"]] == [1, 2, 3, 4]
    lines = store.list_events(experiment_id=lease.experiment_id, kinds=["log"])
    assert [(e.payload["level"], e.payload["message"]) for e in lines] == [
        ("WARNING", "metric loss is nan at step 2; NaN and infinite values are not stored")
    ]


def test_a_metric_name_that_does_not_fit_is_refused_at_once_and_the_rest_flows(
    store: Store, lease: Lease, ctx: StoreContext
) -> None:
    with pytest.raises(InvalidParameterError, match=r"\(250 characters\) does not fit"):
        ctx.log_metrics({"loss": 1.0, "k" * 250: 1.0}, step=1)
    ctx.log_metrics({"loss": 0.5}, step=2)
    assert ctx.close(timeout=10) is True
    assert [s for s, _, _ in store.get_metrics(lease.experiment_id)["loss"]] == [2]


def test_a_store_error_that_is_no_outage_makes_the_end_honest(
    store: Store, lease: Lease, ctx: StoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise RuntimeError("value too long for type character varying(500)")

    monkeypatch.setattr(store, "write", refuse)
    ctx.logger.info("a line the store refuses")
    ctx.log_metrics({"loss": 1.0}, step=1)
    assert not ctx.close(timeout=5)
    assert ctx.tracking_error == "RuntimeError: value too long for type character varying(500)"
    status, error = ctx.end_status("completed", None)
    assert status == "failed"
    assert "ended completed but its metrics could not all be stored" in error
    assert ctx.end_status("failed", "boom") == ("failed", "boom")


def test_finish_writes_the_last_buffer_and_the_end_in_one_transaction(
    store: Store, lease: Lease, tmp_path: Path
) -> None:
    ctx = StoreContext(store, lease, tmp_path / "run", flush_interval=60)

    def the_rest() -> None:  # logged during the first write: waits 60 s
        ctx.log_metrics({"loss": 0.5}, step=1)
        ctx.progress(1, 4)
        ctx.logger.info("the last line")

    logging_during_a_write(ctx, the_rest)
    wait_for(lambda: store.get_metrics(lease.experiment_id), timeout=10)
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    event.listen(store.engine, "commit", count)
    assert ctx.finish("completed", None, {"best": 0.5}) is True
    event.remove(store.engine, "commit", count)
    assert len(commits) == 1
    record = store.get_experiment(lease.experiment_id)
    assert (record.status, record.progress, record.result) == ("completed", 1.0, {"best": 0.5})
    assert record.metrics == {"loss": 0.5}
    events = store.list_events(experiment_id=lease.experiment_id)
    assert [e.kind for e in events][-4:] == ["metrics", "log", "progress", "status"]
    assert ctx.close(timeout=5) is True  # nothing left


def test_finish_leaves_a_lost_lease_to_close(
    store: Store, lease: Lease, ctx: StoreContext
) -> None:
    store.reap_expired(now=time.time() + 60)
    ctx.log_metrics({"loss": 0.5}, step=1)  # written at once, or with the end: refused
    assert ctx.finish("completed", None, None) is False  # nothing written
    assert ctx.close(timeout=10) is False and ctx.lease_lost
    assert store.get_experiment(lease.experiment_id).status == "lost"
    assert store.get_metrics(lease.experiment_id) == {}


def test_finish_after_a_store_error_leaves_the_end_to_the_caller(
    store: Store, lease: Lease, ctx: StoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("value too long for type character varying(500)")

    monkeypatch.setattr(store, "write", refuse)
    ctx.log_metrics({"loss": 1.0}, step=1)
    wait_for(lambda: ctx.tracking_error is not None, timeout=5)
    assert ctx.finish("completed", None, None) is False
    assert store.get_experiment(lease.experiment_id).status == "running"
    assert ctx.end_status("completed", None)[0] == "failed"


def test_a_streams_outcomes_are_stored_with_the_checkpoint_they_come_with(
    store: Store, lease: Lease, tmp_path: Path
) -> None:
    ctx = StoreContext(store, lease, tmp_path / "run", flush_interval=60)
    first = [(24, 86400.0, "model", 0.6, True, 0.51, 0.01),
             (24, 86400.0, "always up", 1.0, True, 0.0, 0.01)]  # fmt: skip
    later = [(25, 90000.0, "model", 0.4, True, 0.92, 0.02)]

    def checkpoints() -> None:  # saved during the first write: wait 60 s
        ctx.save_checkpoint({"events": 25}, first)
        ctx.save_checkpoint({"events": 26}, later)  # replaces it

    logging_during_a_write(ctx, checkpoints)
    wait_for(lambda: store.get_metrics(lease.experiment_id), timeout=10)
    assert store.outcome_scores(lease.experiment_id) == {}  # nothing written yet
    assert ctx.close(timeout=10)
    assert store.load_checkpoint(lease.experiment_id) == {"events": 26}
    assert store.outcome_scores(lease.experiment_id) == {
        "always up": (1, 1.0, 0.0),
        "model": (2, 0.5, pytest.approx((0.51 + 0.92) / 2)),
    }
    assert store.outcome_gains(lease.experiment_id)["model"] == [(86400.0, 0.6, 0.01),
                                                                (90000.0, 0.4, 0.02)]  # fmt: skip
    assert store.outcome_gains(lease.experiment_id, every=2)["model"] == [(86400.0, 0.6, 0.01)]


def test_a_job_that_read_its_checkpoint_writes_its_first_point_with_its_first_checkpoint(
    store: Store, lease: Lease, ctx: StoreContext
) -> None:
    assert ctx.load_checkpoint() is None  # a first start
    ctx.log_metrics({"events": 250.0}, step=250)  # alone, it would be written at once
    time.sleep(0.3)
    assert store.get_metrics(lease.experiment_id) == {}  # killed here, it is not logged twice
    ctx.save_checkpoint({"events": 250})
    wait_for(lambda: store.load_checkpoint(lease.experiment_id) is not None, timeout=10)
    assert [step for step, *_ in store.get_metrics(lease.experiment_id)["events"]] == [250]


@pytest.fixture
def outage_on_a_full_disk(
    postgres_url: str, postgres_proxy: TcpProxy, small_disk: SmallDisk
) -> Iterator[tuple[Store, Store]]:
    """The store (direct, then through the proxy the test cuts) of a run whose folder is on
    a disk the test fills."""
    direct, proxied = Store(postgres_url), Store(postgres_proxy.url(postgres_url))
    yield direct, proxied
    postgres_proxy.restore()
    proxied.close()
    direct.close()


def test_points_a_full_disk_refuses_are_held_until_the_store_takes_them(
    outage_on_a_full_disk: tuple[Store, Store],
    postgres_proxy: TcpProxy,
    small_disk: SmallDisk,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The spool's ENOSPC killed the flusher (a traceback in a thread) and lost the points
    it had taken: step 6 of every metric."""
    direct, proxied = outage_on_a_full_disk
    lease = running(direct)
    ctx = StoreContext(proxied, lease, small_disk.path / "run", flush_interval=0.02)
    ctx.log_metrics({"loss": 1.0}, step=1)
    wait_for(lambda: direct.get_metrics(lease.experiment_id))
    small_disk.fill()
    postgres_proxy.cut()
    for step in range(2, 12):
        ctx.log_metrics({"loss": 1.0 / step}, step=step)
        time.sleep(0.02)
    wait_for(lambda: "the spool cannot take metric points either" in caplog.text, timeout=5)
    postgres_proxy.restore()  # the disk is still full
    for step in range(12, 15):
        ctx.log_metrics({"loss": 1.0 / step}, step=step)
    assert ctx.close(timeout=10) is True
    points = direct.get_metrics(lease.experiment_id)["loss"]
    assert [(s, v) for s, v, _ in points] == [(s, 1.0 / s) for s in range(1, 15)]
    assert ctx.dropped_points == 0 and ctx.end_status("completed", None) == ("completed", None)
    assert "No space left on device" in caplog.text and "Traceback" not in caplog.text


def test_points_past_what_memory_holds_are_dropped_and_the_end_says_how_many(
    outage_on_a_full_disk: tuple[Store, Store],
    postgres_proxy: TcpProxy,
    small_disk: SmallDisk,
) -> None:
    direct, proxied = outage_on_a_full_disk
    lease = running(direct)
    ctx = StoreContext(proxied, lease, small_disk.path / "run", flush_interval=0.02,
                       held_points=6)  # fmt: skip
    small_disk.fill()
    postgres_proxy.cut()
    for step in range(1, 11):
        ctx.log_metrics({"loss": 1.0 / step, "val_loss": 2.0 / step}, step=step)
        time.sleep(0.02)
    postgres_proxy.restore()
    assert ctx.close(timeout=10) is True
    curves = direct.get_metrics(lease.experiment_id)
    stored = sum(len(curve) for curve in curves.values())
    assert ctx.dropped_points > 0 and stored + ctx.dropped_points == 20
    status, error = ctx.end_status("completed", None)
    assert status == "failed"
    assert error == (f"the run ended completed but {ctx.dropped_points} metric points were "
                     "dropped: neither the store nor the spool could take them, and at most 6 "
                     "are held in memory")  # fmt: skip
    assert ctx.end_status("cancelled", None)[1] == error.removeprefix(
        "the run ended completed but "
    )
    logged = direct.list_events(experiment_id=lease.experiment_id, kinds=["log"])
    assert any("points logged until one does are dropped" in e.payload["message"]
               for e in logged)  # fmt: skip


def test_a_run_reaped_while_its_stores_disk_was_full_ends_failed_with_its_points(
    sqlite_template: Path, store_disk: SmallDisk
) -> None:
    """The reaper marked it lost ("stopped renewing its lease") once the disk had room, and
    the points it held while the disk was full were refused: its worker could not renew the
    lease on that disk, which the run's own process knows."""
    disk = store_disk
    shutil.copy(sqlite_template, disk.path / "azuraforge.db")
    store = Store(f"sqlite:///{disk.path / 'azuraforge.db'}")
    reaper = Store(store.url)
    record = store.create_experiment("sleeper", {})
    lease = store.claim(record.id, "w1", 0.5)  # no one renews it
    assert lease is not None
    ctx = StoreContext(store, lease, disk.path / "run", flush_interval=0.02)
    ctx.log_metrics({"loss": 1.0}, step=1)
    wait_for(lambda: store.get_metrics(record.id))
    disk.fill()
    for step in range(2, 8):
        ctx.log_metrics({"loss": 1.0 / step}, step=step)
    wait_for(lambda: ctx.full_disk is not None, timeout=5)
    time.sleep(0.5)  # the lease lapses
    disk.free()
    assert reaper.reap_expired() == [(record.id, "lost")]  # before the run's next write
    wait_for(lambda: store.get_experiment(record.id).status != "lost", timeout=5)
    ctx.close(timeout=5)
    ended = store.get_experiment(record.id)
    assert (ended.status, ctx.settled) == ("failed", True)
    assert ended.error is not None and ended.error.startswith(
        "the disk of the store was full (database or disk is full) for "
    ), ended.error
    points = store.get_metrics(record.id)["loss"]
    assert [(s, v) for s, v, _ in points] == [(s, 1.0 / s) for s in range(1, 8)]
    assert reaper.settle_reaped(lease, "again") is False  # settled once
    store.close()
    reaper.close()

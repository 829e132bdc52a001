"""LeaseStore: claim order, racing claimers, renew, finish, fencing, reaping; on SQLite and
PostgreSQL (``on_both_databases``: a claim is ``FOR UPDATE SKIP LOCKED`` there and ``BEGIN
IMMEDIATE`` on SQLite, so racing claimers meet different locks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from azuraforge.errors import ConflictError, InvalidParameterError, LeaseLostError
from azuraforge.platform.store import JobWrites, Lease, Store

pytestmark = pytest.mark.on_both_databases

TTL = 30.0


def claimed(store: Store, owner: str = "w1", *, requeue_lost: bool = False) -> Lease:
    """A new run, claimed by ``owner``."""
    record = store.create_experiment("sleeper", {}, requeue_lost=requeue_lost)
    lease = store.claim(record.id, owner, TTL)
    assert lease is not None
    return lease


def expire(store: Store) -> list[tuple[int, str]]:
    """Reap as a reaper whose clock is past every lease."""
    return store.reap_expired(now=time.time() + 10 * TTL)


def test_claim_next_takes_the_oldest_queued_run(store: Store) -> None:
    ids = [store.create_experiment("sleeper", {}).id for _ in range(3)]
    before = time.time()
    first = store.claim_next("w1", TTL)
    assert first == Lease(ids[0], "w1", 1)
    record = store.get_experiment(ids[0])
    assert (record.status, record.worker, record.lease_owner) == ("running", "w1", "w1")
    assert (record.lease_epoch, record.attempts) == (1, 1)
    assert record.started_at is not None and before <= record.started_at <= time.time()
    assert record.heartbeat_at == record.started_at
    assert record.lease_expires_at == pytest.approx(record.started_at + TTL)
    assert [store.claim_next("w2", TTL), store.claim_next("w3", TTL)] == [
        Lease(ids[1], "w2", 1),
        Lease(ids[2], "w3", 1),
    ]
    assert store.claim_next("w1", TTL) is None
    status = store.list_events(experiment_id=ids[0])[-1]
    assert status.payload == {"status": "running", "worker": "w1", "epoch": 1}


def test_claim_next_skips_runs_that_are_not_queued(store: Store) -> None:
    cancelled = store.create_experiment("sleeper", {}).id
    store.request_cancel(cancelled)
    queued = store.create_experiment("sleeper", {}).id
    lease = store.claim_next("w1", TTL)
    assert lease is not None and lease.experiment_id == queued


def test_claim_next_of_an_empty_queue_is_none(store: Store) -> None:
    assert store.claim_next("w1", TTL) is None


def test_claim_of_a_run_that_is_not_queued_is_none(store: Store) -> None:
    lease = claimed(store)
    assert store.claim(lease.experiment_id, "w2", TTL) is None  # running
    store.finish(lease, "completed")
    assert store.claim(lease.experiment_id, "w2", TTL) is None  # finished
    cancelled = store.create_experiment("sleeper", {}).id
    store.request_cancel(cancelled)
    assert store.claim(cancelled, "w2", TTL) is None
    assert store.claim(12345, "w2", TTL) is None  # no such run
    record = store.get_experiment(lease.experiment_id)
    assert (record.worker, record.lease_epoch, record.attempts) == ("w1", 1, 1)


def test_claim_job_returns_the_lease_with_the_row_as_claimed(store: Store) -> None:
    first, second = (store.create_experiment("sleeper", {"n": i}).id for i in range(2))
    taken = store.claim_job("w1", TTL, second)
    assert taken is not None and taken[0] == Lease(second, "w1", 1)
    assert taken[1] == store.get_experiment(second)
    assert (taken[1].status, taken[1].lease_owner, taken[1].config) == ("running", "w1", {"n": 1})
    oldest = store.claim_job("w2", TTL)
    assert oldest is not None and oldest == (Lease(first, "w2", 1), store.get_experiment(first))
    assert store.claim_job("w3", TTL) is None  # nothing queued
    assert store.claim_job("w3", TTL, first) is None  # running


def test_a_worker_skips_kinds_and_a_pool_finds_the_due_jobs_of_a_kind(store: Store) -> None:
    stream = store.create_experiment("stream", {}, kind="stream", requeue_lost=True).id
    run = store.create_experiment("sleeper", {}).id
    assert store.due_jobs(["stream"]) == [stream]
    taken = store.claim_job("w1", TTL, skip_kinds=["stream"])
    assert taken is not None and taken[0].experiment_id == run  # the older stream left alone
    assert store.claim_job("w2", TTL, skip_kinds=["stream"]) is None
    lease = store.claim(stream, "w3", TTL)
    assert lease is not None and store.due_jobs(["stream"]) == []  # running: not due
    store.restart(lease, "crash", "exit code 1", delay=60.0)
    assert store.due_jobs(["stream"]) == []  # queued again, in its backoff
    assert store.due_jobs(["run"]) == []  # the run is running


def test_a_run_claimed_again_comes_with_its_metrics(store: Store) -> None:
    lease = claimed(store, requeue_lost=True)
    store.log_metrics(lease, [("loss", 1, 0.5, time.time())])
    assert expire(store) == [(lease.experiment_id, "queued")]
    again = store.claim_job("w2", TTL)
    assert again is not None and again[1].metrics == {"loss": 0.5}
    assert again[1] == store.get_experiment(lease.experiment_id)


@pytest.mark.parametrize("claim", ["claim_next", "claim"])
def test_racing_claimers_never_get_the_same_run(store: Store, claim: str) -> None:
    runs = [store.create_experiment("sleeper", {}).id for _ in range(24)]
    won: list[Lease] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)
    lock = threading.Lock()

    def claimer(owner: str) -> None:
        start.wait()
        try:
            if claim == "claim_next":
                while (lease := store.claim_next(owner, TTL)) is not None:
                    with lock:
                        won.append(lease)
            else:  # every claimer asks for every run, as a broker delivering twice would
                for run_id in runs:
                    if (lease := store.claim(run_id, owner, TTL)) is not None:
                        with lock:
                            won.append(lease)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(lease.experiment_id for lease in won) == runs
    for lease in won:
        record = store.get_experiment(lease.experiment_id)
        assert (record.lease_owner, record.lease_epoch, record.attempts) == (lease.owner, 1, 1)


def test_renew_extends_the_lease_and_reports_a_cancel_request(store: Store) -> None:
    lease = claimed(store)
    first = store.get_experiment(lease.experiment_id)
    time.sleep(0.01)
    assert store.renew(lease, 60.0) is False
    renewed = store.get_experiment(lease.experiment_id)
    assert renewed.heartbeat_at is not None and first.heartbeat_at is not None
    assert renewed.heartbeat_at > first.heartbeat_at
    assert renewed.lease_expires_at == pytest.approx(renewed.heartbeat_at + 60.0)
    store.request_cancel(lease.experiment_id)
    assert store.renew(lease, 60.0) is True


def test_finish_ends_the_run_and_releases_the_lease(store: Store) -> None:
    lease = claimed(store)
    result = {"metrics": {"MAE": {"model": 0.5}}}
    store.finish(lease, "completed", result=result)
    record = store.get_experiment(lease.experiment_id)
    assert (record.status, record.progress, record.result) == ("completed", 1.0, result)
    assert record.finished_at is not None and record.lease_expires_at is None
    assert store.list_events(experiment_id=lease.experiment_id)[-1].payload == {
        "status": "completed"
    }
    # A finished run takes no more writes, even from the worker that held it.
    with pytest.raises(LeaseLostError):
        store.finish(lease, "failed", error="again")
    assert store.get_experiment(lease.experiment_id).status == "completed"


def test_finish_as_failed_keeps_the_error(store: Store) -> None:
    lease = claimed(store)
    store.finish(lease, "failed", error="RuntimeError: boom")
    record = store.get_experiment(lease.experiment_id)
    assert (record.status, record.error, record.progress) == ("failed", "RuntimeError: boom", 0.0)
    assert store.list_events(experiment_id=lease.experiment_id)[-1].payload == {
        "status": "failed",
        "error": "RuntimeError: boom",
    }


def test_finish_stores_a_non_finite_result_as_null(store: Store) -> None:
    # A diverged model scores NaN; PostgreSQL's JSON refused it and the run never ended.
    lease = claimed(store)
    result = {"metrics": {"MAE": {"model": float("nan"), "persistence": 2.0}}, "l": [float("inf")]}
    store.finish(lease, "completed", result=result)
    record = store.get_experiment(lease.experiment_id)
    assert record.status == "completed"
    assert record.result == {"metrics": {"MAE": {"model": None, "persistence": 2.0}}, "l": [None]}


def test_reap_marks_an_expired_run_lost_naming_the_worker_and_last_heartbeat(
    store: Store,
) -> None:
    record = store.create_experiment("sleeper", {})
    ttl, claimed = 1.0, time.time()  # a loaded machine's queries take 0.1 s
    lease = store.claim(record.id, "host:123:abc", ttl)
    assert lease is not None
    heartbeat = store.get_experiment(record.id).heartbeat_at
    assert heartbeat is not None
    assert store.reap_expired() == []  # not yet expired
    time.sleep(max(0.0, claimed + ttl - time.time()) + 0.05)
    assert store.reap_expired() == [(record.id, "lost")]
    lost = store.get_experiment(record.id)
    shown = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(heartbeat))
    assert lost.status == "lost"
    assert lost.error == (
        f"worker host:123:abc stopped renewing its lease; last heartbeat {shown} UTC"
    )
    assert (lost.lease_owner, lost.lease_expires_at) == (None, None)
    assert lost.finished_at is not None
    assert store.list_events(experiment_id=record.id)[-1].payload == {
        "status": "lost",
        "error": lost.error,
        "worker": "host:123:abc",
    }
    assert store.reap_expired() == []  # reaped once
    with pytest.raises(ConflictError, match="already ended as lost"):
        store.request_cancel(record.id)


def test_reap_leaves_live_leases_alone(store: Store) -> None:
    live = claimed(store)
    assert store.reap_expired() == []
    assert store.get_experiment(live.experiment_id).status == "running"


def test_a_requeued_run_is_claimed_again_with_the_next_epoch(store: Store) -> None:
    lease = claimed(store, "w1", requeue_lost=True)
    assert expire(store) == [(lease.experiment_id, "queued")]
    requeued = store.get_experiment(lease.experiment_id)
    assert (requeued.status, requeued.lease_owner, requeued.finished_at) == ("queued", None, None)
    assert requeued.lease_epoch == 2  # the reaped lease's epoch is over
    assert requeued.error is not None and "worker w1 stopped renewing" in requeued.error
    again = store.claim_next("w2", TTL)
    assert again == Lease(lease.experiment_id, "w2", 3)
    record = store.get_experiment(lease.experiment_id)
    assert (record.worker, record.attempts, record.error) == ("w2", 2, None)


FencedWrite = Callable[[Store, Lease], object]
WRITES: dict[str, FencedWrite] = {
    "renew": lambda s, lease: s.renew(lease, TTL),
    "finish": lambda s, lease: s.finish(lease, "completed"),
    "log_metrics": lambda s, lease: s.log_metrics(lease, [("loss", 9, 0.9, time.time())]),
    "set_progress": lambda s, lease: s.set_progress(lease, 9, 10, "late"),
    "log_lines": lambda s, lease: s.log_lines(lease, [(time.time(), "INFO", "late")]),
    "add_artifact": lambda s, lease: s.add_artifact(lease, "late.txt", 1, False),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_reaped_lease_can_write_nothing(store: Store, write: str) -> None:
    lease = claimed(store)
    store.log_metrics(lease, [("loss", 1, 1.0, time.time())])
    expire(store)
    reaped = store.get_experiment(lease.experiment_id)
    events = store.list_events(experiment_id=lease.experiment_id)
    with pytest.raises(LeaseLostError, match="the lease of w1 \\(epoch 1\\) is no longer held"):
        WRITES[write](store, lease)
    assert store.get_experiment(lease.experiment_id) == reaped
    assert store.list_events(experiment_id=lease.experiment_id) == events
    assert store.get_metrics(lease.experiment_id) == {
        "loss": [(1, 1.0, pytest.approx(time.time(), abs=5))]
    }
    assert store.list_artifacts(lease.experiment_id) == []


@pytest.mark.parametrize("write", list(WRITES))
def test_a_lease_taken_over_after_a_requeue_can_write_nothing(store: Store, write: str) -> None:
    old = claimed(store, "w1", requeue_lost=True)
    expire(store)
    new = store.claim_next("w2", TTL)
    assert new is not None and new.epoch == old.epoch + 2  # reaped, then claimed
    events = store.list_events(experiment_id=old.experiment_id)
    with pytest.raises(LeaseLostError, match=f"experiment {old.experiment_id}: the lease of w1"):
        WRITES[write](store, old)
    assert store.list_events(experiment_id=old.experiment_id) == events
    assert store.get_metrics(old.experiment_id) == {}
    record = store.get_experiment(old.experiment_id)
    assert (record.status, record.lease_owner, record.lease_epoch) == ("running", "w2", 3)
    # The new holder writes as usual.
    store.log_metrics(new, [("loss", 1, 0.5, time.time())])
    store.finish(new, "completed")
    assert store.get_experiment(old.experiment_id).metrics == {"loss": 0.5}


def test_an_old_epoch_of_the_same_owner_is_fenced_too(store: Store) -> None:
    old = claimed(store, "w1", requeue_lost=True)
    expire(store)
    new = store.claim_next("w1", TTL)  # the same worker name claims it again
    assert new == Lease(old.experiment_id, "w1", 3)
    with pytest.raises(LeaseLostError, match="epoch 1"):
        store.log_metrics(old, [("loss", 1, 1.0, time.time())])
    assert store.get_metrics(old.experiment_id) == {}


def test_racing_reapers_reap_each_run_once(store: Store) -> None:
    leases = [claimed(store, f"w{i}") for i in range(6)]
    reaped: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def reaper() -> None:
        start.wait()
        try:
            reaped.extend(expire(store))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reaper) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(reaped) == [(lease.experiment_id, "lost") for lease in leases]
    for lease in leases:
        lost = store.list_events(experiment_id=lease.experiment_id, kinds=["status"])
        assert [e.payload["status"] for e in lost] == ["queued", "running", "lost"]


def test_finish_refuses_writes_the_store_cannot_keep_and_writes_nothing(store: Store) -> None:
    lease = claimed(store)
    bad = JobWrites(points=[("loss", 1, float("nan"), time.time())])
    with pytest.raises(InvalidParameterError, match="only finite values are stored"):
        store.finish(lease, "completed", writes=bad)
    assert store.get_experiment(lease.experiment_id).status == "running"
    store.finish(lease, "completed", writes=JobWrites(points=[("loss", 1, 0.5, time.time())]))
    assert store.get_experiment(lease.experiment_id).metrics == {"loss": 0.5}

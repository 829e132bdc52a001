"""External runs in the store: made running with their credential, written and ended by
their writer with no lease, kept alive by each write, ended lost past their idle limit, never
written after their end; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.store import ExperimentQuery, JobWrites, Store

pytestmark = pytest.mark.on_both_databases

IDLE = 60.0


def external(store: Store) -> tuple[int, str]:
    """A new external run and the hash of its credential."""
    secret_hash = uuid.uuid4().hex * 2
    record = store.create_experiment(
        "script", {"lr": 0.1}, kind="external", idle_limit=IDLE, credential_hash=secret_hash
    )
    return record.id, secret_hash


def test_an_external_run_is_written_and_ended_by_its_writer(store: Store) -> None:
    before = time.time()
    run, secret_hash = external(store)
    record = store.get_experiment(run)
    assert (record.status, record.kind, record.worker, record.lease_owner) == (
        "running", "external", None, None,
    )  # fmt: skip
    assert record.lease_expires_at == pytest.approx(before + IDLE, abs=5)
    found = store.find_run_credential(secret_hash)
    assert found is not None
    assert (found.experiment_id, found.status, found.idle_limit) == (run, "running", IDLE)
    assert store.find_run_credential("0" * 64) is None

    later = time.time() + 30  # a write keeps it alive its idle limit from then
    writes = JobWrites(points=[("loss", 1, 0.5, later)], lines=[(later, "INFO", "epoch 1")],
                       artifacts=[("notes.txt", 3, False)], progress=(1, 2, "half"))  # fmt: skip
    assert store.write_external(run, writes, now=later) is False
    record = store.get_experiment(run)
    assert record.lease_expires_at == pytest.approx(later + IDLE)
    assert (record.heartbeat_at, record.progress, record.metrics) == (later, 0.5, {"loss": 0.5})
    assert [a.path for a in store.list_artifacts(run)] == ["notes.txt"]
    store.request_cancel(run)
    assert store.write_external(run, JobWrites()) is True  # a heartbeat hears the request

    store.end_external(run, "cancelled", result={"asked": True},
                       writes=JobWrites(points=[("loss", 2, 0.25, later)]))  # fmt: skip
    record = store.get_experiment(run)
    assert (record.status, record.result, record.lease_expires_at) == (
        "cancelled", {"asked": True}, None,
    )  # fmt: skip
    assert store.get_metrics(run)["loss"][-1][:2] == (2, 0.25)
    with pytest.raises(ConflictError, match=f"run {run} already ended as cancelled"):
        store.end_external(run, "completed")
    with pytest.raises(ConflictError, match="takes no more writes"):
        store.write_external(run, JobWrites())
    listed = store.list_experiments(ExperimentQuery(kinds=()))
    assert run in [r.id for r in listed.items]  # no kinds: every kind
    assert run not in [r.id for r in store.list_experiments(ExperimentQuery(kinds=("run",))).items]
    store.delete_experiment(run)
    assert store.find_run_credential(secret_hash) is None


def test_a_silent_external_run_ends_lost_and_a_workers_run_takes_no_external_write(
    store: Store,
) -> None:
    run, _ = external(store)
    with pytest.raises(InvalidParameterError, match="ends it as completed, failed, cancelled"):
        store.end_external(run, "lost")
    past = time.time() + 2 * IDLE
    with pytest.raises(ConflictError, match=r"no word for over its idle limit \(60 s\)"):
        store.write_external(run, JobWrites(), now=past)
    assert (run, "lost") in store.reap_expired(now=past)
    record = store.get_experiment(run)
    assert record.status == "lost"
    assert record.error is not None and "its writer sent no word after" in record.error
    with pytest.raises(ConflictError, match="already ended as lost"):
        store.end_external(run, "completed")

    worked = store.create_experiment("sleeper", {}).id
    assert store.claim(worked, "w1", 30.0) is not None
    with pytest.raises(ConflictError, match="executed by a worker"):
        store.write_external(worked, JobWrites())
    with pytest.raises(InvalidParameterError, match="idle_limit must be a number of seconds"):
        store.create_experiment("script", {}, kind="external", idle_limit=0.0)


def test_a_batch_sent_again_with_its_id_is_written_once(store: Store) -> None:
    run, _ = external(store)
    batch = JobWrites(points=[("loss", 1, 0.5, 1.0e9), ("loss", 2, 0.25, 1.0e9)],
                      lines=[(1.0e9, "INFO", "epoch 2")], progress=(2, 4, "half"))  # fmt: skip
    assert store.write_external(run, batch, batch_id="b-1") is False
    later = JobWrites(points=[("loss", 3, 0.125, 1.0e9)], progress=(3, 4, "later"))
    store.write_external(run, later, batch_id="b-2")
    store.request_cancel(run)
    assert store.write_external(run, batch, batch_id="b-1") is True  # answered, not rewritten
    assert [p[:2] for p in store.get_metrics(run)["loss"]] == [(1, 0.5), (2, 0.25), (3, 0.125)]
    assert store.get_experiment(run).progress == 0.75  # the retry did not set it back
    other, _ = external(store)  # ids are the run's own
    store.write_external(other, batch, batch_id="b-1")
    assert len(store.get_metrics(other)["loss"]) == 2
    store.end_external(run, "completed")
    with pytest.raises(ConflictError, match="already ended as completed"):
        store.write_external(run, batch, batch_id="b-3")


def test_two_sends_of_one_batch_at_once_write_it_once(store: Store) -> None:
    run, _ = external(store)
    batch = JobWrites(points=[("loss", step, 1.0 / step, 1.0e9) for step in range(1, 201)])
    start = threading.Barrier(4)

    def send(_: int) -> bool:
        start.wait()
        return store.write_external(run, batch, batch_id="same")

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(send, range(4))) == [False] * 4
    assert len(store.get_metrics(run)["loss"]) == 200

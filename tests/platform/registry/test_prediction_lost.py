"""A prediction job whose worker died (its lease lapsed) is queued again, not ended ``lost``:
its inputs are in the blob store and its predictions are written whole at its end, so a run
again by another worker gives the same job, once (the replica benchmark kills a worker pool
with prediction jobs running: benchmarks/replicas.py)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from azuraforge.platform.jobs.runner import execute
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.platform.store.states import COMPLETED, QUEUED
from tests.platform.registry.conftest import SEQUENCE, call, registered


def test_a_prediction_job_whose_worker_died_is_queued_again_and_completes_once(
    api: TestClient, runs: list[ExperimentRecord], store: Store, settings: Settings, beijing_rows
):
    registered(api, runs)
    rows = {"rows": beijing_rows[:SEQUENCE]}
    job = call(api, "POST", "/models/weather/predictions", 202, json=rows)["id"]
    assert store.claim(job, "a-worker-that-dies", settings.lease_ttl) is not None
    assert store.reap_expired(now=time.time() + 10 * settings.lease_ttl) == [(job, QUEUED)]
    lease = store.claim(job, "another-worker", settings.lease_ttl)
    assert lease is not None and execute(store, lease, settings) == COMPLETED
    ended = [e.payload["status"] for e in store.list_events(experiment_id=job, kinds=["status"])]
    assert ended.count(COMPLETED) == 1 and "lost" not in ended
    assert call(api, "GET", f"/models/weather/predictions/{job}")["rows"] == 1

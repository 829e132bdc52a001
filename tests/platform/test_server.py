"""Two ``azuraforge serve`` processes on one store, each offering the streams' keeper: one
keeps the streams while it lives, the other once it is SIGKILLed (not before the first's
lease lapsed, within seconds); each alert's firing and resolving is posted once, each
promotion is registered once (its versions, its alias moves), whichever server made them."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from azuraforge.platform.jobs.duties import STREAMS
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.server import run_workers
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import SHORT, scores, short_settings
from tests.platform.jobs.conftest import wait_for
from tests.platform.servers import free_port, kill_group, launch_serve, wait_answering
from tests.platform.streams.test_alerts import Receiver
from tests.platform.streams.test_registry import promote

pytestmark = pytest.mark.slow

TTL, RENEW = SHORT["duty_ttl"], SHORT["duty_renew_interval"]
"""The duties' lease and renewal (seconds: the tests' short settings)."""
SLACK = 3.0
"""Seconds the survivor may take past a lease, a renewal and a look at the streams."""


def holder(store: Store, duty: str) -> tuple[int, int]:
    """The pid of the process holding ``duty`` (its name is ``host:pid:random``), and the
    duty's epoch (how many holders it had)."""
    with store.engine.connect() as connection:
        name, epoch = connection.execute(
            text("SELECT holder, epoch FROM duties WHERE name = :name"), {"name": duty}
        ).one()
    return int(name.split(":")[1]), int(epoch)


def test_two_servers_keep_the_streams_once_and_one_takes_over_when_the_other_is_killed(
    tmp_path: Path, store: Store, settings: Settings, serves: list[subprocess.Popen[bytes]]
) -> None:
    receiver = Receiver()
    try:
        base = {"source": "btc-hourly", "window": 100, "drift": None, "alert_restarts": None,
                "alert_accuracy_below": 0.55, "alert_for": 0}  # fmt: skip
        stream = start_stream(store, LocalTransport(), settings, base)
        claimed = store.claim_job("a worker", 600.0, stream.id)  # running all along
        assert claimed is not None
        lease = claimed[0]
        ports = {name: free_port() for name in ("a", "b")}  # no folder shared: a home each
        for name, port in ports.items():
            own = short_settings(
                settings.database_url, tmp_path / name, workers=0,
                alert_webhooks=[receiver.url],
            )  # fmt: skip
            serves.append(launch_serve(own, port))
        for process, port in zip(serves, ports.values(), strict=True):
            wait_answering(process, port)
        servers = {process.pid: process for process in serves}
        scores(store, lease, 0.40, 200)  # below the bound: fires
        promote(store, lease, "logreg-adam-1", "logreg-adam-2", 200)
        # Killed once the firing's post is recorded: one killed between its post and that
        # record leaves it due, and the other posts it again (the same delivery id).
        wait_for(lambda: delivered(store, stream.id) == 1 and registered(store, stream.id) == 1,
                 timeout=15)  # fmt: skip
        pid, epoch = holder(store, STREAMS)
        assert epoch == 1  # one of the two has kept the streams since they started
        kill_group(servers[pid])
        killed = time.monotonic()
        scores(store, lease, 0.60, 300)  # above: resolves
        promote(store, lease, "logreg-adam-2", "logreg-adam-3", 300)
        wait_for(lambda: len(receiver.events()) == 2, timeout=TTL + RENEW + 15)
        taken = time.monotonic() - killed
        # Not before the killed one's lease lapsed (renewed at most RENEW before the kill),
        # and within a lease, a renewal and a look at the streams after it.
        assert TTL - RENEW - 0.05 < taken < TTL + RENEW + settings.alert_interval + SLACK
        wait_for(lambda: registered(store, stream.id) == 2, timeout=15)
        assert holder(store, STREAMS) == (next(p for p in servers if p != pid), 2)
    finally:
        receiver.server.shutdown()
    assert receiver.events() == [("accuracy_below", "firing"), ("accuracy_below", "resolved")]
    ids = {headers["X-AzuraForge-Delivery"] for headers, _ in receiver.posts}
    assert len(ids) == 2 and all(json.loads(b)["stream"]["id"] == stream.id
                                 for _, b in receiver.posts)  # fmt: skip
    (alert,) = store.list_alerts(stream.id)
    assert [d.attempts for d in store.list_deliveries(alert.id)] == [1, 1]
    versions, _ = store.list_versions(stream.name)
    learners = sorted((v.config["learner"], v.version) for v in versions)
    assert learners == [("logreg-adam-1", 1), ("logreg-adam-2", 2), ("logreg-adam-3", 3)]
    moves, _ = store.list_alias_moves(stream.name, "champion")
    assert [(m.from_version, m.to_version) for m in reversed(moves)] == [(None, 1), (1, 2), (2, 3)]


def registered(store: Store, stream_id: int) -> int:
    """How many of the stream's promotions are registered."""
    changes = store.list_changes(stream_id, kinds=["promote"])
    return sum(change.version is not None for change in changes)


def delivered(store: Store, stream_id: int) -> int:
    """How many posts of the stream's alerts are recorded as delivered."""
    alerts = store.list_alerts(stream_id)
    return sum(d.delivered_at is not None for a in alerts for d in store.list_deliveries(a.id))


def test_a_celery_worker_names_its_broker_without_the_password(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, transport="celery",
                        broker_url="redis://:s3cret-pass@127.0.0.1:6379/0")  # fmt: skip
    told: list[str] = []

    def started(what: str) -> None:
        told.append(what)
        raise _ToldError

    with pytest.raises(_ToldError):
        run_workers(settings, 2, started)
    assert told and "s3cret-pass" not in told[0] and "127.0.0.1:6379/0" in told[0], told


class _ToldError(Exception):
    """Stops run_workers once it said what it runs."""

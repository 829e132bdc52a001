"""Many machines on one, the cluster (issue 49, the proof): two API servers (``azuraforge serve
--workers 0`` on the Celery transport), a worker that polls the store (``azuraforge worker``:
B) and a Celery worker (``azuraforge worker --transport celery``: C), each on a home of its
own (:class:`~tests.platform.test_many_machines.Cluster`), sharing PostgreSQL, Redis and the
object store alone. A study's trials run on both workers; a stream checkpoints on B, B is
SIGKILLed, and the stream resumes on C from its checkpoint with every prediction scored once;
both servers offer the streams' keeper, and each alert, webhook and registration is made once.
No home holds another's files. The machines start once for the module.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from azuraforge.learn.datasets.fetching import MIRROR_VARIABLE
from azuraforge.platform.jobs.duties import STREAMS
from azuraforge.platform.store import ExperimentRecord, Store
from tests.platform.fixtures import admin_headers, empty_postgres, install_plugin
from tests.platform.jobs.conftest import wait_for
from tests.platform.jobs.test_transports import (  # noqa: F401 (redis_url is a fixture)
    empty_redis,
    redis_url,
)
from tests.platform.s3_server import S3Server
from tests.platform.servers import (
    WORKER_STARTS_WITHIN,
    children,
    free_port,
    kill_group,
    launch_serve,
    wait_answering,
)
from tests.platform.streams.test_alerts import Receiver
from tests.platform.streams.test_streams import Unbroken, assert_kept_once, steps, unbroken_loop
from tests.platform.test_many_machines import Cluster, files_below
from tests.platform.test_server import holder

pytestmark = pytest.mark.slow
CLI = "from azuraforge.cli.main import main; main()"
STREAM = {
    "source": "nvda-daily", "price_column": "Close", "learner": "mlp", "max_events": 250,
    "checkpoint_every": 50, "window": 100, "retrain_every": 100, "warm": 100,
    "shadow_events": 100, "rollback_events": 100, "alpha": 0.5, "drift": None,
    "speed": 86_400 * 150.0, "alert_accuracy_below": 0.99, "alert_restarts": None,
}  # fmt: skip
"""250 trading days at 150 calendar days a second (about 2.4 s): a candidate at event 99,
promoted at 132, rolled back at 175; the champion's accuracy under 0.99 once 100 are scored."""
LEASE = {"lease_ttl": 6.0, "heartbeat_interval": 1.0}
"""Every machine's leases: the tests' 2 s lapsed once for a stream's worker that lived (its
heartbeats late on a loaded machine), which lost the stream a second time."""


@dataclass
class Machines:
    """The cluster's processes: the API servers (the first one called), worker B (polling)
    and worker C (Celery), each on its home of :attr:`cluster`."""

    cluster: Cluster
    apis: list[subprocess.Popen[bytes]]
    api: httpx.Client
    b: subprocess.Popen[bytes]
    c: subprocess.Popen[bytes]
    store: Store
    receiver: Receiver
    of_c: set[int] = field(default_factory=set)
    """The processes C was seen to start (its pool's, its streams' workers)."""

    def machine(self, worker: str | None) -> str:
        """Which worker a job's ``worker`` (``host:pid:random``) is: ``b``, or ``c`` (a process
        C started, seen now or at an earlier call)."""
        assert worker is not None
        pid = int(worker.split(":")[1])
        if pid == self.b.pid:
            return "b"
        self.of_c.update(children(self.c.pid))
        assert pid in self.of_c, f"{worker} is neither B ({self.b.pid}) nor of C"
        return "c"


@pytest.fixture(scope="module")
def machines(
    postgres_url: str,
    s3_server: S3Server,
    redis_url: str,  # noqa: F811
    sleeper_path: Path,
    shared_data: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Machines]:
    empty_postgres(postgres_url)  # no job another test left queued
    root = tmp_path_factory.mktemp("machines")
    cluster = Cluster(postgres_url, s3_server, f"many-machines-{uuid.uuid4().hex[:10]}", root)
    receiver = Receiver()
    started: list[subprocess.Popen[bytes]] = []
    store = Store(postgres_url)
    celery = {"transport": "celery", "broker_url": redis_url, **LEASE}
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in s3_server.environment(cluster.prefix).items():
                patch.setenv(name, value)  # the object store's key, as each machine holds it
            install_plugin(patch, sleeper_path)  # every process finds the sleeper pipeline
            patch.setenv(MIRROR_VARIABLE, os.pathsep.join(map(str, shared_data)))  # datasets
            ports = [free_port(), free_port()]
            for name, port in zip(("api-1", "api-2"), ports, strict=True):
                home = cluster.home(name, workers=0, alert_webhooks=[receiver.url], **celery)
                started.append(launch_serve(home.settings, port, "--workers", "0"))
            c = launch_worker(cluster, "worker-c", started, "--transport", "celery", **celery)
            for process, port in zip(started[:2], ports, strict=True):
                wait_answering(process, port)
            wait_ready(cluster, "worker-c", c, "ready.")  # Celery's word once it takes tasks
            api_url = f"http://127.0.0.1:{ports[0]}/api/v1"
            warm_up(api_url, store)
            b = launch_worker(cluster, "worker-b", started, **LEASE)
        wait_ready(cluster, "worker-b", b, "worker ")  # polling
        with httpx.Client(base_url=api_url, headers=admin_headers(store), timeout=30) as api:
            yield Machines(cluster, started[:2], api, b, c, store, receiver)
    finally:
        for process in started:
            kill_group(process)
        receiver.server.shutdown()
        store.close()
        empty_redis(redis_url)


def warm_up(api_url: str, store: Store) -> None:
    """A run of one step, before worker B starts, so C takes it: C's pool process imports the
    platform at its first task, seconds on a loaded machine, during which B, polling, would
    take every job the tests queue for both."""
    with httpx.Client(base_url=api_url, headers=admin_headers(store), timeout=30) as api:
        made = api.post("/runs", json={"pipeline": "sleeper", "config": {"steps": 1}})
    assert made.status_code == 201, made.text
    run = int(made.json()["data"][0]["id"])
    wait_for(lambda: store.get_experiment(run).status == "completed", timeout=60, every=0.1)


def launch_worker(
    cluster: Cluster, name: str, started: list[subprocess.Popen[bytes]], *options: str,
    **fields: Any,
) -> subprocess.Popen[bytes]:  # fmt: skip
    """``azuraforge worker OPTIONS`` started on home ``name`` (its settings' ``fields`` given),
    its output in ``name.log`` beside the homes (:func:`wait_ready` reads it)."""
    home = cluster.home(name, **fields)
    with (cluster.root / f"{name}.log").open("wb") as output:
        process = subprocess.Popen([sys.executable, "-c", CLI, "worker", *options],
                                   env=home.environment, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    started.append(process)
    return process


def wait_ready(cluster: Cluster, name: str, process: subprocess.Popen[bytes], ready: str) -> None:
    """Wait until worker ``name`` (its ``process``) wrote ``ready`` in its log, for
    :data:`WORKER_STARTS_WITHIN` seconds at most."""
    log = cluster.root / f"{name}.log"
    deadline = time.monotonic() + WORKER_STARTS_WITHIN
    while ready not in log.read_text(errors="replace"):
        assert process.poll() is None, f"{name} exited {process.returncode}: {log.read_text()}"
        assert time.monotonic() < deadline, f"{name} not ready: {log.read_text()[-3000:]}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def unbroken(real_data: object) -> Unbroken:
    return unbroken_loop(STREAM)


def test_a_studys_trials_run_on_both_workers_and_keep_their_files_in_the_object_store(
    machines: Machines,
) -> None:
    # Four trials of about 3 s queued at once: B takes them one at a time, so it takes all
    # only if C (warming its pool process at its first task) claims none within three (9 s:
    # at 1.5 s a trial, C's first claim came too late once on a loaded machine).
    space = {"sleep": {"type": "float", "low": 0.45, "high": 0.55}}
    body = {"pipeline": "sleeper", "space": space, "config": {"steps": 6}, "n_trials": 4,
            "parallelism": 4, "sampler": "random", "pruner": "none", "seed": 0}  # fmt: skip
    made = machines.api.post("/studies", json=body)
    assert made.status_code == 201, made.text
    study = made.json()["id"]
    wait_for(lambda: machines.store.get_study(study).status == "completed", timeout=30, every=0.1)
    trials = machines.store.list_trial_runs(study)
    assert [t.status for t in trials] == ["completed"] * 4
    ran_on = [machines.machine(machines.store.get_experiment(t.id).worker) for t in trials]
    assert set(ran_on) == {"b", "c"}, ran_on
    blobs = machines.cluster.blobs()
    assert all(blobs.exists(f"runs/{t.id}/report.md") for t in trials)


def test_a_stream_whose_worker_is_killed_resumes_on_another_and_the_keepers_act_once(
    machines: Machines, unbroken: Unbroken
) -> None:
    store, receiver = machines.store, machines.receiver
    made = machines.api.post("/streams", json={"config": STREAM})
    assert made.status_code == 201, made.text
    stream = made.json()
    wait_for(lambda: steps(store, stream["id"]) or ended(store, stream["id"]), timeout=30)
    record = store.get_experiment(stream["id"])
    assert record.status == "running", record.error  # a checkpoint saved, on B
    assert machines.machine(record.worker) == "b"
    kill_group(machines.b)

    def running_on_c() -> bool:
        record = store.get_experiment(stream["id"])
        return record.status == "running" and machines.machine(record.worker) == "c"

    wait_for(running_on_c, timeout=30, every=0.05)
    done = wait_for(lambda: ended(store, stream["id"]), timeout=30, every=0.1)
    assert done.status == "completed", done.error
    [lost] = done.restart_history or []
    assert lost["reason"] == "lost" and machines.machine(lost["worker"]) == "b"
    logs = [e.payload["message"] for e in store.list_events(experiment_id=done.id, kinds=["log"])]
    [resumed] = [int(m.split()[3]) for m in logs if re.match(r"resumed at event \d+ ", m)]
    assert resumed >= STREAM["checkpoint_every"]  # from B's checkpoint, not from the start
    # Every model's every score, none twice, none lost; each checkpoint once.
    assert done.result is not None and done.result["scored"] == unbroken.scored
    assert_kept_once(store, done.id, unbroken)
    logged = steps(store, done.id)
    assert logged == sorted(set(logged)) and logged[-1] == STREAM["max_events"]

    # The keepers: whichever of the two servers held the streams' duty, once each.
    fired = [("accuracy_below", "firing"), ("worker_lost", "firing"),
             ("worker_lost", "resolved"), ("accuracy_below", "resolved")]  # fmt: skip
    wait_for(lambda: len(receiver.posts) >= len(fired), timeout=15)
    moves = wait_for(lambda: len(alias_moves(store, stream["name"])) == 3
                     and alias_moves(store, stream["name"]), timeout=15)  # fmt: skip
    assert sorted(receiver.events()) == sorted(fired)
    assert len({headers["X-AzuraForge-Delivery"] for headers, _ in receiver.posts}) == len(fired)
    alerts = store.list_alerts(done.id)
    assert [[d.attempts for d in store.list_deliveries(a.id)] for a in alerts] == [[1, 1]] * 2
    changes = [
        (c.kind, c.model) for c in store.list_changes(done.id, kinds=["promote", "rollback"])
    ]
    assert changes == [("promote", "mlp-2"), ("rollback", "mlp-1")]
    versions, _ = store.list_versions(stream["name"])
    learners = sorted((v.config["learner"], v.version) for v in versions)
    assert learners == [("mlp-1", 1), ("mlp-2", 2)]
    assert moves == [(None, 1), (1, 2), (2, 1)]
    assert list(machines.cluster.blobs().list_keys(f"models/{stream['name']}"))
    assert all(api.poll() is None for api in machines.apis)
    assert holder(store, STREAMS)[0] in {api.pid for api in machines.apis}
    assert_homes_apart(machines)


def ended(store: Store, job: int) -> ExperimentRecord | None:
    """The job's row once it ended, else ``None``."""
    record = store.get_experiment(job)
    return record if record.finished_at is not None else None


def alias_moves(store: Store, model: str) -> list[tuple[int | None, int]]:
    """The champion alias's moves of ``model``, oldest first."""
    moves, _ = store.list_alias_moves(model, "champion")
    return [(m.from_version, m.to_version) for m in reversed(moves)]


def assert_homes_apart(machines: Machines) -> None:
    """The API servers' homes hold nothing; each worker's, only the folders of the jobs it
    ran (B's of the stream it ran when it was killed)."""
    root = machines.cluster.root
    for name in ("api-1", "api-2"):
        assert files_below(root / name) == [], name
    for name in ("b", "c"):
        home = root / f"worker-{name}"
        assert all(f.startswith("work/") for f in files_below(home)), name
        work = home / "work"
        for folder in work.iterdir() if work.is_dir() else ():
            job = machines.store.get_experiment(int(folder.name))
            ran = {job.worker, *(e["worker"] for e in job.restart_history or [])}
            assert name in {machines.machine(w) for w in ran if w}, (name, folder)

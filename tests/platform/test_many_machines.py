"""Many machines on one: an API and workers each with a home of its own, no folder shared,
only the database (PostgreSQL) and the object store (S3 on SeaweedFS) between them, as the
cluster of docs/platform.md runs them (issue 49, the proof).

Each "machine" is a :class:`Home`: a folder no other one reads, and the settings that point
it at the shared services. ``api_home`` is the API over its own home (in this process);
``worker_home`` starts worker processes, each on a home of its own. What crosses from one to
another goes through rows and blobs alone: a run trained by a worker is served, registered
and predicted by the API; a batch prediction of it runs on another worker.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from azuraforge.platform.api.app import create_app
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.local import WORKER_MODULE, settings_environment
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, short_settings
from tests.platform.jobs.conftest import wait_for
from tests.platform.registry.conftest import TINY, WEATHER, beijing_rows, mirror
from tests.platform.s3_server import S3Server
from tests.platform.servers import kill_group

__all__ = ["beijing_rows", "mirror"]  # the registry's fixtures, used here
API = "/api/v1"


@dataclass(frozen=True)
class Home:
    """One machine of the test: its home, a folder of its own, and its settings (the shared
    database and object store); ``environment`` starts a process of it."""

    name: str
    settings: Settings
    environment: dict[str, str]

    @property
    def folder(self) -> Path:
        return self.settings.home


@dataclass(frozen=True)
class Cluster:
    """The services the machines share: a database and a prefix of the object store."""

    database_url: str
    s3: S3Server
    prefix: str
    root: Path

    def home(self, name: str, **fields: Any) -> Home:
        """A machine's home, below no other's (its settings' other ``fields`` given)."""
        blob_store = self.s3.environment(self.prefix)
        settings = short_settings(
            self.database_url, self.root / name, blob_store=blob_store["AZURAFORGE_BLOB_STORE"],
            s3_endpoint=blob_store["AZURAFORGE_S3_ENDPOINT"], **fields,
        )  # fmt: skip
        return Home(name, settings, {**settings_environment(settings), **blob_store})

    def blobs(self) -> BlobStore:
        """The object store as every machine sees it."""
        return self.s3.blobs(self.prefix)


@pytest.fixture
def cluster(
    database_url: str, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Cluster:
    """A database and an object store's prefix of this test's own; this process holds the
    store's credentials, as each machine does."""
    prefix = f"many-machines-{uuid.uuid4().hex[:10]}"
    for name, value in s3_server.environment(prefix).items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    return Cluster(database_url, s3_server, prefix, tmp_path)


@pytest.fixture
def api_home(cluster: Cluster) -> Iterator[tuple[Home, TestClient]]:
    """The API over a home of its own, called as the server's admin."""
    home = cluster.home("api")
    store = Store(home.settings.database_url)
    app = create_app(home.settings, store=store)
    with TestClient(app, headers=admin_headers(store)) as client:
        yield home, client
    store.close()


WorkerHome = Callable[[str], subprocess.Popen[bytes]]


@pytest.fixture
def worker_home(cluster: Cluster) -> Iterator[WorkerHome]:
    """Start a worker process on a home of its own, named ``name`` (stopped at the end)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        home = cluster.home(name)
        command = [sys.executable, "-m", WORKER_MODULE]
        started.append(subprocess.Popen(command, env=home.environment, start_new_session=True))
        return started[-1]

    yield start
    for process in started:
        kill_group(process)


def call(client: TestClient, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
    response = client.request(method, f"{API}{path}", **kwargs)
    assert response.status_code == expected, response.text
    return response.json()


def finished(client: TestClient, path: str, timeout: float = 60) -> dict[str, Any]:
    """The job at ``path`` once it left queued and running (``timeout`` seconds at most)."""
    return wait_for(
        lambda: (job := call(client, "GET", path))["status"] not in ("queued", "running") and job,
        timeout=timeout,
        every=0.1,
    )


def files_below(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_run_of_one_worker_is_served_registered_and_predicted_and_batched_by_another(
    cluster: Cluster,
    api_home: tuple[Home, TestClient],
    worker_home: WorkerHome,
    beijing_rows: list[dict[str, Any]],
) -> None:
    home, api = api_home
    trainer = worker_home("worker-b")
    body = {"pipeline": WEATHER, "config": TINY}
    run = call(api, "POST", "/runs", 201, json=body)["data"][0]["id"]
    trained = finished(api, f"/runs/{run}")
    assert trained["status"] == "completed", trained
    blobs = cluster.blobs()
    kept = [key.removeprefix(f"runs/{run}/") for key in blobs.list_keys(f"runs/{run}")]
    assert {"report.md", "artifact/artifact.json"} <= set(kept)
    report = call(api, "GET", f"/runs/{run}/report")
    assert report["markdown"].startswith("#")
    plot = next(path for path in kept if path.endswith(".png"))
    served = api.get(f"{API}/runs/{run}/artifacts/{plot}")
    assert served.status_code == 200 and served.content == blobs.get_bytes(f"runs/{run}/{plot}")

    model = f"weather-{uuid.uuid4().hex[:8]}"  # the database keeps other tests' models
    call(api, "POST", "/models", 201, json={"name": model})
    version = call(api, "POST", f"/models/{model}/versions", 201, json={"experiment": run})
    assert list(blobs.list_keys(f"models/{model}"))  # copied within the object store
    rows = beijing_rows[:40]
    direct = call(api, "POST", f"/models/{model}/1/predict", json={"rows": rows})
    assert version["artifact_digest"] and direct["predictions"]

    kill_group(trainer)  # the batch goes to another machine
    batcher = worker_home("worker-c")
    job = call(api, "POST", f"/models/{model}/1/predictions", 202, json={"rows": rows})
    batch = finished(api, f"/models/{model}/1/predictions/{job['id']}")
    assert batch["status"] == "completed", batch
    assert batch["predictions"] == direct["predictions"]
    store = Store(home.settings.database_url)
    try:
        assert store.get_experiment(job["id"]).worker.split(":")[1] == str(batcher.pid)
    finally:
        store.close()
    for name in ("api", "worker-b", "worker-c"):  # each home keeps only its own copies
        assert not [f for f in files_below(cluster.root / name) if not f.startswith("cache/")]
    assert files_below(cluster.root / "worker-b") == []  # trained, kept nothing locally
    assert files_below(cluster.root / "api" / "cache") == files_below(
        cluster.root / "worker-c" / "cache"
    )  # the version, each read from the object store


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_data_file_on_the_apis_disk_alone_is_read_by_a_worker_of_another_machine(
    cluster: Cluster,
    api_home: tuple[Home, TestClient],
    worker_home: WorkerHome,
    shared_data: list[Path],
) -> None:
    """A user's CSV (another series than the demos': the S&P 500's closes), put in the API's
    data folder alone, trains a forecaster on a worker whose home has none; changed on the
    API's disk, the next run reads the new version; the worker keeps copies, not files of the
    data folder."""
    home, api = api_home
    stocks = [folder / "stocks" for folder in shared_data if (folder / "stocks").is_dir()]
    source = stocks[0] / "GSPC_daily_1927_2023.csv"
    lines = source.read_text().splitlines(keepends=True)
    mine = home.settings.data_dir / "gspc.csv"
    mine.parent.mkdir(parents=True, exist_ok=True)
    versions = ["".join(lines[:301]), "".join(lines[:1] + lines[20000:20401])]
    mine.write_text(versions[0])
    worker_home("worker-b")
    config = {"csv": "gspc.csv", "time_column": "Date", "target": "Close", **TINY}
    config.pop("max_rows")
    body = {"pipeline": "forecaster", "config": config}
    gaps = call(api, "POST", "/runs", 201, json=body)["data"][0]["id"]
    refused = finished(api, f"/runs/{gaps}")  # the file as its worker's copy says it
    assert refused["status"] == "failed", refused
    assert refused["error"].startswith("DataFormatError: gspc.csv, line 3, column 1 ('Date')")
    body["config"] = {**config, "missing": "fill"}  # trading days: weekends are gaps
    first = call(api, "POST", "/runs", 201, json=body)["data"][0]["id"]
    assert finished(api, f"/runs/{first}")["status"] == "completed"
    mine.write_text(versions[1])  # another version of the file, on the API's disk
    second = call(api, "POST", "/runs", 201, json=body)["data"][0]["id"]
    ended = finished(api, f"/runs/{second}")
    assert ended["status"] == "completed", ended
    copies = [f for f in files_below(cluster.root / "worker-b") if f.endswith(".csv")]
    digests = [hashlib.sha256(text.encode()).hexdigest() for text in versions]
    assert copies == sorted(f"cache/data/default/sha256/{d}/gspc.csv" for d in digests)
    assert cluster.blobs().get_bytes("data/default/names/gspc.csv").decode() == digests[1]
    assert not (cluster.root / "worker-b" / "data").exists()

"""Fixtures of the platform and CLI tests (a pytest plugin that tests/conftest.py loads): real
SQLite and PostgreSQL stores, a test pipeline plugin, real ``azuraforge serve`` processes.

PostgreSQL is the machine's server (127.0.0.1:5432, user postgres, trust auth; ``.ci/run``
starts it). Each test session creates its own database there and drops it at the end, so
tests never share state with anything else on the server. ``AZURAFORGE_TEST_POSTGRES``
overrides the server URL. If the server cannot be reached the tests fail, they do not skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text

from azuraforge.platform.blobs import BlobStore, open_blobs
from azuraforge.platform.jobs.transport import LocalTransport
from azuraforge.platform.services.access import FIRST_ADMIN, NO_PASSWORD, first_admin, new_token
from azuraforge.platform.services.streams.job import start_stream
from azuraforge.platform.settings import AssistBackend, Settings
from azuraforge.platform.store import (
    DEFAULT_PROJECT,
    EventRecord,
    JobWrites,
    Lease,
    Store,
    upgrade_database,
)
from azuraforge.testing.long_jobs import KIND
from tests.helpers import write_pipeline_plugin
from tests.platform.servers import kill_group

if TYPE_CHECKING:
    from tests.platform.s3_server import S3Server


def admin_headers(store: Store, project: str = DEFAULT_PROJECT) -> dict[str, str]:
    """The ``Authorization`` header of a new API token of the server's admin in ``project``
    (the admin made as the first start makes them, or as a server admin when the store has
    users already: a module's tests may make theirs first, in any order)."""
    if not first_admin(store) and store.find_user(FIRST_ADMIN) is None:
        store.create_user(FIRST_ADMIN, NO_PASSWORD, is_admin=True)
    token, _ = new_token(store, user=FIRST_ADMIN, project=project, role="admin", name="tests")
    return {"Authorization": f"Bearer {token}"}


def user_headers(
    store: Store, name: str, role: str = "editor", project: str = DEFAULT_PROJECT
) -> dict[str, str]:
    """The ``Authorization`` header of a new token of user ``name`` (made, without a
    password, if new), ``role`` in ``project``."""
    if store.find_user(name) is None:
        store.create_user(name, NO_PASSWORD)
    store.set_member(project, name, role)
    token, _ = new_token(store, user=name, project=project, role=role)
    return {"Authorization": f"Bearer {token}"}


POSTGRES_SERVER = os.environ.get(
    "AZURAFORGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TABLES = (
    "artifacts",
    "events",
    "metric_summaries",
    "metric_points",
    "params",
    "experiments",
    "assist_examples",
)

SLEEPER = """
import os
import signal
import time
from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.learn import TrainingSummary
from pydantic import Field


class SleeperConfig(PipelineConfig):
    steps: int = Field(5, ge=1, description="Steps to run.")
    sleep: float = Field(0.01, ge=0, description="Seconds per step.")
    fail_at: int = Field(0, ge=0, description="Raise at this step (0: never).")
    crash_at: int = Field(0, ge=0, description="Kill its own process at this step (0: never).")
    ignore_cancel: bool = Field(False, description="Keep running when cancelled.")
    last_step_after: str = Field(
        "", description="Before its last step, wait until this file exists ('': never)."
    )


class Sleeper(Pipeline[SleeperConfig]):
    name = "sleeper"
    description = "Logs a falling loss, one step per sleep; a pipeline of the platform tests."
    Config = SleeperConfig

    def run(self, config, ctx):
        done = 0
        for step in range(1, config.steps + 1):
            if ctx.should_stop() and not config.ignore_cancel:
                break
            if step == config.fail_at:
                raise RuntimeError(f"failed at step {step}")
            if step == config.crash_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if step == config.steps and config.last_step_after:
                while not (os.path.exists(config.last_step_after) or ctx.should_stop()):
                    time.sleep(0.01)
            time.sleep(config.sleep)
            ctx.log_metrics({"loss": 1.0 / step, "val_loss": 2.0 / step}, step=step)
            ctx.progress(step, config.steps, f"step {step}")
            done = step
        report = ctx.output_dir / "report.md"
        report.write_text("# sleeper report\\n")
        ctx.log_artifact(report)
        ctx.logger.info("finished after %d steps", done)
        status = "completed" if done == config.steps else "cancelled"
        return RunResult(
            metrics={"MAE": {"model": 1.0 / max(done, 1), "persistence": 2.0}},
            report_path=report,
            training=TrainingSummary(status, done, config.steps),
        )


from azuraforge.platform.jobs.kinds import JobKind


class Countdown(JobKind):
    # A job kind of another distribution: counts down its config's steps as a metric, and
    # says what its row told it of where it comes from; its worker writes after.txt among
    # its files once it ended.

    name = "countdown"

    def run(self, store, record, settings, ctx):
        steps = record.config["steps"]
        for step in range(1, steps + 1):
            ctx.log_metrics({"left": float(steps - step)}, step=step)
        origin = {"project": record.project, "submitter": record.submitter,
                  "context": record.context}
        return "completed", {"counted": steps, "origin": origin}

    def after(self, host, record):
        from azuraforge.platform.blobs import open_blobs

        blob = f"runs/{record.id}/after.txt"
        open_blobs(host.settings).put_bytes(blob, f"{record.kind} {record.id}".encode())
"""


@pytest.fixture(scope="session")
def sleeper_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding distribution ``sleeper`` (pipeline ``sleeper``, job kind
    ``countdown``), on sys.path and on PYTHONPATH (so worker processes started by the tests
    find it too)."""
    root = tmp_path_factory.mktemp("sleeper-dist")
    entry_points = {"sleeper": "sleeper_plugin:Sleeper"}
    soak = "azuraforge.testing.long_jobs:StreamSoak"
    kinds = {"azuraforge.job_kinds": {"countdown": "sleeper_plugin:Countdown", KIND: soak}}
    return write_pipeline_plugin(root, "sleeper_plugin", SLEEPER, entry_points, other_groups=kinds)


def install_plugin(patch: pytest.MonkeyPatch, folder: Path) -> None:
    """Put ``folder`` (a plugin distribution) on ``sys.path`` and first on ``PYTHONPATH``, so
    this process and the worker processes it starts find its entry points."""
    patch.syspath_prepend(str(folder))
    paths = filter(None, [str(folder), os.environ.get("PYTHONPATH")])
    patch.setenv("PYTHONPATH", os.pathsep.join(paths))


@pytest.fixture
def sleeper(sleeper_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    install_plugin(monkeypatch, sleeper_path)
    return sleeper_path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "azuraforge.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, at the head schema, for this session."""
    name = f"azuraforge_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_SERVER.replace("postgresql://", "postgresql+psycopg://"),
                          isolation_level="AUTOCOMMIT")  # fmt: skip
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:
        pytest.fail(f"PostgreSQL at {POSTGRES_SERVER} is needed by the platform tests and "
                    f"cannot be used ({e}); start it (.ci/run does)", pytrace=False)  # fmt: skip
    url = POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    upgrade_database(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS) on loopback, shared by every test process:
    the running one (``make s3-server`` starts it), else one started for the session
    (tests/platform/s3_server.py). It fails, never skips, if the server cannot start."""
    # NOTE: imported here: boto3 takes 0.3 s to import, which most test processes never need.
    from tests.platform.s3_server import shared_server

    with shared_server() as server:
        yield server


def empty_postgres(url: str) -> None:
    """Delete every run of the PostgreSQL store at ``url``, and every row that refers to one
    (a stream's alerts, a run's metrics)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()


DIALECTS = ["sqlite", "postgresql"]
SQLITE_ALONE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For a test of a module marked ``on_both_databases`` whose question the SQL dialect does not
change: a request refused before any query, a run's files."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test (or a module, by its ``pytestmark``) marked ``on_both_databases`` runs on SQLite
    and again on PostgreSQL: for what the SQL dialect changes (queries, types, locks,
    isolation, migrations), and a module so doubled says why in its docstring. Every other
    test that takes ``database_url`` runs on SQLite alone, or where its own parametrization
    says (``indirect=True``)."""
    definition = metafunc.definition
    chosen = any(
        "database_url" in _argnames(mark) for mark in definition.iter_markers("parametrize")
    )
    marked = definition.get_closest_marker("on_both_databases") is not None
    if marked and not chosen and "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", DIALECTS, indirect=True)


def _argnames(parametrize: pytest.Mark) -> list[str]:
    names = parametrize.args[0] if parametrize.args else parametrize.kwargs["argnames"]
    return [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A store at the head schema with no runs: a fresh SQLite file, or, where a test is
    parametrized with ``postgresql`` (marked ``on_both_databases``), the session's PostgreSQL
    database emptied."""
    if getattr(request, "param", "sqlite") == "sqlite":
        path = tmp_path / "azuraforge.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


def committed_events(
    store: Store,
    start: tuple[int, int],
    runs: set[int],
    count: int,
    kinds: list[str] | None = None,
) -> list[EventRecord]:
    """The committed events past ``start`` once ``count`` of them belong to ``runs`` (30 s at
    most). On PostgreSQL an event is read only when every older transaction of the server has
    ended, in any of its databases, and a stream's start is the oldest one still running: other
    tests' transactions (the pytest-xdist workers share the server) delay the first and move
    the second back, so events committed just before ``start`` may come too."""
    deadline = time.monotonic() + 30
    while True:
        events = store.list_committed_events(start, kinds=kinds)
        if sum(event.experiment_id in runs for event in events) >= count:
            return events
        assert time.monotonic() < deadline, f"fewer than {count} events of {runs} after 30 s"
        time.sleep(0.05)


TEST_CLIENT_HOST = "testserver"
"""The host Starlette's ``TestClient`` addresses its requests to."""


SHORT: dict[str, Any] = {
    "heartbeat_interval": 0.5,
    "lease_ttl": 2.0,
    "reaper_interval": 0.5,
    "alert_interval": 0.5,
    "poll_interval": 0.25,  # the default: a submit wakes idle workers (jobs/wake.py) at once
    "cancel_grace": 2.0,
    "flush_interval": 0.02,
    "duty_ttl": 1.0,
    "duty_renew_interval": 0.3,
    "allowed_hosts": [TEST_CLIENT_HOST],
}
"""What :func:`short_settings` sets: a duty's lease lapses before a run's, so a killed worker
that held the reaper's duty delays no reaping. The poll stays the default's: at 0.05 s an idle
worker spent 6 % of a core looking at an empty store (2.3 % at 0.25 s, measured on a quiet
2-core VM), and the suite keeps several alive at once."""


def short_settings(database_url: str, home: Path, **fields: Any) -> Settings:
    """Settings on ``database_url`` with short leases and intervals (tests wait less; the
    ``fields`` given win), answering requests addressed to the ``TestClient``'s host, as a
    deployment names its own."""
    return Settings(home=home, database_url=database_url, **{**SHORT, **fields})


def settings_on_copy(template: Path, home: Path, **fields: Any) -> Settings:
    """:func:`short_settings` on a copy of the SQLite store ``template`` (the session's
    ``sqlite_template``: a store at the head schema) in ``home``."""
    shutil.copy(template, home / "azuraforge.db")
    return short_settings(f"sqlite:///{home / 'azuraforge.db'}", home, **fields)


def tiny_chat_settings(
    template: Path, home: Path, corpus: list[str], seed: int, **fields: Any
) -> Settings:
    """:func:`settings_on_copy` whose one assistant backend, ``local``, is a tiny random Llama
    trained on ``corpus`` (no memory, no nightly pass), answering requests to 127.0.0.1."""
    from tests.assist.tiny_llama import build_tiny_llama

    base = build_tiny_llama(home / "tiny", corpus, seed=seed)
    backend = AssistBackend(name="local", kind="llama", model=str(base), threads=1)
    chat = {"assist_backends": [backend], "assist_memory": False, "assist_nightly": False,
            "allowed_hosts": ["127.0.0.1"]}  # fmt: skip
    return settings_on_copy(template, home, **{**chat, **fields})


@contextmanager
def served_chat(
    template: Path, home: Path, backends: list[AssistBackend]
) -> Iterator[tuple[str, Store]]:
    """The address and store of an API on a copy of the SQLite store ``template`` in
    ``home``, answering the chat with ``backends``, served by uvicorn in a thread: the chat
    modules' one server."""
    import uvicorn

    from azuraforge.platform.api.app import create_app
    from tests.platform.servers import served_in_thread

    settings = settings_on_copy(template, home, assist_backends=backends,
                                allowed_hosts=["127.0.0.1"])  # fmt: skip
    store = Store(settings.database_url)
    app = create_app(settings, store=store)
    try:
        with served_in_thread(uvicorn.Config(app, log_level="warning")) as address:
            yield f"http://{address}", store
    finally:
        store.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """:func:`short_settings` on the test's store."""
    return short_settings(database_url, tmp_path / "home")


@pytest.fixture
def blobs(settings: Settings) -> BlobStore:
    """The blob store of the test's settings: a folder of its home."""
    return open_blobs(settings)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = Store(settings.database_url)
    yield opened
    opened.close()


@pytest.fixture
def serves() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to put ``azuraforge serve`` processes in: each is killed with its workers at the
    end of the test."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        kill_group(process)


TTL = 30.0
"""The lease of a stream claimed by :func:`running_stream`."""


def running_stream(store: Store, settings: Settings, **config: Any) -> Lease:
    """A stream queued and claimed (running), its config ``config``; its lease."""
    base = {"source": "btc-hourly", "window": 100, "drift": None, "alert_restarts": None}
    record = start_stream(store, LocalTransport(), settings, {**base, **config})
    claimed = store.claim_job("w1", TTL, record.id)
    assert claimed is not None
    return claimed[0]


def scores(store: Store, lease: Lease, accuracy: float, step: int) -> None:
    points = [
        ("champion/recent_accuracy", step, accuracy, 0.0),
        ("scored", step, float(step), 0.0),
    ]
    store.write(lease, JobWrites(points=points))


class SmallDisk:
    """A filesystem of its own, ``size`` bytes (a tmpfs mounted at ``path``, which takes
    root): :meth:`fill` leaves no byte free, as a full disk does, :meth:`free` gives them
    back."""

    def __init__(self, path: Path, size: int = 256 * 1024) -> None:
        path.mkdir(parents=True)
        mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
        subprocess.run(mount, check=True, capture_output=True)
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        with self.filler.open("ab", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 4096)
            except OSError:  # ENOSPC: full
                pass

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "--lazy", str(self.path)], check=False)


def mounted_disk(path: Path, size: int) -> Iterator[SmallDisk]:
    """A :class:`SmallDisk` of ``size`` bytes at ``path``, unmounted after. Mounting takes
    root: elsewhere the test skips, and under CI (which .ci/run runs as root, after checking
    that it can mount a tmpfs) it fails instead."""
    if os.geteuid() != 0:
        why = "a disk of the test's own is a tmpfs, and only root mounts one"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: run .ci/run as root", pytrace=False)
        pytest.skip(why)
    disk = SmallDisk(path, size)
    yield disk
    disk.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A :class:`SmallDisk` of 256 KiB for the test."""
    yield from mounted_disk(tmp_path / "disk", 256 * 1024)


@pytest.fixture
def store_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A :class:`SmallDisk` of 8 MiB: room for an SQLite store."""
    yield from mounted_disk(tmp_path / "disk", 8 << 20)

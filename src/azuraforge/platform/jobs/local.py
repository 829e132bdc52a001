"""The local transport's worker pool: ``azuraforge serve`` starts worker processes and
restarts any that dies."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading

from pydantic import SecretStr

from azuraforge.platform.jobs.kinds import long_lived_kinds
from azuraforge.platform.jobs.worker import logged_failure
from azuraforge.platform.prometheus import WORKER_RESTARTS
from azuraforge.platform.settings import SERVER_KEYS, Settings
from azuraforge.platform.store import Store

_log = logging.getLogger(__name__)
WORKER_MODULE = "azuraforge.platform.jobs.worker"
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""How many threads NumPy's BLAS may start; a worker pool shares the machine's cores out."""


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same ``settings`` (their secrets
    included: the child reads them as the settings were given)."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        variable = f"AZURAFORGE_{name.upper()}"
        value = _revealed(getattr(settings, name), value)
        if value is None:  # not set: the child's default is None too
            env.pop(variable, None)
            continue
        shown = json.dumps(value) if isinstance(value, list | dict) else str(value)
        env[variable] = shown  # lists and tables are read as JSON
    return env


def _revealed(setting: object, dumped: object) -> object:
    """A setting as dumped, its secrets (dumped masked) as they are."""
    if isinstance(setting, SecretStr):
        return setting.get_secret_value()
    if isinstance(setting, list) and any(isinstance(item, SecretStr) for item in setting):
        return [item.get_secret_value() for item in setting]
    return dumped


def blas_threads(workers: int, cores: int | None = None) -> int:
    """BLAS threads per worker when ``workers`` share ``cores`` (default: the cores this
    process may run on): OpenBLAS threads spin while they wait, so two workers each starting
    one thread per core ran about 5 times slower per epoch than with one thread each.

    >>> blas_threads(2, cores=2), blas_threads(1, cores=2), blas_threads(4, cores=2)
    (1, 2, 1)
    """
    cores = cores or len(os.sched_getaffinity(0))
    return max(1, cores // max(1, workers))


def worker_environment(settings: Settings, workers: int) -> dict[str, str]:
    """:func:`settings_environment` without the server's keys (a worker signs no session,
    posts no webhook and answers no scrape, and its jobs run users' code), plus
    :func:`blas_threads` for each BLAS thread variable the user did not set."""
    env = settings_environment(settings)
    for name in SERVER_KEYS:
        env.pop(f"AZURAFORGE_{name.upper()}", None)
    threads = str(blas_threads(workers))
    for name in BLAS_THREAD_VARIABLES:
        env.setdefault(name, threads)
    return env


class JobWorkers:
    """Worker processes started for the jobs that run until stopped (streams:
    :attr:`JobKind.long_lived`), one for each such job queued and due that has none (``--job
    ID``: it runs that job until it ends, taken again after each restart), so that a stream
    never holds a worker that runs, trials, retrains and predictions wait for; a stream queued
    again after its worker died gets a new one. :meth:`start_due` is called each second by the
    local pool, or by a Celery worker's main process."""

    def __init__(self, settings: Settings, sharing: int) -> None:
        self.settings, self.sharing = settings, sharing
        self.kinds = long_lived_kinds()
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        """The worker process of each job it started one for."""
        self._store: Store | None = None

    def start_due(self) -> None:
        """Start a worker process for each long-lived job queued and due that has none; a
        failure is logged (the thread that calls it each second goes on: it keeps the other
        workers too)."""
        try:
            self._start_due()
        except Exception as e:
            logged_failure("starting the long-lived jobs' workers", e)

    def _start_due(self) -> None:
        for job, process in list(self.processes.items()):
            if process.poll() is None:
                continue
            del self.processes[job]
            if process.returncode:
                _log.warning("job %d's worker exited (%s)", job, process.returncode)
        if not self.kinds:
            return
        self._store = self._store or Store(self.settings.database_url)
        try:
            due = self._store.due_jobs(self.kinds)
        finally:  # no pooled connection outlives a pass: a Celery pool may fork at any time
            self._store.close()
        for job in due:
            if job not in self.processes:
                self.processes[job] = spawn_worker(self.settings, self.sharing, "--job", str(job))


def spawn_worker(settings: Settings, sharing: int, *arguments: str) -> subprocess.Popen[bytes]:
    """A worker process (``python -m azuraforge.platform.jobs.worker``) of this one, with
    ``arguments``, its BLAS threads those of ``sharing`` workers on the cores."""
    command = [sys.executable, "-m", WORKER_MODULE, "--parent", str(os.getpid()), *arguments]
    return subprocess.Popen(command, env=worker_environment(settings, sharing))


def stop_processes(processes: list[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM each of ``processes`` (a worker's running job stops, its metrics kept, and is
    queued again or ends ``cancelled`` saying why: :meth:`Worker.stop_on_signals`), wait up to
    ``grace`` seconds and a little more, then kill what is left."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(grace + 5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LocalWorkerPool:
    """``count`` worker processes (``python -m azuraforge.platform.jobs.worker``) on the
    settings' store; a worker that exits is started again until :meth:`stop`. The workers
    share the cores: each may start :func:`blas_threads` BLAS threads unless the environment
    says otherwise. They leave the long-lived jobs (streams) to :class:`JobWorkers`."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.settings, self.count = settings, count
        self.processes: list[subprocess.Popen[bytes]] = []
        self.jobs: JobWorkers | None = None
        """The workers started for the long-lived jobs (none without workers: API only)."""
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._keep_alive, name="worker-pool", daemon=True)

    def start(self) -> None:
        """Start the workers and the thread that restarts them (and starts the long-lived
        jobs' workers)."""
        if self.count:
            self.jobs = JobWorkers(self.settings, self.count)
        self.processes = [self._spawn() for _ in range(self.count)]
        self._monitor.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        skipped = self.jobs.kinds if self.jobs is not None else []
        arguments = ["--skip-kinds", ",".join(skipped)] if skipped else []
        return spawn_worker(self.settings, self.count, *arguments)

    def _keep_alive(self) -> None:
        while not self._stopping.wait(1.0):
            for index, process in enumerate(self.processes):
                if process.poll() is not None and not self._stopping.is_set():
                    _log.warning(
                        "worker %d exited (%s); starting another", process.pid, process.returncode
                    )
                    WORKER_RESTARTS.inc()
                    self.processes[index] = self._spawn()
            if self.jobs is not None:
                self.jobs.start_due()

    def stop(self) -> None:
        """Stop the thread that starts workers, then every worker, the long-lived jobs'
        included (:func:`stop_processes`, within the cancel grace period)."""
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join(timeout=5)
        started = list(self.jobs.processes.values()) if self.jobs is not None else []
        stop_processes([*self.processes, *started], self.settings.cancel_grace)

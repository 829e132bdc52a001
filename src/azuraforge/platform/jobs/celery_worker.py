"""The Celery worker's runtime: what ``azuraforge worker`` runs on the Celery transport (the
sending side, which the API uses, is :mod:`~azuraforge.platform.jobs.celery_transport`).

The protocol is the store's lease, not Celery's delivery guarantees:

- The worker that receives a run's task calls :meth:`Worker.run_one`, which claims the run's
  lease if the run is still ``queued`` and does nothing otherwise. A message delivered twice,
  redelivered after Redis' visibility time-out (a run longer than an hour), or requeued after
  its worker died therefore never runs a job twice: the second delivery finds the run
  ``running`` or ended and returns.
- Messages are acknowledged after the task returns (``acks_late``) and requeued when a
  worker process dies (``task_reject_on_worker_lost``): no window exists where a message
  is gone but its run was never claimed, and a redelivery costs one failed claim.
- A cancelled run is cancelled cooperatively by its worker, which watches the store
  (SIGUSR1 to the run, SIGKILL after ``cancel_grace``).
- One worker of the store at a time (its main process, beside its pool: the one holding the
  reaper's duty, :mod:`~azuraforge.platform.jobs.duties`) reaps expired leases every
  ``reaper_interval``, so a run whose worker died becomes ``lost`` with only Celery workers
  running; a reaped run its pipeline re-queues is sent again, and a study left with no
  trial queued or running is advanced. Another worker takes the duty over within
  ``duty_ttl + reaper_interval`` of its holder's death.
- Every ``resend_after`` seconds, the reaper also sends again each job queued and due for
  that long whose task the broker no longer holds (a Redis restarted without its data
  forgets every message), or holds only as delivered, ``lease_ttl`` ago or more, to a
  worker that never claimed the job (it died holding it: Redis would give it back after an
  hour): the store is the queue of record, and a message sent twice costs one failed claim.
- The prefork pool is used: each pool process runs one run at a time and forks the run's
  child from a single-threaded process, as the local worker does (tested for real).
- A job that runs until stopped (a stream) never holds a pool process: the pool's processes
  leave its task alone, and the worker's main process starts a worker process for it
  (:class:`JobWorkersStep`).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from typing import Any

from celery import Celery, bootsteps

from azuraforge.platform.jobs.celery_transport import (
    BROKER_ERRORS,
    TASK_NAME,
    configured_app,
    fresh_task_id,
    send_run,
)
from azuraforge.platform.jobs.duties import REAPER, DutyLease
from azuraforge.platform.jobs.kinds import JobHost, long_lived_kinds
from azuraforge.platform.jobs.local import JobWorkers, stop_processes
from azuraforge.platform.jobs.worker import (
    Worker,
    abort_unfinished_writes,
    clean_lost,
    reap_leases,
    sweep_kinds,
    tidy_work_folders,
    worker_name,
)
from azuraforge.platform.prometheus import WORKERS
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store, is_unavailable
from azuraforge.platform.store.states import QUEUED

_log = logging.getLogger(__name__)


def make_celery_app(settings: Settings) -> Celery:
    """A worker's Celery app: the one every process configures
    (:func:`~azuraforge.platform.jobs.celery_transport.configured_app`) with the one task,
    ``azuraforge.run_experiment``, and the reaper's and long jobs' bootsteps.

    Examples
    --------
    >>> app = make_celery_app(Settings(transport="celery", broker_url="redis://127.0.0.1:6379/0"))
    >>> app.conf.task_serializer, app.conf.task_acks_late, app.conf.worker_prefetch_multiplier
    ('json', True, 1)
    >>> TASK_NAME in app.tasks
    True
    """
    app = configured_app(settings)
    jobs = _ProcessWorker(settings)

    # NOTE: shared=False: Celery's default adds a task to every app finalized later in the
    # process, so a second app would run the first one's settings (and a user's app ours).
    @app.task(name=TASK_NAME, shared=False)  # type: ignore[untyped-decorator]
    def run_experiment(experiment_id: int) -> str | None:
        """Run this experiment if it is still queued; its final status, or ``None``. A
        message come before the run's backoff ended (sent twice, or early) is sent again
        for when it ends."""
        status = jobs.run_one(experiment_id)
        wait = 0.0 if status is not None else jobs.backoff_left(experiment_id)
        if wait > 0:  # not claimed, and only because it is early
            send_run(app, experiment_id, fresh_task_id(experiment_id), delay=wait)
        jobs.prepare()  # the next task's job starts in a process forked now
        return status

    app.azuraforge_settings = settings
    app.steps["worker"].add(ReaperStep)
    app.steps["worker"].add(JobWorkersStep)
    return app


class _ProcessWorker:
    """One :class:`Worker` (and its store connections) per process, made on first use: a
    pool process forked by Celery must not share its parent's connections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._worker: Worker | None = None
        self._pid = 0

    def run_one(self, experiment_id: int) -> str | None:
        supervision = self._process_worker().run_one(experiment_id)
        return None if supervision is None else supervision.status

    def prepare(self) -> None:
        """Fork the process of this pool process's next job ahead of it
        (:meth:`Worker.prepare`)."""
        self._process_worker().prepare()

    def backoff_left(self, experiment_id: int) -> float:
        """Seconds until the queued run's ``not_before`` (0 when it may run now), by the
        database's clock."""
        return self._process_worker().store.backoff_left(experiment_id)

    def _process_worker(self) -> Worker:
        if self._worker is None or self._pid != os.getpid():
            skipped = long_lived_kinds()  # their workers are the main process's: JobWorkersStep
            self._worker, self._pid = Worker(self.settings, skip_kinds=skipped), os.getpid()
        return self._worker


class _ThreadStep(bootsteps.StartStopStep):  # type: ignore[misc]
    """A worker bootstep that runs :meth:`_loop` in a thread of the worker's main process,
    started after the pool (so pool processes are forked before the thread exists) and
    stopped with the worker (waited for :attr:`join_timeout` seconds; ``None``: until it
    ends)."""

    requires = ("celery.worker.components:Pool",)
    thread_name = "azuraforge-step"
    join_timeout: float | None = 5.0

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(parent,), name=self.thread_name, daemon=True
        )
        self._thread.start()

    def stop(self, parent: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout)
            self._thread = None

    def _loop(self, parent: Any) -> None:
        raise NotImplementedError


class ReaperStep(_ThreadStep):
    """A worker bootstep: a thread of the worker's main process that, while it holds the
    reaper's duty (taken, or kept, at each pass), marks expired leases ``lost`` every
    ``reaper_interval`` (and sends again the runs that go back to queued), and every
    ``resend_after`` sends again the queued jobs the broker forgot (:func:`resend_forgotten`:
    it reads the whole queue, so less often). It hands the duty back when the worker stops.
    Held or not, each pass tidies the job folders of the worker's machine
    (:func:`~azuraforge.platform.jobs.worker.tidy_work_folders`).

    It starts after the pool, so pool processes are forked before the thread exists.
    """

    thread_name = "azuraforge-reaper"

    def _loop(self, parent: Any) -> None:
        app: Celery = parent.app
        settings: Settings = app.azuraforge_settings
        host: JobHost[Store] | None = None  # one for the reaper's life: its services are kept
        reaping: DutyLease | None = None
        next_resend = 0.0
        while not self._stop.wait(settings.reaper_interval):
            try:
                host = host or JobHost(Store(settings.database_url), settings)
                reaping = reaping or DutyLease(host.store, REAPER, worker_name(), settings)
                if reaping.hold():
                    next_resend = _reaper_duty(app, host, next_resend)
                tidy_work_folders(settings, host.store)
            except Exception as e:
                level = logging.WARNING if is_unavailable(e) else logging.ERROR
                _log.log(level, "reaper: %s", e, exc_info=not is_unavailable(e))
            finally:
                # NOTE: no pooled connection outlives a pass: the pool may fork a new process
                # at any time, and a child must not inherit (and later close) ours.
                if host is not None:
                    host.release()
        if reaping is not None:
            reaping.release()
            reaping.store.close()


def _reaper_duty(app: Celery, host: JobHost[Store], next_resend: float) -> float:
    """One pass of the reaper's duty: :func:`reap`, then :func:`resend_forgotten` once its
    time (``next_resend``, by the monotonic clock) came; when it is next due."""
    reap(app, host)
    if time.monotonic() >= next_resend:
        next_resend = time.monotonic() + host.settings.resend_after
        resend_forgotten(app, host.store, host.settings)
    return next_resend


class JobWorkersStep(_ThreadStep):
    """A worker bootstep: a thread of the worker's main process that starts a worker process
    for each long-lived job (a stream) queued and due, each second (:class:`JobWorkers`), so
    a stream never holds one of the pool's processes; they stop with the worker (queued
    again). The pool's processes leave those jobs' tasks alone.

    Every Celery worker on the store starts one for a stream queued: the first to claim it
    runs it, the others exit.
    """

    thread_name = "azuraforge-job-workers"
    join_timeout = None  # its streams stop within their cancel grace, or are killed

    def _loop(self, parent: Any) -> None:
        settings: Settings = parent.app.azuraforge_settings
        jobs = JobWorkers(settings, parent.concurrency)
        try:
            while not self._stop.wait(1.0):
                jobs.start_due()
        finally:
            stop_processes(list(jobs.processes.values()), settings.cancel_grace)


def reap(app: Celery, host: JobHost[Store]) -> list[tuple[int, str]]:
    """Mark runs whose lease expired ``lost`` (or ``queued``, and send them again), each lost
    one's kind cleaning what it left, then let each job kind sweep (a study left with no trial
    queued or running advances); return ``(id, new status)`` for each reaped run."""
    reaped = reap_leases(host.store)
    for experiment_id, status in reaped:
        if status == QUEUED:
            # a new task id: the first one may have been revoked by a cancel
            send_run(app, experiment_id, fresh_task_id(experiment_id))
    clean_lost(host, reaped)
    abort_unfinished_writes(host)
    sweep_kinds(host)
    return reaped


def resend_forgotten(app: Celery, store: Store, settings: Settings) -> list[int]:
    """Send again each job queued and due for ``settings.resend_after`` seconds whose task
    the broker holds nowhere (:func:`runs_in_broker`); their ids. The broker is read only
    when such jobs wait, and one it cannot be read from is a warning (the next pass looks
    again). Long-lived jobs need no message: workers are started for them from the store."""
    waiting = store.list_waiting_jobs(settings.resend_after, skip_kinds=long_lived_kinds())
    if not waiting:
        return []
    try:
        held = runs_in_broker(app, max(settings.resend_after, settings.lease_ttl))
        forgotten = [job for job in waiting if job not in held]
        for job in forgotten:
            send_run(app, job, fresh_task_id(job))
    except BROKER_ERRORS as e:
        _log.warning("queued jobs not checked against the broker: %s", e)
        return []
    for job in forgotten:
        _log.warning("experiment %d: queued but its task was gone from the broker; sent again",
                     job)  # fmt: skip
    return forgotten


def runs_in_broker(app: Celery, delivered_within: float) -> set[int]:
    """The runs whose task the Redis broker holds: waiting in the app's queue, or delivered
    within the last ``delivered_within`` seconds and not yet acknowledged (being run, held by
    a worker until its countdown ends or a pool process is free).

    A message delivered longer ago to a job still queued is not counted: a live worker
    claims its job when it starts it (it prefetches no more tasks than it has pool
    processes), so the message is most likely held by a worker that died (SIGKILL, a lost
    machine), which Redis gives back only after its visibility time-out, an hour.
    :func:`resend_forgotten` gives a delivery ``lease_ttl`` (at least ``resend_after``), as a
    running job silent that long is judged lost. Sent again, its job runs now; the old
    message, if a live worker did hold it, costs one failed claim."""
    queue = app.conf.task_default_queue
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client = channel.client
        # NOTE: kombu's Redis transport keeps a queue as a list per priority, each message
        # delivered but not acknowledged in one hash, as [message, exchange, key], and the
        # time of its delivery (the receiving worker's clock) in a sorted set.
        lists = [channel._q_for_pri(queue, priority) for priority in channel.priority_steps]
        held = [message for key in lists for message in client.lrange(key, 0, -1)]
        recent = client.zrangebyscore(
            channel.unacked_index_key, time.time() - delivered_within, "+inf"
        )
        if recent:
            held += [m for m in client.hmget(channel.unacked_key, recent) if m is not None]
    return {int(found[1]) for message in held if (found := _TASK_ID.search(message))}


_TASK_ID = re.compile(rb'"id": "run-(\d+)(?:-[0-9a-f]{8})?"')
"""Our task's id in a message as kombu writes it, found in its raw JSON: 10,000 messages
waiting were read in 0.13-0.23 s, against 0.8-1.2 s parsing each."""


def run_celery_worker(settings: Settings, concurrency: int, loglevel: str = "INFO") -> None:
    """Run a Celery worker with ``concurrency`` pool processes in this process, until it is
    stopped (SIGTERM or SIGINT: warm shutdown, runs in progress finish first).

    Raises
    ------
    SystemExit
        With the worker's exit code when it stopped on an error.
    """
    app = make_celery_app(settings)
    worker = app.Worker(
        hostname=f"azuraforge-{os.getpid()}@{socket.gethostname()}",
        concurrency=concurrency,
        pool="prefork",
        loglevel=loglevel,
        optimization="fair",
        # NOTE: mingle (revoked ids from other workers) and gossip only save a failed claim
        # now and then: the store decides what runs. Without them a worker starts a second
        # sooner and sends less.
        without_mingle=True,
        without_gossip=True,
        without_heartbeat=True,
    )
    WORKERS.inc(concurrency)  # its pool's processes, as long as this process lives
    try:
        worker.start()
    finally:
        WORKERS.dec(concurrency)
    if worker.exitcode:
        raise SystemExit(worker.exitcode)

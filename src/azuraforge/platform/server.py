"""Running the platform's processes: ``azuraforge serve`` (the API, its local workers and the
duties it offers to run: the reaper, the streams' keeper) and ``azuraforge worker``; the
command line parses, checks and calls these.

Both stop the same way on SIGTERM as on Ctrl-C: through their ``finally``, which stops the
workers (each running job stops at its next step, and is queued again or ends ``cancelled``
saying why) before the process ends.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import socket
import time
from collections.abc import Callable

from azuraforge.platform.api.app import create_app
from azuraforge.platform.api.processes import exit_on_sigterm, run_uvicorn, serve_processes
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.duties import REAPER, STREAMS, Duties, Duty, DutyLease
from azuraforge.platform.jobs.kinds import JobHost
from azuraforge.platform.jobs.local import LocalWorkerPool, settings_environment
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.jobs.worker import Worker, reap, worker_name
from azuraforge.platform.services.server_settings import LiveSettings
from azuraforge.platform.services.streams.alerts import AlertKeeper
from azuraforge.platform.services.streams.registry import register_changes
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.store.engine import shown_url

API_FACTORY = "azuraforge.platform.api.app:create_app_from_environment"
"""What each API process makes its app with when there are several (from the environment)."""


def local_workers(settings: Settings) -> int:
    """How many worker processes ``serve`` starts: ``workers`` on the local transport, none
    on Celery (its workers are started apart, ``azuraforge worker --transport celery``)."""
    return settings.workers if settings.transport == "local" else 0


ALERT_TICK = 1.0
"""Most seconds between two looks at whether the streams' keeper is due: a live change of
``alert_interval`` applies from the next look."""


def server_duties(store: Store, live: LiveSettings) -> list[Duty]:
    """The duties ``serve`` offers to run, each run by one process of the store at a time
    (:class:`Duties`): the streams' keeper (their alerts and webhooks, their champions in the
    registry) every ``alert_interval`` of the live settings, and on the local transport the
    reaper (on Celery, the Celery workers reap: they send again what they queue again)."""
    settings, holder = live.current, worker_name()
    streams = DutyLease(store, STREAMS, holder, settings)
    alerts = AlertKeeper(store, settings, held=streams.held)
    live.on_change(functools.partial(setattr, alerts, "settings"))  # its webhooks, live
    blobs = open_blobs(settings)  # where the champions' snapshots are written
    last = -math.inf

    def keep_streams() -> None:
        nonlocal last
        # NOTE: a tenth early counts as due: a timed wait may end a little before its time,
        # and the look at the interval's end must not wait a whole interval more.
        if time.monotonic() - last < 0.9 * live.current.alert_interval:
            return
        last = time.monotonic()
        alerts.check()
        register_changes(store, blobs, held=streams.held)

    duties = [Duty(streams, min(settings.alert_interval, ALERT_TICK), keep_streams)]
    if settings.transport == "local":
        host = JobHost(store, settings)
        reaper = DutyLease(store, REAPER, holder, settings)
        duties.append(Duty(reaper, settings.reaper_interval, lambda: reap(host)))
    return duties


def run_server(
    settings: Settings,
    store: Store,
    transport: Transport,
    listeners: list[socket.socket],
    *,
    started: Callable[[], None] = lambda: None,
    stopping: Callable[[], None] = lambda: None,
) -> None:
    """Serve the API on ``listeners`` (one process, or one per listener reading the settings
    from the environment) with :func:`local_workers` workers and the duties of
    :func:`server_duties`, until SIGTERM or Ctrl-C. ``started`` is called once all is up (to
    announce it, or queue a first run); ``stopping`` before the workers are stopped. Closes
    the listeners."""
    live = LiveSettings(settings)
    settings = live.load(store)  # the store's settings version on top of the environment's
    pool = LocalWorkerPool(settings, local_workers(settings))
    duties = Duties(settings, server_duties(store, live))
    try:
        exit_on_sigterm()  # uvicorn raises SIGTERM again after its own shutdown
        pool.start()
        duties.start()
        live.start()
        started()
        if len(listeners) == 1:
            app = create_app(settings, store=store, transport=transport, live=live)
            run_uvicorn(app, listeners[0], settings.trusted_proxies)
        else:  # the API processes read the settings given here from their environment
            os.environ.update(settings_environment(settings))
            serve_processes(API_FACTORY, listeners, settings.trusted_proxies)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut this short
        stopping()
        live.stop()
        pool.stop()
        duties.stop()
        for listener in listeners:
            listener.close()


def run_workers(
    settings: Settings, concurrency: int, started: Callable[[str], None] = lambda _: None
) -> None:
    """Run queued jobs of the settings' store until SIGTERM or Ctrl-C: ``concurrency`` Celery
    worker processes on the Celery transport; else this process as the worker when
    ``concurrency`` is 1, or a pool of that many. ``started`` is told what runs."""
    if settings.transport == "celery":
        from kombu.utils.url import maybe_sanitize_url

        from azuraforge.platform.jobs.celery_worker import run_celery_worker

        broker = maybe_sanitize_url(settings.broker_url)  # its password masked
        started(f"Celery worker on {broker}, concurrency {concurrency}")
        run_celery_worker(settings, concurrency)
        return
    if concurrency == 1:
        single = Worker(settings)
        single.stop_on_signals()
        started(f"worker {single.name} on {single.store.shown_url}")
        single.run_forever()
        return
    pool = LocalWorkerPool(settings, concurrency)
    try:
        exit_on_sigterm()
        pool.start()
        started(f"{concurrency} workers on {shown_url(settings.database_url)}")
        for process in pool.processes:
            process.wait()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pool.stop()

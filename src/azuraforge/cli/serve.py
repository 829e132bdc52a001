"""``azuraforge serve`` (API + local workers) and ``azuraforge worker``."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from azuraforge.cli.common import (
    DatabaseUrl,
    UsageError,
    Verbose,
    console,
    settings_with,
    user_errors,
)

Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)]
TransportName = Literal["local", "celery"]
API_PROCESS_FACTORY = "azuraforge.cli.serve:api_process_app"
"""What uvicorn's worker processes import and call (``--api-workers`` above 1)."""

if TYPE_CHECKING:
    from fastapi import FastAPI


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Local worker processes (default: AZURAFORGE_WORKERS, 2).", min=0
        ),
    ] = None,
    api_workers: Annotated[
        int | None,
        typer.Option(
            "--api-workers",
            help="API processes sharing the port (default: AZURAFORGE_API_WORKERS, 1).",
            min=1,
        ),
    ] = None,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", help="Migrate the store first if it is out of date.")
    ] = False,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Serve the API (and OpenAPI docs at /docs) with local workers; Ctrl-C stops all.

    An empty database is created; one at another schema is refused (or, with --upgrade,
    migrated). Ctrl-C or SIGTERM stops the workers, cancelling their runs. With
    --api-workers N, N processes answer requests on the port, each with its own model cache.
    """
    import uvicorn

    from azuraforge.platform.api.app import create_app
    from azuraforge.platform.jobs.local import LocalWorkerPool, Reaper, settings_environment
    from azuraforge.platform.store import Store, create_if_empty, upgrade_database
    from azuraforge.platform.store.engine import shown_url

    with user_errors(verbose):
        settings = settings_with(
            database_url=database_url, workers=workers, api_workers=api_workers
        )
        if upgrade:
            upgrade_database(settings.database_url)
        elif create_if_empty(settings.database_url):
            console.print(f"created an empty store at {shown_url(settings.database_url)}")
        store = Store(settings.database_url)  # refuses an out-of-date schema, naming the fix
        _check_port_free(host, port)
        count = settings.workers if settings.transport == "local" else 0
        pool, reaper = LocalWorkerPool(settings, count), Reaper(store, settings)
        if settings.api_workers == 1:
            app: FastAPI | str = create_app(settings, store=store)
        else:  # uvicorn's worker processes import the app and read the settings given here
            os.environ.update(settings_environment(settings))
            app = API_PROCESS_FACTORY
        try:
            _exit_on_sigterm()  # uvicorn raises SIGTERM again after its own shutdown
            pool.start()
            reaper.start()
            console.print(
                f"AzuraForge on http://{host}:{port} (API: /api/v1, docs: /docs); store "
                f"{store.shown_url}; {settings.transport} transport, {count} local workers, "
                f"{settings.api_workers} API process{'es' if settings.api_workers > 1 else ''}. "
                "Ctrl-C stops.",
                highlight=False,
            )
            uvicorn.run(
                app,
                host=host,
                port=port,
                log_level="warning",
                workers=settings.api_workers,
                factory=isinstance(app, str),
            )
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut this short
            console.print("stopping workers...")
            pool.stop()
            reaper.stop()


def worker(
    transport: Annotated[
        TransportName | None,
        typer.Option("--transport", help="local (poll the store) or celery (Redis)."),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Runs at once.", min=1)] = 1,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Run queued experiments of the store until stopped (SIGTERM or Ctrl-C)."""
    from azuraforge.platform.jobs.local import LocalWorkerPool
    from azuraforge.platform.jobs.worker import Worker

    with user_errors(verbose):
        settings = settings_with(database_url=database_url, transport=transport)
        if settings.transport == "celery":
            from azuraforge.platform.jobs.celery_transport import run_celery_worker

            console.print(f"Celery worker on {settings.broker_url}, concurrency {concurrency}")
            run_celery_worker(settings, concurrency)
            return
        if concurrency == 1:
            single = Worker(settings)
            single.stop_on_signals()
            console.print(f"worker {single.name} on {single.store.shown_url}")
            single.run_forever()
            return
        pool = LocalWorkerPool(settings, concurrency)
        try:
            _exit_on_sigterm()
            pool.start()
            for process in pool.processes:
                process.wait()
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            pool.stop()


def api_process_app() -> FastAPI:
    """The app of one of ``serve``'s API processes (uvicorn's factory): settings from the
    environment ``serve`` set; the process stops once ``serve`` is gone (killed outright)."""
    from azuraforge.platform.api.app import create_app_from_environment

    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_stop_after, args=(parent,), name="serve-watch", daemon=True
        ).start()
    return create_app_from_environment()


def _stop_after(parent: multiprocessing.process.BaseProcess) -> None:
    """Wait until ``parent`` ends, then stop this API process as SIGTERM does (uvicorn lets
    the requests in flight finish)."""
    parent.join()
    os.kill(os.getpid(), signal.SIGTERM)


def _exit_on_sigterm() -> None:
    """SIGTERM exits through the caller's ``finally`` (which stops its workers), as Ctrl-C
    does, instead of ending the process at once and leaving the workers behind."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            raise UsageError(
                f"cannot listen on {host}:{port} ({e.strerror}); choose another --port"
            ) from None

"""``azuraforge serve`` (API + local workers) and ``azuraforge worker``."""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

import typer
from rich.markup import escape

from azuraforge.cli.addresses import reachable_urls
from azuraforge.cli.common import (
    DatabaseUrl,
    SetOptions,
    UsageError,
    Verbose,
    arguments,
    console,
    parse_sets,
    settings_with,
    user_errors,
)
from azuraforge.cli.plugins import load_plugins
from azuraforge.errors import AzuraForgeError, TransportUnavailableError
from azuraforge.platform.hosts import is_loopback_bind
from azuraforge.platform.prometheus_folder import shared_metrics

if TYPE_CHECKING:
    from azuraforge.platform.jobs.transport import Transport
    from azuraforge.platform.settings import Settings
    from azuraforge.platform.store import Store

Host = Annotated[
    str,
    typer.Option(
        "--host",
        help="Address to listen on (0.0.0.0: every interface; put TLS in front).",
    ),
]
Port = Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)]
TransportName = Literal["local", "celery"]
LocalWorkers = Annotated[
    int | None,
    typer.Option(
        "--workers", help="Local worker processes (default: AZURAFORGE_WORKERS, 2).", min=0
    ),
]
ApiWorkers = Annotated[
    int | None,
    typer.Option(
        "--api-workers",
        help="API processes sharing the port (default: AZURAFORGE_API_WORKERS, 1).",
        min=1,
    ),
]
Upgrade = Annotated[
    bool, typer.Option("--upgrade", help="Migrate the store first if it is out of date.")
]
Submit = Annotated[
    str | None,
    typer.Option(
        "--submit",
        help="Queue a run of this pipeline once serving and print the page where it can "
        "be watched live (make run: weather-forecaster).",
    ),
]
AllowedHosts = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-hosts",
        help="Host names requests may be addressed to besides localhost and --host "
        "(af.example.org, *.example.org), separated by commas (default: "
        "AZURAFORGE_ALLOWED_HOSTS); others are refused, as DNS rebinding sends them.",
    ),
]


def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: LocalWorkers = None,
    api_workers: ApiWorkers = None,
    upgrade: Upgrade = False,
    submit: Submit = None,
    set_: SetOptions = None,
    allowed_hosts: AllowedHosts = None,
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Serve the dashboard (at /), the API (docs at /docs) and local workers; Ctrl-C stops all.

    An empty database is created; one at another schema is refused (or, with --upgrade,
    migrated). Ctrl-C or SIGTERM stops the workers, cancelling their runs. With
    --api-workers N, N processes answer requests on the port, each with its own model cache.
    With --submit PIPELINE (and --set key=value), a run is queued as soon as the server
    listens, and its result is printed when it ends. Only 127.0.0.1 is served unless --host
    says otherwise (every request needs a credential; over plain http they cross the network
    in clear: put TLS in front); requests naming another host than this server's
    (--allowed-hosts) are refused.
    """
    with user_errors(verbose), shared_metrics():
        from azuraforge.platform.tracing import start_tracing

        with arguments():  # an exporter not installed: exit code 2
            start_tracing("azuraforge")  # before the store is opened: its statements traced
        from azuraforge.platform.api.processes import listen
        from azuraforge.platform.server import run_server

        settings = _serve_settings(host, database_url, workers, api_workers, allowed_hosts)
        load_plugins(settings)  # the plugin folder's pipelines, before --submit's is checked
        urls = _exposure_warned(host, port)
        first_run = _checked_run(submit, set_)  # before anything is made
        transport = _checked_transport(settings, queues_a_run=first_run is not None)
        store = _prepared_store(settings, upgrade=upgrade)
        with arguments():  # a port in use: refused before any start, exit code 2
            listeners = listen(host, port, settings.api_workers)
        run_server(settings, store, transport, listeners,
                   started=lambda: _started(settings, store, transport, urls, first_run),
                   stopping=lambda: console.print("stopping workers..."))  # fmt: skip


def _serve_settings(
    host: str,
    database_url: str | None,
    workers: int | None,
    api_workers: int | None,
    allowed_hosts: list[str] | None,
) -> Settings:
    """The server's settings: the environment's, with the options given, answering ``host``."""
    settings = settings_with(
        database_url=database_url,
        workers=workers,
        api_workers=api_workers,
        allowed_hosts=",".join(allowed_hosts) if allowed_hosts else None,
    )
    return _answering(settings, host)


def _prepared_store(settings: Settings, *, upgrade: bool) -> Store:
    """The server's store, created if empty or (``upgrade``) migrated, with its first admin;
    then where it is kept and how /metrics is scraped are printed, in that order.

    Raises
    ------
    SchemaMismatchError
        If the store is at another schema and not ``upgrade``.
    """
    from azuraforge.platform.api.access import scrape_rule
    from azuraforge.platform.services.access import first_admin
    from azuraforge.platform.services.home_files import upgrade_store
    from azuraforge.platform.store import Store, create_if_empty
    from azuraforge.platform.store.engine import shown_url

    if upgrade:
        upgrade_store(settings)  # the home's files first, as azuraforge db upgrade
    elif create_if_empty(settings.database_url):
        console.print(f"created an empty store at {shown_url(settings.database_url)}")
    store = Store(settings.database_url)  # refuses an out-of-date schema, naming the fix
    first_admin(store)
    console.print(escape(where_kept(settings)), highlight=False, soft_wrap=True)
    console.print(escape(scrape_rule(settings)), highlight=False, soft_wrap=True)
    return store


def _started(
    settings: Settings,
    store: Store,
    transport: Transport,
    urls: list[str],
    first_run: tuple[str, dict[str, Any]] | None,
) -> None:
    """Once the server listens: the banner, the start audited, then the first run queued or
    the admin's login link printed."""
    from azuraforge.cli.access import SERVER_START

    console.print(_banner(settings, store, urls), highlight=False, soft_wrap=True)
    store.audit("serve", SERVER_START, urls[0])  # where users link's links point
    link = _login_link(store)
    if first_run is not None:
        _submit_and_announce(store, transport, settings, *first_run, (urls[0], link))
    elif link is not None:
        console.print(f"sign in: {escape(urls[0])}{link}", highlight=False, soft_wrap=True)


def _banner(settings: Settings, store: Store, urls: list[str]) -> str:
    """The line saying the server answers: where, its store, transport and processes."""
    from azuraforge.platform.server import local_workers

    shown = escape(", ".join(urls))  # an IPv6 address in brackets is not markup
    processes = settings.api_workers
    return (
        f"AzuraForge on {shown} (dashboard: /, API: /api/v1, docs: /docs); "
        f"store {store.shown_url}; {settings.transport} transport, "
        f"{local_workers(settings)} local workers, "
        f"{processes} API process{'es' if processes > 1 else ''}. Ctrl-C stops."
    )


def where_kept(settings: Settings) -> str:
    """Where a server of ``settings`` keeps its store, its files and its home, saying so when
    the home is the default one, which every clone and command of the user shares."""
    from azuraforge.learn.home import HOME_VARIABLE, default_home
    from azuraforge.platform.store.engine import shown_url

    home = str(settings.home)
    if not os.environ.get(HOME_VARIABLE) and settings.home == default_home():
        home += (" (the default home, ~/.azuraforge: every clone and command of this user "
                 f"that sets no {HOME_VARIABLE} shares it)")  # fmt: skip
    store = shown_url(settings.database_url)
    return f"kept in: store {store}, files {settings.blob_store}, home {home}"


def _checked_run(
    pipeline: str | None, pairs: list[str] | None
) -> tuple[str, dict[str, Any]] | None:
    """``--submit``'s pipeline and settings (none without it), validated before anything
    starts.

    Raises
    ------
    UsageError
        Naming an unknown pipeline or a refused setting, or given settings (``--set``)
        without ``--submit``.
    """
    from azuraforge.apps import get_pipeline
    from azuraforge.platform.services.validation import validate_config

    if pairs and not pipeline:
        raise UsageError("--set gives settings to the run of --submit PIPELINE; add --submit")
    if not pipeline:
        return None
    with arguments():
        config = parse_sets(pairs or [])
        validate_config(get_pipeline(pipeline), config)
    return pipeline, config


def _exposure_warned(host: str, port: int) -> list[str]:
    """The URLs a server on ``host:port`` answers at; for a host other machines reach, a
    warning that credentials cross the network in clear over plain http."""
    urls = reachable_urls(host, port)
    if not is_loopback_bind(host):
        console.print(
            f"[yellow]warning:[/yellow] serving AzuraForge on {escape(', '.join(urls))} over "
            "plain http: every request needs a credential, and tokens and session cookies "
            "cross the network in clear; put a TLS proxy in front",
            soft_wrap=True,
        )
    return urls


def _answering(settings: Settings, host: str) -> Settings:
    """``settings`` listening on ``host``, whose allowed hosts include it, the address bound
    to (``0.0.0.0`` allows any IP address)."""
    from azuraforge.platform.hosts import allowed_host_entry

    try:
        bound = allowed_host_entry(host or "0.0.0.0")
    except ValueError as e:
        raise UsageError(f"--host {e}") from None
    allowed = [*settings.allowed_hosts, bound]
    return settings.model_copy(update={"allowed_hosts": allowed, "host": host})


def _checked_transport(settings: Settings, *, queues_a_run: bool) -> Transport:
    """The transport ``settings`` name, its broker checked: one that cannot be reached is
    warned of, or refused when ``--submit`` needs it at once.

    Raises
    ------
    TransportUnavailableError
        When the broker cannot be reached and ``queues_a_run``.
    """
    from azuraforge.platform.jobs.queueing import make_transport

    transport = make_transport(settings)
    try:
        transport.check()
    except TransportUnavailableError as e:
        unreachable = str(e).rstrip(".")
        if queues_a_run:
            raise TransportUnavailableError(f"{unreachable}; --submit cannot queue its run") from e
        console.print(
            f"[yellow]warning:[/yellow] {escape(unreachable)}; until it answers, runs submitted "
            "are refused (503) and queue nothing, and /api/v1/health says degraded",
            soft_wrap=True,
        )
    return transport


def _login_link(store: Store) -> str | None:
    """The path of a one-time login link of the server's admin, made at each start until
    they set a password (as Jupyter prints its token), else None."""
    from azuraforge.platform.services.access import FIRST_ADMIN, NO_PASSWORD, login_link
    from azuraforge.platform.store import DEFAULT_PROJECT

    admin = store.find_user(FIRST_ADMIN)
    if admin is None or admin.password_hash != NO_PASSWORD or admin.disabled_at is not None:
        return None
    return f"/api/v1/auth/link?token={login_link(store, FIRST_ADMIN, DEFAULT_PROJECT)}"


def _submit_and_announce(
    store: Store,
    transport: Transport,
    settings: Settings,
    pipeline: str,
    config: dict[str, Any],
    where: tuple[str, str | None],
) -> None:
    """Queue the run, print where to watch it (through the login link, when there is one),
    and print its result when it ends."""
    from azuraforge.platform.blobs import open_blobs
    from azuraforge.platform.jobs.files import data_folder_of
    from azuraforge.platform.services import experiments
    from azuraforge.platform.store import DEFAULT_PROJECT

    address, link = where
    folder = data_folder_of(settings, DEFAULT_PROJECT, open_blobs(settings), store)
    run = experiments.submit(store, transport, pipeline, config, data_folder=folder)[0]
    page = f"/#/runs/{run.id}"
    shown = f"{address}{link}&next={quote(page, safe='')}" if link else f"{address}{page}"
    console.print(
        f"queued {pipeline} as run {run.id}; watch it live: {escape(shown)}",
        highlight=False,
        soft_wrap=True,  # an address cut in two does not open
    )
    threading.Thread(
        target=_announce_end, args=(store, run.id, address), name="first-run", daemon=True
    ).start()


def _announce_end(store: Store, experiment_id: int, address: str) -> None:
    """Wait for the run to end; print how, and its test scores beside their baselines. A run
    deleted meanwhile, or a store that stays unreachable, ends the wait with a line."""
    from azuraforge.cli.runs import scores_table
    from azuraforge.platform.store.states import FINISHED_STATES

    try:
        record = store.get_experiment(experiment_id)
        while record.status not in FINISHED_STATES:
            time.sleep(1.0)
            record = store.get_experiment(experiment_id)
    except AzuraForgeError as e:
        console.print(f"stopped waiting for run {experiment_id}: {e}", highlight=False)
        return
    console.print(
        f"run {experiment_id} {record.status}"
        + (f": {record.error}" if record.error else "")
        + f" ({escape(address)}/#/runs/{experiment_id})",
        highlight=False,
        soft_wrap=True,
    )
    scores = (record.result or {}).get("metrics") or {}
    if scores:
        console.print(scores_table(scores))


def worker(
    transport: Annotated[
        TransportName | None,
        typer.Option("--transport", help="local (poll the store) or celery (Redis)."),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Runs at once.", min=1)] = 1,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve these workers' Prometheus metrics at /metrics on this port "
            "(docs/operations.md); none by default.",
            min=1,
            max=65535,
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            help="Address the metrics are served on; one other than loopback needs "
            "AZURAFORGE_METRICS_TOKEN (every scrape from another machine must send it).",
        ),
    ] = "127.0.0.1",
    database_url: DatabaseUrl = None,
    verbose: Verbose = False,
) -> None:
    """Run queued jobs of the store until stopped (SIGTERM or Ctrl-C)."""
    with user_errors(verbose), shared_metrics():
        from azuraforge.platform.prometheus import serve_metrics
        from azuraforge.platform.server import run_workers
        from azuraforge.platform.tracing import start_tracing

        with arguments():
            start_tracing("azuraforge-worker")  # before the store is opened

        settings = settings_with(database_url=database_url, transport=transport)
        load_plugins(settings)
        token = settings.metrics_token
        if metrics_port is not None:
            if token is None and not is_loopback_bind(metrics_host):
                raise UsageError(
                    f"--metrics-host {metrics_host} would refuse every scrape: without "
                    "AZURAFORGE_METRICS_TOKEN the metrics answer this machine alone"
                )
            with arguments():  # a port in use: exit code 2
                serve_metrics(metrics_host, metrics_port, token and token.get_secret_value())
            shown = f"[{metrics_host}]" if ":" in metrics_host else metrics_host
            console.print(f"metrics on http://{escape(shown)}:{metrics_port}/metrics")
        run_workers(settings, concurrency, started=console.print)

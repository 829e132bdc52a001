"""The API application: ``create_app(settings)`` serves ``/api/v1`` with OpenAPI at ``/docs``
and the dashboard at ``/`` (``uvicorn`` runs it; ``azuraforge serve`` does both).
``create_app_from_environment`` is the same app as a factory for a process of its own
(``uvicorn --factory``, several workers)."""

from __future__ import annotations

import asyncio
import functools
import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import MappingProxyType

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.routing import BaseRoute

from azuraforge import __version__
from azuraforge.platform import dashboard
from azuraforge.platform.api import errors, openapi
from azuraforge.platform.api.access import RecentCredentials
from azuraforge.platform.api.audit import AuditedWrites
from azuraforge.platform.api.deps import checked_input
from azuraforge.platform.api.limits import BodyLimit, HeaderLimit, Uploads
from azuraforge.platform.api.live_settings import SettingsVersion
from azuraforge.platform.api.methods import AllowedMethods
from azuraforge.platform.api.origins import KnownHosts, SameOrigin
from azuraforge.platform.api.paths import MergedSlashes
from azuraforge.platform.api.prometheus import RequestMetrics, Templates, route_templates
from azuraforge.platform.api.routes import (
    access,
    assist,
    auth,
    chat,
    compare,
    data,
    events,
    external,
    health,
    mlflow,
    mlflow_models,
    mlflow_registry,
    mlflow_ui,
    models,
    openai_chat,
    pipelines,
    plugins,
    project_settings,
    prometheus,
    runs,
    server_settings,
    streams,
    studies,
    tags,
)
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.events import EventHub
from azuraforge.platform.jobs.queueing import make_transport
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.redaction import Redaction
from azuraforge.platform.services.batching import PredictBatcher
from azuraforge.platform.services.chat import ChatService
from azuraforge.platform.services.keys import ServerKeys
from azuraforge.platform.services.logins import Logins
from azuraforge.platform.services.plugin_folder import PluginReplicas, load_plugin_folder
from azuraforge.platform.services.refusals import Refusals
from azuraforge.platform.services.server_settings import LiveSettings, apply_log_level
from azuraforge.platform.services.serving import ModelServer
from azuraforge.platform.services.streams.serving import StreamServer
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from azuraforge.platform.tracing import start_tracing

API_PREFIX = "/api/v1"
RUNS = API_PREFIX + runs.PATH
DEPRECATED_RUNS = API_PREFIX + runs.DEPRECATED_PATH
UPLOADS = re.compile(rf"({RUNS}|{DEPRECATED_RUNS})/[0-9]+/artifacts/|{mlflow.ARTIFACTS}/")
"""Where files are uploaded (``PUT``: a run's own, through AzuraForge's API or MLflow's
artifact proxy), up to ``max_artifact_bytes`` each."""
DATA_UPLOADS = re.compile(rf"{API_PREFIX}/data/")
"""Where data files are uploaded (``PUT``), up to ``max_upload_bytes`` each."""


RESOURCES = (models, external, events, pipelines, health, compare, studies, *streams.PARTS, auth,
             access, data, chat, assist, project_settings, plugins, server_settings)  # fmt: skip
"""The modules of the resources under ``/api/v1``, their routers matched in this order:
/models (predict) first."""
RUN_ROUTERS = (runs.router, external.run_router, events.run_router, tags.router)
"""The routes of one run and of the run list, under :data:`RUNS` and, deprecated, under
:data:`DEPRECATED_RUNS` (:mod:`~azuraforge.platform.api.routes.runs`)."""


@functools.cache
def _shared_routes() -> tuple[BaseRoute, ...]:
    """Every router of the API, included once per process and shared by its apps: FastAPI
    builds an included router's routes (a pydantic adapter for each parameter, some 5 ms a
    route) at the first request that reaches them, which each new app would pay again (a
    test's app, 80 ms of CPU at its first request). Each resource's router is under
    ``/api/v1`` behind a check that refuses what no database stores alike and repeated single
    values (:func:`~azuraforge.platform.api.deps.checked_input`) before any route runs.

    Routes included here do not see an app's ``dependency_overrides`` (FastAPI reads them from
    the router the routes were included into): :func:`_include_routes` makes them read-only,
    so setting one fails instead of being ignored."""
    shared = APIRouter()
    checked = [Depends(checked_input)]
    # Each app gets these routers flat (not nested under one /api/v1 router): FastAPI matches
    # a request again at every level of nesting.
    for module in RESOURCES:
        _predictions_first(module.router)
        shared.include_router(module.router, prefix=API_PREFIX, dependencies=checked)
    for router in RUN_ROUTERS:
        shared.include_router(router, prefix=RUNS, tags=["runs"], dependencies=checked)
    for router in RUN_ROUTERS:
        shared.include_router(
            router, prefix=DEPRECATED_RUNS, tags=["experiments"], dependencies=checked,
            deprecated=True,
        )  # fmt: skip
    # MLflow's calls, at MLflow's paths (not in the OpenAPI: MLflow's reference has them), and
    # OpenAI's chat calls, at OpenAI's paths (not in the OpenAPI either).
    shared.include_router(mlflow_models.router, dependencies=checked)
    shared.include_router(mlflow_registry.router, dependencies=checked)
    shared.include_router(mlflow_ui.router, dependencies=checked)
    shared.include_router(mlflow.router, dependencies=checked)
    shared.include_router(openai_chat.router, dependencies=checked)
    shared.include_router(prometheus.router)  # Prometheus's path, outside the API's
    return tuple(shared.routes)


@functools.cache
def _route_templates() -> Templates:
    """The template of each shared route, for the requests' metrics."""
    return route_templates(_shared_routes())


def _include_routes(app: FastAPI) -> None:
    """The API's routes (:func:`_shared_routes`) in ``app``, the methods each path allows
    known, and its OpenAPI."""
    app.router.routes.extend(_shared_routes())
    app.dependency_overrides = MappingProxyType({})  # type: ignore[assignment]
    for module in RESOURCES:
        app.state.methods.add(API_PREFIX, module.router)
    for router in RUN_ROUTERS:
        app.state.methods.add(RUNS, router)
        app.state.methods.add(DEPRECATED_RUNS, router)
    for router in (
        mlflow_models.router, mlflow_registry.router, mlflow_ui.router, mlflow.router,
        openai_chat.router, prometheus.router,
    ):  # fmt: skip
        app.state.methods.add("", router)
    openapi.install(app, API_PREFIX)


def _predictions_first(router: APIRouter) -> None:
    """Put ``router``'s predict routes (``POST .../predict``, the busiest by far) first: a
    request is matched against a router's routes in order, a dozen before them otherwise."""
    router.routes.sort(key=lambda route: not getattr(route, "path", "").endswith("/predict"))


TELEMETRY: TelemetryConfig = {
    # Its own exporters would send spans past our scrubbing (FASTAPI_OTEL_AUTO_CONFIGURE): ours
    # alone export (azuraforge.platform.tracing).
    "auto_configure": False,
    "metrics": False,  # Prometheus's (RequestMetrics)
    "logs": False,  # they would carry exceptions' messages and stacks, unredacted
    "exclude": lambda scope: scope["path"] == "/metrics",  # a scrape each few seconds
}
"""FastAPI's own OpenTelemetry: a span for each request (and its dependencies, endpoint and
serialization) once this process traces (:func:`~azuraforge.platform.tracing.start_tracing`),
nothing else."""


def freeze_startup_objects() -> None:
    """Leave what the process made to start (modules, the app and its routes: some 200,000
    objects that live as long as it does) out of the garbage collector's full passes, once
    per process. A request that reads a study of 10,000 trials keeps enough objects alive to
    start a full pass, which walked them all: 70 ms for the study's summary became 180, the
    charts' points 180 ms became 400."""
    if gc.get_freeze_count() == 0:
        gc.collect()  # what is garbage already is not kept for good
        gc.freeze()


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    transport: Transport | None = None,
    live: LiveSettings | None = None,
) -> FastAPI:
    """The API over ``settings``' store (opened here, schema checked), blob store and
    transport, with the store's newest settings version on top (``live``: a process's
    holder of them, loaded already; made and loaded here when not given)."""
    opened = store or Store(settings.database_url)
    if live is None:
        live = LiveSettings(settings)
        live.load(opened)
    settings = live.current
    loaded = load_plugin_folder(settings)  # before the routes look up a pipeline or kind
    hub = EventHub(opened)
    replicas = PluginReplicas(opened, settings, loaded)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        live.start()
        await to_thread.run_sync(replicas.start)
        summaries = asyncio.create_task(app.state.refusals.summarise())
        freeze_startup_objects()
        yield
        summaries.cancel()
        await to_thread.run_sync(live.stop)
        await to_thread.run_sync(replicas.stop)
        await hub.stop()
        await to_thread.run_sync(_close_services, app)

    app = FastAPI(
        title="AzuraForge",
        version=__version__,
        description="Build, train, track and serve machine-learning models.",
        lifespan=lifespan,
        docs_url=None,  # the dashboard serves /docs from the package's own Swagger UI
        openapi_url=None,  # served by openapi.install: the caller's project's sort keys
        redoc_url=None,  # ReDoc would load its code from a CDN
        telemetry=TELEMETRY,
    )
    _attach_services(app, settings, opened, transport)
    app.state.live, app.state.hub, app.state.plugins = live, hub, replicas
    errors.install(app, Redaction(settings))
    _include_routes(app)
    dashboard.install(app)
    _add_middleware(app, settings, opened)
    live.on_change(functools.partial(_settings_changed, app))
    if settings.log_level != "NOTSET":
        apply_log_level(settings)
    return app


def _attach_services(
    app: FastAPI, settings: Settings, store: Store, transport: Transport | None
) -> None:
    """The services routes find on ``app.state``, over ``store``."""
    app.state.settings = settings
    app.state.store = store
    app.state.blobs = open_blobs(settings)
    app.state.transport = transport or make_transport(settings)
    app.state.models = ModelServer(store, settings, app.state.blobs)
    app.state.batcher = PredictBatcher()
    app.state.streams = StreamServer(store)
    app.state.refusals = Refusals(store)
    app.state.logins = Logins(store, app.state.refusals)  # one cap on checks at once
    app.state.credentials = RecentCredentials()
    app.state.keys = ServerKeys(store, settings)  # a key in the settings is checked here
    app.state.keys.load()
    app.state.methods = AllowedMethods()
    app.state.chat = ChatService(settings, app.state.blobs)


def _close_services(app: FastAPI) -> None:
    """Close what the app's services hold (models, the chat's memory and guardian) and write
    the refusals counted last."""
    app.state.models.close()
    if app.state.chat.memory is not None:
        app.state.chat.memory.close()
    if app.state.chat.guardian is not None:
        app.state.chat.guardian.close()
    app.state.refusals.flush()


def _settings_changed(app: FastAPI, settings: Settings) -> None:
    """Give the app's services a newer version of the live settings (each reads its own
    values from them at its next use)."""
    app.state.settings = settings
    app.state.models.reconfigure(settings)
    app.state.chat.reconfigure(settings)
    apply_log_level(settings)


def _add_middleware(app: FastAPI, settings: Settings, store: Store) -> None:
    """What every request passes through before its route, outermost last: its writes
    audited, its body, origin, host and headers limited, its path's slashes merged, each
    counted (the refused too), and each given the settings version in force as it arrived."""
    app.add_middleware(AuditedWrites, store=store)
    uploads = (
        Uploads(UPLOADS),
        Uploads(mlflow_ui.UPLOADS, method="POST"),
        Uploads(DATA_UPLOADS, "max_upload_bytes"),
    )
    app.add_middleware(BodyLimit, settings=settings, uploads=uploads)
    app.add_middleware(SameOrigin, allowed=settings.allowed_origins)
    app.add_middleware(KnownHosts, allowed=settings.allowed_hosts)
    app.add_middleware(HeaderLimit)
    app.add_middleware(MergedSlashes)
    app.add_middleware(RequestMetrics, templates=_route_templates())
    app.add_middleware(SettingsVersion, live=app.state.live)


def create_app_from_environment() -> FastAPI:
    """The API over the settings of this process's environment and settings file: the
    factory of an API process, ``uvicorn --factory
    azuraforge.platform.api.app:create_app_from_environment`` (``azuraforge serve
    --api-workers N`` starts its processes with it)."""
    start_tracing("azuraforge")  # before the store is opened: its statements traced
    return create_app(Settings())

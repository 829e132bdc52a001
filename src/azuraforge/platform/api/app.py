"""The API application: ``create_app(settings)`` serves ``/api/v1`` with OpenAPI at ``/docs``
(``uvicorn`` runs it; ``azuraforge serve`` does both)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from azuraforge import __version__
from azuraforge.platform.api import errors
from azuraforge.platform.api.deps import storable_input
from azuraforge.platform.api.limits import BodyLimit
from azuraforge.platform.api.routes import (
    compare,
    events,
    experiments,
    health,
    models,
    pipelines,
    studies,
)
from azuraforge.platform.events import EventHub
from azuraforge.platform.jobs.transport import Transport, make_transport
from azuraforge.platform.serving import ModelServer
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    """Every resource's router under one root, which refuses what no database stores alike
    (:func:`~azuraforge.platform.api.deps.storable_input`) before any route runs."""
    root = APIRouter(prefix=API_PREFIX, dependencies=[Depends(storable_input)])
    for module in (experiments, events, pipelines, health, compare, studies, models):
        root.include_router(module.router)
    return root


def create_app(
    settings: Settings, *, store: Store | None = None, transport: Transport | None = None
) -> FastAPI:
    """The API over ``settings``' store (opened here, schema checked) and transport."""
    opened = store or Store(settings.database_url)
    hub = EventHub(opened)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        yield
        await hub.stop()
        app.state.models.close()

    app = FastAPI(
        title="AzuraForge",
        version=__version__,
        description="Build, train, track and serve machine-learning models.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = opened
    app.state.transport = transport or make_transport(settings)
    app.state.hub = hub
    app.state.models = ModelServer(opened, settings)
    errors.install(app)
    app.include_router(api_router())
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    return app

"""What routes receive: the store, the settings, the transport, the event hub, and ids in
the range the store's columns hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.requests import HTTPConnection

from azuraforge.platform.events import EventHub
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store


def get_store(connection: HTTPConnection) -> Store:
    store: Store = connection.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_transport(request: Request) -> Transport:
    transport: Transport = request.app.state.transport
    return transport


def get_hub(connection: HTTPConnection) -> EventHub:
    hub: EventHub = connection.app.state.hub
    return hub


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TransportDep = Annotated[Transport, Depends(get_transport)]
HubDep = Annotated[EventHub, Depends(get_hub)]

MAX_EXPERIMENT_ID = 2**31 - 1
"""Experiment ids are 32-bit on PostgreSQL: a larger id is a 422, not a database error."""
MAX_EVENT_ID = 2**63 - 1
"""Event ids are 64-bit on both databases."""

ExperimentId = Annotated[int, Path(ge=1, le=MAX_EXPERIMENT_ID, description="A run's id.")]

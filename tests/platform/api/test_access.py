"""The permission a route declares is checked on the event loop when its credential was found
good within the last second: no worker thread is needed (they are few, and a hop costs as
much as a prediction); only a credential read from the store is read in one."""

from __future__ import annotations

import asyncio
import inspect

import anyio.to_thread
import httpx
from fastapi import FastAPI

from azuraforge.platform.api.access import PERMISSIONS, READ
from azuraforge.platform.api.app import create_app
from azuraforge.platform.api.deps import (
    get_hub,
    get_server_store,
    get_settings,
    get_store,
    get_transport,
)
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import Store
from tests.platform.fixtures import admin_headers, user_headers

PROBE = "/api/v1/probe"


def _probed_app(settings: Settings, store: Store) -> FastAPI:
    """The API with one more ``async`` route declaring the read permission, as predict does."""
    app = create_app(settings, store=store)

    async def probe() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_api_route(PROBE, probe, dependencies=[READ])
    return app


async def _asked_with_no_thread_free(
    app: FastAPI, headers: list[dict[str, str]]
) -> list[int | None]:
    """The status of each request in turn while every worker thread is taken (``None``: not
    answered within a second)."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = 1
    transport = httpx.ASGITransport(app=app)
    answers: list[int | None] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await client.get(PROBE, headers=headers[0])  # found good: remembered for a second
        holder = object()  # the requests run in this task: the thread is taken for another
        limiter.acquire_on_behalf_of_nowait(holder)
        for sent in headers:
            try:
                with anyio.fail_after(1.0):
                    answers.append((await client.get(PROBE, headers=sent)).status_code)
            except TimeoutError:
                answers.append(None)
        limiter.release_on_behalf_of(holder)
    return answers


def test_a_remembered_credential_needs_no_worker_thread_and_a_new_one_waits_for_one(
    settings: Settings, store: Store
) -> None:
    app = _probed_app(settings, store)
    app.state.credentials.clock = lambda: 0.0  # still remembered however slow the machine
    remembered, new = admin_headers(store), user_headers(store, "ana", "viewer")
    answers = asyncio.run(_asked_with_no_thread_free(app, [remembered, new]))
    assert answers == [200, None]


def test_the_permissions_and_the_apps_parts_are_given_on_the_event_loop() -> None:
    """FastAPI runs a plain ``def`` dependency in a worker thread (about 0.5 ms, the threads
    fighting for the GIL under load): those every request of a route takes are ``async``."""
    on_the_loop = [*PERMISSIONS, get_store, get_server_store, get_settings, get_transport,
                   get_hub]  # fmt: skip
    hopping = [d.__name__ for d in on_the_loop if not inspect.iscoroutinefunction(d)]
    assert not hopping, f"dependencies run in a worker thread: {hopping}"

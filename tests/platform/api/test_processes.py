"""A client's address as the API's uvicorn gives it: the one it connects from, whatever
``X-Forwarded-For`` it sends, unless it connects through a proxy of ``trusted_proxies`` (the
sign-in throttle counts by that address: a header any local program may send must not
choose it)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request

from azuraforge.platform.api.access import client_address
from azuraforge.platform.api.processes import uvicorn_config
from tests.platform.servers import served_in_thread


def _seen_address(trusted_proxies: str, forwarded: str) -> str:
    """The address an app served as ``azuraforge serve`` serves it sees, for a request from
    127.0.0.1 saying ``X-Forwarded-For: forwarded``."""
    app = FastAPI()

    @app.get("/address")
    def address(request: Request) -> str:
        return client_address(request)

    with served_in_thread(uvicorn_config(app, trusted_proxies)) as served:
        url = f"http://{served}/address"
        seen: str = httpx.get(url, headers={"X-Forwarded-For": forwarded}).json()
    return seen


def test_a_client_cannot_name_its_own_address_unless_through_a_trusted_proxy() -> None:
    assert _seen_address("", "198.51.100.7") == "127.0.0.1"  # uvicorn's default: 198.51.100.7
    assert _seen_address("127.0.0.1", "198.51.100.7") == "198.51.100.7"

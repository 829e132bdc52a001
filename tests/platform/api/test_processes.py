"""A client's address as the API's uvicorn gives it: the one it connects from, whatever
``X-Forwarded-For`` it sends, unless it connects through a proxy of ``trusted_proxies`` (the
sign-in throttle counts by that address: a header any local program may send must not
choose it)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI, Request

from azuraforge.platform.api.access import client_address
from azuraforge.platform.api.processes import uvicorn_config


def _seen_address(trusted_proxies: str, forwarded: str) -> str:
    """The address an app served as ``azuraforge serve`` serves it sees, for a request from
    127.0.0.1 saying ``X-Forwarded-For: forwarded``."""
    app = FastAPI()

    @app.get("/address")
    def address(request: Request) -> str:
        return client_address(request)

    server = uvicorn.Server(uvicorn_config(app, trusted_proxies))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.01)
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/address"
            seen: str = httpx.get(url, headers={"X-Forwarded-For": forwarded}).json()
        finally:
            server.should_exit = True
            thread.join(10)
    return seen


def test_a_client_cannot_name_its_own_address_unless_through_a_trusted_proxy() -> None:
    assert _seen_address("", "198.51.100.7") == "127.0.0.1"  # uvicorn's default: 198.51.100.7
    assert _seen_address("127.0.0.1", "198.51.100.7") == "198.51.100.7"

"""The API's processes: listening sockets, one uvicorn server per process, and how they
stop. ``azuraforge serve`` parses its options and calls these; the platform owns the
wiring.

One process serves the app in the caller's process (:func:`run_uvicorn`); more are spawned,
one per socket bound with ``SO_REUSEPORT`` (:func:`listen`, :func:`serve_processes`), each
stopping once its parent is gone.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING

from azuraforge.errors import AzuraForgeError, InvalidParameterError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    import uvicorn
    from fastapi import FastAPI

BACKLOG = 2048
"""Connections a listening socket holds until its process accepts them (uvicorn's default)."""
STOP_SECONDS = 10.0
"""How long an API process may take to answer the requests in flight once told to stop."""
KEEP_ALIVE_SECONDS = 75
"""How long an idle client connection is kept open (uvicorn's default is 5 s). A client, or a
balancer, that sends on a pooled connection just as the server closes it gets a reset: MLflow's
client lost a logged model so when a fit took 6 s. Longer than clients' and balancers' own
idle limits (HAProxy's, nginx's 60 s), so that they close first."""


def listen(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets listening on ``host:port``; several are bound with ``SO_REUSEPORT``,
    so the kernel spreads new connections evenly over them (processes sharing one socket
    leave a burst of connections to whichever accepts first).

    Raises
    ------
    InvalidParameterError
        When they cannot listen there (a port in use, even by sockets that would share it),
        naming the reason.
    """
    if count > 1 and port:  # SO_REUSEPORT would share a port another server of ours holds
        _listener(host, port, reuse_port=False).close()
    listeners: list[socket.socket] = []
    try:
        for _ in range(count):
            listeners.append(_listener(host, port, reuse_port=count > 1))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners


def serve_processes(
    app_factory: str, listeners: list[socket.socket], trusted_proxies: str = ""
) -> None:
    """Serve the app ``app_factory`` (``module:function``) makes in one process per socket of
    :func:`listen` (as :func:`run_uvicorn` does), until this process is stopped (SIGTERM,
    Ctrl-C), each then finishing the requests it holds, or until one of them ends (an error
    naming it)."""
    spawn = multiprocessing.get_context("spawn")
    processes = [
        spawn.Process(
            target=_api_process, args=(app_factory, listener, trusted_proxies), name=f"api-{n}"
        )
        for n, listener in enumerate(listeners)
    ]
    try:
        for process, listener in zip(processes, listeners, strict=True):
            process.start()
            listener.close()  # the process has its own: no connection may wait in this one
        multiprocessing.connection.wait([process.sentinel for process in processes])
        ended = next(process for process in processes if process.exitcode is not None)
        raise AzuraForgeError(
            f"API process {ended.pid} ended (exit code {ended.exitcode}; its output is above); "
            "stopping the others"
        )
    finally:
        _stop([process for process in processes if process.pid is not None])


def _stop(processes: list[BaseProcess]) -> None:
    """Stop the started ``processes`` at once (SIGTERM), each given :data:`STOP_SECONDS` to
    finish its requests before it is killed."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(STOP_SECONDS)
        if process.exitcode is None:
            process.kill()
            process.join()


def _api_process(app_factory: str, listener: socket.socket, trusted_proxies: str) -> None:
    """One API process of :func:`serve_processes`, stopping as SIGTERM stops it once the
    parent is gone."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=_stop_after, args=(parent,), name="parent-watch", daemon=True
        ).start()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C reaches every process: serve says it
        run_uvicorn(app_factory, listener, trusted_proxies)


def run_uvicorn(app: FastAPI | str, listener: socket.socket, trusted_proxies: str = "") -> None:
    """uvicorn serving ``app`` (or the app the factory ``module:function`` makes) on
    ``listener``, on its ``auto`` event loop and HTTP parser (uvloop and httptools when
    installed), until SIGTERM or Ctrl-C, which it raises again once it has stopped."""
    import uvicorn

    uvicorn.Server(uvicorn_config(app, trusted_proxies)).run(sockets=[listener])


def uvicorn_config(app: FastAPI | str, trusted_proxies: str = "") -> uvicorn.Config:
    """uvicorn's configuration for ``app``: a client's address is the one it connects from,
    unless that is one of ``trusted_proxies`` (addresses, networks, ``*``: the setting
    ``trusted_proxies``), whose ``X-Forwarded-For`` then names it. uvicorn's own default
    believes that header from 127.0.0.1: any program on the host could then claim any address
    to the sign-in throttle and the audit log."""
    import uvicorn

    return uvicorn.Config(
        app, factory=isinstance(app, str), log_level="warning",
        proxy_headers=bool(trusted_proxies), forwarded_allow_ips=trusted_proxies or None,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )  # fmt: skip


def _stop_after(parent: multiprocessing.process.BaseProcess) -> None:
    """Wait until ``parent`` ends (killed outright), then stop this process as SIGTERM does
    (uvicorn lets the requests in flight finish)."""
    parent.join()
    os.kill(os.getpid(), signal.SIGTERM)


def exit_on_sigterm() -> None:
    """SIGTERM exits through the caller's ``finally`` (which stops its workers), as Ctrl-C
    does, instead of ending the process at once and leaving the workers behind."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def _listener(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, _so_reuseport(), 1)
        listener.bind((host, port))
        listener.listen(BACKLOG)
    except OSError as e:
        listener.close()
        raise InvalidParameterError(
            f"cannot listen on {host}:{port} ({e.strerror}); choose another port"
        ) from None
    except BaseException:
        listener.close()
        raise
    return listener


def _so_reuseport() -> int:
    option: int | None = getattr(socket, "SO_REUSEPORT", None)
    if option is None:
        raise InvalidParameterError(
            "more than one API process needs SO_REUSEPORT, which this system lacks"
        )
    return option

"""Fixtures of the job tests: a TCP proxy in front of PostgreSQL that a test can cut and
restore (the store becomes unreachable and comes back), a polling wait, and the long jobs'
data."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.engine import make_url

from azuraforge.platform.settings import Settings
from tests.conftest import data_mirrors
from tests.platform.servers import children as process_children

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 10.0, every: float = 0.02) -> T:
    """Poll ``check`` until it returns something true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still false after {timeout} s: {check}", pytrace=True)
        time.sleep(every)


def soak_data(settings: Settings, days: int = 400) -> Path:
    """The London daily weather, its first ``days`` days, in the settings' data folder: what
    the ``stream-soak`` jobs replay."""
    return shared_head(settings, "weather/london_daily_1979_2020.csv", days + 1, "london.csv")


def shared_head(settings: Settings, file: str, lines: int, saved_as: str) -> Path:
    """The first ``lines`` lines of ``file`` of ``../shared/data`` (the first data mirror
    holding it), as ``saved_as`` in the settings' data folder."""
    (source,) = [m / file for m in data_mirrors() if (m / file).is_file()][:1]
    path = settings.data_dir / saved_as
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(source.read_text().splitlines()[:lines]) + "\n")
    return path


BTC = "btc/Bitstamp_BTCUSD_1h_2018_2022.csv"


def btc_with_text_closes(settings: Settings, rows: int, every: int) -> Path:
    """The newest ``rows`` hours of the real Bitstamp export (its banner and header above
    them, newest first) as ``btc.csv``, with ``n/a`` for the close of every ``every``-th row
    and the last row written twice (a repeated time, which loses nothing)."""
    path = shared_head(settings, BTC, rows + 2, "btc.csv")
    lines = path.read_text().splitlines()
    for at in range(2, rows + 2, every):
        cells = lines[at].split(",")
        cells[6] = "n/a"
        lines[at] = ",".join(cells)
    path.write_text("\n".join([*lines, lines[-1]]) + "\n")
    return path


def children() -> list[int]:
    """Pids of this process's forked children (a run forked by ``supervise``), not the
    servers the session started (an S3 server a test module shares runs another program)."""
    forked = (_command(os.getpid()), b"")  # a forked child keeps its parent's; a zombie none
    return [pid for pid in process_children(os.getpid()) if _command(pid) in forked]


def _command(pid: int) -> bytes | None:
    """The command line of process ``pid``, or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``. :meth:`cut` closes every connection and
    refuses new ones (the server looks gone); :meth:`restore` lets connections through again.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = threading.Event()
        self.up.set()
        self.refused = 0
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def url(self, database_url: str) -> str:
        """``database_url`` with its host and port replaced by the proxy's."""
        parsed = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return parsed.render_as_string(hide_password=False)

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if not self.up.is_set():
                self.refused += 1
                _shut(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _shut(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _shut(source)
        _shut(sink)


def _shut(sock: socket.socket) -> None:
    # shutdown, not just close: a forked child holding a copy of the descriptor must see
    # the connection end too.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def postgres_proxy() -> Iterator[TcpProxy]:
    """A proxy in front of the test PostgreSQL server."""
    from tests.platform.fixtures import POSTGRES_SERVER

    server = make_url(POSTGRES_SERVER)
    proxy = TcpProxy((server.host or "127.0.0.1", server.port or 5432))
    yield proxy
    proxy.close()

"""A fork waits for the SQLite calls other threads are making (store/fork_gate.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from azuraforge.platform.store.engine import make_engine
from azuraforge.platform.store.fork_gate import GatedConnection


def _reap(pid: int, within: float = 30.0) -> int:
    """The exit code of child ``pid``; one still running after ``within`` seconds (hung in
    SQLite) is killed, and that is a failure."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the forked child did not end within {within:.0f} s")


def _fork_and_reap() -> int:
    """Fork a child that exits at once; its exit code."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return _reap(pid)


def test_a_fork_waits_for_a_call_inside_sqlite(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "a.db", factory=GatedConnection,
                                 check_same_thread=False)  # fmt: skip
    inside, returned = threading.Event(), threading.Event()

    def slow(value: int) -> int:
        inside.set()
        time.sleep(0.3)
        return value

    connection.create_function("slow", 1, slow)

    def query() -> None:
        connection.execute("SELECT slow(1)").fetchall()
        returned.set()

    thread = threading.Thread(target=query)
    thread.start()
    assert inside.wait(10)
    assert _fork_and_reap() == 0
    assert returned.is_set()  # the fork came after the query left SQLite
    thread.join()
    connection.close()


def test_the_stores_sqlite_engine_is_gated_and_a_child_writes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        assert isinstance(connection.connection.dbapi_connection, GatedConnection)
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (1)"))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(20):
            pid = os.fork()
            if pid == 0:
                engine.dispose(close=False)
                with engine.begin() as connection:
                    connection.execute(text("INSERT INTO t VALUES (2)"))
                os._exit(0)
            assert _reap(pid) == 0
    finally:
        stop.set()
        writer.join()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t WHERE x = 2")).scalar() == 20
    engine.dispose()

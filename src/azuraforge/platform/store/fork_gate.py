"""SQLite connections that a fork waits for.

A child forked while its parent has SQLite at work in another thread inherits SQLite's
in-process state as it was at that instant, with no thread left to finish the work:
- a mutex of the library's (its memory allocator's) held by a call in progress (the sqlite3
  module lets go of the GIL while SQLite works): the child's first call waits for ever;
- a transaction open on one of the parent's connections: SQLite keeps one table per process
  of the locks its connections hold on each file (POSIX locks belong to a process, not to a
  connection), so the child's own connection finds the file locked "by this process" and
  waits for a lock that nothing in the child will release.

Job processes are forked from workers, and a worker may have threads that use the store (a
heartbeat, a duty's renewal, an embedded API). So every call through a
:class:`GatedConnection` (the store's and Optuna's SQLite engines use it) passes one gate,
and a connection holds its place in the gate from the call that opens a transaction to the
one that ends it; a fork (``os.fork``, however reached) waits until no place is held and
keeps new calls out until it is done. A call on a connection whose transaction is open goes
straight through: the transaction must be able to end for the fork to go on. The wait is
bounded (:data:`FORK_WAIT`), as the forking thread's own transaction would never end.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

FORK_WAIT = 2.0
"""Seconds a fork waits for the SQLite calls in progress to return."""


class _Gate:
    """Counts the threads inside SQLite; a fork holds it shut while it forks."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(
            before=self._shut, after_in_parent=self._open, after_in_child=self._reset
        )

    def _reset(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._inside = 0
        self._forking = False

    def enter(self) -> None:
        with self._condition:
            while self._forking:
                self._condition.wait()
            self._inside += 1

    def leave(self) -> None:
        with self._condition:
            self._inside -= 1
            if not self._inside:
                self._condition.notify_all()

    def _shut(self) -> None:
        # The lock stays held through the fork: a call arriving then waits outside SQLite.
        self._condition.acquire()
        self._forking = True
        self._condition.wait_for(lambda: not self._inside, FORK_WAIT)

    def _open(self) -> None:
        self._forking = False
        self._condition.notify_all()
        self._condition.release()


_GATE = _Gate()


def _gated(method: Any) -> Any:
    """``method`` of a connection or cursor, passing the gate (see the module's text)."""

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        connection: GatedConnection = (
            self if isinstance(self, GatedConnection) else self.connection
        )
        if connection.holds_place:
            try:
                return method(self, *args, **kwargs)
            finally:
                connection.settle()
        _GATE.enter()
        connection.holds_place = True
        try:
            return method(self, *args, **kwargs)
        finally:
            connection.settle()

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class GatedCursor(sqlite3.Cursor):
    """A cursor whose every call into SQLite passes the fork gate."""

    execute = _gated(sqlite3.Cursor.execute)
    executemany = _gated(sqlite3.Cursor.executemany)
    executescript = _gated(sqlite3.Cursor.executescript)
    fetchone = _gated(sqlite3.Cursor.fetchone)
    fetchmany = _gated(sqlite3.Cursor.fetchmany)
    fetchall = _gated(sqlite3.Cursor.fetchall)
    close = _gated(sqlite3.Cursor.close)
    __next__ = _gated(sqlite3.Cursor.__next__)


class GatedConnection(sqlite3.Connection):
    """A connection (``sqlite3.connect(factory=GatedConnection)``) whose calls into SQLite,
    and its cursors', pass the fork gate."""

    holds_place = False
    """Whether this connection holds a place in the gate (a call or a transaction in progress)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _GATE.enter()
        try:
            super().__init__(*args, **kwargs)
        finally:
            _GATE.leave()

    def settle(self) -> None:
        """After a call: keep this connection's place while its transaction is open, give it
        back otherwise."""
        if self.holds_place and not self._open_transaction():
            self.holds_place = False
            _GATE.leave()

    def _open_transaction(self) -> bool:
        try:
            return self.in_transaction
        except sqlite3.ProgrammingError:  # closed
            return False

    def cursor(self, factory: Any = GatedCursor) -> Any:
        """A cursor of this connection (a :class:`GatedCursor` unless told otherwise)."""
        return super().cursor(factory)

    execute = _gated(sqlite3.Connection.execute)
    executemany = _gated(sqlite3.Connection.executemany)
    executescript = _gated(sqlite3.Connection.executescript)
    commit = _gated(sqlite3.Connection.commit)
    rollback = _gated(sqlite3.Connection.rollback)
    close = _gated(sqlite3.Connection.close)


SQLITE_CONNECT_ARGS: dict[str, Any] = {
    "timeout": 30,
    "check_same_thread": False,
    "factory": GatedConnection,
}
"""What SQLAlchemy passes to ``sqlite3.connect`` for every SQLite engine of the store: a
30-second wait for a lock, connections used from the thread pools' threads, the gate."""

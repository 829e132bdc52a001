"""The embedded long-term memory: one SQLite file with the sqlite-vec extension.

Texts, their metadata and their embeddings live in one ``vec0`` table; a search is an exact
cosine scan among the rows the filter allows. The user is the table's partition key (a
search for one user reads only that user's rows); kind and time are metadata columns,
filtered inside the scan, so a filtered search still returns ``k`` rows when ``k`` match. The stock
``sqlite3`` of many Pythons cannot load extensions; ``pysqlite3`` (from the ``[assist]``
extra) can, and is used when present.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from azuraforge.assist.embeddings import Embedder, passage_rows
from azuraforge.assist.intents import MAX_TEXT_CHARS
from azuraforge.assist.memory.base import Filter, Hit, Memory, VectorMemory
from azuraforge.errors import InvalidParameterError, ModelUnavailableError, SchemaMismatchError

MAX_K = 4096  # sqlite-vec's own limit on k
_COLUMNS = "id, user, kind, created, text, meta"


def _connect(path: str) -> Any:
    """A connection that has loaded sqlite-vec."""
    try:
        import sqlite_vec
    except ImportError as e:
        raise ModelUnavailableError(
            "the SQLite memory needs sqlite-vec: pip install 'azuraforge[assist]'"
        ) from e
    try:
        from pysqlite3 import dbapi2 as sqlite3
    except ImportError:
        import sqlite3
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    if not hasattr(db, "enable_load_extension"):
        raise ModelUnavailableError(
            "this Python's sqlite3 cannot load extensions: pip install pysqlite3-binary"
        )
    db.enable_load_extension(True)
    sqlite_vec.load(db)
    db.enable_load_extension(False)
    return db


class SqliteVecMemory(VectorMemory):
    """Long-term memory in one SQLite file (``":memory:"`` keeps it in RAM).

    Parameters
    ----------
    path
        The database file; created with its tables on first use.
    embedder
        Embeds texts and queries; a file written with another embedder is refused.

    Raises
    ------
    SchemaMismatchError
        The file holds a memory of another embedder or dimension.
    """

    def __init__(self, path: str | Path, embedder: Embedder) -> None:
        self.path, self.embedder = str(path), embedder
        self._lock = threading.Lock()
        self._db = _connect(self.path)
        self._prepare()

    def _prepare(self) -> None:
        wanted = {"embedder": self.embedder.name, "dim": str(self.embedder.dim)}
        with self._lock:
            self._db.execute(
                "create table if not exists memory_info (key text primary key, value text)"
            )
            stored = dict(self._db.execute("select key, value from memory_info").fetchall())
            stored.pop("next_id", None)
            if stored and stored != wanted:
                raise SchemaMismatchError(
                    f"memory {self.path!r} holds {stored.get('embedder')!r} embeddings "
                    f"({stored.get('dim')} dimensions), not {self.embedder.name!r}; open it "
                    "with that embedder, or give this one another file"
                )
            self._db.execute(
                "create virtual table if not exists memories using vec0("
                f"id integer primary key, embedding float[{self.embedder.dim}] "
                "distance_metric=cosine, user text partition key, kind text, created float, "
                "+text text, +meta text)"
            )
            self._db.executemany(
                "insert or ignore into memory_info values (?, ?)",
                [*wanted.items(), ("next_id", "1")],
            )

    def add(
        self,
        texts: Sequence[str],
        *,
        user: str,
        kind: str = "note",
        created: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> list[int]:
        _check_texts(texts)
        rows = passage_rows(self.embedder, texts)
        stamp, extra = time.time() if created is None else float(created), json.dumps(meta or {})
        with self._lock:
            self._db.execute("begin immediate")
            try:
                # Ids come from a counter, not max(id): a deleted id is never given again.
                start = int(
                    self._db.execute(
                        "select value from memory_info where key = 'next_id'"
                    ).fetchone()[0]
                )
                ids = list(range(start, start + len(texts)))
                self._db.execute(
                    "update memory_info set value = ? where key = 'next_id'",
                    (str(start + len(texts)),),
                )
                self._db.executemany(
                    "insert into memories (id, embedding, user, kind, created, text, meta) "
                    "values (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (i, r.tobytes(), user, kind, stamp, t, extra)
                        for i, r, t in zip(ids, rows, texts, strict=True)
                    ],
                )
                self._db.execute("commit")
            except BaseException:
                self._db.execute("rollback")
                raise
        return ids

    def search(self, query: str, k: int = 5, where: Filter | None = None) -> list[Hit]:
        if not 1 <= k <= MAX_K:
            raise InvalidParameterError(f"k must be between 1 and {MAX_K}, got {k}")
        vector = np.asarray(self.embedder.embed([query])[0], dtype=np.float32)
        conditions, values = _conditions(where)
        sql = (
            f"select {_COLUMNS}, distance from memories where embedding match ? and k = ?"
            f"{''.join(' and ' + c for c in conditions)} order by distance"
        )
        with self._lock:
            rows = self._db.execute(sql, (vector.tobytes(), k, *values)).fetchall()
        return [Hit(_memory(row[:-1]), 1.0 - float(row[-1])) for row in rows]

    def delete(self, ids: Sequence[int] = (), where: Filter | None = None) -> int:
        with self._lock:
            chosen = list(ids)
            if where is not None:
                conditions, values = _conditions(where)
                sql = "select id from memories" + (
                    " where " + " and ".join(conditions) if conditions else ""
                )
                chosen += [row[0] for row in self._db.execute(sql, values).fetchall()]
            before = self._count()
            self._db.executemany("delete from memories where id = ?", [(i,) for i in set(chosen)])
            return before - self._count()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            users = dict(self._db.execute("select user, count(*) from memories group by user"))
            kinds = dict(self._db.execute("select kind, count(*) from memories group by kind"))
            count = self._count()
        return {
            "count": count,
            "users": users,
            "kinds": kinds,
            "embedder": self.embedder.name,
            "dim": self.embedder.dim,
            "path": self.path,
        }

    def _count(self) -> int:
        return int(self._db.execute("select count(*) from memories").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        raise InvalidParameterError("add() takes a list of texts, got one string")
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            raise InvalidParameterError(f"a memory must be non-empty text, got {text!r:.60}")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidParameterError(
                f"a memory of {len(text):,} characters; at most {MAX_TEXT_CHARS:,}"
            )


def _conditions(where: Filter | None) -> tuple[list[str], list[Any]]:
    where = where or Filter()
    pairs = [
        ("user = ?", where.user),
        ("kind = ?", where.kind),
        ("created >= ?", where.since),
        ("created <= ?", where.until),
    ]
    return [c for c, v in pairs if v is not None], [v for _, v in pairs if v is not None]


def _memory(row: Sequence[Any]) -> Memory:
    id_, user, kind, created, text, meta = row
    return Memory(int(id_), text, user, kind, float(created), json.loads(meta))

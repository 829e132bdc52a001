"""The embedded long-term memory: one SQLite file with the sqlite-vec extension.

Texts, their metadata and their embeddings live in one ``vec0`` table, and again in a plain
table ``memory_rows`` that is read by id (``vec0`` keeps vectors in chunks of 1,024 rows, and
reading one of them by id took 0.2 ms; so the file holds each embedding twice). The user is
the ``vec0`` table's partition key (a search for one user reads only that user's rows); kind
and time are metadata columns, filtered inside the scan, so a filtered search still returns
``k`` rows when ``k`` match.

A search is an exact cosine scan when the rows it would read (the user's, or all without a
user filter) number at most ``exact_rows``. sqlite-vec's scan is plain C without SIMD (0.3 to
0.8 µs a row at 384 dimensions on the 2-core VMs of ``docs/benchmarks.md``), so a larger
partition goes through a first pass in RAM:

1. the filter, on NumPy columns of user, kind and time;
2. the ``candidates`` allowed rows nearest by the Hamming distance of the signs of each
   embedding's offset from the rows' mean (48 bytes a row at 384 dimensions);
3. of those, the ``max(8 k, 64)`` best by the query's product with their offsets in 8 bits
   (384 bytes a row);
4. these ranked exactly by their stored embeddings, read from ``memory_rows``.

A filter that matches no more than ``max(8 k, 64)`` rows has them all ranked exactly.
Otherwise a true neighbour can be missed when step 2 drops it: recall@5 was 0.9993 on
multilingual-e5-small embeddings of 24,576 sentences (300 queries) and 0.998 to 1.0 on
100,000 E5-like synthetic vectors (``benchmarks/assist_memory.py``). The first pass is
built on the first such search (about 45 MB of RAM and 1.3 s at 100,000 rows) and follows
other connections' writes through ``PRAGMA data_version``.

The stock ``sqlite3`` of many Pythons cannot load extensions; ``pysqlite3`` (from the
``[assist]`` extra) can, and is used when present.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from azuraforge.assist.embeddings import Embedder
from azuraforge.assist.memory.base import (
    Filter,
    Hit,
    Memory,
    VectorMemory,
    check_embedder,
    check_limit,
    embedder_info,
)
from azuraforge.errors import InvalidParameterError, ModelUnavailableError, SchemaMismatchError

log = logging.getLogger(__name__)

SCHEMA = 2
"""1: the ``vec0`` table alone; 2: ``memory_rows`` beside it (filled when a 1 is opened)."""
EXACT_ROWS = 5_000
"""Partitions up to this many rows are scanned exactly (about 4 ms at 384 dimensions)."""
CANDIDATES = 4096
"""Rows of a larger partition kept by the Hamming pass (see the module docstring)."""
CENTER_SAMPLE = 4096
"""Rows whose mean is the centre the signs are taken from."""
_COLUMNS = "id, user, kind, created, text, meta"
_IN_CHUNK = 900  # ids per "in (...)": under the 999 variables of old SQLite builds


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

    Search is exact for partitions of up to ``exact_rows`` rows and for filters matching up
    to ``max(8 k, 64)`` rows; beyond both it may miss a true neighbour (see the module
    docstring). A file of schema 1 (before ``memory_rows``) is upgraded when opened.

    Parameters
    ----------
    path
        The database file; created with its tables on first use.
    embedder
        Embeds texts and queries; a file written with another embedder is refused.
    exact_rows
        The largest partition (one user's rows, or all rows without a user filter) that a
        search scans exactly.
    candidates
        Rows of a larger partition that the first pass keeps by Hamming distance, to be
        ranked by their 8-bit codes.

    Raises
    ------
    SchemaMismatchError
        The file holds a memory of another embedder or dimension, or of a newer schema.
    """

    def __init__(
        self,
        path: str | Path,
        embedder: Embedder,
        exact_rows: int = EXACT_ROWS,
        candidates: int = CANDIDATES,
    ) -> None:
        if exact_rows < 0:
            raise InvalidParameterError(f"exact_rows must be >= 0, got {exact_rows}")
        if candidates < 1:
            raise InvalidParameterError(f"candidates must be >= 1, got {candidates}")
        self.path, self.embedder = str(path), embedder
        self.exact_rows, self.candidates = exact_rows, candidates
        self._lock = threading.Lock()
        self._db = _connect(self.path)
        self._index: _FirstPass | None = None
        self._seen_version = -1
        with self._lock, _transaction(self._db):
            self._prepare()

    def _prepare(self) -> None:
        wanted = embedder_info(self.embedder)
        db = self._db
        db.execute("create table if not exists memory_info (key text primary key, value text)")
        stored = dict(db.execute("select key, value from memory_info").fetchall())
        stored.pop("next_id", None)
        schema = int(stored.pop("schema", 1 if stored else SCHEMA))
        check_embedder(stored, self.embedder, f"memory {self.path!r}", "file")
        if schema > SCHEMA:
            raise SchemaMismatchError(
                f"memory {self.path!r} has schema {schema}, this AzuraForge reads up to "
                f"{SCHEMA}; upgrade it: pip install -U 'azuraforge[assist]'"
            )
        db.execute(
            "create virtual table if not exists memories using vec0("
            f"id integer primary key, embedding float[{self.embedder.dim}] "
            "distance_metric=cosine, user text partition key, kind text, created float, "
            "+text text, +meta text)"
        )
        db.execute(
            "create table if not exists memory_rows (id integer primary key, "
            "user text not null, kind text not null, created real not null, "
            "text text not null, meta text not null, embedding blob not null)"
        )
        if schema < SCHEMA:  # 1: copy the rows into memory_rows
            log.info("upgrading memory %r from schema %d to %d", self.path, schema, SCHEMA)
            db.execute(f"insert into memory_rows select {_COLUMNS}, embedding from memories")
        db.executemany(
            "insert or ignore into memory_info values (?, ?)", [*wanted.items(), ("next_id", "1")]
        )
        db.execute("insert or replace into memory_info values ('schema', ?)", (str(SCHEMA),))

    def _store(
        self, texts: Sequence[str], rows: np.ndarray, *, user: str, kind: str,
        created: float, meta: dict[str, Any],
    ) -> list[int]:  # fmt: skip
        rows, extra = np.asarray(rows, dtype=np.float32), json.dumps(meta)
        with self._lock:
            with _transaction(self._db):
                # Ids come from a counter, not max(id): a deleted id is never given again.
                start = self._next_id()
                ids = list(range(start, start + len(texts)))
                self._db.execute(
                    "update memory_info set value = ? where key = 'next_id'",
                    (str(start + len(texts)),),
                )
                values = [
                    (i, user, kind, created, t, extra, r.tobytes())
                    for i, r, t in zip(ids, rows, texts, strict=True)
                ]
                self._db.executemany(
                    "insert into memories (id, user, kind, created, text, meta, embedding) "
                    "values (?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                self._db.executemany(
                    "insert into memory_rows values (?, ?, ?, ?, ?, ?, ?)", values
                )
            if self._index is not None:
                self._index.append(
                    [(i, user, kind, created, r) for i, r in zip(ids, rows, strict=True)]
                )
        return ids

    def _nearest(self, vector: np.ndarray, k: int, where: Filter | None) -> list[Hit]:
        vector = np.asarray(vector, dtype=np.float32)
        with self._lock:
            index = self._first_pass()
            if index is None or index.partition_rows(where) <= self.exact_rows:
                return self._exact(vector, k, where)
            chosen = index.shortlist(vector, where, k, self.candidates)
            return self._ranked(vector, chosen, k)

    def _exact(self, vector: np.ndarray, k: int, where: Filter | None) -> list[Hit]:
        conditions, values = _conditions(where)
        sql = (
            f"select {_COLUMNS}, distance from memories where embedding match ? and k = ?"
            f"{''.join(' and ' + c for c in conditions)} order by distance"
        )
        rows = self._db.execute(sql, (vector.tobytes(), k, *values)).fetchall()
        return [Hit(Memory.of_row(row[:-1]), 1.0 - float(row[-1])) for row in rows]

    def _ranked(self, vector: np.ndarray, ids: np.ndarray, k: int) -> list[Hit]:
        """The ``k`` of ``ids`` nearest to ``vector`` by their stored embeddings."""
        found = _select_ids(self._db, "id, embedding", ids)
        if not found:
            return []
        rows = np.frombuffer(b"".join(r[1] for r in found), dtype=np.float32)
        rows = rows.reshape(len(found), -1)
        norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(vector)
        similarity = np.einsum("ij,j->i", rows, vector) / np.where(norms > 0, norms, 1.0)
        order = np.argsort(-similarity, kind="stable")[:k]
        best = {found[i][0]: float(similarity[i]) for i in order}
        memories = {
            row[0]: Memory.of_row(row) for row in _select_ids(self._db, _COLUMNS, list(best))
        }
        return [Hit(memories[i], s) for i, s in best.items()]

    def _first_pass(self) -> _FirstPass | None:
        """The index in RAM, built or brought up to date; ``None`` while the memory has never
        held more than ``exact_rows`` rows (so every partition is scanned exactly)."""
        version = int(self._db.execute("pragma data_version").fetchone()[0])
        if self._index is None:
            if self._next_id() - 1 <= self.exact_rows:
                return None
            self._index = _FirstPass.build(self._db, self.embedder.dim)
        elif version != self._seen_version:  # another connection wrote
            self._index.follow(self._db)
        self._seen_version = version
        return self._index

    def _next_id(self) -> int:
        return int(
            self._db.execute("select value from memory_info where key = 'next_id'").fetchone()[0]
        )

    def read(self, ids: Sequence[int]) -> list[Memory]:
        with self._lock:
            return [
                Memory.of_row(row) for row in _select_ids(self._db, _COLUMNS, sorted(set(ids)))
            ]

    def recent(self, where: Filter | None = None, limit: int = 20) -> list[Memory]:
        check_limit(limit)
        conditions, values = _conditions(where)
        sql = f"select {_COLUMNS} from memory_rows" + (
            " where " + " and ".join(conditions) if conditions else ""
        )
        with self._lock:
            rows = self._db.execute(sql + " order by id desc limit ?", (*values, limit))
            return [Memory.of_row(row) for row in rows.fetchall()]

    def delete(self, ids: Sequence[int] = (), where: Filter | None = None) -> int:
        with self._lock:
            chosen = {int(i) for i in ids}
            if where is not None:
                conditions, values = _conditions(where)
                sql = "select id from memory_rows" + (
                    " where " + " and ".join(conditions) if conditions else ""
                )
                chosen.update(row[0] for row in self._db.execute(sql, values))
            with _transaction(self._db):
                present = [row[0] for row in _select_ids(self._db, "id", sorted(chosen))]
                self._db.executemany("delete from memories where id = ?", [(i,) for i in present])
                self._db.executemany(
                    "delete from memory_rows where id = ?", [(i,) for i in present]
                )
            if self._index is not None:
                self._index.drop(present)
            return len(present)

    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            users = dict(self._db.execute("select user, count(*) from memory_rows group by user"))
            kinds = dict(self._db.execute("select kind, count(*) from memory_rows group by kind"))
        return users, kinds

    def _place(self) -> dict[str, str]:
        return {"path": self.path}

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _FirstPass:
    """The first pass of a search over a large partition, in RAM. For each row: its id, user,
    kind and time; the signs of its embedding minus the rows' mean, packed in 64-bit words
    (one row of ``signs`` per word, so a Hamming distance adds whole contiguous arrays); and
    that offset in 8 bits (``codes``). Arrays grow by half when full, so adding is cheap.

    Centring matters: an embedding model's rows share a large mean (multilingual-e5-small:
    norm 0.91 of 1), so the raw signs of most dimensions are the same for every row.
    """

    def __init__(self, center: np.ndarray, scale: float) -> None:
        self.center, self.scale = center, scale
        self.words, self.size = -(-len(center) // 64), 0
        self.ids = np.empty(0, dtype=np.int64)
        self.labels = np.empty((0, 2), dtype=np.int32)  # user and kind, as codes of `names`
        self.created = np.empty(0, dtype=np.float64)
        self.signs = np.empty((self.words, 0), dtype=np.uint64)
        self.codes = np.empty((0, len(center)), dtype=np.int8)
        self.names: dict[str, int] = {}

    @classmethod
    def build(cls, db: Any, dim: int) -> _FirstPass:
        """Every row of ``memory_rows``, centred on the mean of up to :data:`CENTER_SAMPLE`
        of them (a seeded sample), whose spread also sets the codes' scale."""
        ids = np.fromiter((row[0] for row in db.execute("select id from memory_rows")), np.int64)
        sample = np.random.default_rng(0).permutation(ids)[:CENTER_SAMPLE]
        vectors = np.array([_vector(row[0]) for row in _select_ids(db, "embedding", sample)])
        if not len(vectors):
            vectors = np.zeros((1, dim), dtype=np.float32)
        center = vectors.mean(axis=0, dtype=np.float32)
        # Codes span 127 steps up to the 99.9th percentile of |offset|; the rare larger
        # values are clipped (the exact ranking afterwards is what decides).
        spread = float(np.percentile(np.abs(vectors - center), 99.9))
        index = cls(center, 127.0 / spread if spread > 0 else 127.0)
        index._make_room(len(ids))  # no slack, no copies while filling
        cursor = db.execute("select id, user, kind, created, embedding from memory_rows")
        while batch := cursor.fetchmany(4096):
            index.append([(i, u, k, c, _vector(e)) for i, u, k, c, e in batch])
        return index

    def append(self, rows: Sequence[tuple[int, str, str, float, np.ndarray]]) -> None:
        if not rows:
            return
        ids, users, kinds, created, vectors = zip(*rows, strict=True)
        at, end = self.size, self.size + len(rows)
        self._make_room(end)
        offsets = np.stack(vectors) - self.center
        self.ids[at:end] = ids
        self.labels[at:end] = [
            (self._code(u), self._code(k)) for u, k in zip(users, kinds, strict=True)
        ]
        self.created[at:end] = created
        self.signs[:, at:end] = self._signs(offsets).T
        self.codes[at:end] = np.clip(np.rint(offsets * self.scale), -127, 127)
        self.size = end

    def _make_room(self, size: int) -> None:
        if size <= len(self.ids):
            return
        room = max(size, len(self.ids) * 3 // 2, 1024)

        def grown(array: np.ndarray, axis: int = 0) -> np.ndarray:
            shape = list(array.shape)
            shape[axis] = room
            bigger = np.empty(shape, dtype=array.dtype)
            kept = [slice(None)] * array.ndim
            kept[axis] = slice(0, self.size)
            bigger[tuple(kept)] = array[tuple(kept)]
            return bigger

        self.ids, self.labels = grown(self.ids), grown(self.labels)
        self.created, self.codes = grown(self.created), grown(self.codes)
        self.signs = grown(self.signs, axis=1)

    def _code(self, name: str) -> int:
        return self.names.setdefault(name, len(self.names))

    def drop(self, ids: Iterable[int]) -> None:
        self._keep(~np.isin(self.ids[: self.size], np.fromiter(ids, dtype=np.int64)))

    def follow(self, db: Any) -> None:
        """Catch up with other connections' writes: drop the rows they deleted, add theirs."""
        present = np.fromiter(
            (row[0] for row in db.execute("select id from memory_rows")), np.int64
        )
        self._keep(np.isin(self.ids[: self.size], present))
        new = np.setdiff1d(present, self.ids[: self.size])
        columns = "id, user, kind, created, embedding"
        self.append([(i, u, k, c, _vector(e)) for i, u, k, c, e in _select_ids(db, columns, new)])

    def _keep(self, mask: np.ndarray) -> None:
        """Keep the rows ``mask`` marks (over the first ``size``), in order."""
        kept, n = int(np.count_nonzero(mask)), self.size
        for array in (self.ids, self.labels, self.created, self.codes):
            array[:kept] = array[:n][mask]
        self.signs[:, :kept] = self.signs[:, :n][:, mask]
        self.size = kept

    def _signs(self, offsets: np.ndarray) -> np.ndarray:
        packed = np.packbits(offsets > 0, axis=-1)
        padded = np.zeros((len(offsets), self.words * 8), dtype=np.uint8)
        padded[:, : packed.shape[1]] = packed
        return padded.view(np.uint64)

    def partition_rows(self, where: Filter | None) -> int:
        """How many rows an exact scan with ``where`` would read: the user's, or all."""
        if where is None or where.user is None:
            return self.size
        users = self.labels[: self.size, 0]
        return int(np.count_nonzero(users == self.names.get(where.user, -1)))

    def shortlist(
        self, vector: np.ndarray, where: Filter | None, k: int, candidates: int
    ) -> np.ndarray:
        """The ids of the rows ``where`` allows that the exact ranking should see: all of them
        when at most :func:`_reranked` (``k``) match, else the best by their codes among the
        ``candidates`` nearest by Hamming distance."""
        allowed = self._allowed(where)
        rows = np.arange(self.size) if allowed is None else np.flatnonzero(allowed)
        keep = _reranked(k)
        if len(rows) <= keep:
            return self.ids[rows]
        unit = vector / max(float(np.linalg.norm(vector)), 1e-30)
        if len(rows) > candidates:
            query = self._signs((unit - self.center)[None])[0]
            distance = np.bitwise_count(self.signs[0, : self.size] ^ query[0]).astype(np.int32)
            for word in range(1, self.words):
                distance += np.bitwise_count(self.signs[word, : self.size] ^ query[word])
            if allowed is not None:
                distance[~allowed] = np.iinfo(np.int32).max
            rows = np.argpartition(distance, candidates - 1)[:candidates]
        # q . x = q . mean + q . (x - mean), so the codes rank by the raw query, not its
        # offset. einsum, not BLAS: OpenBLAS hands a product this size to a second thread,
        # and waiting for it took 8 ms on a busy 2-core machine.
        score = np.einsum("ij,j->i", self.codes[rows], unit)
        keep = min(keep, len(rows))
        return self.ids[rows[np.argpartition(-score, keep - 1)[:keep]]]

    def _allowed(self, where: Filter | None) -> np.ndarray | None:
        """Which of the rows ``where`` allows (``None``: all)."""
        where, n = where or Filter(), self.size
        tests = [
            self.labels[:n, column] == self.names.get(name, -1)
            for column, name in ((0, where.user), (1, where.kind))
            if name is not None
        ]
        if where.since is not None:
            tests.append(self.created[:n] >= where.since)
        if where.until is not None:
            tests.append(self.created[:n] <= where.until)
        return np.logical_and.reduce(tests) if tests else None


def _reranked(k: int) -> int:
    """How many rows of a large partition are ranked by their stored embeddings for a top-k:
    8 k, at least 64 (a filter matching no more is ranked exactly)."""
    return max(8 * k, 64)


@contextmanager
def _transaction(db: Any) -> Iterator[None]:
    """``begin immediate`` ... ``commit``, or ``rollback`` on any error."""
    db.execute("begin immediate")
    try:
        yield
    except BaseException:
        db.execute("rollback")
        raise
    db.execute("commit")


def _select_ids(db: Any, columns: str, ids: Sequence[int] | np.ndarray) -> list[Any]:
    """``columns`` of the ``memory_rows`` among ``ids``, in id order."""
    found: list[Any] = []
    ids = [int(i) for i in ids]
    for at in range(0, len(ids), _IN_CHUNK):
        chunk = ids[at : at + _IN_CHUNK]
        found += db.execute(
            f"select {columns} from memory_rows where id in ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
    return found


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def _conditions(where: Filter | None) -> tuple[list[str], list[Any]]:
    """``where``'s conditions in SQL, with the values of their ``?``."""
    terms = (where or Filter()).terms()
    return [f"{name} {operator} ?" for name, operator, _ in terms], [v for *_, v in terms]

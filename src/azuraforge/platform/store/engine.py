"""Opening a database by URL, and the schema check and upgrade (Alembic) around it.

One URL picks the backend (``sqlite:///…``, ``postgresql://…``); the dialect differences
stay here: SQLite runs in WAL mode with a busy time-out and foreign keys on, and its
transactions begin explicitly so a write waits for the lock instead of failing.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from azuraforge.errors import InvalidParameterError, SchemaMismatchError, StoreUnavailableError
from azuraforge.platform.store.fork_gate import SQLITE_CONNECT_ARGS

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = "azuraforge.platform.store:migrations"
VERSIONS = Path(__file__).with_name("migrations") / "versions"


def normalise_url(url: str) -> str:
    """``url`` with the driver AzuraForge uses: ``postgresql://`` becomes ``postgresql+psycopg://``.

    Examples
    --------
    >>> normalise_url("postgresql://postgres@127.0.0.1:5432/test")
    'postgresql+psycopg://postgres@127.0.0.1:5432/test'
    >>> normalise_url("sqlite:///af.db")
    'sqlite:///af.db'
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidParameterError(
            f"database URL {url!r} is not a URL; use sqlite:///path/to/file.db or "
            "postgresql://user@host:5432/database"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidParameterError(
            f"database URL {url!r} names {parsed.get_backend_name()!r}; AzuraForge stores in "
            "sqlite:// or postgresql://"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """An engine for ``url``, tuned for many short transactions from several processes."""
    # sqlalchemy.create_engine is looked up at each call: tracing wraps it once it starts
    # (azuraforge.platform.tracing), after this module was imported.
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = sqlalchemy.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        event.listen(engine, "connect", _postgresql_connect)
        return engine
    if parsed.database and parsed.database != ":memory:":
        _make_folder(Path(parsed.database).expanduser().parent, url)
    engine = sqlalchemy.create_engine(url, connect_args=SQLITE_CONNECT_ARGS)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _make_folder(folder: Path, url: str) -> None:
    """Create the folder of an SQLite store, or raise :class:`StoreUnavailableError` saying
    why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreUnavailableError(
            f"cannot open the store {shown_url(url)}: folder {folder} cannot be created "
            f"({e.strerror or e})"
        ) from e


IDLE_IN_TRANSACTION_MS = 60_000
"""How long PostgreSQL lets one of the store's sessions sit in an open transaction without a
statement before it ends the session. The store's transactions take milliseconds; one left
open (a process stopped dead in the middle of one) would hold its row locks and hold back
every event stream on the server, which sends only what no open transaction can precede."""


def _postgresql_connect(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}")
    cursor.close()
    dbapi_connection.commit()


def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "busy_timeout=30000",
        "foreign_keys=ON",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, waiting up to busy_timeout for it. A deferred
    # BEGIN that reads first and then writes (claim_next, reaping) cannot wait: SQLite fails
    # it at once with "database is locked" when another writer got in between. A transaction
    # declared read-only never writes, so it needs no lock.
    read_only = connection.get_execution_options().get("azuraforge_read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["engine"] = engine
    return config


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None))  # type: ignore[arg-type]


@functools.cache
def _revisions() -> dict[str, str | None]:
    """Each migration's revision and the one it follows, as its file assigns them, read
    without importing the file or Alembic: every worker and server opens a store, and
    Alembic's import (with Mako and Pygments, which it brings) cost more than the rest of the
    check. Read once per process: /health checks the schema on every call."""
    revisions: dict[str, str | None] = {}
    for path in VERSIONS.glob("0*.py"):
        assigned = {
            target.id: ast.literal_eval(node.value)
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision")
        }
        revisions[assigned["revision"]] = assigned["down_revision"]
    return revisions


def head_revision() -> str:
    """The schema revision this version of AzuraForge needs: the one no migration follows."""
    revisions = _revisions()
    (head,) = set(revisions) - set(revisions.values())  # the migrations form one line
    return head


def revisions_after(revision: str | None) -> list[str]:
    """The revisions upgrading a database at ``revision`` (``None``: an empty one) applies,
    the newest first."""
    return [script.revision for script in _scripts().iterate_revisions("head", revision)]


def current_revision(engine: Engine) -> str | None:
    """The schema revision of the database (``None`` for an empty one)."""
    try:
        with engine.connect().execution_options(azuraforge_read_only=True) as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as e:
        reason = database_message(e)
        raise StoreUnavailableError(
            f"cannot open the store {_shown(engine)}: {reason}",
            public="the store cannot be opened now (the server's log says why)",
        ) from e


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (all of them by default)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (an empty database by default)."""
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def check_schema(engine: Engine) -> None:
    """Raise unless the database is at the revision this version needs.

    Raises
    ------
    SchemaMismatchError
        With the command that brings the database up to date.
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    url = _shown(engine)
    if current is None:
        raise SchemaMismatchError(
            f"the store {url} has no AzuraForge tables yet; create them with: "
            f"azuraforge db upgrade --database-url {url}",
            public="the store has no AzuraForge tables yet; the server's operator must create "
            "them (azuraforge db upgrade)",
        )
    if not _known(current):
        raise SchemaMismatchError(
            f"the store {url} is at schema {current}, which this AzuraForge (schema {head}) does "
            "not know: a newer AzuraForge migrated it; run that version (pip install -U "
            "azuraforge)",
            public=f"the store is at schema {current}, newer than this AzuraForge's {head}",
        )
    raise SchemaMismatchError(
        f"the store {url} is at schema {current}, this AzuraForge needs {head}; back up the "
        f"database, then run: azuraforge db upgrade --database-url {url}",
        public=f"the store is at schema {current}, this AzuraForge needs {head}; the server's "
        "operator must upgrade it (azuraforge db upgrade)",
    )


def _known(revision: str) -> bool:
    return revision in _revisions()


def shown_url(url: str) -> str:
    """``url`` as messages show it: no password, no driver name.

    Examples
    --------
    >>> shown_url("postgresql://me:secret@db:5432/af")
    'postgresql://me:***@db:5432/af'
    """
    shown = make_url(normalise_url(url)).render_as_string(hide_password=True)
    return shown.replace("+psycopg", "")


def _shown(engine: Engine) -> str:
    return shown_url(engine.url.render_as_string(hide_password=False))


def database_message(error: SQLAlchemyError) -> str:
    """The first line of the database's own message in ``error``."""
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def refused_value_message(error: SQLAlchemyError) -> str:
    """What to say of a value the database refused (the statement and its parameters stay
    out: they can be long, and private)."""
    return f"the database refused a value: {database_message(error)}; check the values given"

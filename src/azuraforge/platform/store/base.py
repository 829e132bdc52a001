"""The store's connection and the helpers every entity module shares."""

from __future__ import annotations

import errno
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    cast,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnClause

from azuraforge.errors import (
    LeaseLostError,
    NotFoundError,
    StoreUnavailableError,
    UnstorableValueError,
)
from azuraforge.platform.store import engine as engines
from azuraforge.platform.store.models import Event, Experiment, Project
from azuraforge.platform.store.records import Lease
from azuraforge.platform.store.states import RUNNING

DEFAULT_PROJECT = "default"
NOTIFY_CHANNEL = "azuraforge_events"
"""PostgreSQL channel notified with every event written (the API's event hub listens)."""
CURRENT_TX: ColumnClause[int] = literal_column("pg_current_xact_id()::text::bigint")
"""PostgreSQL: the id of the transaction running the statement."""
OLDEST_RUNNING_TX: ColumnClause[int] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
)
"""PostgreSQL: no transaction with a lower id is still running (their writes are final)."""
_UNIX_EPOCH_JULIAN_DAY = 2440587.5
"""The Julian day of 1970-01-01 00:00 UTC (SQLite's ``julianday`` counts from its own)."""
_EVENT = insert(Event).values(tx=0)
_EVENT_IN_TRANSACTION = insert(Event).values(tx=CURRENT_TX)
"""An event row, its other values bound at execution (built once: a run's writes add one
each time); in PostgreSQL it holds the id of the transaction writing it."""


class StoreBase:
    """An open store: an engine, the URL it was opened with, and shared write helpers."""

    def __init__(self, url: str, *, check_schema: bool = True) -> None:
        self.engine: Engine = engines.make_engine(url)
        self.url = engines.normalise_url(url)
        self._project_ids: dict[str, int] = {}
        if check_schema:
            engines.check_schema(self.engine)

    @property
    def shown_url(self) -> str:
        """The URL as messages show it (no password, no driver name)."""
        return engines.shown_url(self.url)

    def not_found(self, what: str, project: str | None = None) -> NotFoundError:
        """The error for ``what`` (``experiment 7``, ``studies 3, 4``) missing from ``project``
        (or from the store): its message names the store, its public form does not.

        >>> store = StoreBase("sqlite://", check_schema=False)
        >>> error = store.not_found("experiment 7", "default")
        >>> print(error, "|", error.public)
        experiment 7 not found in project 'default' of sqlite:// | experiment 7 not found in project 'default'
        """  # noqa: E501
        where = f" in project {project!r}" if project is not None else ""
        of = f" in project {project!r} of " if project is not None else " in "
        return NotFoundError(
            f"{what} not found{of}{self.shown_url}", public=f"{what} not found{where}"
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def clock(self) -> Any:
        """Now by the database's clock, as an SQL expression (:func:`database_clock`)."""
        return database_clock(self.dialect)

    def database_now(self) -> float:
        """Now by the database's clock (seconds since the epoch): what every replica judges an
        expiry or a sign-out by, whatever its own machine's clock says."""
        with self._read() as connection:
            return self._now_in(connection)

    def _now_in(self, connection: Connection) -> float:
        """The database's clock, read in ``connection``'s transaction."""
        return float(connection.execute(select(self.clock)).scalar_one())

    def close(self) -> None:
        """Close every pooled connection (call before a process forks or ends)."""
        self.engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction; an unreachable database becomes :class:`StoreUnavailableError`."""
        with self._transaction(read_only=False) as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A transaction that only reads: on SQLite it takes no write lock (WAL readers see a
        snapshot), so listings and event reads neither wait for a run's writes nor hold them
        up."""
        with self._transaction(read_only=True) as connection:
            yield connection

    @contextmanager
    def _transaction(self, *, read_only: bool) -> Iterator[Connection]:
        options: dict[str, Any] = {"azuraforge_read_only": read_only}
        if read_only and self.dialect == "postgresql":
            # One snapshot for all the statements of a read (a listing takes several).
            options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        try:
            with (
                self.engine.connect().execution_options(**options) as connection,
                connection.begin(),
            ):
                yield connection
        except OperationalError as e:
            reason = engines.database_message(e)
            raise StoreUnavailableError(
                f"store {self.shown_url} unavailable: {reason}",
                public="the store cannot be reached now; try again later (the server's log "
                "says why)",
            ) from e
        except DataError as e:  # a value the database cannot hold (PostgreSQL: NUL, overflow)
            raise UnstorableValueError(engines.refused_value_message(e)) from e

    def project_id(self, connection: Connection, name: str) -> int:
        """The id of project ``name``; :class:`NotFoundError` names the known ones."""
        if name not in self._project_ids:
            found = connection.scalar(select(Project.id).where(Project.name == name))
            if found is None:
                known = ", ".join(connection.scalars(select(Project.name).order_by(Project.name)))
                raise NotFoundError(
                    f"no project named {name!r}; projects: {known}",
                    public=f"no project named {name!r}",
                )
            self._project_ids[name] = found
        return self._project_ids[name]

    def project_name(self, connection: Connection, project_id: int) -> str:
        """The name of project ``project_id`` (kept, as :meth:`project_id` keeps ids)."""
        for name, known in self._project_ids.items():
            if known == project_id:
                return name
        name = connection.execute(
            select(Project.name).where(Project.id == project_id)
        ).scalar_one()
        self._project_ids[name] = project_id
        return str(name)

    @staticmethod
    def project_of(connection: Connection, experiment_id: int) -> int:
        """The id of the project experiment ``experiment_id`` belongs to."""
        return int(
            connection.execute(
                select(Experiment.project_id).where(Experiment.id == experiment_id)
            ).scalar_one()
        )

    @staticmethod
    def _fence(
        connection: Connection, lease: Lease, values: Mapping[str, Any] | None = None
    ) -> int:
        """Lock the run's row for this transaction, or raise if ``lease`` no longer holds it;
        the run's project id.

        The UPDATE (of ``values``, when given; else a no-op) takes the write lock first (a
        row lock on PostgreSQL, the database lock on SQLite), so no reaper or other worker
        can change the lease before commit.
        """
        held = connection.execute(
            update(Experiment)
            .where(
                Experiment.id == lease.experiment_id,
                Experiment.lease_owner == lease.owner,
                Experiment.lease_epoch == lease.epoch,
                Experiment.status == RUNNING,
            )
            .values(**(values or {"lease_epoch": Experiment.lease_epoch}))
            .returning(Experiment.project_id)
        ).all()
        if len(held) != 1:
            raise LeaseLostError(
                f"experiment {lease.experiment_id}: the lease of {lease.owner} (epoch "
                f"{lease.epoch}) is no longer held; this worker may not write for it"
            )
        return int(held[0][0])

    @staticmethod
    def _event(
        connection: Connection,
        project_id: int,
        experiment_id: int | None,
        kind: str,
        payload: Mapping[str, Any],
        *,
        finite: bool = False,
    ) -> None:
        """Add an event row; ``finite=True`` says the payload holds no NaN or infinity
        (already checked), which spares the walk over a large payload."""
        postgresql = connection.dialect.name == "postgresql"
        row = {"project_id": project_id, "experiment_id": experiment_id, "kind": kind,
               "payload": dict(payload) if finite else json_safe(dict(payload)),
               "created_at": time.time()}  # fmt: skip
        connection.execute(_EVENT_IN_TRANSACTION if postgresql else _EVENT, row)
        if postgresql:
            # Delivered at commit, once per transaction however many events it holds.
            connection.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")


def pairs_by_run(
    connection: Connection, run: Any, key: Any, value: Any, ids: Sequence[int]
) -> dict[int, dict[Any, Any]]:
    """The ``key``: ``value`` pairs of each run of ``ids`` in a table of pairs by run (its
    columns ``run``, ``key``, ``value``: a run's tags, its scores), by run id, keys in order;
    one query."""
    pairs: dict[int, dict[Any, Any]] = {i: {} for i in ids}
    if ids:
        found = connection.execute(
            select(run, key, value).where(run.in_(list(ids))).order_by(run, key)
        )
        for run_id, name, held in found:
            pairs[run_id][name] = held
    return pairs


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None``: PostgreSQL's JSON
    rejects them (and JSON has no spelling for them).

    >>> json_safe({"MAE": {"model": float("nan"), "persistence": 2.0}, "l": [float("inf")]})
    {'MAE': {'model': None, 'persistence': 2.0}, 'l': [None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says a disk is full: an ``OSError`` ENOSPC, SQLite's "database or
    disk is full", PostgreSQL's "No space left on device" (its cause's message included)."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    text = f"{error} {error.__cause__ or ''}".lower()
    return "database or disk is full" in text or "no space left on device" in text


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database could not be reached (worth retrying later)."""
    return isinstance(error, StoreUnavailableError | OperationalError) or (
        isinstance(error, SQLAlchemyError) and "connection" in str(error).lower()
    )


def database_clock(dialect: str) -> Any:
    """Now, in seconds since the epoch, by the database's clock, as an SQL expression
    (PostgreSQL's wall clock at the statement's start, not its transaction's; SQLite's, at
    millisecond precision; one value through a statement, so that the times one statement
    sets agree): the one clock that sets and judges leases, duties and deadlines, so that
    processes on machines whose clocks disagree judge them alike.

    >>> from sqlalchemy import select
    >>> store = StoreBase("sqlite://", check_schema=False)
    >>> with store.engine.connect() as connection:
    ...     now = connection.scalar(select(database_clock(store.dialect)))
    >>> abs(now - time.time()) < 5
    True
    """
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.statement_timestamp()), Float)
    return (func.julianday("now") - _UNIX_EPOCH_JULIAN_DAY) * 86400.0

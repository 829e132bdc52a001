"""Runs that no worker executes (external runs: a user's own code, an MLflow client,
``azuraforge run``'s recording): written and ended by their writer, with no lease.

Such a run is stored running (``Store.create_experiment(idle_limit=...)``, through
:func:`~azuraforge.platform.jobs.queueing.enqueue`) with a row of ``run_credentials``: the
SHA-256 of its credential's secret and its idle limit. Each write keeps it alive that many
seconds more (its row's ``lease_expires_at``, set and judged by the database's clock); past
that without a word, the reaper ends it ``lost``, saying so
(:meth:`~azuraforge.platform.store.leases.LeaseStore.reap_expired`). Who may write is the
API's to check (the run's credential, or a project's token that may write); the store
checks, in the transaction of each write, that the run is one written so, still running and
still alive, so that a write never lands on a run that ended.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Integer,
    Update,
    bindparam,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.store.base import StoreBase, database_clock, json_safe
from azuraforge.platform.store.metrics import JobWrites, write_buffered
from azuraforge.platform.store.models import Experiment, Project, RunBatch, RunCredential
from azuraforge.platform.store.records import RunCredentialRecord
from azuraforge.platform.store.scores import write_scores
from azuraforge.platform.store.states import CANCELLED, COMPLETED, FAILED, RUNNING

WRITER_ENDS = (COMPLETED, FAILED, CANCELLED)
"""The statuses an external run's writer may end it with (``lost`` is the reaper's)."""


class ExternalRunStore(StoreBase):
    """Writes of external runs. Safe from any number of threads and processes."""

    def write_external(
        self, experiment_id: int, writes: JobWrites, *, batch_id: str | None = None,
        now: float | None = None,
    ) -> bool:  # fmt: skip
        """Write ``writes`` (points, log lines, artifacts, progress) for the external run
        ``experiment_id`` in one transaction, and keep it alive its idle limit from ``now``
        (empty ``writes``: a heartbeat); whether someone asked it to stop. ``now`` is the
        database's clock unless given (seconds since the epoch: a test's way to write later).

        With a ``batch_id`` (its writer's name for the batch), a batch of that id written
        already for the run writes nothing, and keeps the run alive as a heartbeat does: a
        retried batch is written once. The table's primary key decides, so that two sends of
        one batch at the same time write it once too (the second waits for the first's
        transaction, then finds its id).

        Raises
        ------
        ConflictError
            If the run is a worker's, ended, or had no word within its idle limit; nothing is
            written.
        InvalidParameterError
            For writes the store cannot keep (:meth:`JobWrites.check`); nothing is written.
        """
        writes.check()
        with self._begin() as connection:
            if batch_id is not None and not _first_time(connection, experiment_id, batch_id):
                writes = JobWrites()
            project_id, cancel = self._alive(connection, experiment_id, now, writes.row_values())
            write_buffered(connection, project_id, experiment_id, writes)
        return cancel

    def end_external(
        self,
        experiment_id: int,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        writes: JobWrites | None = None,
    ) -> None:
        """End the external run ``experiment_id`` as ``status`` (completed, failed or
        cancelled), with ``error`` and ``result``; with ``writes``, what its writer still
        held, written first in the same transaction.

        Raises
        ------
        ConflictError
            If the run is a worker's, ended already (ending twice is refused), or had no
            word within its idle limit; nothing is written.
        InvalidParameterError
            For another status, or writes the store cannot keep.
        """
        if status not in WRITER_ENDS:
            raise InvalidParameterError(
                f"a run's writer ends it as {', '.join(WRITER_ENDS)}; got {status!r}"
            )
        writes = writes or JobWrites()
        writes.check()
        values: dict[str, Any] = {**writes.row_values(), "status": status, "error": error}
        values.update(result=None if result is None else json_safe(result))
        if status == COMPLETED:
            values["progress"] = 1.0
        payload = {"status": status, **({"error": error} if error else {})}
        with self._begin() as connection:
            project_id, _ = self._alive(connection, experiment_id, None, values, ending=True)
            write_buffered(connection, project_id, experiment_id, writes)
            write_scores(connection, project_id, experiment_id, values["result"])
            connection.execute(delete(RunBatch).where(RunBatch.experiment_id == experiment_id))
            self._event(connection, project_id, experiment_id, "status", payload)

    def find_run_credential(self, secret_hash: str) -> RunCredentialRecord | None:
        """The run whose credential's secret has the SHA-256 ``secret_hash``, or ``None``."""
        query = (
            select(Experiment.id, Project.name, Experiment.submitter, Experiment.status,
                   Experiment.lease_expires_at, RunCredential.idle_limit,
                   (Experiment.lease_expires_at <= self.clock).label("silent"))
            .join(RunCredential, RunCredential.experiment_id == Experiment.id)
            .join(Project, Project.id == Experiment.project_id)
            .where(RunCredential.secret_hash == secret_hash)
        )  # fmt: skip
        with self._read() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return RunCredentialRecord(
            row.id,
            row.name,
            row.submitter,
            row.status,
            row.lease_expires_at,
            row.idle_limit,
            silent=row.status == RUNNING and bool(row.silent),
        )

    def _alive(
        self,
        connection: Connection,
        experiment_id: int,
        now: float | None,
        values: dict[str, Any],
        *,
        ending: bool = False,
    ) -> tuple[int, bool]:
        """Lock the external run's row for this transaction and set ``values`` on it, if it
        is running and alive at ``now`` (``None``: by the database's clock): kept alive its
        idle limit more, or (``ending``) no longer; its project id and whether someone asked
        it to stop.

        Raises
        ------
        ConflictError
            Saying why not (a worker's run, ended, or silent past its idle limit).
        """
        statement = _keeping_alive(tuple(values), ending, connection.dialect.name)
        bound = {f"new_{name}": value for name, value in values.items()}
        found = connection.execute(statement, {**bound, "run": experiment_id, "now": now}).first()
        if found is None:
            raise self._not_alive(connection, experiment_id)
        return int(found.project_id), found.cancel_requested_at is not None

    @staticmethod
    def _not_alive(connection: Connection, experiment_id: int) -> ConflictError:
        """Why the run ``experiment_id`` takes no write (it exists: the caller checked)."""
        row = connection.execute(
            select(Experiment.status, Experiment.error, RunCredential.idle_limit)
            .outerjoin(RunCredential, RunCredential.experiment_id == Experiment.id)
            .where(Experiment.id == experiment_id)
        ).first()
        if row is None or row.idle_limit is None:
            return ConflictError(
                f"run {experiment_id} is executed by a worker, which writes it under its "
                "lease; only a run created to be written from outside (an external run) "
                "takes writes here"
            )
        if row.status == RUNNING:
            return ConflictError(
                f"run {experiment_id} had no word for over its idle limit "
                f"({row.idle_limit:g} s): it is lost and takes no more writes"
            )
        return ConflictError(
            f"run {experiment_id} already ended as {row.status}"
            + (f" ({row.error})" if row.error else "")
            + "; it takes no more writes"
        )


@functools.cache
def _keeping_alive(names: tuple[str, ...], ending: bool, dialect: str) -> Update:
    """The update of :meth:`ExternalRunStore._alive` setting the columns ``names`` (their
    values bound as ``new_<name>``, with the run's id ``run`` and ``now`` at execution: a
    ``now`` of ``None`` is the database's clock), built once for each shape and dialect
    (building it costs more than SQLite's work on a run's row)."""
    run = bindparam("run", type_=Integer)
    now = func.coalesce(bindparam("now", type_=Float), database_clock(dialect))
    credential = select(RunCredential.idle_limit).where(RunCredential.experiment_id == run)
    idle_limit = credential.scalar_subquery()
    kept = {"finished_at": now, "lease_expires_at": None} if ending else {
        "lease_expires_at": now + idle_limit}  # fmt: skip
    return (
        update(Experiment)
        .where(
            Experiment.id == run,
            Experiment.status == RUNNING,
            Experiment.lease_expires_at > now,
            exists().where(RunCredential.experiment_id == run),
        )
        .values(**{name: bindparam(f"new_{name}") for name in names}, **kept, heartbeat_at=now)
        .returning(Experiment.project_id, Experiment.cancel_requested_at)
    )


def _first_time(connection: Connection, experiment_id: int, batch_id: str) -> bool:
    """Record that the run's batch ``batch_id`` is written in this transaction; false when
    it was already (by a transaction that committed: a concurrent one is waited for)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    row = {"experiment_id": experiment_id, "batch_id": batch_id, "written_at": time.time()}
    inserted = connection.execute(
        dialect.insert(RunBatch).values(row).on_conflict_do_nothing().returning(RunBatch.batch_id)
    ).first()
    return inserted is not None

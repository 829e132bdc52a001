"""Leases: how a worker claims a queued run, keeps it, ends it, and how expired ones are reaped.

Every expiry, heartbeat, backoff and end is set and judged by the database's clock
(:func:`~azuraforge.platform.store.base.database_clock`), never a process's, so that a reaper
or worker whose clock runs ahead takes no live lease and one behind keeps no dead one.

A lease is (owner, epoch, expiry) on the run's row. Claiming increments the epoch, and so
does reaping (a reaped holder is told apart from one whose run ended as it recorded); every
write a worker makes for the run checks owner and epoch first (the fencing token), so once
a lease expired and was reaped or taken over, the old holder can commit nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Float, Row, literal, or_, select, update

from azuraforge.platform.store.base import StoreBase, database_clock, json_safe
from azuraforge.platform.store.experiments import RECORD_COLUMNS, claimed_record
from azuraforge.platform.store.metrics import JobWrites, write_buffered
from azuraforge.platform.store.models import Experiment
from azuraforge.platform.store.records import ExperimentRecord, Lease
from azuraforge.platform.store.scores import write_scores
from azuraforge.platform.store.states import (
    CANCELLED,
    COMPLETED,
    FAILED,
    LOST,
    QUEUED,
    RESTART_HISTORY,
    RUNNING,
)

_CLAIM_TRIES = 5
_Claimed = TypeVar("_Claimed")
_Then = Callable[[Connection, Lease, Row[Any]], _Claimed]
"""What a claim does next in its transaction, given the lease and the row as claimed."""


class LeaseStore(StoreBase):
    """The lease protocol over the experiments table. Safe from any number of processes."""

    def claim_next(self, owner: str, ttl: float) -> Lease | None:
        """Claim the oldest queued run for ``owner`` for ``ttl`` seconds, or ``None``."""
        return self._claim_first(owner, ttl, _lease)

    def due_jobs(self, kinds: Sequence[str]) -> list[int]:
        """The queued jobs of ``kinds`` whose backoff is over, oldest first."""
        with self._read() as connection:
            found = connection.scalars(
                select(Experiment.id)
                .where(Experiment.status == QUEUED, _due(self.clock))
                .where(Experiment.kind.in_(kinds))
                .order_by(Experiment.id)
            )
            return list(found)

    def list_waiting_jobs(self, waited: float, skip_kinds: Sequence[str] = ()) -> list[int]:
        """The queued jobs (not of ``skip_kinds``) already queued and due ``waited`` seconds
        ago by the database's clock (made and past their backoff by then), oldest first: those
        a worker could have run since."""
        since = self.clock - waited
        with self._read() as connection:
            found = connection.scalars(
                select(Experiment.id)
                .where(Experiment.status == QUEUED, _due(since), Experiment.created_at <= since)
                .where(*_not_of(skip_kinds))
                .order_by(Experiment.id)
            )
            return list(found)

    def claim(self, experiment_id: int, owner: str, ttl: float) -> Lease | None:
        """Claim this run if it is queued and its ``not_before`` has passed; ``None`` if
        not (taken, cancelled, ended, waiting out its backoff): a broker delivering the same
        task twice never runs it twice, nor early."""
        with self._begin() as connection:
            return self._claim(connection, experiment_id, owner, ttl, _lease)

    def claim_job(
        self,
        owner: str,
        ttl: float,
        experiment_id: int | None = None,
        *,
        skip_kinds: Sequence[str] = (),
    ) -> tuple[Lease, ExperimentRecord] | None:
        """What a worker runs: claim run ``experiment_id`` as :meth:`claim` does (``None``:
        the oldest queued run, as :meth:`claim_next`), with its row as claimed; ``None``
        when there is nothing to claim, or the run is of ``skip_kinds``."""
        others = _not_of(skip_kinds)
        if experiment_id is None:
            return self._claim_first(owner, ttl, self._with_record, others)
        with self._begin() as connection:
            return self._claim(connection, experiment_id, owner, ttl, self._with_record, others)

    def _with_record(
        self, connection: Connection, lease: Lease, row: Row[Any]
    ) -> tuple[Lease, ExperimentRecord]:
        project = self.project_name(connection, row.project_id)
        return lease, claimed_record(connection, row, project)

    def _claim_first(
        self, owner: str, ttl: float, then: _Then[_Claimed], others: Sequence[Any] = ()
    ) -> _Claimed | None:
        """Claim the oldest queued run meeting ``others`` (conditions), then ``then`` in its
        transaction."""
        for _ in range(_CLAIM_TRIES):
            with self._begin() as connection:
                candidate = connection.scalar(
                    select(Experiment.id)
                    .where(Experiment.status == QUEUED, _due(self.clock), *others)
                    .order_by(Experiment.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if candidate is None:
                    return None
                claimed = self._claim(connection, candidate, owner, ttl, then)
                if claimed is not None:
                    return claimed
        return None  # others took every candidate we saw; the caller polls again

    def _claim(
        self,
        connection: Connection,
        experiment_id: int,
        owner: str,
        ttl: float,
        then: _Then[_Claimed],
        others: Sequence[Any] = (),
    ) -> _Claimed | None:
        now = self.clock
        row = connection.execute(
            update(Experiment)
            .where(Experiment.id == experiment_id, Experiment.status == QUEUED, _due(now))
            .where(*others)
            .values(
                status=RUNNING,
                lease_owner=owner,
                worker=owner,
                lease_epoch=Experiment.lease_epoch + 1,
                lease_expires_at=now + ttl,
                heartbeat_at=now,
                started_at=now,
                attempts=Experiment.attempts + 1,
                error=None,
                not_before=None,
            )
            .returning(*RECORD_COLUMNS, Experiment.project_id)
        ).first()
        if row is None:
            return None
        payload = {"status": RUNNING, "worker": owner, "epoch": row.lease_epoch}
        self._event(connection, row.project_id, experiment_id, "status", payload)
        return then(connection, Lease(experiment_id, owner, row.lease_epoch), row)

    def renew(self, lease: Lease, ttl: float) -> bool:
        """Extend ``lease`` by ``ttl`` seconds; return whether a cancel was requested.

        Raises
        ------
        LeaseLostError
            If the lease is no longer held (expired and reaped, or taken over).
        """
        now = self.clock
        with self._begin() as connection:
            self._fence(connection, lease)
            connection.execute(
                update(Experiment)
                .where(Experiment.id == lease.experiment_id)
                .values(heartbeat_at=now, lease_expires_at=now + ttl)
            )
            return self._cancel_requested(connection, lease.experiment_id)

    def find_uptime(self, experiment_id: int) -> float | None:
        """Seconds since the job started (its last claim), by the database's clock; ``None``
        for a job never started, or none of this id."""
        with self._read() as connection:
            uptime = connection.scalar(
                select(self.clock - Experiment.started_at).where(Experiment.id == experiment_id)
            )
        return None if uptime is None else float(uptime)

    def backoff_left(self, experiment_id: int) -> float:
        """Seconds until the queued job's backoff (``not_before``) is over, by the database's
        clock: 0 when it may run now, is not queued, or there is no job of this id."""
        with self._read() as connection:
            left = connection.scalar(
                select(Experiment.not_before - self.clock).where(
                    Experiment.id == experiment_id, Experiment.status == QUEUED
                )
            )
        return max(float(left), 0.0) if left is not None else 0.0

    def cancel_requested(self, experiment_id: int) -> bool:
        """Whether someone asked this run to stop (one indexed read: cheap to poll)."""
        with self._read() as connection:
            return self._cancel_requested(connection, experiment_id)

    @staticmethod
    def _cancel_requested(connection: Connection, experiment_id: int) -> bool:
        requested = connection.scalar(
            select(Experiment.cancel_requested_at).where(Experiment.id == experiment_id)
        )
        return requested is not None

    def finish(
        self,
        lease: Lease,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        writes: JobWrites | None = None,
    ) -> None:
        """End the run as ``status`` (completed, failed, cancelled) and release the lease;
        with ``writes``, what the job's context still held, written first in the same
        transaction (its last flush).

        Raises
        ------
        LeaseLostError
            If the lease is no longer held: the run's row keeps what the reaper wrote.
        InvalidParameterError
            For ``writes`` the store cannot keep (:meth:`JobWrites.check`); nothing is written.
        """
        writes = writes or JobWrites()
        writes.check()
        values: dict[str, Any] = writes.row_values()
        values.update(status=status, finished_at=self.clock, lease_expires_at=None)
        values.update(error=error, result=None if result is None else json_safe(result))
        if status == COMPLETED:
            values["progress"] = 1.0
        payload = {"status": status, **({"error": error} if error else {})}
        with self._begin() as connection:
            project_id = self._fence(connection, lease, values)  # the end, if still held
            write_buffered(connection, project_id, lease.experiment_id, writes)
            write_scores(connection, project_id, lease.experiment_id, values["result"])
            self._event(connection, project_id, lease.experiment_id, "status", payload)

    def settle_reaped(self, lease: Lease, error: str, writes: JobWrites | None = None) -> bool:
        """Record a run the reaper marked ``lost`` from ``lease`` (its lease lapsed without
        a renewal) as ``failed`` with ``error``, with what its process still held
        (``writes``), when that process knows why no renewal came (its store's disk was
        full: the reaper only saw the lease lapse); whether it did. Only a run still
        ``lost`` at the epoch the reap gave it, of this worker, is settled: never one queued
        again, taken by another worker, or settled before.

        Raises
        ------
        InvalidParameterError
            For ``writes`` the store cannot keep (:meth:`JobWrites.check`); nothing is written.
        """
        writes = writes or JobWrites()
        writes.check()
        values = {**writes.row_values(), "status": FAILED, "error": error}
        with self._begin() as connection:
            settled = connection.execute(
                update(Experiment)
                .where(
                    Experiment.id == lease.experiment_id,
                    Experiment.status == LOST,
                    Experiment.lease_epoch == lease.epoch + 1,
                    Experiment.worker == lease.owner,
                )
                .values(**values)
                .returning(Experiment.project_id)
            ).all()
            if len(settled) != 1:
                return False
            project_id = int(settled[0][0])
            write_buffered(connection, project_id, lease.experiment_id, writes)
            payload = {"status": FAILED, "error": error}
            self._event(connection, project_id, lease.experiment_id, "status", payload)
        return True

    def interrupt(
        self,
        lease: Lease,
        status: str,
        *,
        error: str,
        result: dict[str, Any] | None = None,
    ) -> str:
        """End a run that stopped because its worker did (died, or shut down), releasing the
        lease: queued again when its pipeline re-queues lost runs, else ``status`` (``lost``
        or ``cancelled``); ``error`` says why either way. Returns the new status.

        Raises
        ------
        LeaseLostError
            If the lease is no longer held: the run's row keeps what the reaper wrote.
        """
        with self._begin() as connection:
            project_id = self._fence(connection, lease)
            requeue = connection.scalar(
                select(Experiment.requeue_lost).where(Experiment.id == lease.experiment_id)
            )
            values: dict[str, Any] = dict(
                status=QUEUED if requeue else status,
                lease_owner=None,
                lease_expires_at=None,
                error=error,
            )
            payload = {"status": values["status"], "error": error, "worker": lease.owner}
            if requeue:  # its history says it: a worker lost (it counts) or shut down
                reason = "lost" if status == LOST else "shutdown"
                more, payload["restart"] = _restarted(
                    connection, lease.experiment_id, reason, error
                )
                values.update(more)
            else:
                values.update(
                    finished_at=self.clock, result=None if result is None else json_safe(result)
                )
                write_scores(connection, project_id, lease.experiment_id, values["result"])
            self._update_with_event(connection, lease, project_id, values, payload)
        return str(values["status"])

    def restart(self, lease: Lease, reason: str, detail: str, *, delay: float = 0.0) -> str:
        """Queue the leased job again, releasing the lease, to be claimed ``delay`` seconds
        from now (by any worker), and add the restart to its history: ``reason`` (``memory``,
        ``schedule``, ``crash``) and ``detail``, what happened. A job someone asked to cancel
        ends ``cancelled`` instead, in the same transaction. Returns the new status.

        Raises
        ------
        LeaseLostError
            If the lease is no longer held: the run's row keeps what the reaper wrote.
        """
        now = self.clock
        with self._begin() as connection:
            project_id = self._fence(connection, lease)
            if self._cancel_requested(connection, lease.experiment_id):
                values: dict[str, Any] = dict(
                    status=CANCELLED, finished_at=now, lease_expires_at=None,
                    error=f"cancelled while restarting ({detail})",
                )  # fmt: skip
                payload: dict[str, Any] = {"status": CANCELLED, "error": values["error"]}
            else:
                values, entry = _restarted(connection, lease.experiment_id, reason, detail)
                values.update(
                    status=QUEUED, lease_owner=None, lease_expires_at=None,
                    not_before=now + delay if delay > 0 else None,
                )  # fmt: skip
                payload = {"status": QUEUED, "restart": entry, "worker": lease.owner}
            self._update_with_event(connection, lease, project_id, values, payload)
        return str(values["status"])

    def load_checkpoint(self, experiment_id: int) -> dict[str, Any] | None:
        """The job's last saved checkpoint, or ``None`` when it never saved one."""
        with self._read() as connection:
            state: dict[str, Any] | None = connection.scalar(
                select(Experiment.checkpoint).where(Experiment.id == experiment_id)
            )
        return state

    def find_checkpoint_entry(self, experiment_id: int, key: str) -> Any:
        """The entry ``key`` of the job's last saved checkpoint (read alone, not the whole
        state), or ``None`` when it saved none or none with that key."""
        with self._read() as connection:
            return connection.scalar(
                select(Experiment.checkpoint[key]).where(Experiment.id == experiment_id)
            )

    def _update_with_event(
        self,
        connection: Connection,
        lease: Lease,
        project_id: int,
        values: dict[str, Any],
        payload: dict[str, Any],
    ) -> None:
        """Write ``values`` to the leased run's row (of project ``project_id``) and its
        ``status`` event, in one transaction (``connection``'s, fenced)."""
        connection.execute(
            update(Experiment).where(Experiment.id == lease.experiment_id).values(**values)
        )
        self._event(connection, project_id, lease.experiment_id, "status", payload)

    def reap_expired(self, now: float | None = None) -> list[tuple[int, str]]:
        """Mark runs whose lease expired ``lost`` (or ``queued`` again when their pipeline
        re-queues lost runs), the lease's epoch raised, and external runs silent past their
        idle limit ``lost`` (:mod:`~azuraforge.platform.store.external`); return ``(id, new
        status)`` for each. Expiry is judged by the database's clock, or as at ``now`` (seconds
        since the epoch) when given (a test's way to judge as if later)."""
        at = self.clock if now is None else literal(now, Float)
        with self._begin() as connection:
            expired = connection.execute(
                select(Experiment.id, Experiment.lease_epoch).where(
                    Experiment.status == RUNNING, Experiment.lease_expires_at < at
                )
            ).all()
        return [reaped for row in expired if (reaped := self._reap(row.id, row.lease_epoch, at))]

    def _reap(self, experiment_id: int, epoch: int, at: Any) -> tuple[int, str] | None:
        """Reap the run if its lease (of ``epoch``) expired by ``at`` (an SQL expression)."""
        with self._begin() as connection:
            row = connection.execute(
                select(Experiment.requeue_lost, Experiment.worker, Experiment.heartbeat_at,
                       Experiment.project_id, at.label("now"))
                .where(Experiment.id == experiment_id)
            ).first()  # fmt: skip
            if row is None:
                return None
            heard = row.heartbeat_at or row.now
            last = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(heard))
            reason = (
                f"worker {row.worker} stopped renewing its lease; last heartbeat {last} UTC"
                if row.worker is not None  # else a run no worker executes: an external run
                else f"its writer sent no word after {last} UTC, past the run's idle limit"
            )
            status = QUEUED if row.requeue_lost else LOST
            # The epoch moves on: the lease's holder, if alive, finds its lease gone, not
            # its run ended under it (jobs/runner.py kills its process at once).
            values: dict[str, Any] = dict(
                status=status, lease_owner=None, lease_expires_at=None, error=reason,
                lease_epoch=Experiment.lease_epoch + 1,
            )  # fmt: skip
            payload = {"status": status, "error": reason, "worker": row.worker}
            if status == LOST:
                values["finished_at"] = at
            else:  # its history says it, and the kernel counts it as a crash
                more, payload["restart"] = _restarted(
                    connection, experiment_id, "lost", reason, heard
                )
                values.update(more)
            changed = connection.execute(
                update(Experiment)
                .where(
                    Experiment.id == experiment_id,
                    Experiment.status == RUNNING,
                    Experiment.lease_epoch == epoch,
                    Experiment.lease_expires_at < at,
                )
                .values(**values)
            ).rowcount
            if not changed:
                return None
            self._event(connection, row.project_id, experiment_id, "status", payload)
        return experiment_id, status


def _not_of(kinds: Sequence[str]) -> list[Any]:
    """The condition that leaves jobs of ``kinds`` alone (none for no kinds)."""
    return [Experiment.kind.not_in(kinds)] if kinds else []


def _due(now: Any) -> Any:
    """Queued runs whose backoff (``not_before``) is over at ``now`` (seconds since the
    epoch, or an SQL expression of them: the database's clock)."""
    return or_(Experiment.not_before.is_(None), Experiment.not_before <= now)


def _restarted(
    connection: Connection,
    experiment_id: int,
    reason: str,
    detail: str,
    ended: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The values that add a restart to a job's row, and its history entry: when (by the
    database's clock), why, on which worker, and how long the job had run when it ``ended``
    (``uptime``, seconds: for a lost worker, up to its last heartbeat; by default, now)."""
    now = database_clock(connection.dialect.name).label("now")
    row = connection.execute(
        select(Experiment.restart_history, Experiment.worker, Experiment.started_at, now).where(
            Experiment.id == experiment_id
        )
    ).one()
    ended = row.now if ended is None else ended
    uptime = None if row.started_at is None else round(ended - row.started_at, 3)
    entry = {"at": row.now, "reason": reason, "detail": detail, "worker": row.worker,
             "uptime": uptime}  # fmt: skip
    history = [*(row.restart_history or []), entry][-RESTART_HISTORY:]
    values = {"restarts": Experiment.restarts + 1, "restart_history": history}
    return values, entry


def _lease(_connection: Connection, lease: Lease, _row: Row[Any]) -> Lease:
    return lease

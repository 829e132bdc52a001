"""A stream's lineage and triggers: the steps of its loop, written by its job with the
checkpoint that follows them, and the manual triggers asked of it, answered the same way."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

from sqlalchemy import Connection, insert, select, update

from azuraforge.platform.store.base import StoreBase, json_safe
from azuraforge.platform.store.models import StreamChange, StreamTrigger

PENDING, DONE, REFUSED = "pending", "done", "refused"
"""A trigger's states: not yet taken by the stream; carried out; refused (it says why)."""


@dataclass(frozen=True)
class ChangeRecord:
    """One step of a stream's loop (:class:`~azuraforge.platform.store.models.StreamChange`)."""

    id: int
    experiment_id: int
    event: int
    time: float
    kind: str
    model: str
    other: str | None
    evidence: dict[str, Any]
    actor: str
    reason: str
    trigger_id: int | None
    created_at: float
    snapshots: dict[str, Any] | None = None
    version: int | None = None
    run: int | None = None


@dataclass(frozen=True)
class TriggerRecord:
    """A manual trigger of a stream (:class:`~azuraforge.platform.store.models.StreamTrigger`)."""

    id: int
    experiment_id: int
    action: str
    learner: str | None
    actor: str
    reason: str
    status: str
    event: int | None
    message: str
    created_at: float
    answered_at: float | None


class Answer(NamedTuple):
    """A stream's answer to a trigger it took."""

    trigger_id: int
    status: str
    """:data:`DONE` or :data:`REFUSED`."""
    event: int
    """The event it was taken at."""
    message: str
    """What was done, or why it was refused."""


class StreamStore(StoreBase):
    """A stream's triggers and lineage."""

    def create_trigger(
        self, experiment_id: int, action: str, *, learner: str | None = None,
        actor: str, reason: str = "",
    ) -> TriggerRecord:  # fmt: skip
        """Ask the stream ``experiment_id`` for ``action``; the trigger, pending."""
        record = TriggerRecord(
            id=0, experiment_id=experiment_id, action=action, learner=learner,
            actor=actor[:100], reason=reason[:500], status=PENDING, event=None, message="",
            created_at=time.time(), answered_at=None,
        )  # fmt: skip
        values = {k: v for k, v in asdict(record).items() if k != "id"}
        with self._begin() as connection:
            key = connection.execute(insert(StreamTrigger).values(**values)).inserted_primary_key
        assert key is not None
        return replace(record, id=int(key[0]))

    def list_triggers(self, experiment_id: int, *, pending: bool = False) -> list[TriggerRecord]:
        """The stream's triggers, oldest first (only those not yet taken: ``pending``)."""
        query = select(StreamTrigger).where(StreamTrigger.experiment_id == experiment_id)
        if pending:
            query = query.where(StreamTrigger.status == PENDING)
        with self._read() as connection:
            rows = connection.execute(query.order_by(StreamTrigger.id)).all()
        return [TriggerRecord(**row._mapping) for row in rows]

    def last_change(self, experiment_id: int, *, kinds: Sequence[str]) -> ChangeRecord | None:
        """The stream's newest change of ``kinds``, or ``None``."""
        query = (
            select(StreamChange)
            .where(StreamChange.experiment_id == experiment_id, StreamChange.kind.in_(kinds))
            .order_by(StreamChange.id.desc())
            .limit(1)
        )
        with self._read() as connection:
            row = connection.execute(query).first()
        return ChangeRecord(**row._mapping) if row is not None else None

    def list_unregistered_changes(self, limit: int = 100) -> list[ChangeRecord]:
        """Promotions and rollbacks, of every stream, whose alias move the registry has not
        made yet, oldest first."""
        query = (
            select(StreamChange)
            .where(StreamChange.kind.in_(("promote", "rollback")),
                   StreamChange.version.is_(None))
            .order_by(StreamChange.id)
            .limit(limit)
        )  # fmt: skip
        with self._read() as connection:
            return [ChangeRecord(**row._mapping) for row in connection.execute(query).all()]

    def list_changes(
        self, experiment_id: int, *, kinds: Sequence[str] = (), after: int = 0,
        limit: int = 1000,
    ) -> list[ChangeRecord]:  # fmt: skip
        """The stream's lineage, oldest first: ``limit`` changes (of ``kinds``) from the one
        after the change of id ``after`` (a page's last id gives the next page)."""
        query = select(StreamChange).where(
            StreamChange.experiment_id == experiment_id, StreamChange.id > after
        )
        if kinds:
            query = query.where(StreamChange.kind.in_(kinds))
        with self._read() as connection:
            rows = connection.execute(query.order_by(StreamChange.id).limit(limit)).all()
        return [ChangeRecord(**row._mapping) for row in rows]


def write_stream_steps(
    connection: Connection, experiment_id: int, changes: Sequence[dict[str, Any]],
    answers: Sequence[Answer],
) -> None:  # fmt: skip
    """Insert a stream's ``changes`` (dicts of :class:`StreamChange`'s columns) and record
    its ``answers`` to triggers, in the transaction of the checkpoint that follows them."""
    now = time.time()
    if changes:
        rows = [
            {**change, "evidence": json_safe(change["evidence"]),
             "experiment_id": experiment_id, "created_at": now}
            for change in changes
        ]  # fmt: skip
        connection.execute(insert(StreamChange), rows)
    for trigger_id, status, event, message in answers:
        connection.execute(
            update(StreamTrigger)
            .where(StreamTrigger.id == trigger_id, StreamTrigger.experiment_id == experiment_id,
                   StreamTrigger.status == PENDING)
            .values(status=status, event=event, message=message[:500], answered_at=now)
        )  # fmt: skip

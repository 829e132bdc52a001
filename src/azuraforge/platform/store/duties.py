"""Duties: the leases under which what must run once per store runs on one process at a time.

A duty's lease is a row (name, holder, epoch, expiry) taken and renewed by compare and set:
one statement, which takes it only from nobody, from its holder itself, or once its expiry
has passed. Expiries are set and compared by the database's clock, never a process's, so
that holders on machines whose clocks disagree still take turns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from azuraforge.platform.store.base import StoreBase, database_clock
from azuraforge.platform.store.models import Duty


class DutyStore(StoreBase):
    """Duties' leases. Safe from any number of threads and processes."""

    def hold_duty(self, name: str, holder: str, ttl: float) -> int | None:
        """Take the duty ``name`` for ``holder`` for ``ttl`` seconds, or keep it ``ttl``
        seconds more when ``holder`` holds it: its epoch (raised at each new holder), or
        ``None`` while another holder's lease runs. Of processes asking at once, one takes it.
        """
        now = database_clock(self.dialect)
        values: dict[str, Any] = {"holder": holder, "expires_at": now + ttl, "renewed_at": now}
        try:
            with self._begin() as connection:
                epoch = connection.scalar(
                    update(Duty)
                    .where(Duty.name == name, or_(Duty.holder == holder, Duty.expires_at < now))
                    .values(epoch=case((Duty.holder == holder, Duty.epoch),
                                       else_=Duty.epoch + 1), **values)
                    .returning(Duty.epoch)
                )  # fmt: skip
                if epoch is None and _missing(connection, name):  # never held: made here
                    connection.execute(insert(Duty).values(name=name, epoch=1, **values))
                    epoch = 1
        except IntegrityError:  # another process made it at the same time, and holds it
            return None
        return None if epoch is None else int(epoch)

    def release_duty(self, name: str, holder: str) -> None:
        """Hand the duty ``name`` back if ``holder`` holds it: its lease ends now, and the
        next process that asks takes it."""
        with self._begin() as connection:
            connection.execute(
                update(Duty).where(Duty.name == name, Duty.holder == holder).values(expires_at=0.0)
            )

    def list_duties(self, prefix: str) -> dict[str, str]:
        """The duties whose name starts with ``prefix`` and whose lease runs (by the
        database's clock): each one's holder, by name. Processes that each hold a duty of
        their own (``plugins:<process>``, held by what the process reports) are so listed
        while they renew it."""
        now = database_clock(self.dialect)
        with self._read() as connection:
            rows = connection.execute(
                select(Duty.name, Duty.holder)
                .where(Duty.name.startswith(prefix, autoescape=True), Duty.expires_at >= now)
                .order_by(Duty.name)
            )
            return {name: holder for name, holder in rows}

    def delete_lapsed_duties(self, prefix: str) -> int:
        """Delete the duties whose name starts with ``prefix`` and whose lease ran out: those
        of processes gone, whose names no process asks for again. How many."""
        now = database_clock(self.dialect)
        with self._begin() as connection:
            deleted = connection.execute(
                delete(Duty).where(
                    Duty.name.startswith(prefix, autoescape=True), Duty.expires_at < now
                )
            )
            return int(deleted.rowcount)


def _missing(connection: Connection, name: str) -> bool:
    return connection.scalar(select(Duty.epoch).where(Duty.name == name)) is None

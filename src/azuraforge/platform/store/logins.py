"""Failed sign-ins, by the name tried and the address together: what
:class:`~azuraforge.platform.services.access.Logins` holds back, shared by every API process.

A count changes only from the value it was read at (compare and set), so that attempts at
once, in any processes, each count once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.models import LoginFailure


@dataclass(frozen=True)
class LoginFailures:
    """Failed sign-ins of one name from one address, in a row."""

    failures: int
    last_at: float
    """When the last one was counted (seconds since the epoch)."""
    held_until: float
    """Until when the name is refused from the address, whatever the password."""


class LoginStore(StoreBase):
    """Counts of failed sign-ins. Safe from any number of threads and processes."""

    def find_login_failures(self, name: str, address: str) -> LoginFailures | None:
        """The failures of ``name`` from ``address``, or None when there are none."""
        with self._read() as connection:
            row = connection.execute(
                select(LoginFailure.failures, LoginFailure.last_at, LoginFailure.held_until)
                .where(LoginFailure.name == name, LoginFailure.address == address)
            ).first()  # fmt: skip
        return None if row is None else LoginFailures(*row)

    def set_login_failures(
        self, name: str, address: str, was: LoginFailures | None, now: LoginFailures
    ) -> bool:
        """Store ``now`` as the failures of ``name`` from ``address`` if they are still
        ``was`` (None: no row): whether they were (of two attempts at once, one sets)."""
        values = {"failures": now.failures, "last_at": now.last_at, "held_until": now.held_until}
        key = and_(LoginFailure.name == name, LoginFailure.address == address)
        try:
            with self._begin() as connection:
                if was is None:
                    connection.execute(
                        insert(LoginFailure).values(name=name, address=address, **values)
                    )
                    return True
                done = connection.execute(
                    update(LoginFailure)
                    .where(key, LoginFailure.failures == was.failures)
                    .where(LoginFailure.last_at == was.last_at)
                    .values(**values)
                )
        except IntegrityError:  # another attempt inserted the row first
            return False
        return bool(done.rowcount == 1)

    def delete_login_failures(self, name: str, address: str) -> None:
        """Forget the failures of ``name`` from ``address`` (its right password came)."""
        with self._begin() as connection:
            connection.execute(
                delete(LoginFailure).where(
                    LoginFailure.name == name, LoginFailure.address == address
                )
            )

    def delete_login_failures_before(self, when: float) -> int:
        """Forget failures whose last one was before ``when``; how many rows went."""
        with self._begin() as connection:
            done = connection.execute(delete(LoginFailure).where(LoginFailure.last_at < when))
        return int(done.rowcount)

"""The server's own id: one random row, made by the first process that asks, the same for
every process on the store however it spells the store's URL, and different in every store;
and the name its sessions are for, set once beside it.
"""

from __future__ import annotations

import secrets

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.models import ServerIdentity


class ServerStore(StoreBase):
    """The store's id. Safe from any number of threads and processes."""

    def get_server_id(self) -> str:
        """This store's id (32 hex digits): made on the first ask, by whichever process asks
        first (two at once: one row is written, both read it)."""
        found = self._find_server_id()
        if found is not None:
            return found
        try:
            with self._begin() as connection:
                connection.execute(
                    insert(ServerIdentity).values(slot=1, server_id=secrets.token_hex(16))
                )
        except IntegrityError:
            pass  # another process made it first
        made = self._find_server_id()
        assert made is not None
        return made

    def get_session_name(self, proposed: str) -> str:
        """The name this store's sessions are for (their cookie's, their audience):
        ``proposed`` when none is kept yet, kept from then on (of processes proposing one at
        once, one is kept; each reads it)."""
        found = self._find_session_name()
        if found is not None:
            return found
        self.get_server_id()  # the row it is kept in
        with self._begin() as connection:
            connection.execute(
                update(ServerIdentity)
                .where(ServerIdentity.slot == 1, ServerIdentity.session_name.is_(None))
                .values(session_name=proposed)
            )
        kept = self._find_session_name()
        assert kept is not None
        return kept

    def _find_session_name(self) -> str | None:
        with self._read() as connection:
            return connection.execute(select(ServerIdentity.session_name)).scalar_one_or_none()

    def _find_server_id(self) -> str | None:
        with self._read() as connection:
            return connection.execute(select(ServerIdentity.server_id)).scalar_one_or_none()

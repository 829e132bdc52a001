"""The server's own id: one random row, made by the first process that asks, the same for
every process on the store however it spells the store's URL, and different in every store.
"""

from __future__ import annotations

import secrets

from sqlalchemy import insert, select
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

    def _find_server_id(self) -> str | None:
        with self._read() as connection:
            return connection.execute(select(ServerIdentity.server_id)).scalar_one_or_none()

"""The server's secret keys, kept in the store so that every process on it, on any machine,
signs and verifies with the same ones (:class:`~azuraforge.platform.services.keys.ServerKeys`
says which to use).

Each purpose (``session``, ``webhook``) has numbered generations: a generation is written once,
by whichever process writes it first (compare and set on the key's primary key), so that
processes making the first key, or rotating, at the same moment keep one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.models import ServerKey


@dataclass(frozen=True)
class ServerKeyRecord:
    """One kept key; its secret is left out of its ``repr`` (and so of logs and errors)."""

    purpose: str
    generation: int
    made_at: float
    """When it was made (seconds since the epoch)."""
    secret: str = field(repr=False)


class KeyStore(StoreBase):
    """The server's keys. Safe from any number of threads and processes."""

    def list_server_keys(self, purpose: str) -> list[ServerKeyRecord]:
        """The keys of ``purpose`` kept, newest generation first (none before the first
        is made)."""
        with self._read() as connection:
            rows = connection.execute(
                select(ServerKey.purpose, ServerKey.generation, ServerKey.made_at,
                       ServerKey.secret)
                .where(ServerKey.purpose == purpose)
                .order_by(ServerKey.generation.desc())
            ).all()  # fmt: skip
        return [ServerKeyRecord(*row) for row in rows]

    def create_server_key(self, purpose: str, generation: int, secret: str) -> bool:
        """Keep ``secret`` as generation ``generation`` of ``purpose`` unless that generation
        is kept already: whether it was kept (of processes writing one generation at once,
        one is; each then reads the one kept)."""
        row = {"purpose": purpose, "generation": generation, "secret": secret,
               "made_at": time.time()}  # fmt: skip
        try:
            with self._begin() as connection:
                connection.execute(insert(ServerKey).values(**row))
        except IntegrityError:  # its message holds the secret: never raised on
            return False
        return True

    def delete_server_keys_before(self, purpose: str, generation: int) -> list[int]:
        """Drop the keys of ``purpose`` older than generation ``generation``; the
        generations dropped, oldest first."""
        older = (ServerKey.purpose == purpose) & (ServerKey.generation < generation)
        with self._begin() as connection:
            dropped = connection.execute(
                select(ServerKey.generation).where(older).order_by(ServerKey.generation)
            ).scalars().all()  # fmt: skip
            connection.execute(delete(ServerKey).where(older))
        return list(dropped)

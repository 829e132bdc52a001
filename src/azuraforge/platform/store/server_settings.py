"""The server's live settings, kept as versions: each change through the API writes the whole
set of overrides in force after it, numbered one past the newest (two changes at once: the
second is refused and made again on the new newest). The catalogue of settings, their checks
and how a process applies a version are :mod:`~azuraforge.platform.services.server_settings`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import ConflictError
from azuraforge.platform.store.base import StoreBase
from azuraforge.platform.store.models import ServerSettingsVersion


@dataclass(frozen=True)
class ServerSettingsRecord:
    """A version of the server's settings: every override after its change (by setting
    name, as JSON values), the settings the change named, who made it, when (epoch seconds,
    the database's clock)."""

    version: int
    overrides: dict[str, Any]
    changed: list[str]
    actor: str
    changed_at: float


class ServerSettingsStore(StoreBase):
    """Versions of the server's settings. Safe from any number of threads and processes;
    versions are never changed once written."""

    def server_settings_version(self) -> int:
        """The newest version's number (0: none was ever written): the cheap question each
        API process asks a few times a second."""
        with self._read() as connection:
            newest = connection.scalar(select(func.max(ServerSettingsVersion.version)))
        return int(newest or 0)

    def find_server_settings(self) -> ServerSettingsRecord | None:
        """The newest version, or ``None`` when none was ever written.

        >>> import tempfile
        >>> from azuraforge.platform.store import Store, upgrade_database
        >>> url = f"sqlite:///{tempfile.mkdtemp()}/af.db"
        >>> _ = upgrade_database(url); store = Store(url)
        >>> store.find_server_settings() is None
        True
        >>> changed = {"max_predict_rows": 500}
        >>> _ = store.create_server_settings(1, changed, list(changed), "ada")
        >>> store.find_server_settings().overrides
        {'max_predict_rows': 500}
        """
        query = select(ServerSettingsVersion).order_by(ServerSettingsVersion.version.desc())
        with self._read() as connection:
            row = connection.execute(query.limit(1)).first()
        return None if row is None else _record(row)

    def create_server_settings(
        self, version: int, overrides: dict[str, Any], changed: list[str], actor: str
    ) -> ServerSettingsRecord:
        """Write version ``version`` (one past the newest the caller read).

        Raises
        ------
        ConflictError
            If that version exists: another change was written since the caller read.
        """
        try:
            with self._begin() as connection:
                connection.execute(
                    insert(ServerSettingsVersion).values(
                        version=version, overrides=overrides, changed=changed,
                        actor=actor[:100], changed_at=self.clock,
                    )
                )  # fmt: skip
                row = connection.execute(
                    select(ServerSettingsVersion).where(ServerSettingsVersion.version == version)
                ).one()
        except IntegrityError:
            raise ConflictError(
                f"server settings version {version} was written by another change meanwhile; "
                "read the settings again and retry"
            ) from None
        return _record(row)

    def list_server_settings(
        self, limit: int = 100, offset: int = 0
    ) -> list[ServerSettingsRecord]:
        """Versions, newest first (``limit`` of them after ``offset``)."""
        query = (
            select(ServerSettingsVersion)
            .order_by(ServerSettingsVersion.version.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._read() as connection:
            return [_record(row) for row in connection.execute(query)]


def _record(row: Any) -> ServerSettingsRecord:
    return ServerSettingsRecord(
        int(row.version), dict(row.overrides), list(row.changed), row.actor, float(row.changed_at)
    )

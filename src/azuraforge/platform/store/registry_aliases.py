"""The model registry's aliases (a name pointing at one version of a model) and every
move of one, kept as an :class:`~azuraforge.platform.store.records.AliasMoveRecord`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from azuraforge.errors import NotFoundError
from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.models import (
    AliasMove,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    StreamChange,
)
from azuraforge.platform.store.records import (
    AliasMoveRecord,
)
from azuraforge.platform.store.registry import (
    RegistryStore,
    model_aliases,
    unknown_version,
)


@dataclass(frozen=True)
class AliasStep:
    """A move of a model's alias made with another write (a stream's change registered):
    point ``alias`` of ``model`` (of ``project``) at ``version``, by ``actor`` for ``reason``;
    when ``first``, only if the alias points nowhere yet."""

    model: str
    alias: str
    version: int
    actor: str
    reason: str
    project: str = DEFAULT_PROJECT
    first: bool = False


class AliasStore(RegistryStore):
    """The aliases of the store's registered models: each move of one is recorded, a move can
    be a compare and set. Safe from several threads and processes at once."""

    def set_alias(
        self,
        model: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        reason: str = "",
        rollback: bool = False,
        project: str = DEFAULT_PROJECT,
    ) -> AliasMoveRecord | None:
        """Point ``alias`` at ``version`` (remove it for ``None``) and record the move; a
        request that changes nothing records nothing and returns ``None``.

        Raises
        ------
        NotFoundError
            If the version (or, on removal, the alias) does not exist.
        """
        with self._begin() as connection:
            model_id = self._lock_model(connection, model, project)
            return self._point(connection, model, model_id, alias, version, actor=actor,
                               reason=reason, rollback=rollback)  # fmt: skip

    def move_alias_if(
        self, model: str, alias: str, *, expected: int | None, version: int, actor: str,
        reason: str = "", project: str = DEFAULT_PROJECT,
    ) -> bool:  # fmt: skip
        """Point ``alias`` at ``version`` only if it names ``expected`` now (``None``: no
        version), compare and set: whether it moved. A promotion judged against one version
        never replaces another that someone put there meanwhile."""
        with self._begin() as connection:
            model_id = self._lock_model(connection, model, project)
            if self._alias_version(connection, model_id, alias) != expected:
                return False
            self._point(connection, model, model_id, alias, version, actor=actor, reason=reason)
            return True

    def set_change_version(
        self, change_id: int, version: int, *, moves: Sequence[AliasStep] = ()
    ) -> bool:
        """Record the version the stream's change ``change_id`` (a promotion, a rollback) is
        registered as, drop its snapshots and make its alias ``moves``, in one transaction,
        if no version is recorded for it yet: whether this call recorded it (compare and set:
        of processes registering one change at once, one records it and moves its aliases).
        """
        with self._begin() as connection:
            recorded = connection.execute(
                update(StreamChange)
                .where(StreamChange.id == change_id, StreamChange.version.is_(None))
                .values(version=version, snapshots=None)
            ).rowcount
            for step in moves if recorded else ():
                model_id = self._lock_model(connection, step.model, step.project)
                pointing = self._alias_version(connection, model_id, step.alias)
                if step.first and pointing is not None:
                    continue
                self._point(connection, step.model, model_id, step.alias, step.version,
                            actor=step.actor, reason=step.reason)  # fmt: skip
        return bool(recorded)

    def _point(
        self, connection: Connection, model: str, model_id: int, alias: str,
        version: int | None, *, actor: str, reason: str, rollback: bool = False,
    ) -> AliasMoveRecord | None:  # fmt: skip
        """:meth:`set_alias` in ``connection``'s transaction, the model (``model_id``)
        locked."""
        current = self._alias_version(connection, model_id, alias)
        if version is None and current is None:
            raise NotFoundError(self._unknown_alias(connection, model, model_id, alias))
        if version == current:
            return None
        now = time.time()
        connection.execute(
            delete(ModelAlias).where(ModelAlias.model_id == model_id, ModelAlias.alias == alias)
        )
        if version is not None:
            version_id = connection.scalar(
                select(ModelVersion.id).where(
                    ModelVersion.model_id == model_id, ModelVersion.version == version
                )
            )
            if version_id is None:
                raise NotFoundError(unknown_version(connection, model, model_id, version))
            connection.execute(
                insert(ModelAlias).values(
                    model_id=model_id, alias=alias, version_id=version_id, updated_at=now
                )
            )
        move_id: int = connection.execute(
            insert(AliasMove)
            .values(
                model_id=model_id,
                alias=alias,
                from_version=current,
                to_version=version,
                actor=actor,
                reason=reason,
                rollback=rollback,
                created_at=now,
            )
            .returning(AliasMove.id)
        ).scalar_one()
        return AliasMoveRecord(
            move_id, model, alias, current, version, actor, reason, rollback, now
        )

    def find_alias(self, model: str, alias: str, *, project: str = DEFAULT_PROJECT) -> int | None:
        """The version number ``alias`` of ``model`` points to, or ``None``."""
        with self._read() as connection:
            return self._alias_version(
                connection, self._model_id(connection, model, project), alias
            )

    def get_alias(self, model: str, alias: str, *, project: str = DEFAULT_PROJECT) -> int:
        """The version number ``alias`` of ``model`` points to.

        Raises
        ------
        NotFoundError
            Naming the model's aliases.
        """
        with self._read() as connection:
            model_id = self._model_id(connection, model, project)
            found = self._alias_version(connection, model_id, alias)
            if found is None:
                raise NotFoundError(self._unknown_alias(connection, model, model_id, alias))
            return found

    def list_alias_moves(
        self,
        model: str,
        alias: str,
        *,
        project: str = DEFAULT_PROJECT,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[AliasMoveRecord], int]:
        """One page of the moves of ``alias``, newest first, and how many there are in all.

        Raises
        ------
        NotFoundError
            If the alias never existed.
        """
        with self._read() as connection:
            model_id = self._model_id(connection, model, project)
            where = (AliasMove.model_id == model_id, AliasMove.alias == alias)
            total = int(connection.scalar(select(func.count()).where(*where)) or 0)
            if not total:
                raise NotFoundError(self._unknown_alias(connection, model, model_id, alias))
            rows = connection.execute(
                select(*AliasMove.__table__.columns).where(*where).order_by(AliasMove.id.desc())
                .offset(offset).limit(limit)
            ).all()  # fmt: skip
        return [_move(model, row) for row in rows], total

    def last_alias_move(
        self, model: str, alias: str, *, project: str = DEFAULT_PROJECT
    ) -> AliasMoveRecord:
        """The latest move of ``alias`` (:class:`NotFoundError` if it never existed)."""
        return self.list_alias_moves(model, alias, project=project, limit=1)[0][0]

    def resolve_alias_id(
        self, model: str, alias: str, *, project: str = DEFAULT_PROJECT
    ) -> tuple[int, int] | None:
        """``(version id, version number)`` that ``alias`` points to, in one query; ``None``
        when the model or the alias does not exist (what a serving cache polls)."""
        with self._read() as connection:
            row = connection.execute(
                select(ModelVersion.id, ModelVersion.version)
                .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
                .join(RegisteredModel, RegisteredModel.id == ModelAlias.model_id)
                .where(
                    RegisteredModel.project_id == self.project_id(connection, project),
                    RegisteredModel.name == model,
                    ModelAlias.alias == alias,
                )
            ).first()
        return None if row is None else (int(row[0]), int(row[1]))

    @staticmethod
    def _alias_version(connection: Connection, model_id: int, alias: str) -> int | None:
        found = connection.scalar(
            select(ModelVersion.version)
            .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
            .where(ModelAlias.model_id == model_id, ModelAlias.alias == alias)
        )
        return None if found is None else int(found)

    @staticmethod
    def _unknown_alias(connection: Connection, model: str, model_id: int, alias: str) -> str:
        aliases = model_aliases(connection, [model_id])[model_id]
        known = ", ".join(f"{a} → {v}" for a, v in sorted(aliases.items())) or "none"
        return f"model {model!r} has no alias {alias!r}; its aliases: {known}"


def _move(model: str, row: Row[Any]) -> AliasMoveRecord:
    fields = {key: row._mapping[key] for key in _MOVE_FIELDS}
    return AliasMoveRecord(model=model, **fields)


_MOVE_FIELDS = (
    "id", "alias", "from_version", "to_version", "actor", "reason", "rollback", "created_at"
)  # fmt: skip

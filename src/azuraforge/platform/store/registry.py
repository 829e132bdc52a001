"""The model registry: models, their immutable versions, aliases and every move of an alias."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, delete, false, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import ConflictError, InvalidParameterError, NotFoundError
from azuraforge.platform.store.base import DEFAULT_PROJECT, StoreBase
from azuraforge.platform.store.experiments import records_of, select_records
from azuraforge.platform.store.models import (
    AliasMove,
    Experiment,
    ModelAlias,
    ModelVersion,
    ModelVersionMlflow,
    Param,
    RegisteredModel,
    StreamChange,
)
from azuraforge.platform.store.records import (
    AliasMoveRecord,
    ExperimentRecord,
    ModelRecord,
    ModelVersionRecord,
)
from azuraforge.platform.store.states import PREDICTION

MAX_VERSION = 2**31 - 1
"""Version numbers are 32-bit on PostgreSQL."""


@dataclass(frozen=True)
class VersionMlflow:
    """What MLflow's registry keeps of a version beyond ours: the source its files were copied
    from, the logged model it was made from (``m-...``, or empty), its tags, and when its
    description or tags last changed (``None``: never)."""

    source: str = ""
    model_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    updated_at: float | None = None


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


def version_is(version: int) -> Any:
    """``ModelVersion.version == version``; false for a number no version can have (SQLite
    cannot even compare one past 64 bits): a reference such as ``weather/99999999999`` names
    no version, a 404, not a database error."""
    return ModelVersion.version == version if 1 <= version <= MAX_VERSION else false()


class RegistryStore(StoreBase):
    """Registered models of the store. Versions never change once created (only deletion
    removes one, and never while an alias points to it); every change of an alias is kept
    as an :class:`AliasMoveRecord`. Returned records are snapshots; every method is safe to
    call from several threads and processes at once."""

    def create_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> ModelRecord:
        """Register a model named ``name`` (no versions yet).

        Raises
        ------
        ConflictError
            If the name is taken in the project.
        """
        now = time.time()
        with self._begin() as connection:
            values = dict(
                project_id=self.project_id(connection, project), name=name,
                description=description, tags=dict(tags or {}), created_at=now, updated_at=now,
            )  # fmt: skip
            try:
                with connection.begin_nested():
                    connection.execute(insert(RegisteredModel).values(**values))
            except IntegrityError:
                raise ConflictError(
                    f"a model named {name!r} already exists in project {project!r}; register "
                    f"a new version of it (POST /models/{name}/versions) or choose another name"
                ) from None
        return self.get_model(name, project=project)

    def find_model(self, name: str, *, project: str = DEFAULT_PROJECT) -> ModelRecord | None:
        """The model named ``name``, or ``None``."""
        with self._read() as connection:
            row = connection.execute(
                select(*RegisteredModel.__table__.columns).where(
                    RegisteredModel.project_id == self.project_id(connection, project),
                    RegisteredModel.name == name,
                )
            ).first()
            return None if row is None else _models(connection, project, [row])[0]

    def get_model(self, name: str, *, project: str = DEFAULT_PROJECT) -> ModelRecord:
        """The model named ``name``.

        Raises
        ------
        NotFoundError
            Naming up to ten models that exist (its public form names none).
        """
        found = self.find_model(name, project=project)
        if found is None:
            raise self._unknown_model(name, project)
        return found

    def list_models(
        self, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ModelRecord], int]:
        """One page of models by name, and how many there are in all."""
        with self._read() as connection:
            project_id = self.project_id(connection, project)
            where = RegisteredModel.project_id == project_id
            total = int(connection.scalar(select(func.count()).where(where)) or 0)
            rows = connection.execute(
                select(*RegisteredModel.__table__.columns)
                .where(where)
                .order_by(RegisteredModel.name)
                .offset(offset)
                .limit(limit)
            ).all()
            return _models(connection, project, rows), total

    def create_version(
        self,
        model: str,
        *,
        pipeline: str,
        artifact_path: str,
        artifact_digest: str,
        source_experiment_id: int | None,
        source_experiment_name: str,
        metrics: Mapping[str, Any],
        config: Mapping[str, Any],
        data_fingerprint: str,
        description: str = "",
        created_by: str = "",
        project: str = DEFAULT_PROJECT,
        unique_by: Sequence[str] = (),
        mlflow: VersionMlflow | None = None,
    ) -> ModelVersionRecord:
        """Add the next version of ``model`` (1, 2, 3...; numbers are never reused while the
        model exists, even after a deletion). With ``unique_by``, names of ``config`` entries
        (strings or integers), a version of ``model`` whose config holds the same values for
        them is returned instead, and none is added: of processes adding one thing at once,
        one adds it (the model is locked meanwhile), each gets it. ``mlflow``: what MLflow's
        registry keeps of it beyond ours, written in the same transaction.

        Raises
        ------
        InvalidParameterError
            If an entry of ``unique_by`` is not in ``config``, or neither a string nor an
            integer.
        """
        now = time.time()
        same = _same_config(config, unique_by)
        with self._begin() as connection:
            model_id = self._lock_model(connection, model, project)
            found = connection.scalar(
                select(ModelVersion.version).where(ModelVersion.model_id == model_id, *same)
            ) if same else None  # fmt: skip
            if found is not None:
                return self._version_in(connection, model, model_id, found)
            number = _next_number(connection, model_id)
            version_id = connection.execute(
                insert(ModelVersion).values(
                    model_id=model_id, version=number, pipeline=pipeline,
                    source_experiment_id=source_experiment_id,
                    source_experiment_name=source_experiment_name, artifact_path=artifact_path,
                    artifact_digest=artifact_digest, metrics=dict(metrics), config=dict(config),
                    data_fingerprint=data_fingerprint, description=description,
                    created_by=created_by, created_at=now,
                ).returning(ModelVersion.id)
            ).scalar_one()  # fmt: skip
            if mlflow is not None:
                _write_mlflow(connection, version_id, mlflow)
            connection.execute(
                update(RegisteredModel)
                .where(RegisteredModel.id == model_id)
                .values(updated_at=now, last_version=number)
            )
            return self._version_in(connection, model, model_id, number)

    def get_version(
        self, model: str, version: int | None = None, *, project: str = DEFAULT_PROJECT
    ) -> ModelVersionRecord:
        """Version ``version`` of ``model``, its latest for ``None``.

        Raises
        ------
        NotFoundError
            Naming the model's versions (or the models, when ``model`` does not exist).
        """
        with self._read() as connection:
            model_id = self._model_id(connection, model, project)
            return self._version_in(connection, model, model_id, version)

    @staticmethod
    def _version_in(
        connection: Connection, model: str, model_id: int, version: int | None
    ) -> ModelVersionRecord:
        query = _select_versions().where(ModelVersion.model_id == model_id)
        if version is None:
            query = query.order_by(ModelVersion.version.desc()).limit(1)
        else:
            query = query.where(version_is(version))
        row = connection.execute(query).first()
        if row is None:
            raise NotFoundError(_unknown_version(connection, model, model_id, version))
        return _versions(connection, [row])[0]

    def list_versions(
        self, model: str, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ModelVersionRecord], int]:
        """One page of ``model``'s versions, newest first, and how many there are in all."""
        with self._read() as connection:
            model_id = self._model_id(connection, model, project)
            where = ModelVersion.model_id == model_id
            total = int(connection.scalar(select(func.count()).where(where)) or 0)
            rows = connection.execute(
                _select_versions()
                .where(where)
                .order_by(ModelVersion.version.desc())
                .offset(offset)
                .limit(limit)
            ).all()
            return _versions(connection, rows), total

    def delete_version(
        self, model: str, version: int, *, project: str = DEFAULT_PROJECT
    ) -> ModelVersionRecord:
        """Delete a version no alias points to (the caller removes its files).

        Raises
        ------
        ConflictError
            Naming the aliases that point to it: move or remove them first.
        """
        record = self.get_version(model, version, project=project)
        with self._begin() as connection:
            self._lock_model(connection, model, project)
            pointing = sorted(
                connection.scalars(
                    select(ModelAlias.alias).where(ModelAlias.version_id == record.id)
                )
            )
            if pointing:
                names = ", ".join(f"{model}@{alias}" for alias in pointing)
                raise ConflictError(
                    f"version {version} of model {model!r} is in use by alias(es) {names}; "
                    "move them to another version (PUT /models/{name}/aliases/{alias}) or "
                    "remove them (DELETE) first"
                )
            connection.execute(delete(ModelVersion).where(ModelVersion.id == record.id))
        return record

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
                raise NotFoundError(_unknown_version(connection, model, model_id, version))
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

    def list_prediction_jobs(
        self, model: str, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ExperimentRecord], int]:
        """One page of ``model``'s prediction jobs (experiments of kind ``prediction``), newest
        first, and how many there are in all.

        Raises
        ------
        NotFoundError
            If there is no such model, naming those there are.
        """
        with self._read() as connection:
            self._model_id(connection, model, project)  # or NotFoundError, naming the models
            project_id = self.project_id(connection, project)
            # The jobs' configs name their model; the params' (key, value) index finds them.
            named = select(Param.experiment_id).where(Param.key == "model", Param.value == model)
            where = (
                Experiment.project_id == project_id,
                Experiment.kind == PREDICTION,
                Experiment.id.in_(named),
            )
            total = int(connection.scalar(select(func.count(Experiment.id)).where(*where)) or 0)
            rows = connection.execute(
                select_records().where(*where).order_by(Experiment.id.desc())
                .offset(offset).limit(limit)
            ).all()  # fmt: skip
            return records_of(connection, rows), total

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

    def resolve_version_id(
        self, model: str, version: int | None = None, *, project: str = DEFAULT_PROJECT
    ) -> tuple[int, int] | None:
        """``(version id, version number)`` of version ``version`` of ``model`` (its latest
        for ``None``), in one query; ``None`` when there is no such version."""
        with self._read() as connection:
            query = (
                select(ModelVersion.id, ModelVersion.version)
                .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
                .where(
                    RegisteredModel.project_id == self.project_id(connection, project),
                    RegisteredModel.name == model,
                )
            )
            if version is None:
                query = query.order_by(ModelVersion.version.desc()).limit(1)
            else:
                query = query.where(version_is(version))
            row = connection.execute(query).first()
        return None if row is None else (int(row[0]), int(row[1]))

    # ---- what MLflow's registry changes too ------------------------------------------------
    def update_model(
        self, name: str, *, new_name: str | None = None, description: str | None = None,
        tags: Mapping[str, str | None] | None = None, project: str = DEFAULT_PROJECT,
    ) -> ModelRecord:  # fmt: skip
        """Rename the model ``name`` to ``new_name``, set its description, and set its ``tags``
        (a ``None`` value deletes that tag; deleting one it lacks changes nothing), each when
        given. Its versions, aliases and their history stay its own.

        Raises
        ------
        NotFoundError
            If there is no model ``name``.
        ConflictError
            If another model of the project is named ``new_name``.
        """
        with self._begin() as connection:
            model_id = self._lock_model(connection, name, project)
            values: dict[str, Any] = {"updated_at": time.time()}
            if new_name is not None:
                values["name"] = new_name
            if description is not None:
                values["description"] = description
            if tags:
                kept = connection.scalar(
                    select(RegisteredModel.tags).where(RegisteredModel.id == model_id)
                )
                values["tags"] = _merged(kept or {}, tags)
            try:
                with connection.begin_nested():
                    connection.execute(
                        update(RegisteredModel)
                        .where(RegisteredModel.id == model_id)
                        .values(**values)
                    )
            except IntegrityError:
                raise ConflictError(
                    f"a model named {new_name!r} already exists in project {project!r}; choose "
                    "another name"
                ) from None
        return self.get_model(new_name or name, project=project)

    def delete_model(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> list[ModelVersionRecord]:
        """Delete the model ``name`` with its versions and the history of its aliases, when no
        alias of it exists (the caller removes the versions' files): the versions deleted.

        Raises
        ------
        ConflictError
            Naming its aliases: remove them first (as no version an alias points to is
            deleted).
        """
        with self._begin() as connection:
            model_id = self._lock_model(connection, name, project)
            aliases = _aliases(connection, [model_id])[model_id]
            if aliases:
                names = ", ".join(f"{name}@{alias}" for alias in sorted(aliases))
                raise ConflictError(
                    f"model {name!r} has alias(es) {names}; remove them first (DELETE "
                    f"/models/{name}/aliases/{{alias}}): no version an alias points to is deleted"
                )
            rows = connection.execute(
                _select_versions().where(ModelVersion.model_id == model_id)
            ).all()
            connection.execute(delete(RegisteredModel).where(RegisteredModel.id == model_id))
            return _versions(connection, rows)

    def update_version(
        self, model: str, version: int, *, description: str | None = None,
        tags: Mapping[str, str | None] | None = None, project: str = DEFAULT_PROJECT,
    ) -> ModelVersionRecord:  # fmt: skip
        """Set the description of version ``version`` of ``model`` and its MLflow ``tags`` (a
        ``None`` value deletes that tag), each when given; its files never change.

        Raises
        ------
        NotFoundError
            If there is no such version.
        """
        with self._begin() as connection:
            model_id = self._lock_model(connection, model, project)
            record = self._version_in(connection, model, model_id, version)
            if description is not None:
                connection.execute(
                    update(ModelVersion)
                    .where(ModelVersion.id == record.id)
                    .values(description=description)
                )
            kept = _mlflow_of(connection, [record.id]).get(record.id, VersionMlflow())
            changed = VersionMlflow(
                kept.source, kept.model_id, _merged(kept.tags, tags or {}), time.time()
            )
            _write_mlflow(connection, record.id, changed)
            return self._version_in(connection, model, model_id, version)

    def find_versions_mlflow(
        self, version_ids: Sequence[int], *, project: str = DEFAULT_PROJECT
    ) -> dict[int, VersionMlflow]:
        """What MLflow's registry keeps of each of the versions ``version_ids`` (by version id)
        of the project's models, for those that have any."""
        with self._read() as connection:
            return _mlflow_of(
                connection, version_ids,
                RegisteredModel.project_id == self.project_id(connection, project),
            )  # fmt: skip

    def list_all_versions(
        self, *, models: Sequence[str] | None = None, project: str = DEFAULT_PROJECT
    ) -> list[ModelVersionRecord]:
        """Every version of the project's models (of those named in ``models`` only, when
        given), by model name, newest first."""
        with self._read() as connection:
            query = _select_versions().where(
                RegisteredModel.project_id == self.project_id(connection, project)
            )
            if models is not None:
                query = query.where(RegisteredModel.name.in_(models))
            rows = connection.execute(
                query.order_by(RegisteredModel.name, ModelVersion.version.desc())
            ).all()
            return _versions(connection, rows)

    def find_experiment_id(self, name: str, *, project: str = DEFAULT_PROJECT) -> int | None:
        """The id of the experiment named ``name`` (what a version is registered from)."""
        with self._read() as connection:
            found = connection.scalar(
                select(Experiment.id).where(
                    Experiment.project_id == self.project_id(connection, project),
                    Experiment.name == name,
                )
            )
        return None if found is None else int(found)

    # ---- helpers ---------------------------------------------------------------------------
    def _model_id(self, connection: Connection, name: str, project: str) -> int:
        found = connection.scalar(
            select(RegisteredModel.id).where(
                RegisteredModel.project_id == self.project_id(connection, project),
                RegisteredModel.name == name,
            )
        )
        if found is None:
            raise self._unknown_model(name, project, connection)
        return int(found)

    def _lock_model(self, connection: Connection, name: str, project: str) -> int:
        """The model's id, its row locked until commit (PostgreSQL; SQLite writers take the
        database lock): version numbers and alias moves of one model are made one at a time."""
        found = connection.scalar(
            select(RegisteredModel.id)
            .where(
                RegisteredModel.project_id == self.project_id(connection, project),
                RegisteredModel.name == name,
            )
            .with_for_update()
        )
        if found is None:
            raise self._unknown_model(name, project, connection)
        return int(found)

    def _unknown_model(
        self, name: str, project: str, connection: Connection | None = None
    ) -> NotFoundError:
        """Its message lists up to ten models of the project; its public form names only the
        model asked for (a client learns no other model's name from a guess)."""
        if connection is None:
            with self._read() as reading:
                return self._unknown_model(name, project, reading)
        names = list(
            connection.scalars(
                select(RegisteredModel.name)
                .where(RegisteredModel.project_id == self.project_id(connection, project))
                .order_by(RegisteredModel.name)
                .limit(11)
            )
        )
        known = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "") or "none yet"
        public = f"no model named {name!r} in project {project!r}"
        return NotFoundError(f"{public}; models: {known}", public=public)

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
        aliases = _aliases(connection, [model_id])[model_id]
        known = ", ".join(f"{a} → {v}" for a, v in sorted(aliases.items())) or "none"
        return f"model {model!r} has no alias {alias!r}; its aliases: {known}"


_VERSION_COLUMNS = list(ModelVersion.__table__.columns)


def _select_versions() -> Any:
    return select(*_VERSION_COLUMNS, RegisteredModel.name.label("model_name")).join(
        RegisteredModel, RegisteredModel.id == ModelVersion.model_id
    )


def _same_config(config: Mapping[str, Any], names: Sequence[str]) -> list[Any]:
    """The conditions on a version's config that it holds ``config``'s values of ``names``."""
    conditions = []
    for name in names:
        value = config.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidParameterError(
                f"a version is made unique by config entries that are strings or integers; "
                f"{name!r} is {value!r}"
            )
        entry = ModelVersion.config[name]
        conditions.append(entry.as_string() == value if isinstance(value, str)
                          else entry.as_integer() == value)  # fmt: skip
    return conditions


def _aliases(connection: Connection, model_ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {model_id: {} for model_id in model_ids}
    if model_ids:
        rows = connection.execute(
            select(ModelAlias.model_id, ModelAlias.alias, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
            .where(ModelAlias.model_id.in_(model_ids))
        )
        for model_id, alias, version in rows:
            found[model_id][alias] = int(version)
    return found


def _models(connection: Connection, project: str, rows: Sequence[Row[Any]]) -> list[ModelRecord]:
    ids = [row.id for row in rows]
    latest = dict(
        connection.execute(
            select(ModelVersion.model_id, func.max(ModelVersion.version))
            .where(ModelVersion.model_id.in_(ids))
            .group_by(ModelVersion.model_id)
        ).all()
    ) if ids else {}  # fmt: skip
    aliases = _aliases(connection, ids)
    return [
        ModelRecord(
            id=row.id,
            project=project,
            name=row.name,
            description=row.description,
            tags=row.tags,
            created_at=row.created_at,
            updated_at=row.updated_at,
            latest_version=latest.get(row.id),
            aliases=aliases[row.id],
        )
        for row in rows
    ]


def _versions(connection: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersionRecord]:
    ids = [row.id for row in rows]
    pointing: dict[int, list[str]] = {version_id: [] for version_id in ids}
    if ids:
        for version_id, alias in connection.execute(
            select(ModelAlias.version_id, ModelAlias.alias)
            .where(ModelAlias.version_id.in_(ids))
            .order_by(ModelAlias.alias)
        ):
            pointing[version_id].append(alias)
    return [
        ModelVersionRecord(
            model=row.model_name,
            aliases=pointing[row.id],
            **{c.key: row._mapping[c.key] for c in _VERSION_COLUMNS},
        )
        for row in rows
    ]


def _merged(kept: Mapping[str, Any], changes: Mapping[str, str | None]) -> dict[str, Any]:
    """``kept`` with ``changes`` made: a value set, a ``None`` value's key deleted."""
    merged = {**kept, **changes}
    return {key: value for key, value in merged.items() if value is not None}


def _mlflow_of(
    connection: Connection, version_ids: Sequence[int], *where: Any
) -> dict[int, VersionMlflow]:
    rows = connection.execute(
        select(*ModelVersionMlflow.__table__.columns)
        .join(ModelVersion, ModelVersion.id == ModelVersionMlflow.version_id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(ModelVersionMlflow.version_id.in_(version_ids), *where)
    )
    return {
        row.version_id: VersionMlflow(row.source, row.model_id, dict(row.tags), row.updated_at)
        for row in rows
    }


def _write_mlflow(connection: Connection, version_id: int, fields: VersionMlflow) -> None:
    """Write ``fields`` of the version ``version_id`` (the model locked)."""
    connection.execute(
        delete(ModelVersionMlflow).where(ModelVersionMlflow.version_id == version_id)
    )
    connection.execute(
        insert(ModelVersionMlflow).values(
            version_id=version_id, source=fields.source, model_id=fields.model_id,
            tags=fields.tags, updated_at=fields.updated_at or time.time(),
        )
    )  # fmt: skip


def _unknown_version(
    connection: Connection, model: str, model_id: int, version: int | None
) -> str:
    numbers = list(
        connection.scalars(
            select(ModelVersion.version)
            .where(ModelVersion.model_id == model_id)
            .order_by(ModelVersion.version.desc())
            .limit(21)
        )
    )
    if not numbers:
        return (
            f"model {model!r} has no versions yet; register one from a completed run "
            f"(POST /models/{model}/versions)"
        )
    shown = ", ".join(map(str, sorted(numbers[:20]))) + (
        " (latest 20)" if len(numbers) > 20 else ""
    )
    return f"model {model!r} has no version {version}; its versions: {shown}"


def _move(model: str, row: Row[Any]) -> AliasMoveRecord:
    fields = {key: row._mapping[key] for key in _MOVE_FIELDS}
    return AliasMoveRecord(model=model, **fields)


_MOVE_FIELDS = (
    "id", "alias", "from_version", "to_version", "actor", "reason", "rollback", "created_at"
)  # fmt: skip


def _next_number(connection: Connection, model_id: int) -> int:
    """The number of the model's next version (never one used before, even deleted)."""
    last = connection.scalar(
        select(RegisteredModel.last_version).where(RegisteredModel.id == model_id)
    )
    return 1 + int(last or 0)

"""The model registry: models and their immutable versions. Their aliases and every move of
one are :mod:`.registry_aliases`, the changes MLflow's registry makes too
:mod:`.registry_changes`."""

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
    Experiment,
    ModelAlias,
    ModelVersion,
    ModelVersionMlflow,
    Param,
    RegisteredModel,
)
from azuraforge.platform.store.records import (
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
                write_version_mlflow(connection, version_id, mlflow)
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
        query = select_versions().where(ModelVersion.model_id == model_id)
        if version is None:
            query = query.order_by(ModelVersion.version.desc()).limit(1)
        else:
            query = query.where(version_is(version))
        row = connection.execute(query).first()
        if row is None:
            raise NotFoundError(unknown_version(connection, model, model_id, version))
        return version_records(connection, [row])[0]

    def list_versions(
        self, model: str, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ModelVersionRecord], int]:
        """One page of ``model``'s versions, newest first, and how many there are in all."""
        with self._read() as connection:
            model_id = self._model_id(connection, model, project)
            where = ModelVersion.model_id == model_id
            total = int(connection.scalar(select(func.count()).where(where)) or 0)
            rows = connection.execute(
                select_versions()
                .where(where)
                .order_by(ModelVersion.version.desc())
                .offset(offset)
                .limit(limit)
            ).all()
            return version_records(connection, rows), total

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


_VERSION_COLUMNS = list(ModelVersion.__table__.columns)


def select_versions() -> Any:
    """The query of versions with their model's name (``model_name``), to narrow down."""
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


def model_aliases(connection: Connection, model_ids: list[int]) -> dict[int, dict[str, int]]:
    """The aliases of each model of ``model_ids``: alias to version number, by model id."""
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
    aliases = model_aliases(connection, ids)
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


def version_records(connection: Connection, rows: Sequence[Row[Any]]) -> list[ModelVersionRecord]:
    """The records of version ``rows`` (of :func:`select_versions`), with their aliases."""
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


def write_version_mlflow(connection: Connection, version_id: int, fields: VersionMlflow) -> None:
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


def unknown_version(connection: Connection, model: str, model_id: int, version: int | None) -> str:
    """The message of a missing version of ``model``, naming the versions it has (the
    latest 20)."""
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


def _next_number(connection: Connection, model_id: int) -> int:
    """The number of the model's next version (never one used before, even deleted)."""
    last = connection.scalar(
        select(RegisteredModel.last_version).where(RegisteredModel.id == model_id)
    )
    return 1 + int(last or 0)

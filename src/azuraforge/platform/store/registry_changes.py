"""The registry's changes MLflow's registry makes too: a model renamed, its description
and tags, its deletion, a version's description and MLflow fields, every version listed."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import ConflictError
from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.models import (
    ModelVersion,
    ModelVersionMlflow,
    RegisteredModel,
)
from azuraforge.platform.store.records import (
    ModelRecord,
    ModelVersionRecord,
)
from azuraforge.platform.store.registry import (
    RegistryStore,
    VersionMlflow,
    model_aliases,
    select_versions,
    version_records,
    write_version_mlflow,
)


class RegistryChangeStore(RegistryStore):
    """What MLflow's registry changes of models and versions beyond ours. Safe from several
    threads and processes at once."""

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
            aliases = model_aliases(connection, [model_id])[model_id]
            if aliases:
                names = ", ".join(f"{name}@{alias}" for alias in sorted(aliases))
                raise ConflictError(
                    f"model {name!r} has alias(es) {names}; remove them first (DELETE "
                    f"/models/{name}/aliases/{{alias}}): no version an alias points to is deleted"
                )
            rows = connection.execute(
                select_versions().where(ModelVersion.model_id == model_id)
            ).all()
            connection.execute(delete(RegisteredModel).where(RegisteredModel.id == model_id))
            return version_records(connection, rows)

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
            write_version_mlflow(connection, record.id, changed)
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
            query = select_versions().where(
                RegisteredModel.project_id == self.project_id(connection, project)
            )
            if models is not None:
                query = query.where(RegisteredModel.name.in_(models))
            rows = connection.execute(
                query.order_by(RegisteredModel.name, ModelVersion.version.desc())
            ).all()
            return version_records(connection, rows)


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

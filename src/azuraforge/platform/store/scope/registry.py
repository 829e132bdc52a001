"""The project's view of the model registry: models, their versions, aliases and the aliases' moves
(store/registry.py). Each method applies its rule (:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.interfaces.registry import Registry
from azuraforge.platform.store.records import (
    AliasMoveRecord,
    ExperimentRecord,
    ModelRecord,
    ModelVersionRecord,
)
from azuraforge.platform.store.registry import VersionMlflow
from azuraforge.platform.store.scope.base import ScopeBase


class ScopedRegistry(ScopeBase, Registry):
    """:class:`~azuraforge.platform.store.interfaces.Registry` kept to the view's project."""

    def create_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> ModelRecord:
        return self.store.create_model(
            name, description=description, tags=tags, project=self.project
        )

    def find_model(self, name: str, *, project: str = DEFAULT_PROJECT) -> ModelRecord | None:
        return self.store.find_model(name, project=self.project)

    def get_model(self, name: str, *, project: str = DEFAULT_PROJECT) -> ModelRecord:
        return self.store.get_model(name, project=self.project)

    def list_models(
        self, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ModelRecord], int]:
        return self.store.list_models(project=self.project, offset=offset, limit=limit)

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
        return self.store.create_version(
            model,
            pipeline=pipeline,
            artifact_path=artifact_path,
            artifact_digest=artifact_digest,
            source_experiment_id=source_experiment_id,
            source_experiment_name=source_experiment_name,
            metrics=metrics,
            config=config,
            data_fingerprint=data_fingerprint,
            description=description,
            created_by=created_by,
            project=self.project,
            unique_by=unique_by,
            mlflow=mlflow,
        )

    def get_version(
        self, model: str, version: int | None = None, *, project: str = DEFAULT_PROJECT
    ) -> ModelVersionRecord:
        return self.store.get_version(model, version, project=self.project)

    def list_versions(
        self, model: str, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ModelVersionRecord], int]:
        return self.store.list_versions(model, project=self.project, offset=offset, limit=limit)

    def delete_version(
        self, model: str, version: int, *, project: str = DEFAULT_PROJECT
    ) -> ModelVersionRecord:
        return self.store.delete_version(model, version, project=self.project)

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
        return self.store.set_alias(
            model,
            alias,
            version,
            actor=actor,
            reason=reason,
            rollback=rollback,
            project=self.project,
        )

    def move_alias_if(
        self,
        model: str,
        alias: str,
        *,
        expected: int | None,
        version: int,
        actor: str,
        reason: str = "",
        project: str = DEFAULT_PROJECT,
    ) -> bool:
        return self.store.move_alias_if(
            model,
            alias,
            expected=expected,
            version=version,
            actor=actor,
            reason=reason,
            project=self.project,
        )

    def find_alias(self, model: str, alias: str, *, project: str = DEFAULT_PROJECT) -> int | None:
        return self.store.find_alias(model, alias, project=self.project)

    def get_alias(self, model: str, alias: str, *, project: str = DEFAULT_PROJECT) -> int:
        return self.store.get_alias(model, alias, project=self.project)

    def list_alias_moves(
        self,
        model: str,
        alias: str,
        *,
        project: str = DEFAULT_PROJECT,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[AliasMoveRecord], int]:
        return self.store.list_alias_moves(
            model, alias, project=self.project, offset=offset, limit=limit
        )

    def list_prediction_jobs(
        self, model: str, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ExperimentRecord], int]:
        return self.store.list_prediction_jobs(
            model, project=self.project, offset=offset, limit=limit
        )

    def last_alias_move(
        self, model: str, alias: str, *, project: str = DEFAULT_PROJECT
    ) -> AliasMoveRecord:
        return self.store.last_alias_move(model, alias, project=self.project)

    def resolve_alias_id(
        self, model: str, alias: str, *, project: str = DEFAULT_PROJECT
    ) -> tuple[int, int] | None:
        return self.store.resolve_alias_id(model, alias, project=self.project)

    def resolve_version_id(
        self, model: str, version: int | None = None, *, project: str = DEFAULT_PROJECT
    ) -> tuple[int, int] | None:
        return self.store.resolve_version_id(model, version, project=self.project)

    def update_model(
        self,
        name: str,
        *,
        new_name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> ModelRecord:
        return self.store.update_model(
            name, new_name=new_name, description=description, tags=tags, project=self.project
        )

    def delete_model(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> list[ModelVersionRecord]:
        return self.store.delete_model(name, project=self.project)

    def update_version(
        self,
        model: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> ModelVersionRecord:
        return self.store.update_version(
            model, version, description=description, tags=tags, project=self.project
        )

    def find_versions_mlflow(
        self, version_ids: Sequence[int], *, project: str = DEFAULT_PROJECT
    ) -> dict[int, VersionMlflow]:
        return self.store.find_versions_mlflow(version_ids, project=self.project)

    def list_all_versions(
        self, *, models: Sequence[str] | None = None, project: str = DEFAULT_PROJECT
    ) -> list[ModelVersionRecord]:
        return self.store.list_all_versions(models=models, project=self.project)

    def find_experiment_id(self, name: str, *, project: str = DEFAULT_PROJECT) -> int | None:
        return self.store.find_experiment_id(name, project=self.project)

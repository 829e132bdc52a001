"""The model registry: models, their versions, their aliases and the moves of each alias
(store/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.records import (
    AliasMoveRecord,
    ExperimentRecord,
    ModelRecord,
    ModelVersionRecord,
)
from azuraforge.platform.store.registry import VersionMlflow


class Registry(Protocol):
    """The model registry: models, their versions, aliases and the aliases' moves, and the
    prediction jobs of a version.

    A project's view forces its ``project`` on each method (each takes one)."""

    def create_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> ModelRecord: ...
    def find_model(self, name: str, *, project: str = DEFAULT_PROJECT) -> ModelRecord | None: ...
    def get_model(self, name: str, *, project: str = DEFAULT_PROJECT) -> ModelRecord: ...
    def list_models(
        self, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ModelRecord], int]: ...
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
    ) -> ModelVersionRecord: ...
    def get_version(
        self, model: str, version: int | None = None, *, project: str = DEFAULT_PROJECT
    ) -> ModelVersionRecord: ...
    def list_versions(
        self, model: str, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ModelVersionRecord], int]: ...
    def delete_version(
        self, model: str, version: int, *, project: str = DEFAULT_PROJECT
    ) -> ModelVersionRecord: ...
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
    ) -> AliasMoveRecord | None: ...
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
    ) -> bool: ...
    def find_alias(
        self, model: str, alias: str, *, project: str = DEFAULT_PROJECT
    ) -> int | None: ...
    def get_alias(self, model: str, alias: str, *, project: str = DEFAULT_PROJECT) -> int: ...
    def list_alias_moves(
        self,
        model: str,
        alias: str,
        *,
        project: str = DEFAULT_PROJECT,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[AliasMoveRecord], int]: ...
    def list_prediction_jobs(
        self, model: str, *, project: str = DEFAULT_PROJECT, offset: int = 0, limit: int = 50
    ) -> tuple[list[ExperimentRecord], int]: ...
    def last_alias_move(
        self, model: str, alias: str, *, project: str = DEFAULT_PROJECT
    ) -> AliasMoveRecord: ...
    def resolve_alias_id(
        self, model: str, alias: str, *, project: str = DEFAULT_PROJECT
    ) -> tuple[int, int] | None: ...
    def resolve_version_id(
        self, model: str, version: int | None = None, *, project: str = DEFAULT_PROJECT
    ) -> tuple[int, int] | None: ...
    def update_model(
        self,
        name: str,
        *,
        new_name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> ModelRecord: ...
    def delete_model(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> list[ModelVersionRecord]: ...
    def update_version(
        self,
        model: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, str | None] | None = None,
        project: str = DEFAULT_PROJECT,
    ) -> ModelVersionRecord: ...
    def find_versions_mlflow(
        self, version_ids: Sequence[int], *, project: str = DEFAULT_PROJECT
    ) -> dict[int, VersionMlflow]: ...
    def list_all_versions(
        self, *, models: Sequence[str] | None = None, project: str = DEFAULT_PROJECT
    ) -> list[ModelVersionRecord]: ...
    def find_experiment_id(self, name: str, *, project: str = DEFAULT_PROJECT) -> int | None: ...

"""Request bodies of MLflow's model registry API
(:mod:`~azuraforge.platform.api.routes.mlflow_registry`): registered models, their versions,
tags and aliases, on :class:`~azuraforge.platform.api.schemas.mlflow.MlflowBody`. Not in the
OpenAPI: MLflow's own reference describes these calls."""

from __future__ import annotations

from pydantic import Field

from azuraforge.platform.api.schemas.mlflow import MlflowBody


class RegistryTagIn(MlflowBody):
    """A tag of a registered model or of a version (its key and value checked by the
    route: :func:`~azuraforge.platform.services.mlflow_registry.checked_tag`)."""

    key: str = Field("", max_length=1000)
    value: str = Field("", max_length=100_000)


# -- registered models ----------------------------------------------------------------------


class ModelIn(MlflowBody):
    name: str | None = Field(None, max_length=1000)


class RegisteredModelCreate(ModelIn):
    tags: list[RegistryTagIn] = Field([], max_length=1000)
    description: str = Field("", max_length=100_000)


class ModelUpdate(ModelIn):
    description: str = Field("", max_length=100_000)


class ModelRename(ModelIn):
    new_name: str | None = Field(None, max_length=1000)


class ModelTag(ModelIn, RegistryTagIn):
    pass


class AliasIn(ModelIn):
    alias: str = Field("", max_length=1000)


class AliasSet(AliasIn):
    version: str = Field("", max_length=20)


class LatestVersions(ModelIn):
    stages: list[str] = Field([], max_length=10)


# -- model versions -------------------------------------------------------------------------


class VersionIn(ModelIn):
    version: str = Field("", max_length=20)


class VersionCreate(ModelIn):
    source: str = Field("", max_length=1000)
    model_id: str | None = Field(None, max_length=64)
    tags: list[RegistryTagIn] = Field([], max_length=1000)
    description: str = Field("", max_length=100_000)


class VersionUpdate(VersionIn):
    description: str = Field("", max_length=100_000)


class VersionTag(VersionIn, RegistryTagIn):
    pass

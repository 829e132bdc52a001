"""The bodies of ``/settings`` (:mod:`~azuraforge.platform.api.routes.project_settings`): a
project's settings its admins set."""

from __future__ import annotations

from pydantic import BaseModel, Field

from azuraforge.platform.api.schemas.common import RequestBody
from azuraforge.platform.services.project_settings import MLFLOW_MODELS, SETTINGS


class ProjectSettingsPublic(BaseModel):
    """Every setting of the caller's project: the value its admins set, else the default."""

    project: str
    mlflow_models: bool = Field(description=SETTINGS[MLFLOW_MODELS].description)


class ProjectSettingsUpdate(RequestBody):
    """The settings to change (the others keep their values)."""

    mlflow_models: bool | None = Field(None, description=SETTINGS[MLFLOW_MODELS].description)

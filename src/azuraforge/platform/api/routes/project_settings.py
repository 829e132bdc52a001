"""``/settings``: the settings of the caller's project (whether it allows MLflow models):
read by its members, changed by its admins (each change in the audit log)."""

from __future__ import annotations

from fastapi import APIRouter

from azuraforge.platform.api.access import MANAGE, READ, Manager, Reader
from azuraforge.platform.api.deps import ProjectSettingsDep
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.project_settings import (
    ProjectSettingsPublic,
    ProjectSettingsUpdate,
)
from azuraforge.platform.services import project_settings

router = APIRouter(prefix="/settings", tags=["settings"])
ERRORS = error_responses()


@router.get("", dependencies=[READ], response_model=ProjectSettingsPublic, responses=ERRORS)
def get_settings(store: ProjectSettingsDep, who: Reader) -> ProjectSettingsPublic:
    """The project's settings: the values its admins set, else the defaults."""
    values = project_settings.read_settings(store, who.project)
    return ProjectSettingsPublic(project=who.project, **values)


@router.patch("", dependencies=[MANAGE], response_model=ProjectSettingsPublic, responses=ERRORS)
def change_settings(
    body: ProjectSettingsUpdate, store: ProjectSettingsDep, who: Manager
) -> ProjectSettingsPublic:
    """Change the settings the body names (a project admin's); answer them all."""
    changes = body.model_dump(exclude_none=True)
    values = project_settings.change_settings(store, changes, who.project)
    return ProjectSettingsPublic(project=who.project, **values)

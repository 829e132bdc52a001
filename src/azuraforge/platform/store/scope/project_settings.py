"""The project's view of a project's own settings (store/project_settings.py). Each method applies
its rule (:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.interfaces.project_settings import ProjectSettings
from azuraforge.platform.store.scope.base import ScopeBase


class ScopedProjectSettings(ScopeBase, ProjectSettings):
    """:class:`~azuraforge.platform.store.interfaces.ProjectSettings` kept to the project."""

    def list_project_settings(self, *, project: str = DEFAULT_PROJECT) -> dict[str, str]:
        return self.store.list_project_settings(project=self.project)

    def set_project_setting(
        self, name: str, value: str, *, project: str = DEFAULT_PROJECT
    ) -> None:
        self.store.set_project_setting(name, value, project=self.project)

"""Settings of a project its admins set: a value (JSON text) by name. The store keeps the
values; :mod:`~azuraforge.platform.services.project_settings` names the settings, their types
and their defaults (a setting never set has none here)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from azuraforge.platform.store.base import DEFAULT_PROJECT, StoreBase
from azuraforge.platform.store.models import ProjectSetting


class ProjectSettingStore(StoreBase):
    """Projects' settings. Safe from any number of threads and processes."""

    def list_project_settings(self, *, project: str = DEFAULT_PROJECT) -> dict[str, str]:
        """The settings ``project`` has set, by name (JSON text each), names in order.

        >>> import tempfile
        >>> from azuraforge.platform.store import Store, upgrade_database
        >>> url = f"sqlite:///{tempfile.mkdtemp()}/af.db"
        >>> _ = upgrade_database(url); store = Store(url)
        >>> store.set_project_setting("mlflow_models", "true")
        >>> store.list_project_settings()
        {'mlflow_models': 'true'}
        """
        with self._read() as connection:
            rows = connection.execute(
                select(ProjectSetting.name, ProjectSetting.value)
                .where(ProjectSetting.project_id == self.project_id(connection, project))
                .order_by(ProjectSetting.name)
            ).all()
        return {name: value for name, value in rows}

    def set_project_setting(
        self, name: str, value: str, *, project: str = DEFAULT_PROJECT
    ) -> None:
        """Set ``project``'s setting ``name`` to ``value`` (JSON text), replacing its value."""
        with self._begin() as connection:
            project_id = self.project_id(connection, project)
            connection.execute(
                delete(ProjectSetting).where(
                    ProjectSetting.project_id == project_id, ProjectSetting.name == name
                )
            )
            connection.execute(
                insert(ProjectSetting).values(project_id=project_id, name=name, value=value)
            )

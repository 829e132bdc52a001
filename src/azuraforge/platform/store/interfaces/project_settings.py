"""A project's own settings (store/project_settings.py)."""

from __future__ import annotations

from typing import Protocol

from azuraforge.platform.store.base import DEFAULT_PROJECT


class ProjectSettings(Protocol):
    """A project's own settings, listed and set.

    A project's view forces its ``project`` on each method (each takes one)."""

    def list_project_settings(self, *, project: str = DEFAULT_PROJECT) -> dict[str, str]: ...
    def set_project_setting(
        self, name: str, value: str, *, project: str = DEFAULT_PROJECT
    ) -> None: ...

"""The project's view of a project's data files and the runs that used them (store/data_files.py,
store/data_uses.py). Each method applies its rule (:mod:`azuraforge.platform.store.scope`)."""

from __future__ import annotations

from collections.abc import Sequence

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.data_files import DataFileRecord
from azuraforge.platform.store.data_uses import DataFileUses
from azuraforge.platform.store.interfaces.data import DataFiles
from azuraforge.platform.store.scope.base import ScopeBase


class ScopedDataFiles(ScopeBase, DataFiles):
    """:class:`~azuraforge.platform.store.interfaces.DataFiles` kept to the view's project."""

    def list_data_files(self, *, project: str = DEFAULT_PROJECT) -> list[DataFileRecord]:
        return self.store.list_data_files(project=self.project)

    def find_data_file(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None:
        return self.store.find_data_file(name, project=self.project)

    def set_data_file(
        self, file: DataFileRecord, *, overwrite: bool = False, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None:
        return self.store.set_data_file(file, overwrite=overwrite, project=self.project)

    def delete_data_file(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None:
        return self.store.delete_data_file(name, project=self.project)

    def find_data_file_uses(
        self, name: str, settings: Sequence[str], *, project: str = DEFAULT_PROJECT
    ) -> DataFileUses:
        return self.store.find_data_file_uses(name, settings, project=self.project)

"""A project's data files and the runs that used them (store/data_files.py, store/data_uses.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from azuraforge.platform.store.base import DEFAULT_PROJECT
from azuraforge.platform.store.data_files import DataFileRecord
from azuraforge.platform.store.data_uses import DataFileUses


class DataFiles(Protocol):
    """A project's data files (their records) and the runs that used each.

    A project's view forces its ``project`` on each method (each takes one)."""

    def list_data_files(self, *, project: str = DEFAULT_PROJECT) -> list[DataFileRecord]: ...
    def find_data_file(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None: ...
    def set_data_file(
        self, file: DataFileRecord, *, overwrite: bool = False, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None: ...
    def delete_data_file(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None: ...
    def find_data_file_uses(
        self, name: str, settings: Sequence[str], *, project: str = DEFAULT_PROJECT
    ) -> DataFileUses: ...

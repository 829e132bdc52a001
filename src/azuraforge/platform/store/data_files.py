"""Projects' data files as the blob store keeps them: a name pointing at the SHA-256 its bytes
are kept under, with the CSV reader's description of them
(:class:`~azuraforge.platform.jobs.files.StoredData` keeps the bytes; this keeps the
pointers, so that every API process and worker on the store sees the same files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from azuraforge.errors import ConflictError
from azuraforge.platform.store.base import DEFAULT_PROJECT, StoreBase
from azuraforge.platform.store.models import StoredDataFile


@dataclass(frozen=True)
class DataFileRecord:
    """A project's data file as the CSV reader sees it (a stored one, or one of the data
    folder on disk: :mod:`~azuraforge.platform.services.data_files`).

    Attributes
    ----------
    name
        Its name relative to the project's data folder: what a pipeline's ``csv`` or a
        stream's ``source`` names.
    bytes, modified
        Its size and when it was written (seconds since the epoch).
    sha256
        The SHA-256 of its bytes (a stored file's bytes are kept under it).
    columns, rows, delimiter
        The header's names, the data rows and the field separator (``","``, ``";"`` or
        ``"tab"``); empty, 0 and None when it does not read (``problem`` says why).
    problem
        The reader's message for a file that does not read as a CSV (one put in the folder
        by hand), else None.
    """

    name: str
    bytes: int
    modified: float
    sha256: str
    columns: tuple[str, ...]
    rows: int
    delimiter: str | None
    problem: str | None = None


class DataFileStore(StoreBase):
    """The pointers of projects' data files. Safe from any number of threads and processes;
    records are snapshots."""

    def list_data_files(self, *, project: str = DEFAULT_PROJECT) -> list[DataFileRecord]:
        """Every data file ``project`` has stored, by name.

        >>> import tempfile
        >>> from azuraforge.platform.store import Store, upgrade_database
        >>> url = f"sqlite:///{tempfile.mkdtemp()}/af.db"
        >>> _ = upgrade_database(url); store = Store(url)
        >>> file = DataFileRecord("a.csv", 12, 0.0, "0" * 64, ("x", "y"), 1, ",")
        >>> store.set_data_file(file)
        >>> [f.name for f in store.list_data_files()], store.find_data_file("b.csv")
        (['a.csv'], None)
        """
        with self._read() as connection:
            rows = connection.execute(
                select(*_COLUMNS)
                .where(StoredDataFile.project_id == self.project_id(connection, project))
                .order_by(StoredDataFile.name)
            ).all()
            return [_record(row) for row in rows]

    def find_data_file(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None:
        """``project``'s stored data file ``name``, or None."""
        with self._read() as connection:
            row = connection.execute(
                select(*_COLUMNS).where(
                    StoredDataFile.project_id == self.project_id(connection, project),
                    StoredDataFile.name == name,
                )
            ).first()
            return None if row is None else _record(row)

    def set_data_file(
        self, file: DataFileRecord, *, overwrite: bool = False, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None:
        """Point ``project``'s data file ``file.name`` at ``file``; the record it replaced
        (None: there was none).

        Raises
        ------
        ConflictError
            If ``project`` has a file of that name and ``overwrite`` is false.
        """
        values = {
            "sha256": file.sha256, "bytes": file.bytes, "modified": file.modified,
            "columns": list(file.columns), "rows": file.rows, "delimiter": file.delimiter,
            "problem": file.problem,
        }  # fmt: skip
        try:
            with self._begin() as connection:
                project_id = self.project_id(connection, project)
                where = (StoredDataFile.project_id == project_id, StoredDataFile.name == file.name)
                old = connection.execute(select(*_COLUMNS).where(*where)).first()
                replaced = None if old is None else _record(old)
                if replaced is not None and overwrite:
                    connection.execute(update(StoredDataFile).where(*where).values(**values))
                elif replaced is None:
                    connection.execute(
                        insert(StoredDataFile).values(
                            project_id=project_id, name=file.name, **values
                        )
                    )
                else:
                    raise _taken(file.name, project)
        except IntegrityError:  # stored meanwhile by another process
            raise _taken(file.name, project) from None
        return replaced

    def delete_data_file(
        self, name: str, *, project: str = DEFAULT_PROJECT
    ) -> DataFileRecord | None:
        """Drop ``project``'s data file ``name``; the record dropped, or None if it had none."""
        with self._begin() as connection:
            project_id = self.project_id(connection, project)
            where = (StoredDataFile.project_id == project_id, StoredDataFile.name == name)
            old = connection.execute(select(*_COLUMNS).where(*where)).first()
            if old is None:
                return None
            dropped = _record(old)
            connection.execute(delete(StoredDataFile).where(*where))
        return dropped


def _taken(name: str, project: str) -> ConflictError:
    return ConflictError(
        f"data file {name!r} exists in project {project!r}; upload it with overwrite=true to "
        "replace it, or choose another name"
    )


_COLUMNS = (
    StoredDataFile.name, StoredDataFile.sha256, StoredDataFile.bytes, StoredDataFile.modified,
    StoredDataFile.columns, StoredDataFile.rows, StoredDataFile.delimiter, StoredDataFile.problem,
)  # fmt: skip


def _record(row: Any) -> DataFileRecord:
    """The record of a row of :data:`_COLUMNS`."""
    return DataFileRecord(
        name=row.name, sha256=row.sha256, bytes=row.bytes, modified=row.modified,
        columns=tuple(row.columns), rows=row.rows, delimiter=row.delimiter, problem=row.problem,
    )  # fmt: skip

"""A tracked run written straight into the embedded store, when no server is configured: as
``azuraforge run`` records its run then (the store of ``AZURAFORGE_DATABASE_URL``, created
empty on first use, the files into the blob store), in the default project.

The one module of :mod:`azuraforge.track` that imports the platform (SQLAlchemy and the
rest), and it is imported only when such a run starts: ``import azuraforge.track`` stays
light (the import contracts of ``pyproject.toml`` hold it to that)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azuraforge.errors import AzuraForgeError, ConflictError, InvalidParameterError
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.run_files import run_key
from azuraforge.platform.services.external_runs import start_external_run
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, JobWrites, Store, create_if_empty
from azuraforge.platform.store.engine import shown_url
from azuraforge.track.sinks import SinkRefusedError, SinkUnreachableError
from azuraforge.track.spool import Batch


def configured_store() -> str:
    """The store the platform's settings name (``AZURAFORGE_DATABASE_URL``), as messages
    show it: what a :class:`StoreSink` made now would write to."""
    return shown_url(Settings().database_url)


class StoreSink:
    """A run written into the store the platform's settings name, with no lease."""

    def __init__(self) -> None:
        self.settings = Settings()
        create_if_empty(self.settings.database_url)
        self.store = Store(self.settings.database_url)
        self.blobs = open_blobs(self.settings)
        self.where = self.store.shown_url
        self.run_id = 0

    def create(
        self, pipeline: str, params: dict[str, Any], name: str | None, idle_limit: float | None
    ) -> tuple[int, float]:
        limit = idle_limit or self.settings.run_idle_limit
        try:
            record, _ = start_external_run(
                self.store, pipeline, params, idle_limit=limit, project=DEFAULT_PROJECT,
                submitter=None, name=name,
            )  # fmt: skip
        except AzuraForgeError as e:
            raise _classified(e) from None
        self.run_id = record.id
        return record.id, limit

    def send(self, batch: Batch) -> bool:
        try:
            if batch.file is not None and batch.name is not None:
                self.blobs.put_file(batch.file, run_key(self.run_id, batch.name))
                size = Path(batch.file).stat().st_size
                writes = JobWrites(artifacts=[(batch.name, size, False)])
                return self.store.write_external(self.run_id, writes)
            if batch.tags is not None:
                self.store.set_run_tags(self.run_id, batch.tags)
                return False
            if batch.notes is not None:
                self.store.edit_experiment(self.run_id, notes=batch.notes)
                return False
            writes = JobWrites(points=batch.points, lines=batch.lines, progress=batch.progress)
            return self.store.write_external(self.run_id, writes, batch_id=batch.batch_id)
        except AzuraForgeError as e:
            raise _classified(e) from None

    def address(self) -> dict[str, Any]:
        return {"kind": "store", "store": self.where}

    def resume(self, run_id: int, address: dict[str, Any], idle_limit: float) -> None:
        self.run_id = run_id

    def heartbeat(self) -> bool:
        try:
            return self.store.write_external(self.run_id, JobWrites())
        except AzuraForgeError as e:
            raise _classified(e) from None

    def end(self, status: str, error: str | None, result: dict[str, Any] | None) -> None:
        try:
            self.store.end_external(self.run_id, status, error=error, result=result)
        except AzuraForgeError as e:
            raise _classified(e) from None

    def close(self) -> None:
        self.store.close()


def _classified(error: AzuraForgeError) -> Exception:
    """:class:`SinkRefusedError` for what the store will never take, else
    :class:`SinkUnreachableError`."""
    if isinstance(error, ConflictError | InvalidParameterError):
        over = isinstance(error, ConflictError)
        return SinkRefusedError(f"{type(error).__name__}: {error}", run_over=over)
    return SinkUnreachableError(str(error))

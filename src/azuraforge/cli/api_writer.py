"""The writes of ``azuraforge run``'s recording over the API: what its run context buffered,
sent as the run's batches and end with the run's own credential (imported only when a run is
recorded over the API: it needs the platform's run context)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from azuraforge.client import ExternalRun
from azuraforge.errors import ConflictError, CredentialError
from azuraforge.platform.jobs.context import RunWriter
from azuraforge.platform.jobs.run_files import files_below
from azuraforge.platform.store import JobWrites


class ApiRunWriter(RunWriter):
    """Writes the external run ``run`` through the API. A run that ended elsewhere (409) or
    whose credential expired (401: it had no word within its idle limit) takes no more
    writes: both are a :class:`~azuraforge.errors.ConflictError` here, and the run context
    stops writing; an API out of reach is an outage, spooled and tried again."""

    def __init__(self, run: ExternalRun) -> None:
        self.run, self.experiment_id = run, run.id

    def write(self, writes: JobWrites) -> None:
        try:
            self.run.send(writes.points, writes.lines, writes.artifacts, writes.progress)
        except CredentialError as e:
            raise ConflictError(str(e)) from None

    def upload_folder(self, folder: Path, leave: Collection[str] = ()) -> int:
        """Upload each file below the local ``folder`` (but those named in ``leave``) as the
        run's file of the same relative path, as a worker keeps a job's (symbolic links not
        followed); how many."""
        sent = 0
        for path, relative in files_below(folder, leave):
            self.run.upload(relative, path)
            sent += 1
        return sent

    def finish(
        self, status: str, *, error: str | None, result: dict[str, Any] | None, writes: JobWrites
    ) -> None:
        if writes:
            self.write(writes)
        try:
            self.run.end(status, error=error, result=result)
        except CredentialError as e:
            raise ConflictError(str(e)) from None
        finally:
            self.run.close()

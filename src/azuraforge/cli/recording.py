"""``azuraforge run`` records into the platform's store, so its runs appear in the list.

Tracking never stops a run: when the store cannot be opened (no platform extra, an
out-of-date schema, a database that is down), the run goes on unrecorded after one yellow
line saying why. An empty store is created on first use; an out-of-date one is never
migrated silently.
"""

from __future__ import annotations

import os
import socket
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from azuraforge.apps import RunResult
from azuraforge.cli.common import console, errors
from azuraforge.errors import AzuraForgeError


class RunRecording:
    """The store row of one command-line run: a lease held by this process, a run context
    writing to the store (and, when the run ends, its files to the blob store, where the API
    serves them), and a thread renewing the lease and relaying cancel requests."""

    def __init__(self, store: Any, lease: Any, ctx: Any, keeper: Any) -> None:
        self.store, self.lease, self.ctx, self.keeper = store, lease, ctx, keeper

    @classmethod
    def start(cls, pipeline: str, config: dict[str, Any], folder: Path) -> RunRecording | None:
        """Open the store and claim a new row for this run, or say why not and return None."""
        try:
            return cls._start(pipeline, config, folder)
        except (ImportError, AzuraForgeError) as e:
            errors.print(f"[yellow]not recorded in the store:[/yellow] {e}", highlight=False)
            return None

    @classmethod
    def _start(cls, pipeline: str, config: dict[str, Any], folder: Path) -> RunRecording:
        from azuraforge.cli.common import settings_with
        from azuraforge.platform.blobs import open_blobs
        from azuraforge.platform.jobs.context import StoreContext
        from azuraforge.platform.jobs.keeper import LeaseKeeper
        from azuraforge.platform.jobs.queueing import NewJob, enqueue
        from azuraforge.platform.store import Store, create_if_empty

        settings = settings_with()
        create_if_empty(settings.database_url)
        store = Store(settings.database_url)
        job = NewJob(pipeline, config)
        [record] = enqueue(store, None, job)  # sent to no worker: this process runs it
        owner = f"cli:{socket.gethostname()}:{os.getpid()}"
        lease = store.claim(record.id, owner, settings.lease_ttl)
        if lease is None:  # cancelled through the API in the instant since it was created
            raise AzuraForgeError(f"experiment {record.id} was cancelled before it started")
        ctx = StoreContext(
            store, lease, folder, flush_interval=settings.flush_interval, show_progress=True,
            blobs=open_blobs(settings),
        )  # fmt: skip
        return cls(store, lease, ctx, LeaseKeeper(ctx, settings))

    def running(self) -> AbstractContextManager[Any]:
        """Keep the lease while the block runs."""
        return self.keeper  # type: ignore[no-any-return]

    def end(self, result: RunResult | None, error: str | None = None) -> None:
        """Write what is pending and keep the run's files, then the run's end (completed,
        cancelled or failed; failed when its files could not be kept)."""
        from azuraforge.errors import LeaseLostError
        from azuraforge.platform.services.experiments import describe_result
        from azuraforge.platform.store.states import CANCELLED, COMPLETED, FAILED

        not_kept = self._keep_files()
        error = error or not_kept
        if not self.ctx.close(timeout=30):
            errors.print("[yellow]some metrics could not be written to the store[/yellow]")
        if result is None or error is not None:
            status = CANCELLED if error == ABORTED else FAILED
        else:
            status = CANCELLED if result.cancelled else COMPLETED
        summary = describe_result(result, self.ctx) if result is not None else None
        status, error = self.ctx.end_status(status, error)
        try:
            self.store.finish(self.lease, status, error=error, result=summary)
        except (LeaseLostError, AzuraForgeError) as e:
            errors.print(f"[yellow]the store kept another end for this run:[/yellow] {e}")
            return
        console.print(
            f"recorded as experiment {self.lease.experiment_id} in {self.store.shown_url}",
            highlight=False,
        )

    def _keep_files(self) -> str | None:
        """Copy the run's files to the blob store; why they could not be, if so (said in a
        yellow line: the run's files stay in its folder all the same)."""
        try:
            self.ctx.keep_files()
        except (OSError, AzuraForgeError) as e:
            errors.print(f"[yellow]the run's files were not kept in the store:[/yellow] {e}")
            return f"its files could not be kept: {e}"
        return None


ABORTED = "aborted with a second Ctrl-C"

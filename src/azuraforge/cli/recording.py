"""``azuraforge run`` records its run on the platform, so that it appears in the list: as a run
that no worker executes (an external run, :mod:`~azuraforge.platform.services.external_runs`),
written from this process with no lease. With a server configured (a token in
``AZURAFORGE_TOKEN``, or one ``azuraforge login`` kept for the API at ``AZURAFORGE_API_URL``),
through its API with the run's own credential (:class:`azuraforge.client.ExternalRun`); else
straight into the store of ``AZURAFORGE_DATABASE_URL``, as the API would write it.

Tracking never stops a run: when the run cannot be recorded (no platform extra, an API that
cannot be reached or refuses the token, an out-of-date schema, a database that is down), it
goes on unrecorded after one yellow line saying why. An empty store is created on first use;
an out-of-date one is never migrated silently.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from azuraforge.apps import RunResult
from azuraforge.cli.common import console, errors
from azuraforge.errors import AzuraForgeError


class RunRecording:
    """The record of one command-line run: a run context buffering what the run logs and
    writing it through ``writer`` (over the API, or into the store), ``keep`` to keep the
    run's files where the platform serves them once it ended, and a heartbeat every
    ``interval`` seconds (``beat``) that keeps the run alive and relays cancel requests."""

    def __init__(
        self, ctx: Any, writer: Any, beat: Callable[[], bool], keep: Callable[[], int],
        where: str, interval: float,
    ) -> None:  # fmt: skip
        self.ctx, self.writer, self.beat, self.keep = ctx, writer, beat, keep
        self.where, self.interval = where, interval

    @classmethod
    def start(cls, pipeline: str, config: dict[str, Any], folder: Path) -> RunRecording | None:
        """Make the run's record (over the API when a server is configured, else in the
        store), or say why not and return None."""
        try:
            return cls._start(pipeline, config, folder)
        except (ImportError, AzuraForgeError) as e:
            errors.print(f"[yellow]not recorded:[/yellow] {e}", highlight=False)
            return None

    @classmethod
    def _start(cls, pipeline: str, config: dict[str, Any], folder: Path) -> RunRecording:
        from azuraforge.cli.common import settings_with
        from azuraforge.client.environment import api_url, token_for

        settings = settings_with()
        url = api_url()
        token = token_for(url)
        if token is not None:
            return cls._over_api(pipeline, config, folder, settings, url, token)
        return cls._in_store(pipeline, config, folder, settings)

    @classmethod
    def _over_api(
        cls, pipeline: str, config: dict[str, Any], folder: Path, settings: Any, url: str,
        token: str,
    ) -> RunRecording:  # fmt: skip
        from azuraforge.cli.api_writer import ApiRunWriter
        from azuraforge.client import Client
        from azuraforge.client.environment import project_name
        from azuraforge.platform.jobs.context import SPOOL_NAME, WriterContext

        with Client(url, token=token, project=project_name()) as client:
            run = client.runs.start_external(pipeline, config)
        writer = ApiRunWriter(run)
        ctx = WriterContext(writer, folder, flush_interval=settings.flush_interval,
                            show_progress=True, output_limit=None)  # fmt: skip
        return cls(ctx, writer, run.heartbeat,
                   lambda: writer.upload_folder(folder, leave=[SPOOL_NAME]), f"at {url}",
                   settings.heartbeat_interval)  # fmt: skip

    @classmethod
    def _in_store(
        cls, pipeline: str, config: dict[str, Any], folder: Path, settings: Any
    ) -> RunRecording:
        from azuraforge.platform.blobs import open_blobs
        from azuraforge.platform.jobs.context import WriterContext
        from azuraforge.platform.services.external_runs import StoreRunWriter, start_external_run
        from azuraforge.platform.store import DEFAULT_PROJECT, Store, create_if_empty

        create_if_empty(settings.database_url)
        store = Store(settings.database_url)
        record, _ = start_external_run(
            store, pipeline, config, idle_limit=settings.run_idle_limit, project=DEFAULT_PROJECT,
            submitter=None,
        )  # fmt: skip
        writer = StoreRunWriter(store, record.id)
        ctx = WriterContext(
            writer, folder, flush_interval=settings.flush_interval, show_progress=True,
            output_limit=None, blobs=open_blobs(settings),
        )  # fmt: skip
        return cls(ctx, writer, writer.heartbeat, ctx.keep_files, f"in {store.shown_url}",
                   settings.heartbeat_interval)  # fmt: skip

    def running(self) -> AbstractContextManager[Any]:
        """Keep the run alive (and hear cancel requests) while the block runs."""
        from azuraforge.platform.jobs.keeper import Heartbeat

        return Heartbeat(self.ctx, self.beat, self.interval)

    def end(self, result: RunResult | None, error: str | None = None) -> None:
        """Write what is pending and keep the run's files, then the run's end (completed,
        cancelled or failed; failed when its files could not be kept)."""
        from azuraforge.platform.services.experiments import describe_result
        from azuraforge.platform.store import JobWrites
        from azuraforge.platform.store.states import CANCELLED, COMPLETED, FAILED

        not_kept = self._keep_files()
        error = error or not_kept
        if not self.ctx.close(timeout=30):
            errors.print("[yellow]some metrics could not be recorded[/yellow]")
        if result is None or error is not None:
            status = CANCELLED if error == ABORTED else FAILED
        else:
            status = CANCELLED if result.cancelled else COMPLETED
        summary = describe_result(result, self.ctx) if result is not None else None
        status, error = self.ctx.end_status(status, error)
        try:
            self.writer.finish(status, error=error, result=summary, writes=JobWrites())
        except AzuraForgeError as e:
            errors.print(f"[yellow]the run's end was not recorded:[/yellow] {e}")
            return
        console.print(
            f"recorded as experiment {self.writer.experiment_id} {self.where}", highlight=False
        )

    def _keep_files(self) -> str | None:
        """Keep the run's files where the platform serves them; why they could not be, if
        so (said in a yellow line: the run's files stay in its folder all the same)."""
        try:
            self.keep()
        except (OSError, AzuraForgeError) as e:
            errors.print(f"[yellow]the run's files were not kept:[/yellow] {e}")
            return f"its files could not be kept: {e}"
        return None


ABORTED = "aborted with a second Ctrl-C"

"""Streams as supervised jobs, the job kind ``stream``: a replayed price series learned one
event at a time for as long as it runs, resumed from its last checkpoint after any restart.

A stream's job runs :class:`~azuraforge.stream.online.DirectionLoop` over its source's
events: the learner and the trivial rules predict each next direction, are scored when it is
known, and learn. Every ``checkpoint_every`` events the job logs the running scores as metric
points and saves the loop's state as its checkpoint, in the transaction of those points
(:meth:`~azuraforge.platform.jobs.context.StoreContext.save_checkpoint`), with the position
in the source: a job that restarts (its worker died, a memory limit, a scheduled restart, a
crash) re-reads the events before that position, loads the state, and goes on; no prediction
is scored twice and none is lost. The kernel restarts it (:class:`RestartPolicy` from the
config) and fails it, with its history of crashes, when it keeps crashing.

Its config is :mod:`.config`'s, its events :mod:`.sources`', its loop :mod:`.loop`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import open_blobs
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.files import DataFolder, data_folder_of
from azuraforge.platform.jobs.kinds import JobKind, RestartPolicy
from azuraforge.platform.jobs.queueing import NewJob, enqueue, make_transport
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.streams.config import StreamConfig, stream_config
from azuraforge.platform.services.streams.loop import Control, learn
from azuraforge.platform.services.streams.retrain import Retrainer
from azuraforge.platform.services.streams.sources import (
    SourceRows,
    check_columns,
    check_follow,
    check_url,
    open_source,
    plugin_source,
)
from azuraforge.platform.services.validation import ConfigError, validate_settings
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentRecord
from azuraforge.platform.store.interfaces import ProjectView, Runs, RunsAndDataFiles
from azuraforge.stream.live import LiveSource

STREAM = "stream"
"""The job kind's name."""


def start_stream(
    store: RunsAndDataFiles,
    transport: Transport,
    settings: Settings,
    config: Mapping[str, Any],
    *,
    name: str | None = None,
    project: str = DEFAULT_PROJECT,
    data_folder: DataFolder | None = None,
    submitter: str | None = None,
) -> ExperimentRecord:
    """Validate a stream's ``config`` (:class:`StreamConfig`; its source a registered dataset
    or a file of ``data_folder``, by default ``project``'s), store its job and send it to a
    worker; the job's row. ``submitter`` (who asked) is its retrains' too.

    Raises
    ------
    ConfigError
        Naming each refused field by its path.
    ConflictError
        If ``name`` is taken in the project.
    """
    folder = data_folder or data_folder_of(settings, project, open_blobs(settings), store)
    checked = _checked(config, settings, folder)
    transport.check()
    job = NewJob(
        STREAM, checked.model_dump(mode="json"), kind=STREAM, project=project,
        submitter=submitter, name=name or f"stream-{uuid.uuid4().hex[:8]}", requeue_lost=True,
    )  # fmt: skip
    [record] = enqueue(store, transport, job)
    return record


def _checked(config: Mapping[str, Any], settings: Settings, folder: DataFolder) -> StreamConfig:
    """``config`` made a :class:`StreamConfig`, once, and checked against the server's
    ``settings`` (its url, its plugin) and the project's data ``folder`` (its file, its
    columns, spelled as the file spells them).

    Raises
    ------
    ConfigError
        Naming each refused field by its path.
    """
    checked = validate_settings(StreamConfig, "stream config", config, folder)
    try:
        if checked.url is not None:
            check_url(checked.url, settings.stream_urls)
        if checked.plugin is not None:
            made = plugin_source(checked, settings.stream_sources)
            if isinstance(made, LiveSource):  # made to check its options only
                made.stop()
    except InvalidParameterError as e:
        field = "url" if checked.url is not None else "plugin"
        raise ConfigError("stream config", [((field,), str(e))]) from None
    check_follow(checked)
    return check_columns(checked, folder)


def find_stream(store: Runs, stream_id: int) -> ExperimentRecord:
    """The stream with this id.

    Raises
    ------
    NotFoundError
        For any other id, a job of another kind's included (its existence is not a stream's).
    """
    record = store.find_experiment(stream_id)
    if record is None or record.kind != STREAM:
        raise NotFoundError(f"stream {stream_id} not found")
    return record


class StreamKind(JobKind):
    """The job kind ``stream``: :func:`run_stream`, kept going by the kernel."""

    name = STREAM
    long_lived = True

    def restart_policy(self, record: ExperimentRecord) -> RestartPolicy:
        config = stream_config(record)
        return RestartPolicy(
            memory_limit=config.memory_limit,
            restart_every=config.restart_every,
            max_restarts=config.max_restarts,
        )

    def run(
        self, store: ProjectView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_stream(record, ctx, settings)


def run_stream(
    record: ExperimentRecord, ctx: StoreContext, settings: Settings
) -> tuple[str, dict[str, Any]]:
    """Run the stream ``record`` from its checkpoint (or its start) until its source ends,
    ``max_events``, or its job is asked to stop (a ``url`` or a ``plugin`` checked against
    ``settings`` again); its status and result (events, scored predictions, the champion's
    scores). Its retrain runs (``retrain_as: run``) go through ``settings``' transport."""
    config = stream_config(record)
    control = Control()
    if config.retrain_as == "run":
        control.retrainer = Retrainer(
            ctx.store, make_transport(settings), record, epochs=config.retrain_epochs,
            seed=config.seed, timeout=config.retrain_timeout,
        )  # fmt: skip
    # learn() sets control.idle (take the triggers) once its loop exists: read at each call.
    source, live = open_source(config, ctx, settings, lambda: control.idle())
    control.rows = SourceRows.of(config, source)
    try:
        return learn(config, ctx, (iter(source), live), control)
    finally:
        if isinstance(source, LiveSource):  # ended by max_events or a crash: not left polling
            source.stop()

"""Submitting runs: validate a config against its pipeline, expand a grid, queue, notify; and
the job kind ``run`` that runs them.

The API and the CLI both submit through here, so a config is checked the same way wherever
it comes from (:mod:`~azuraforge.platform.services.validation`); runs are queued as every job
is (:func:`~azuraforge.platform.jobs.queueing.enqueue`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from azuraforge.apps import RunResult, get_pipeline
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.jobs.context import StoreContext, WriterContext
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.jobs.kinds import JobKind
from azuraforge.platform.jobs.queueing import NewJob, enqueue
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.validation import (
    MAX_BATCH,
    MAX_NAME,
    check_grid,
    expand_grid,
    validate_config,
)
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentRecord
from azuraforge.platform.store.interfaces import ProjectView, Runs
from azuraforge.platform.store.states import CANCELLED, COMPLETED, RUN


def submit(
    store: Runs,
    transport: Transport,
    pipeline_name: str,
    config: Mapping[str, Any],
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    name: str | None = None,
    project: str = DEFAULT_PROJECT,
    data_folder: DataFolder | None = None,
    submitter: str | None = None,
) -> list[ExperimentRecord]:
    """Validate and queue one run (or one per grid combination, sharing a batch id), asked
    for by ``submitter``; with ``data_folder``, file settings must name files inside it
    (:func:`~azuraforge.platform.services.validation.validate_config`).

    All or nothing: every config is validated before anything is stored, and the runs are
    queued together (:func:`~azuraforge.platform.jobs.queueing.enqueue`).

    Raises
    ------
    TransportUnavailableError
        When the transport cannot send a message, saying what was left (normally nothing).
    """
    pipeline = get_pipeline(pipeline_name)
    if grid:
        check_grid(pipeline, grid, data_folder)
    configs = expand_grid(config, grid) if grid else [dict(config)]
    validated = [validate_config(pipeline, c, data_folder) for c in configs]
    batch_id = uuid.uuid4().hex[:12] if grid else None
    requeue = bool(getattr(pipeline, "requeue_lost", False))
    names = _run_names(name, len(validated))
    jobs = [
        NewJob(pipeline_name, settings, name=run_name, project=project, submitter=submitter,
               batch_id=batch_id, requeue_lost=requeue)
        for run_name, settings in zip(names, validated, strict=True)
    ]  # fmt: skip
    return enqueue(store, transport, *jobs)


def _run_names(name: str | None, count: int) -> list[str | None]:
    """``name`` for a single run; ``name-1``, ``name-2``... for a batch (generated if none).

    Raises
    ------
    InvalidParameterError
        If ``name`` is longer than :data:`MAX_NAME`.
    """
    if name is not None and len(name) > MAX_NAME:
        raise InvalidParameterError(
            f"a run's name is at most {MAX_NAME} characters (a grid's runs add -1 to "
            f"-{MAX_BATCH}), got {len(name)}"
        )
    if count == 1:
        return [name]
    return [f"{name}-{index}" if name else None for index in range(1, count + 1)]


class RunKind(JobKind):
    """The job kind ``run``: a pipeline's run with its config
    (:func:`run_pipeline`)."""

    name = RUN
    listed = True

    def run(
        self, store: ProjectView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_pipeline(record, ctx)


def run_pipeline(record: ExperimentRecord, ctx: StoreContext) -> tuple[str, dict[str, Any]]:
    """Run ``record``'s pipeline with its config, its files opened by ``ctx``; its final
    status and stored result."""
    pipeline = get_pipeline(record.pipeline)
    config = pipeline.make_config(ctx.open_files(pipeline.Config, record.config))
    outcome = pipeline().run(config, ctx)
    return (CANCELLED if outcome.cancelled else COMPLETED), describe_result(outcome, ctx)


def describe_result(result: RunResult, ctx: WriterContext) -> dict[str, Any]:
    """What the store keeps of a run's result: scores beside baselines, files, training end."""

    def inside(path: Any) -> str | None:
        if path is None:
            return None
        try:
            return str(path.resolve().relative_to(ctx.output_dir.resolve()))
        except ValueError:
            return str(path)

    training = result.training
    return {
        "metrics": result.metrics,
        "notes": list(result.notes),
        "artifact_dir": inside(result.artifact_dir),
        "report_path": inside(result.report_path),
        "training": None if training is None else training.describe(),
    }

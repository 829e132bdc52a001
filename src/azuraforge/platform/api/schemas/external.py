"""Bodies of the runs written from outside (external runs: ``POST /external-runs``, a run's
batches and its end): what a writer sends, and what it is answered."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from azuraforge.platform.api.schemas.common import RequestBody
from azuraforge.platform.api.schemas.runs import ExperimentPublic
from azuraforge.platform.jobs.run_files import MAX_FILE_PATH, run_key
from azuraforge.platform.services.external_runs import MAX_IDLE_LIMIT, MIN_IDLE_LIMIT
from azuraforge.platform.services.validation import MAX_NAME
from azuraforge.platform.store import JobWrites
from azuraforge.platform.store.metrics import MAX_METRIC_NAME

MAX_STEP = 2**31 - 1
"""Steps are 32-bit integers in the store."""
MAX_MESSAGE = 10_000
"""The longest log line, or error, a writer sends (characters)."""
BATCH_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
"""A batch's id: 1 to 64 letters, digits and ``_.:-`` (a UUID, ``<client>-<n>``...)."""
Level = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "STDOUT", "STDERR"]
"""A log line's level: the logging module's, or a line the run printed."""


class ExternalRunCreate(RequestBody):
    """A run written from outside: what made it, its parameters, how long it may be silent."""

    pipeline: str = Field(
        "external", min_length=1, max_length=100,
        description="What made the run (your script's name), shown and filtered on as a "
        "pipeline run's pipeline.",
    )  # fmt: skip
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Its parameters, as JSON values (kept as the run's config: shown and "
        "compared as a pipeline run's settings; no file is read from them).",
    )
    name: str | None = Field(
        None, min_length=1, max_length=MAX_NAME, description="Unique in the project."
    )
    idle_limit: float | None = Field(
        None, ge=MIN_IDLE_LIMIT, le=MAX_IDLE_LIMIT,
        description="Seconds the run stays alive without a word from its writer (default: "
        "the server's run_idle_limit): each batch, an empty one too, keeps it alive that "
        "long; past it the run ends lost and its credential is refused.",
    )  # fmt: skip


class ExternalRunPublic(BaseModel):
    """A run made to be written from outside, and its own credential (shown once)."""

    experiment: ExperimentPublic
    credential: str = Field(
        description="The run's credential (Authorization: Bearer afr_...): it writes this run "
        "alone, its batches, files and end, and reads nothing. Shown once; the server keeps "
        "its hash."
    )
    idle_limit: float = Field(description="Seconds each write keeps the run alive.")
    expires_at: float | None = Field(
        description="When the run ends lost unless written before (seconds since the epoch)."
    )


class PointIn(RequestBody):
    """One value of one metric at one step."""

    key: str = Field(..., min_length=1, max_length=MAX_METRIC_NAME)
    step: int = Field(..., ge=-MAX_STEP - 1, le=MAX_STEP)
    value: float = Field(..., allow_inf_nan=False)
    time: float | None = Field(None, description="When (seconds since the epoch); default now.")


class LineIn(RequestBody):
    """One line of the run's log."""

    message: str = Field(..., max_length=MAX_MESSAGE)
    level: Level = "INFO"
    time: float | None = Field(None, description="When (seconds since the epoch); default now.")


class FileIn(RequestBody):
    """A file or folder the run made, by its path inside the run's files (upload a file's
    bytes with ``PUT /experiments/{id}/artifacts/{path}``)."""

    path: str = Field(..., min_length=1, max_length=MAX_FILE_PATH)
    size: int = Field(..., ge=0, le=2**62)
    is_dir: bool = False

    @field_validator("path")
    @classmethod
    def _inside_the_runs_files(cls, path: str) -> str:
        run_key(0, path)  # the same names inside any run's files; else a 422 naming it
        return path


class ProgressIn(RequestBody):
    done: int = Field(..., ge=0, le=MAX_STEP)
    total: int = Field(..., ge=0, le=MAX_STEP)
    message: str = Field("", max_length=200)


class RunBatch(RequestBody):
    """What a run's writer sends at once: its metrics' points, log lines, files made and
    progress, written in one transaction; as many as the server's ``max_request_bytes`` hold
    (about 20,000 points in 1 MB). An empty batch is a heartbeat."""

    batch_id: str | None = Field(
        None, pattern=BATCH_ID,
        description="The writer's id for this batch, unique in the run (1 to 64 letters, "
        "digits and _.:-): a batch sent again with an id already written writes nothing "
        "and is answered as the first was, so a batch may be retried safely.",
    )  # fmt: skip
    metrics: list[PointIn] = Field(default_factory=list)
    logs: list[LineIn] = Field(default_factory=list)
    artifacts: list[FileIn] = Field(default_factory=list)
    progress: ProgressIn | None = None

    def writes(self) -> JobWrites:
        """The batch as the store writes it, times given now where none was sent."""
        now = time.time()
        progress = self.progress
        return JobWrites(
            points=[(p.key, p.step, p.value, now if p.time is None else p.time)
                    for p in self.metrics],
            lines=[(now if line.time is None else line.time, line.level, line.message)
                   for line in self.logs],
            artifacts=[(f.path, f.size, f.is_dir) for f in self.artifacts],
            progress=None if progress is None else (progress.done, progress.total,
                                                    progress.message),
        )  # fmt: skip


class RunBatchPublic(BaseModel):
    cancel_requested: bool = Field(
        description="Someone asked the run to stop: end it (as cancelled) at your next step."
    )


class RunEnd(RequestBody):
    """How the run ended, as its writer says."""

    status: Literal["completed", "failed", "cancelled"]
    error: str | None = Field(None, max_length=MAX_MESSAGE, description="Why, if it failed.")
    result: dict[str, Any] | None = Field(
        None, description="What the run produced (test scores under metrics, files...)."
    )

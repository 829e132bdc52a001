"""Bodies of ``/assist`` (:mod:`~azuraforge.platform.api.routes.assist`): training examples
and their review, fine-tunes to queue, nightly passes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from azuraforge.platform.api.schemas.chat import MAX_MESSAGE
from azuraforge.platform.api.schemas.common import Page, RequestBody
from azuraforge.platform.services.fine_tunes import FineTuneConfig
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.examples import REVIEWS, ExampleRecord

Review = Literal["candidate", "approved", "rejected"]
assert set(REVIEWS) == set(Review.__args__)  # type: ignore[attr-defined]


class ExamplePublic(BaseModel):
    """A failure made a training example: what was asked, the wrong output and why, the right
    output, its review, and the turn and fine-tune it belongs to."""

    id: int
    expert: str
    intent: str
    prompt: str
    wrong_output: str
    why: str
    output: str | None
    tests: str | None
    status: str
    turn_id: int | None
    seen: int
    """How many failures it merges (the same prompt of the same expert)."""
    reviewer: str | None
    reviewed_at: float | None
    fine_tune: int | None
    used_as: str | None
    """What that fine-tune did with it: ``trained`` or ``held out``."""
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, record: ExampleRecord) -> ExamplePublic:
        shown = {name: getattr(record, name) for name in cls.model_fields if name != "used_as"}
        return cls(**shown, used_as=record.role)


class ExamplesPublic(Page[ExamplePublic]):
    """A page of examples, the last changed first."""


class ExampleReview(RequestBody):
    """A reviewer's edit: the right output, its tests (``""`` clears them), the review."""

    output: str | None = Field(None, min_length=1, max_length=MAX_MESSAGE, pattern=r"\S")
    tests: str | None = Field(
        None, max_length=MAX_MESSAGE, description="Python assert lines: the example's check."
    )
    status: Review | None = None


class FineTuneCreate(RequestBody, FineTuneConfig):
    """A fine-tune to queue (its settings' defaults are the library's)."""


class FineTunePublic(BaseModel):
    """The queued fine-tune: its run."""

    id: int
    name: str
    status: str
    expert: str


class NightPublic(BaseModel):
    """A nightly pass: its run, and once it completed its report (the turns it read, the
    facts it kept, the failure patterns, the examples waiting, the fine-tunes it started)."""

    id: int
    name: str
    status: str
    created_at: float
    finished_at: float | None
    error: str | None
    report: dict[str, Any] | None

    @classmethod
    def of(cls, record: ExperimentRecord) -> NightPublic:
        report = (record.result or {}).get("report")
        return cls(
            id=record.id, name=record.name, status=record.status,
            created_at=record.created_at, finished_at=record.finished_at, error=record.error,
            report=report if isinstance(report, dict) else None,
        )  # fmt: skip


class NightsPublic(Page[NightPublic]):
    """A page of nightly passes, the newest first."""

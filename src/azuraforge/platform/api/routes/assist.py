"""The assistant learning from use: ``/assist/examples`` lists the project's failures made
training examples (an answer marked bad or corrected, code the guardian found failing) and
takes a reviewer's edit, approval or rejection; ``POST /assist/fine-tunes`` queues a
fine-tune of an expert on its approved examples (a run of kind ``fine-tune``: its adapter is
registered, and promoted only if the paired test says it is better). Examples hold what users
asked the assistant, so only the project's editors and admins read and review them (a
verdict or a failing check makes a message visible to them: docs/assist.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, Field

from azuraforge.platform.api.access import WRITE, Writer
from azuraforge.platform.api.deps import SettingsDep, StoreDep, TransportDep
from azuraforge.platform.api.routes.chat import MAX_MESSAGE
from azuraforge.platform.api.schemas import RequestBody, error_responses
from azuraforge.platform.services.fine_tunes import FineTuneConfig, submit_fine_tune
from azuraforge.platform.services.nights import list_nights, queue_night
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.examples import REVIEWS, ExampleRecord

router = APIRouter(prefix="/assist", tags=["assist"])
ERRORS = error_responses()
ExampleId = Annotated[int, Path(ge=1, le=2**31 - 1, description="An example's id.")]
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


class ExamplesPublic(BaseModel):
    """A page of examples, the last changed first."""

    data: list[ExamplePublic]
    total: int
    offset: int
    limit: int


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


@router.get("/examples", dependencies=[WRITE], response_model=ExamplesPublic, responses=ERRORS)
def list_examples(
    store: StoreDep,
    who: Writer,
    status_: Annotated[Review | None, Query(alias="status")] = None,
    expert: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ExamplesPublic:
    """A page of the project's examples (of a review status and an expert when given), the
    last changed first."""
    found, total = store.list_examples(project=who.project, status=status_, expert=expert,
                                       limit=limit, offset=offset)  # fmt: skip
    return ExamplesPublic(data=[ExamplePublic.of(e) for e in found], total=total,
                          offset=offset, limit=limit)  # fmt: skip


@router.get(
    "/examples/{example_id}", dependencies=[WRITE], response_model=ExamplePublic, responses=ERRORS
)
def get_example(example_id: ExampleId, store: StoreDep, who: Writer) -> ExamplePublic:
    """One example of the project."""
    return ExamplePublic.of(store.get_example(example_id, project=who.project))


@router.patch(
    "/examples/{example_id}", dependencies=[WRITE], response_model=ExamplePublic, responses=ERRORS
)
def review_example(
    example_id: ExampleId, body: ExampleReview, store: StoreDep, who: Writer
) -> ExamplePublic:
    """Edit an example's right output and tests, approve or reject it (an approval needs a
    right output: 422 otherwise). Only approved examples are trained on."""
    return ExamplePublic.of(store.review_example(
        example_id, reviewer=who.user, status=body.status, output=body.output,
        tests=body.tests, project=who.project,
    ))  # fmt: skip


@router.post(
    "/fine-tunes",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=FineTunePublic,
    responses=ERRORS,
)
def create_fine_tune(
    body: FineTuneCreate, store: StoreDep, transport: TransportDep, settings: SettingsDep,
    who: Writer,
) -> FineTunePublic:  # fmt: skip
    """Queue a fine-tune of an expert on its approved examples (409 when it has none; 422
    for an unknown expert or backend, or none of kind llama declared)."""
    config = FineTuneConfig(**body.model_dump())
    record = submit_fine_tune(store, transport, settings, config, project=who.project,
                              submitter=who.user)  # fmt: skip
    return FineTunePublic(id=record.id, name=record.name, status=record.status,
                          expert=config.expert)  # fmt: skip


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


class NightsPublic(BaseModel):
    """A page of nightly passes, the newest first."""

    data: list[NightPublic]
    total: int
    offset: int
    limit: int


@router.get("/nights", dependencies=[WRITE], response_model=NightsPublic, responses=ERRORS)
def nights(
    store: StoreDep,
    who: Writer,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> NightsPublic:
    """A page of the project's nightly passes and their reports, the newest first."""
    found, total = list_nights(store, who.project, limit=limit, offset=offset)
    return NightsPublic(data=[NightPublic.of(n) for n in found], total=total, offset=offset,
                        limit=limit)  # fmt: skip


@router.post(
    "/nights",
    dependencies=[WRITE],
    status_code=status.HTTP_201_CREATED,
    response_model=NightPublic,
    responses=ERRORS,
)
def run_night_now(store: StoreDep, transport: TransportDep, who: Writer) -> NightPublic:
    """Queue a nightly pass now, over the turns since the last one (a day at most)."""
    now = time.time()
    day = datetime.fromtimestamp(now, UTC).date().isoformat()
    record = queue_night(store, transport, who.project, now, day, by=who.user)
    assert record is not None  # a pass asked for is always queued
    return NightPublic.of(record)

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
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from azuraforge.platform.api.access import WRITE, Writer
from azuraforge.platform.api.deps import (
    ExamplesDep,
    RunsAndChatDep,
    RunsAndExamplesDep,
    RunsDep,
    SettingsDep,
    TransportDep,
)
from azuraforge.platform.api.schemas.assist import (
    ExamplePublic,
    ExampleReview,
    ExamplesPublic,
    FineTuneCreate,
    FineTunePublic,
    NightPublic,
    NightsPublic,
    Review,
)
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.services.fine_tunes import FineTuneConfig, submit_fine_tune
from azuraforge.platform.services.nights import list_nights, queue_night

router = APIRouter(prefix="/assist", tags=["assist"])
ERRORS = error_responses()
ExampleId = Annotated[int, Path(ge=1, le=2**31 - 1, description="An example's id.")]


@router.get("/examples", dependencies=[WRITE], response_model=ExamplesPublic, responses=ERRORS)
def list_examples(
    store: ExamplesDep,
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
def get_example(example_id: ExampleId, store: ExamplesDep, who: Writer) -> ExamplePublic:
    """One example of the project."""
    return ExamplePublic.of(store.get_example(example_id, project=who.project))


@router.patch(
    "/examples/{example_id}", dependencies=[WRITE], response_model=ExamplePublic, responses=ERRORS
)
def review_example(
    example_id: ExampleId, body: ExampleReview, store: ExamplesDep, who: Writer
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
    body: FineTuneCreate, store: RunsAndExamplesDep, transport: TransportDep,
    settings: SettingsDep, who: Writer,
) -> FineTunePublic:  # fmt: skip
    """Queue a fine-tune of an expert on its approved examples (409 when it has none; 422
    for an unknown expert or backend, or none of kind llama declared)."""
    config = FineTuneConfig(**body.model_dump())
    record = submit_fine_tune(store, transport, settings, config, project=who.project,
                              submitter=who.user)  # fmt: skip
    return FineTunePublic(id=record.id, name=record.name, status=record.status,
                          expert=config.expert)  # fmt: skip


@router.get("/nights", dependencies=[WRITE], response_model=NightsPublic, responses=ERRORS)
def nights(
    store: RunsDep,
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
def run_night_now(store: RunsAndChatDep, transport: TransportDep, who: Writer) -> NightPublic:
    """Queue a nightly pass now, over the turns since the last one (a day at most)."""
    now = time.time()
    day = datetime.fromtimestamp(now, UTC).date().isoformat()
    record = queue_night(store, transport, who.project, now, day, by=who.user)
    assert record is not None  # a pass asked for is always queued
    return NightPublic.of(record)

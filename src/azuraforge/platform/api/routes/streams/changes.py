"""What changed in a stream and why: its lineage (drifts, candidates, promotions,
rollbacks), the triggers its people sent and their answers, and which features a learner
leans on."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, status

from azuraforge.errors import ConflictError
from azuraforge.platform.api.access import READ, WRITE, Writer
from azuraforge.platform.api.deps import (
    BlobsDep,
    LearnerSourcesDep,
    RunsAndStreamsDep,
    RunsDep,
    SettingsDep,
)
from azuraforge.platform.api.routes.streams.common import ERRORS, MAX_EVENT, StreamId
from azuraforge.platform.api.schemas.streams import (
    ChangePublic,
    Explanation,
    TriggerCreate,
    TriggerPublic,
)
from azuraforge.platform.services.streams.explain import explain
from azuraforge.platform.services.streams.job import find_stream
from azuraforge.platform.store.states import FINISHED_STATES
from azuraforge.stream.shadow import CHANGE_KINDS

router = APIRouter(prefix="/streams", tags=["streams"])


VERSION_HELP = "A version of the stream's registry model: a past champion, or one it replaced."


@router.get(
    "/{stream_id}/lineage",
    dependencies=[READ],
    response_model=list[ChangePublic],
    responses=ERRORS,
)
def get_lineage(
    stream_id: StreamId,
    store: RunsAndStreamsDep,
    kind: Annotated[
        list[Literal[CHANGE_KINDS]] | None,  # type: ignore[valid-type]
        Query(description="Only these kinds (repeat the parameter)."),
    ] = None,
    after: Annotated[
        int, Query(ge=0, le=MAX_EVENT, description="Changes after this one (by id): paging.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[ChangePublic]:
    """The stream's lineage, oldest first: each drift, candidate, promotion (the champion
    alias moved, with the test's evidence), candidate ended, rollback and disarm, as of its
    last checkpoint; ``limit`` of them after ``after`` (the last id of a page gives the
    next)."""
    find_stream(store, stream_id)
    changes = store.list_changes(stream_id, kinds=kind or (), after=after, limit=limit)
    return [ChangePublic.model_validate(change, from_attributes=True) for change in changes]


@router.post(
    "/{stream_id}/triggers",
    dependencies=[WRITE],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TriggerPublic,
    responses=ERRORS,
)
def create_trigger(
    stream_id: StreamId, body: TriggerCreate, store: RunsAndStreamsDep, who: Writer
) -> TriggerPublic:
    """Ask a stream for a retrain, a promotion, a rollback or a checkpoint; it is taken at
    the stream's next event boundary (within a second of a running stream's events) and its
    answer (done, or refused saying why) is read back with GET. 409 once the stream ended."""
    found = find_stream(store, stream_id)
    if found.status in FINISHED_STATES:
        raise ConflictError(f"stream {stream_id} already ended as {found.status}; start it again")
    trigger = store.create_trigger(stream_id, body.action, learner=body.learner, actor=who.user,
                                reason=body.reason)  # fmt: skip
    return TriggerPublic.model_validate(trigger, from_attributes=True)


@router.get(
    "/{stream_id}/explain", dependencies=[READ], response_model=Explanation, responses=ERRORS
)
def get_explanation(
    stream_id: StreamId,
    runs: RunsDep,
    store: LearnerSourcesDep,
    settings: SettingsDep,
    blobs: BlobsDep,
    start: Annotated[int, Query(ge=0, le=MAX_EVENT, description="First event (index).")],
    end: Annotated[int, Query(ge=1, le=MAX_EVENT, description="Event after the last.")],
    learner: Annotated[
        str | None, Query(max_length=100, description="A learner's name (default: champion).")
    ] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_EVENT, description=VERSION_HELP)] = None,
    repeats: Annotated[int, Query(ge=1, le=20, description="Shuffles a feature.")] = 3,
) -> Explanation:
    """Permutation importance of each feature to the champion (or ``learner``) as the
    stream's last checkpoint holds it, or to the learner ``version`` of the stream's
    registry model keeps, over the examples of events ``start`` to ``end`` (at most 5,000
    events): how much its mean log-loss rises when the feature is shuffled, beside the spread
    of the shuffles."""
    record = find_stream(runs, stream_id)
    found = explain(store, settings, blobs, record, start=start, end=end, learner=learner,
                    version=version, repeats=repeats)  # fmt: skip
    return Explanation.model_validate(found)


@router.get(
    "/{stream_id}/triggers",
    dependencies=[READ],
    response_model=list[TriggerPublic],
    responses=ERRORS,
)
def list_triggers(stream_id: StreamId, store: RunsAndStreamsDep) -> list[TriggerPublic]:
    """The stream's triggers, oldest first, with their answers."""
    find_stream(store, stream_id)
    found = store.list_triggers(stream_id)
    return [TriggerPublic.model_validate(trigger, from_attributes=True) for trigger in found]

"""The assistant's chat: ``POST /chat`` answers a message as server-sent events (who answers
and why, the answer's pieces as they are made, then the stored turn), in a conversation of
the caller's own; ``GET /chat/conversations`` and ``/chat/conversations/{id}`` read them back,
``POST /chat/turns/{id}/feedback`` keeps the caller's verdict on an answer (the backend
selector counts it), ``GET /chat/performance`` shows what the selector measured, and
``/chat/memories`` lists, searches and forgets what the assistant remembers of the caller.
Every role may chat (a conversation and a memory are their user's alone; another user of the
project sees none)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from azuraforge.assist.backends.base import GenerationSettings
from azuraforge.platform.api.access import READ, Reader
from azuraforge.platform.api.deps import ChatDep, ChatSourcesDep
from azuraforge.platform.api.schemas.chat import (
    MAX_MESSAGE,
    CachePublic,
    ChatModelsPublic,
    ChatRequest,
    ConversationDetail,
    ConversationPublic,
    ConversationsPublic,
    Correction,
    Feedback,
    ForgottenPublic,
    MemoriesPublic,
    MemoryPublic,
    PerformancePublic,
    TurnPublic,
)
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.services.chat import Answer, ChatService, ChatSources
from azuraforge.platform.services.chat_memory import (
    ChatMemory,
    MemoryUnavailableError,
    memory_of,
)
from azuraforge.platform.store.chat import MAX_TITLE

_log = logging.getLogger(__name__)
router = APIRouter(prefix="/chat", tags=["chat"])
ERRORS = error_responses()
ConversationId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A conversation's id.")]
TurnId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A turn's id.")]
MemoryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A memory's id.")]


async def get_chat(request: Request) -> ChatService:
    chat: ChatService = request.app.state.chat
    return chat


ChatServiceDep = Annotated[ChatService, Depends(get_chat)]


async def get_memory(request: Request) -> ChatMemory:
    memory: ChatMemory | None = request.app.state.chat.memory
    if memory is None:
        raise MemoryUnavailableError("the long-term memory is off (settings assist_memory)")
    return memory


MemoryDep = Annotated[ChatMemory, Depends(get_memory)]


@router.post(
    "",
    dependencies=[READ],
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}},
                               "description": "The answer as server-sent events."}},
)  # fmt: skip
def chat(
    body: ChatRequest, store: ChatSourcesDep, chat: ChatServiceDep, who: Reader
) -> StreamingResponse:
    """Answer ``message`` as server-sent events: ``start`` (the conversation, intent and the
    router's ``confidence`` in it, expert, backend and why), ``piece`` for each piece of the
    answer as it is made, then ``end`` with the stored turn (or ``error`` if the backend
    failed midway)."""
    found = None
    if body.conversation_id is not None:
        found = store.get_conversation(body.conversation_id, who.user, project=who.project)
    turns = [] if found is None else store.list_chat_turns(found.id, who.user, project=who.project)
    messages = chat.history(turns, body.message)
    settings = GenerationSettings(
        max_tokens=min(body.max_tokens, chat.max_tokens), temperature=body.temperature
    )
    answer = chat.start(store, who.project, messages, body.model, settings, user=who.user)
    # A new conversation once an answer starts: a message refused leaves none empty behind.
    conversation = found or store.create_conversation(
        who.user, body.message[:MAX_TITLE], project=who.project
    )
    events = _events(chat, store, answer, conversation.id, who.user, who.project)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})  # fmt: skip


def _events(
    chat: ChatService,
    store: ChatSources,
    answer: Answer,
    conversation: int,
    user: str,
    project: str,
) -> Iterator[str]:
    yield _event("start", {
        "conversation_id": conversation, "intent": answer.intent, "expert": answer.expert.name,
        "backend": answer.backend, "adapter": answer.adapter, "reason": answer.choice.reason,
        "cached": answer.cached, "recalled": answer.recalled, "confidence": answer.confidence,
    })  # fmt: skip
    try:
        for piece in answer.pieces:
            yield _event("piece", {"text": piece})
    except Exception as e:  # the stream has begun: the client hears of it as an event
        _log.warning("chat: backend %s failed midway: %s", answer.backend, e)
        yield _event("error", {"detail": f"the backend {answer.backend} failed midway"})
        return
    turn = chat.finish(store, project, answer, conversation=conversation, user=user)
    assert turn is not None
    yield _event("end", {"turn": TurnPublic.of(turn, answer.confidence).model_dump()})


def _event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get(
    "/conversations", dependencies=[READ], response_model=ConversationsPublic, responses=ERRORS
)
def list_conversations(
    store: ChatDep,
    who: Reader,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ConversationsPublic:
    """A page of the caller's conversations in the project, the last spoken in first."""
    found, total = store.list_conversations(who.user, project=who.project, limit=limit,
                                            offset=offset)  # fmt: skip
    return ConversationsPublic(
        data=[ConversationPublic.of(c) for c in found], total=total, offset=offset, limit=limit
    )


@router.get(
    "/conversations/{conversation_id}",
    dependencies=[READ],
    response_model=ConversationDetail,
    responses=ERRORS,
)
def get_conversation(
    conversation_id: ConversationId, store: ChatDep, who: Reader
) -> ConversationDetail:
    """One of the caller's conversations with its turns."""
    found = store.get_conversation(conversation_id, who.user, project=who.project)
    turns = store.list_chat_turns(conversation_id, who.user, project=who.project)
    return ConversationDetail(
        **ConversationPublic.of(found).model_dump(), turns=[TurnPublic.of(t) for t in turns]
    )


@router.post(
    "/turns/{turn_id}/feedback", dependencies=[READ], response_model=TurnPublic, responses=ERRORS
)
def feedback(
    turn_id: TurnId, body: Feedback, store: ChatSourcesDep, chat: ChatServiceDep, who: Reader
) -> TurnPublic:
    """Keep the caller's verdict on one of their answers (a later one replaces it); the
    backend selector counts it."""
    correction = body.correction if isinstance(body, Correction) else None
    turn = store.set_turn_verdict(turn_id, who.user, body.verdict, correction,
                                  project=who.project)  # fmt: skip
    chat.judge(store, who.project, turn, who.user)
    return TurnPublic.of(turn)


@router.get("/models", dependencies=[READ], response_model=ChatModelsPublic, responses=ERRORS)
def models(chat: ChatServiceDep) -> ChatModelsPublic:
    """The declared backends and the experts, which a chat's ``model`` may name."""
    return ChatModelsPublic(backends=list(chat.declared), experts=list(chat.experts))


@router.get("/cache", dependencies=[READ], response_model=CachePublic, responses=ERRORS)
def cache(store: ChatDep, chat: ChatServiceDep, who: Reader) -> CachePublic:
    """The project's response cache: hits, misses, their rate, the time saved, answers held."""
    found = chat.cache_stats(store, who.project)
    if found is None:
        return CachePublic(enabled=False, hits=0, misses=0, hit_rate=None, saved_ms=0.0, entries=0)
    return CachePublic(
        enabled=True, hits=found.hits, misses=found.misses, hit_rate=found.hit_rate,
        saved_ms=found.saved_ms, entries=found.entries,
    )  # fmt: skip


@router.get(
    "/performance",
    dependencies=[READ],
    response_model=list[PerformancePublic],
    responses=ERRORS,
)
def performance(store: ChatDep, chat: ChatServiceDep, who: Reader) -> list[PerformancePublic]:
    """What the backend selector measured in the project, per task type and candidate, and
    which it prefers for each task now."""
    return [PerformancePublic(**row) for row in chat.performance(store, who.project)]


@router.get("/memories", dependencies=[READ], response_model=MemoriesPublic, responses=ERRORS)
def list_memories(
    memory: MemoryDep,
    who: Reader,
    q: Annotated[str | None, Query(min_length=1, max_length=MAX_MESSAGE,
                                   description="Find the memories nearest to this.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> MemoriesPublic:  # fmt: skip
    """What the assistant remembers of the caller in the project (each message they sent in
    a conversation): the newest first, or with ``q`` the nearest to it by meaning."""
    mine = memory.of(who.project, who.user)
    if q is None:
        found = [MemoryPublic(**memory_of(m)) for m in mine.recent(limit)]
    else:
        hits = mine.search(q, limit)
        found = [MemoryPublic(**memory_of(h.memory), similarity=h.similarity) for h in hits]
    return MemoriesPublic(data=found)


@router.delete("/memories/{memory_id}", dependencies=[READ], status_code=204, responses=ERRORS)
def forget_memory(memory_id: MemoryId, memory: MemoryDep, who: Reader) -> None:
    """Forget one of the caller's memories."""
    memory.of(who.project, who.user).forget(memory_id)


@router.delete("/memories", dependencies=[READ], response_model=ForgottenPublic, responses=ERRORS)
def forget_memories(memory: MemoryDep, who: Reader) -> ForgottenPublic:
    """Forget every memory of the caller in the project."""
    return ForgottenPublic(deleted=memory.of(who.project, who.user).forget_all())

"""Bodies of ``/chat`` (:mod:`~azuraforge.platform.api.routes.chat`): a message to answer, a
verdict on an answer, and the answers: turns, conversations, the response cache, the caller's
memories and what the backend selector measured."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from azuraforge.platform.api.schemas.common import Page, RequestBody
from azuraforge.platform.services.chat import AUTO
from azuraforge.platform.store.chat import ConversationRecord, TurnRecord


class TurnPublic(BaseModel):
    """A turn: the message, the answer, who answered and why, how fast, the verdict."""

    id: int
    conversation_id: int
    message: str
    answer: str
    intent: str
    expert: str
    adapter: str | None
    backend: str
    reason: str
    first_token_ms: float | None
    tokens_per_s: float | None
    tokens_in: int
    tokens_out: int
    verdict: str | None
    correction: str | None
    cached: bool
    recalled: int
    """How many of the caller's memories the message was given."""
    check_status: str | None
    """What the guardian found running the answer's code: passed (it ran clean), error,
    timeout, memory, refused (no code ran: the boundary is missing); none: not checked (yet)."""
    check_message: str | None
    created_at: float
    confidence: float | None = None
    """How sure the router was of ``intent`` (its calibrated probability; 1.0 for a rule), in
    the answer's own ``end`` event; ``None`` when the turn is read back (it is not kept)."""

    @classmethod
    def of(cls, turn: TurnRecord, confidence: float | None = None) -> TurnPublic:
        kept = {name: getattr(turn, name) for name in cls.model_fields if name != "confidence"}
        return cls(**kept, confidence=confidence)


class ConversationPublic(BaseModel):
    """A conversation of the caller's."""

    id: int
    title: str
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, record: ConversationRecord) -> ConversationPublic:
        return cls(**{name: getattr(record, name) for name in cls.model_fields})


class ConversationsPublic(Page[ConversationPublic]):
    """A page of the caller's conversations, the last spoken in first."""


class CachePublic(BaseModel):
    """The project's response cache of deterministic answers (temperature 0)."""

    enabled: bool
    hits: int
    misses: int
    hit_rate: float | None
    saved_ms: float
    """The time the hits saved: what making their answers took."""
    entries: int


class MemoryPublic(BaseModel):
    """One of the caller's memories: a message they sent, or a fact the nightly pass found
    in one (``kind``), and where: its conversation and turn."""

    id: int
    text: str
    kind: Literal["message", "fact"]
    created_at: float
    conversation_id: int | None
    turn_id: int | None
    similarity: float | None = None
    """Its cosine similarity to the search's ``q`` (1 is the same meaning)."""


class MemoriesPublic(BaseModel):
    """The caller's memories: the newest first, or the nearest to ``q`` first."""

    data: list[MemoryPublic]


class ForgottenPublic(BaseModel):
    """How many of the caller's memories were deleted."""

    deleted: int


class PerformancePublic(BaseModel):
    """What the selector measured of a candidate on a task type."""

    task: str
    candidate: str
    success_rate: float
    successes: float
    failures: float
    answers: int
    errors: int
    first_token_ms: float | None
    tokens_per_s: float | None
    tokens: float | None
    preferred: bool
    """Whether the selector prefers it for the task now."""


MAX_MESSAGE = 20_000
"""The longest message (characters)."""


class ChatRequest(RequestBody):
    """A message to answer."""

    message: str = Field(
        min_length=1, max_length=MAX_MESSAGE, pattern=r"\S",
        description="The message: some text (one of only spaces is refused as an empty one).",
    )  # fmt: skip
    conversation_id: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Go on with this conversation (none: a new one)."
    )
    model: str = Field(
        AUTO, min_length=1, max_length=100,
        description="auto (the router and the selector choose), a backend or an expert.",
    )  # fmt: skip
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(256, ge=1, le=32_768)


class ConversationDetail(ConversationPublic):
    """A conversation with its turns, oldest first."""

    turns: list[TurnPublic]


class Verdict(RequestBody):
    """The caller's verdict on an answer: good or bad."""

    verdict: Literal["good", "bad"]


class Correction(RequestBody):
    """The caller's correction of an answer: the right answer."""

    verdict: Literal["correction"]
    correction: str = Field(min_length=1, max_length=MAX_MESSAGE, pattern=r"\S")


Feedback = Annotated[Verdict | Correction, Field(discriminator="verdict")]


class ChatModelsPublic(BaseModel):
    """What a chat's ``model`` may name besides ``auto``."""

    backends: list[str]
    experts: list[str]

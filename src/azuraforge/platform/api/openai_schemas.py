"""The requests and answers of OpenAI's API as this server reads and writes them
(:mod:`~azuraforge.platform.api.routes.openai_chat`), with their limits (docs/assist.md):
a message's content at most :data:`MAX_MESSAGE` characters, at most :data:`MAX_MESSAGES`
messages, and ``max_tokens`` at most :data:`MAX_TOKENS` tokens (the answer stops at the
server's ``assist_max_tokens`` before that)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from azuraforge.assist.backends.base import Message
from azuraforge.platform.api.routes.chat import MAX_MESSAGE

MAX_MESSAGES = 200
"""Most messages one request may send."""
MAX_PARTS = 200
"""Most parts one message's content may have."""
MAX_TOKENS = 32_768
"""The most ``max_tokens`` (or ``max_completion_tokens``) may ask for."""


class Part(BaseModel):
    """A part of a message's content (only text is read)."""

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One message of the conversation the client sends: its content (a text, or text parts)
    holds at most :data:`MAX_MESSAGE` characters in all."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | Annotated[list[Part], Field(max_length=MAX_PARTS)]

    @field_validator("content", mode="after")
    @classmethod
    def _at_most(cls, content: str | list[Part]) -> str | list[Part]:
        length = len(content) if isinstance(content, str) else sum(len(p.text) for p in content)
        if length > MAX_MESSAGE:
            raise PydanticCustomError(
                "string_too_long",
                "a message holds at most {limit} characters; this one has {length}",
                {"limit": MAX_MESSAGE, "length": length},
            )
        return content

    def text(self) -> Message:
        content = self.content
        text = content if isinstance(content, str) else "".join(p.text for p in content)
        return Message("system" if self.role == "developer" else self.role, text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


Tokens = Annotated[int | None, Field(ge=1, le=MAX_TOKENS)]


class Completion(BaseModel):
    """OpenAI's chat completion request (the fields read; others are ignored, as a server
    ignores what it does not offer)."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=100)
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: Tokens = None
    max_completion_tokens: Tokens = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    n: Annotated[int, Field(ge=1, le=1, description="One choice only.")] = 1


def model_public(name: str) -> dict[str, Any]:
    """One model as OpenAI's ``GET /v1/models`` lists it and ``GET /v1/models/{id}`` gives
    it."""
    return {"id": name, "object": "model", "created": 0, "owned_by": "azuraforge"}

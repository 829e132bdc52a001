"""The requests and answers of OpenAI's API as this server reads and writes them
(:mod:`~azuraforge.platform.api.routes.openai_chat`), with their limits (docs/assist.md):
a message's content at most :data:`MAX_MESSAGE` characters, at most :data:`MAX_MESSAGES`
messages, and ``max_tokens`` at most :data:`MAX_TOKENS` tokens (the answer stops at the
server's ``assist_max_tokens`` before that)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

from azuraforge.assist.backends.base import Message
from azuraforge.platform.api.schemas.chat import MAX_MESSAGE

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
    """One message of the conversation the client sends: its content (a text, or at most
    :data:`MAX_PARTS` text parts) holds at most :data:`MAX_MESSAGE` characters in all."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[Part]

    @field_validator("content", mode="wrap")
    @classmethod
    def _text(cls, content: Any, handler: ValidatorFunctionWrapHandler) -> str | list[Part]:
        """The content as a text or text parts, each error told once at ``content`` (not at
        each member of the union it failed)."""
        try:
            read: str | list[Part] = handler(content)
        except ValidationError:
            raise PydanticCustomError(
                "invalid_content",
                "a message's content is a text or a list of text parts "
                "([{'type': 'text', 'text': ...}]); only text is read",
            ) from None
        if isinstance(read, list) and len(read) > MAX_PARTS:
            raise PydanticCustomError(
                "too_long", "a message has at most {limit} parts; this one has {length}",
                {"limit": MAX_PARTS, "length": len(read)},
            )  # fmt: skip
        length = len(read) if isinstance(read, str) else sum(len(p.text) for p in read)
        if length > MAX_MESSAGE:
            raise PydanticCustomError(
                "string_too_long",
                "a message holds at most {limit} characters; this one has {length}",
                {"limit": MAX_MESSAGE, "length": length},
            )
        return read

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

    @field_validator("messages")
    @classmethod
    def _asks(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        """The last user message is what is answered: refuse a conversation with none, or
        one whose text is only spaces (as the chat refuses an empty message)."""
        last = next((m for m in reversed(messages) if m.role == "user"), None)
        if last is None:
            raise PydanticCustomError(
                "invalid_value", "the messages hold no user message to answer"
            )
        if not last.text().content.strip():
            raise PydanticCustomError(
                "invalid_value", "the last user message holds no text (only spaces or nothing)"
            )
        return messages


def model_public(name: str) -> dict[str, Any]:
    """One model as OpenAI's ``GET /v1/models`` lists it and ``GET /v1/models/{id}`` gives
    it."""
    return {"id": name, "object": "model", "created": 0, "owned_by": "azuraforge"}

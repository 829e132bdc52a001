"""OpenAI's chat API, for its clients unchanged: ``POST /v1/chat/completions`` (streamed as
server-sent chunks, or whole), ``GET /v1/models`` and ``GET /v1/models/{id}``, with an
AzuraForge token as the API key (``OpenAI(base_url="http://host:8000/v1", api_key="af_...")``).
``model`` names ``auto`` (the intent router and the project's backend selector choose), a
declared backend or an expert. A request is stateless, as OpenAI's: the client sends the
conversation; no turn is kept, but the answer's timings are the selector's measurements.
Every role may call them.
Not in the OpenAPI (OpenAI's reference has them); what they answer is docs/assist.md's.
Their errors are OpenAI's (:mod:`~azuraforge.platform.api.openai_errors`).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from azuraforge.assist.backends.base import GenerationSettings
from azuraforge.errors import shorten
from azuraforge.platform.api.access import READ, Reader
from azuraforge.platform.api.deps import ChatSourcesDep
from azuraforge.platform.api.openai_errors import ModelNotFoundError
from azuraforge.platform.api.routes.chat import ChatServiceDep
from azuraforge.platform.api.schemas.openai_chat import Completion, model_public
from azuraforge.platform.services.chat import Answer, ChatService, ChatSources

router = APIRouter(prefix="/v1", include_in_schema=False)


@router.post("/chat/completions", dependencies=[READ], response_model=None)
def completions(
    body: Completion, store: ChatSourcesDep, chat: ChatServiceDep, who: Reader
) -> StreamingResponse | dict[str, Any]:
    """An answer to the conversation ``messages``, as OpenAI's API gives it."""
    _served(chat, body.model)
    asked = body.max_completion_tokens or body.max_tokens or chat.max_tokens
    settings = GenerationSettings(
        max_tokens=min(asked, chat.max_tokens), temperature=body.temperature,
        top_p=body.top_p, seed=body.seed,
    )  # fmt: skip
    messages = [m.text() for m in body.messages]
    answer = chat.start(store, who.project, messages, body.model, settings, user=who.user)
    ident, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
    if body.stream:
        usage = body.stream_options is not None and body.stream_options.include_usage
        chunks = _chunks(chat, store, who.project, answer, (ident, created), settings, usage)
        return StreamingResponse(chunks, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})  # fmt: skip
    text = "".join(answer.pieces)
    chat.finish(store, who.project, answer)
    return {
        "id": ident, "object": "chat.completion", "created": created, "model": answer.backend,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": _finish_reason(answer, settings)}],
        "usage": _usage(answer), "azuraforge": _chosen(answer),
    }  # fmt: skip


@router.get("/models", dependencies=[READ])
def models(chat: ChatServiceDep) -> dict[str, Any]:
    """What ``model`` may name: ``auto``, each declared backend and each expert."""
    return {"object": "list", "data": [model_public(name) for name in chat.models()]}


@router.get("/models/{model:path}", dependencies=[READ])
def model(model: str, chat: ChatServiceDep) -> dict[str, Any]:
    """One model ``model`` may name (``client.models.retrieve``); 404 for another."""
    _served(chat, model)
    return model_public(model)


def _served(chat: ChatService, model: str) -> None:
    """Refuse a ``model`` this server does not answer with, naming those it does."""
    if model not in chat.models():
        served = ", ".join(chat.models())
        raise ModelNotFoundError(f"no model {shorten(model, 100, quoted=True)}; models: {served}")


def _chunks(
    chat: ChatService, store: ChatSources, project: str, answer: Answer, made: tuple[str, int],
    settings: GenerationSettings, usage: bool,
) -> Iterator[str]:  # fmt: skip
    ident, created = made

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": answer.backend,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"  # fmt: skip

    yield chunk({"role": "assistant", "content": ""}, azuraforge=_chosen(answer))
    for piece in answer.pieces:
        yield chunk({"content": piece})
    chat.finish(store, project, answer)
    yield chunk({}, _finish_reason(answer, settings))
    if usage:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created,
                "model": answer.backend, "choices": [], "usage": _usage(answer)}  # fmt: skip
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"


def _finish_reason(answer: Answer, settings: GenerationSettings) -> str:
    return "length" if answer.tokens_out >= settings.max_tokens else "stop"


def _usage(answer: Answer) -> dict[str, int]:
    return {"prompt_tokens": answer.tokens_in, "completion_tokens": answer.tokens_out,
            "total_tokens": answer.tokens_in + answer.tokens_out}  # fmt: skip


def _chosen(answer: Answer) -> dict[str, Any]:
    """Who answered and why (a field OpenAI's clients pass over)."""
    return {"intent": answer.intent, "expert": answer.expert.name, "backend": answer.backend,
            "adapter": answer.adapter, "reason": answer.choice.reason,
            "cached": answer.cached}  # fmt: skip

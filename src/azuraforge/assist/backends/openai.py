"""An OpenAI-compatible chat server as a backend: Ollama, vLLM, LoRAX or llama.cpp's own
server, reached over HTTP with streaming (server-sent events)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from azuraforge.assist.backends.base import (
    Backend,
    BackendSpec,
    Capabilities,
    GenerationSettings,
    Message,
)
from azuraforge.errors import InvalidParameterError, ModelUnavailableError


class OpenAICompatibleBackend(Backend):
    """Chat completions from a server that speaks the OpenAI API (``/v1/chat/completions``).

    Such servers choose a LoRA adapter by the ``model`` field of a request (vLLM, LoRAX), so
    adapters here are names mapped to the server's model names, given at construction.

    Parameters
    ----------
    base_url
        The server, e.g. ``http://127.0.0.1:11434/v1`` for Ollama.
    model
        The served model's name.
    adapters
        Expert name -> the name the server serves that adapter under.
    api_key
        Sent as a bearer token when given (never a default).
    timeout
        Seconds to connect and between two streamed pieces.

    Raises
    ------
    ModelUnavailableError
        (from the calls) The server cannot be reached or answers with an error.
    """

    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        model: str,
        adapters: Mapping[str, str] | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidParameterError(f"base_url must be http(s)://..., got {base_url!r}")
        self.base_url, self.model = base_url.rstrip("/"), model
        self._served = dict(adapters or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)
        self._server_tokenizes = True
        self.capabilities = Capabilities(
            streaming=True, adapters=bool(self._served), context_tokens=0
        )

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> OpenAICompatibleBackend:
        """The server at ``spec``'s url, answering with its model.

        Raises
        ------
        InvalidParameterError
            When ``spec`` gives no url.
        """
        if not spec.url:
            raise InvalidParameterError(
                f"backend {spec.name or spec.kind!r} is an OpenAI-compatible server: give its "
                "url (e.g. http://127.0.0.1:11434/v1)"
            )
        return cls(spec.url, spec.model)

    def _stream(
        self, messages: list[Message], settings: GenerationSettings, adapter: str | None
    ) -> Iterator[str]:
        body = {
            "model": self._served[adapter] if adapter else self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "stream": True,
            **({"seed": settings.seed} if settings.seed is not None else {}),
        }
        with self._checked_stream("/chat/completions", body) as response:
            for line in response.iter_lines():
                piece = _piece(line)
                if piece:
                    yield piece

    @contextmanager
    def _checked_stream(self, path: str, body: dict[str, Any]) -> Iterator[httpx.Response]:
        """A streamed POST whose failures (connection, HTTP status, a stream cut off) become
        :class:`ModelUnavailableError` naming the server."""
        where = f"{self.base_url}{path}"
        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:200]
                    raise ModelUnavailableError(
                        f"the model server at {where} answered {response.status_code}: {detail}"
                    )
                yield response
        except httpx.HTTPError as e:
            raise ModelUnavailableError(f"cannot reach the model server at {where}: {e}") from e

    def count_tokens(self, text: str) -> int:
        """Tokens as the server counts them (llama.cpp's ``/extras/tokenize``); a server
        without that endpoint (asked once) gets an estimate of one token per four UTF-8 bytes."""
        if self._server_tokenizes:
            try:
                answer = self._http.post(
                    self.base_url.removesuffix("/v1") + "/extras/tokenize",
                    json={"input": text, "model": self.model},
                )
                if answer.status_code == 200:
                    return len(answer.json()["tokens"])
            except httpx.HTTPError:
                pass
            self._server_tokenizes = False
        return max(1, len(text.encode("utf-8")) // 4)

    def adapters(self) -> list[str]:
        return sorted(self._served)

    def close(self) -> None:
        self._http.close()


def _piece(line: str) -> str | None:
    """The text of one server-sent event line, if it carries any."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    delta = json.loads(data)["choices"][0].get("delta") or {}
    content = delta.get("content")
    return content if isinstance(content, str) else None

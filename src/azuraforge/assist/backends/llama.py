"""llama.cpp through ``llama-cpp-python``: the default backend for serving GGUF models, with
LoRA adapters (GGUF) loaded once and switched between generations in microseconds."""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from azuraforge.assist.backends.base import (
    Backend,
    BackendSpec,
    Capabilities,
    GenerationSettings,
    Message,
)
from azuraforge.assist.models import DEFAULT_MODEL, resolve
from azuraforge.errors import InvalidParameterError, ModelUnavailableError, NotFoundError


class LlamaCppBackend(Backend):
    """A GGUF chat model run by llama.cpp in this process.

    One generation runs at a time (a llama.cpp context holds one sequence); the others wait.
    Loading or unloading an adapter never disturbs a generation under way: the adapter a
    generation asked for is set on the context when it starts, under the same lock.

    Parameters
    ----------
    model
        A packaged model's name (:data:`~azuraforge.assist.models.PACKAGED`) or a GGUF file.
    context_tokens
        The context window.
    threads
        llama.cpp's threads (default: the CPUs this process may use).
    flash_attention
        llama.cpp's fused attention kernel: about a tenth more tokens per second on the
        packaged model on 2 cores (docs/assist.md).
    cache_prompts
        Reuse the keys and values of the prefix a prompt shares with the previous one (a
        chat's history, a system prompt), as llama.cpp's server does. The reuse changes
        floating-point sums, so on a near tie a greedy answer may differ from a fresh
        context's; ``False`` starts every generation afresh, for answers that never depend
        on the generations before (evaluations).
    """

    name = "llama.cpp"
    adapter_format = "gguf"

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        context_tokens: int = 2048,
        threads: int | None = None,
        flash_attention: bool = True,
        cache_prompts: bool = True,
    ) -> None:
        try:
            import llama_cpp
        except ImportError as e:
            raise ModelUnavailableError(
                "the llama.cpp backend needs llama-cpp-python: pip install 'azuraforge[assist]'"
            ) from e
        self._lib = llama_cpp
        self.model_path = resolve(model)
        # Any: llama-cpp-python's TypedDicts do not accept plain message dicts.
        self._llm: Any = llama_cpp.Llama(
            model_path=str(self.model_path),
            n_ctx=context_tokens,
            n_threads=threads or len(os.sched_getaffinity(0)),
            flash_attn=flash_attention,
            verbose=False,
        )
        self.capabilities = Capabilities(
            streaming=True, adapters=True, context_tokens=context_tokens
        )
        self._generating = threading.Lock()
        # llama.cpp keeps a model's adapters in one unlocked set: loading and freeing take
        # turns here, without holding up a generation.
        self._adapter_set = threading.Lock()
        self._adapters: dict[str, Any] = {}
        self._active: str | None = None
        self.cache_prompts = cache_prompts

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> LlamaCppBackend:
        """``spec``'s model (a packaged model's name or a GGUF file) on its threads."""
        return cls(spec.model, threads=spec.threads)

    def _stream(
        self, messages: list[Message], settings: GenerationSettings, adapter: str | None
    ) -> Iterator[str]:
        with self._generating:
            self._use(adapter)
            if not self.cache_prompts:
                self._llm.reset()
            chunks = self._llm.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                top_p=settings.top_p,
                seed=settings.seed,
                stream=True,
            )
            try:
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except ValueError as e:  # llama-cpp-python's only word for a prompt too long
                if "context window" not in str(e):
                    raise
                raise InvalidParameterError(
                    f"the messages do not fit the model's context ({e}): shorten them (in the "
                    "chat: a shorter message, or /clear)"
                ) from e

    def _use(self, adapter: str | None) -> None:
        """Set ``adapter`` (or none) on the context; called with the generation lock held."""
        if adapter == self._active:
            return
        if adapter is not None and adapter not in self._adapters:
            raise self._no_adapter(adapter)  # unloaded since stream() was called
        chosen = [self._adapters[adapter]] if adapter else []
        array = (self._lib.llama_adapter_lora_p_ctypes * max(1, len(chosen)))(*chosen)
        scales = (ctypes.c_float * max(1, len(chosen)))(*[1.0] * len(chosen))
        if self._lib.llama_set_adapters_lora(self._llm._ctx.ctx, array, len(chosen), scales):
            raise ModelUnavailableError(f"llama.cpp could not switch to adapter {adapter!r}")
        # The context caches the previous prompt's keys and values, computed with the old
        # weights: reusing them after a switch gives wrong answers.
        self._llm.reset()
        self._active = adapter

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def load_adapter(self, name: str, path: str | Path) -> None:
        file = Path(path)
        if not file.is_file():
            raise NotFoundError(f"adapter file {str(file)!r} not found")
        with self._adapter_set:
            handle = self._lib.llama_adapter_lora_init(self._llm._model.model, str(file).encode())
        if not handle:
            raise InvalidParameterError(
                f"{str(file)!r} is not a LoRA adapter in GGUF format for {self.model_path.name}"
            )
        with self._generating:
            old = self._adapters.get(name)
            self._adapters[name] = handle
            if old is not None:
                self._forget(name, old)

    def unload_adapter(self, name: str) -> None:
        with self._generating:
            if name not in self._adapters:
                raise self._no_adapter(name)
            self._forget(name, self._adapters.pop(name))

    def _forget(self, name: str, handle: Any) -> None:
        if self._active == name:
            self._use(None)
        with self._adapter_set:
            self._lib.llama_adapter_lora_free(handle)

    def adapters(self) -> list[str]:
        return sorted(self._adapters)

    def close(self) -> None:
        with self._generating:
            for name in list(self._adapters):
                self._forget(name, self._adapters.pop(name))
            self._llm.close()

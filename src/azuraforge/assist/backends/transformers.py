"""Hugging Face transformers with PEFT adapters: the backend that trains' twin and the fallback
when llama.cpp is not installed. Slower than llama.cpp, but it runs the adapter exactly as
PEFT trained it, before any conversion.

Needs the ``assist-train`` extra (transformers, peft, torch).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from azuraforge.assist.backends.base import (
    Backend,
    BackendSpec,
    Capabilities,
    GenerationSettings,
    Message,
)
from azuraforge.assist.bases import dequantised_base, training_libraries
from azuraforge.assist.models import DEFAULT_MODEL, offline
from azuraforge.assist.prompts import format_prompt
from azuraforge.errors import NotFoundError
from azuraforge.learn.home import default_home


class TransformersBackend(Backend):
    """A causal language model run by transformers in this process, on the CPU.

    Parameters
    ----------
    model
        A packaged model's name, a GGUF file (dequantised once into ``cache``), or a Hugging
        Face model folder.
    cache
        Where dequantised GGUF models are kept.
    threads
        PyTorch's threads (default: PyTorch's choice).
    """

    name = "transformers"
    adapter_format = "peft"

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        *,
        cache: str | Path,
        context_tokens: int = 2048,
        threads: int | None = None,
    ) -> None:
        self._torch, self._peft_lib, transformers = training_libraries()
        offline()
        if threads:
            self._torch.set_num_threads(threads)
        folder = Path(model).expanduser()
        if not (folder / "config.json").is_file():
            folder = dequantised_base(model, cache)
        self.model_path = folder
        self._tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        self._model: Any = transformers.AutoModelForCausalLM.from_pretrained(
            folder, dtype=self._torch.float32
        ).eval()
        self._streamer = transformers.TextIteratorStreamer
        self._criteria = transformers.StoppingCriteriaList
        self.capabilities = Capabilities(
            streaming=True, adapters=True, context_tokens=context_tokens
        )
        self._generating = threading.Lock()
        self._adapters: dict[str, Path] = {}

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> TransformersBackend:
        """``spec``'s model on its threads, a GGUF file dequantised into its cache folder
        (by default the assistant's ``bases`` folder in the AzuraForge home)."""
        cache = spec.cache or default_home() / "assist" / "bases"
        return cls(spec.model, cache=cache, threads=spec.threads)

    def _stream(
        self, messages: list[Message], settings: GenerationSettings, adapter: str | None
    ) -> Iterator[str]:
        with self._generating:
            if adapter is not None and adapter not in self._adapters:
                raise self._no_adapter(adapter)  # unloaded since stream() was called
            prompt = format_prompt(
                self._tokenizer, [{"role": m.role, "content": m.content} for m in messages]
            )
            inputs = self._tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
            streamer = self._streamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
            stop = threading.Event()
            if settings.seed is not None:
                self._torch.manual_seed(settings.seed)
            options = {
                **inputs,
                "max_new_tokens": settings.max_tokens,
                "do_sample": settings.temperature > 0,
                "streamer": streamer,
                "stopping_criteria": self._criteria([_Stop(stop, self._torch)]),
                "pad_token_id": self._tokenizer.eos_token_id,
            }
            if settings.temperature > 0:
                options.update(temperature=settings.temperature, top_p=settings.top_p)
            with self._adapter(adapter):
                worker = threading.Thread(target=self._model.generate, kwargs=options, daemon=True)
                worker.start()
                try:
                    yield from (piece for piece in streamer if piece)
                finally:
                    stop.set()  # a reader that stops early ends the generation too
                    worker.join()

    def _adapter(self, adapter: str | None) -> AbstractContextManager[Any]:
        """A context in which the model generates through ``adapter`` (or the bare base)."""
        if adapter is None:
            if isinstance(self._model, self._peft_lib.PeftModel):
                context: AbstractContextManager[Any] = self._model.disable_adapter()
                return context
            return nullcontext()
        self._model.set_adapter(adapter)
        return nullcontext()

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def load_adapter(self, name: str, path: str | Path) -> None:
        folder = Path(path)
        if not (folder / "adapter_config.json").is_file():
            raise NotFoundError(f"{str(folder)!r} is not a PEFT adapter folder")
        with self._generating:
            if name in self._adapters:
                self._model.delete_adapter(name)
            if isinstance(self._model, self._peft_lib.PeftModel):
                self._model.load_adapter(folder, adapter_name=name)
            else:
                self._model = self._peft_lib.PeftModel.from_pretrained(
                    self._model, folder, adapter_name=name
                ).eval()
            self._adapters[name] = folder

    def unload_adapter(self, name: str) -> None:
        with self._generating:
            if name not in self._adapters:
                raise self._no_adapter(name)
            del self._adapters[name]
            if self._adapters:
                self._model.delete_adapter(name)
            else:
                self._model = self._model.unload()  # the bare base again, its weights untouched

    def adapters(self) -> list[str]:
        return sorted(self._adapters)

    def close(self) -> None:
        with self._generating:
            self._adapters.clear()
            self._model = None


class _Stop:
    """Ends a generation once ``event`` is set (a ``StoppingCriteria``)."""

    def __init__(self, event: threading.Event, torch: Any) -> None:
        self.event, self.torch = event, torch

    def __call__(self, input_ids: Any, scores: Any, **_: Any) -> Any:
        return self.torch.full((input_ids.shape[0],), self.event.is_set(), dtype=self.torch.bool)


__all__ = ["TransformersBackend"]

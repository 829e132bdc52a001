"""What every text generator offers the assistant: ``stream``, ``generate``, token counts and
LoRA adapters, behind one interface whatever runs the model (llama.cpp, transformers, an
OpenAI-compatible server, or the deterministic echo backend of the tests)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from azuraforge.assist.models import DEFAULT_MODEL
from azuraforge.errors import InvalidParameterError, NotFoundError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One chat message (``role`` is ``system``, ``user`` or ``assistant``)."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidParameterError(
                f"role must be one of {', '.join(ROLES)}, got {self.role!r}"
            )


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so callers ask before they rely on it."""

    streaming: bool
    adapters: bool
    context_tokens: int


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings every backend understands."""

    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InvalidParameterError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if not 0.0 <= self.temperature <= 2.0:
            raise InvalidParameterError(f"temperature must be in [0, 2], got {self.temperature}")


@dataclass(frozen=True)
class BackendSpec:
    """How a backend is declared, whoever declares it (the platform's ``assist_backends``,
    ``azuraforge chat``'s options): what :meth:`Backend.from_spec` builds one from. Each
    kind reads what it needs and ignores the rest.

    >>> BackendSpec("echo").model
    'smollm2-135m-instruct'
    """

    kind: str
    """The name of the backend's class in the entry-point group ``azuraforge.backends``."""
    name: str = ""
    """What the declaration calls it (``local``): for messages."""
    model: str = DEFAULT_MODEL
    """A packaged model's name, a model file or folder, or a server's model name."""
    url: str = ""
    """A server's address (``http://127.0.0.1:11434/v1``), for a backend that has one."""
    threads: int | None = None
    """The threads it computes on (``None``: the backend's choice)."""
    cache: Path | None = None
    """A folder it may keep what it derives from its model in (``None``: its default)."""


class Backend(ABC):
    """Generates text from chat messages, optionally through a named LoRA adapter.

    Contract: :meth:`stream` yields pieces of text as they are made, and ``"".join`` of them
    is what :meth:`generate` returns for the same call; an unknown adapter name raises
    :class:`~azuraforge.errors.NotFoundError` before anything is generated; adapters load
    and unload while other threads generate (a generation keeps the adapter it began with).
    """

    name: str
    capabilities: Capabilities
    adapter_format: str | None = None
    """What :meth:`load_adapter` takes: ``"gguf"`` (a GGUF file), ``"peft"`` (a folder), or
    ``None``: no adapter (an OpenAI-compatible server serves its own under model names of its
    own). Read from the class, before a backend is built: the platform loads an expert's GGUF
    adapter into the backends whose kind takes one."""

    @classmethod
    def from_spec(cls, spec: BackendSpec) -> Backend:
        """A backend as ``spec`` declares it: here ``cls()``, for a backend that takes
        nothing; one that takes a model, a server or threads overrides this.

        Raises
        ------
        ModelUnavailableError
            When what it needs (an optional extra, its model) is not installed.
        InvalidParameterError
            When ``spec`` lacks what it needs (a server's url).
        """
        return cls()

    def stream(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings | None = None,
        adapter: str | None = None,
    ) -> Iterator[str]:
        """Pieces of the answer to ``messages`` as they are generated.

        Raises
        ------
        NotFoundError
            ``adapter`` is not loaded (raised at the call, before anything is generated).
        """
        if adapter is not None and adapter not in self.adapters():
            raise self._no_adapter(adapter)
        return self._stream(list(messages), settings or GenerationSettings(), adapter)

    @abstractmethod
    def _stream(
        self, messages: list[Message], settings: GenerationSettings, adapter: str | None
    ) -> Iterator[str]:
        """The generation itself, with the arguments checked."""

    def generate(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings | None = None,
        adapter: str | None = None,
    ) -> str:
        """The whole answer to ``messages``."""
        return "".join(self.stream(messages, settings, adapter))

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """How many tokens of this backend's model ``text`` takes."""

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Make the adapter at ``path`` available as ``name``."""
        raise InvalidParameterError(f"backend {self.name!r} does not take adapters")

    def unload_adapter(self, name: str) -> None:
        """Forget adapter ``name``."""
        raise self._no_adapter(name)

    def adapters(self) -> list[str]:
        """The names of the loaded adapters."""
        return []

    def _no_adapter(self, name: str) -> NotFoundError:
        loaded = ", ".join(self.adapters()) or "none"
        return NotFoundError(f"no adapter {name!r}; loaded: {loaded}")

    def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        """Release the model and its threads."""

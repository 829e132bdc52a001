"""The assistant's turn: input -> route -> expert -> retrieve -> generate (streaming) -> log.

A question about the project's own data (intent ``project_data``) is not generated: the
:class:`~azuraforge.assist.facts.ProjectFacts` the assistant was given answers it from the
project's records, or the answer says it cannot see the project (:mod:`~azuraforge.assist.facts`).

:class:`Assistant` streams each answer and degrades instead of failing: when the backend
cannot be reached before its first piece, the fallback backend answers; when the memory
fails, the turn goes on without it; when an expert's adapter is not loaded, the base model
answers. Each such step is named in the turn's log record (``degraded``).
"""

from __future__ import annotations

import itertools
import json
import logging
import logging.handlers
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from azuraforge.assist.adapters.registry import AdapterPool
from azuraforge.assist.backends.base import Backend, GenerationSettings, Message
from azuraforge.assist.facts import (
    PROJECT_DATA,
    ProjectFacts,
    asks_project,
    no_project,
    read_question,
)
from azuraforge.assist.memory.base import Filter, VectorMemory
from azuraforge.assist.memory.buffer import ShortTermBuffer, fitting, rag_context
from azuraforge.assist.routing import IntentRouter, Route
from azuraforge.errors import (
    DataFormatError,
    InvalidParameterError,
    ModelUnavailableError,
    NotFoundError,
)


@dataclass(frozen=True)
class Expert:
    """Who answers which intents: a system prompt and, optionally, a LoRA adapter's name."""

    name: str
    intents: tuple[str, ...]
    system_prompt: str
    adapter: str | None = None


EXPERTS = (
    Expert(
        "general",
        ("general_chat", "memory_recall"),
        "You are a helpful assistant. Answer briefly, in the language of the question.",
    ),
    Expert(
        "turkish",
        ("turkish_culture",),
        "Sen Türk kültürünü, deyimleri ve atasözlerini iyi bilen bir asistansın. "
        "Kısa ve doğru cevap ver.",
        adapter="turkish",
    ),
    Expert(
        "python",
        ("code_python", "code_debug"),
        "You are a Python expert. Give correct, short code and explain errors plainly.",
        adapter="python",
    ),
)
"""The seed's experts: general chat, a Turkish expert and a Python expert. An intent no expert
lists goes to the first, ``general``."""

FROM_PROJECT = "project"
"""The backend (and expert) of an answer composed from the project's records: no model."""
PROJECT_EXPERT = Expert(
    FROM_PROJECT, (PROJECT_DATA,), "Answers are composed from the project's records."
)
"""Who answers ``project_data``: the records, through a :class:`ProjectFacts`."""

EXPERT_MAP = "experts.json"
"""The file in a router's folder that maps its intents to experts (:func:`read_expert_map`)."""


def read_expert_map(
    path: str | Path, labels: Sequence[str], experts: Sequence[Expert] = EXPERTS
) -> tuple[Expert, ...]:
    """``experts`` answering the intents a JSON file maps to them (``{"intent": "expert"}``).

    An intent the file maps leaves the expert that listed it; an intent no expert lists goes
    to the first expert, as in :class:`Assistant`.

    Parameters
    ----------
    path
        A JSON object of intent to expert name, e.g. ``{"recipes": "turkish"}``.
    labels
        The router's labels: the intents the file may name.
    experts
        The experts the file may name.

    Raises
    ------
    DataFormatError
        The file is not such an object, or names an intent not in ``labels`` or an expert not
        in ``experts``.
    """
    file = Path(path)
    try:
        mapping = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f"{file}: not a readable JSON file ({e})") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise DataFormatError(
            f'{file}: expected an object of intent to expert, {{"greet": "general"}}'
        )
    names = [e.name for e in experts]
    for intent, expert in mapping.items():
        if intent not in labels:
            raise DataFormatError(
                f"{file}: intent {intent!r} is not one of the router's: {', '.join(labels)}"
            )
        if expert not in names:
            raise DataFormatError(
                f"{file}: intent {intent!r} goes to expert {expert!r}; experts: {', '.join(names)}"
            )
    return tuple(
        replace(
            e,
            intents=tuple(i for i in e.intents if i not in mapping)
            + tuple(i for i, name in mapping.items() if name == e.name),
        )
        for e in experts
    )


@dataclass
class Turn:
    """What happened in one turn, as logged."""

    user: str
    text: str
    intent: str
    confidence: float
    route: str
    expert: str
    adapter: str | None
    backend: str
    memories: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    route_ms: float = 0.0
    first_token_ms: float | None = None
    total_ms: float = 0.0
    degraded: list[str] = field(default_factory=list)
    answer: str = ""


class Assistant:
    """A conversation with one user.

    Parameters
    ----------
    router, backend
        Route messages, generate answers.
    memory
        Long-term memory (optional): searched for the user's memories before answering;
        each user message is stored in it.
    fallback
        A backend to answer when ``backend`` cannot be reached.
    adapters
        Loads each expert's newest trained adapter into ``backend`` when the expert is first
        asked (optional; without it, an expert's adapter is the backend adapter of its name).
    experts
        Who answers which intents (default :data:`EXPERTS`).
    history_tokens, memory_tokens
        Token budgets of the short-term buffer and of the retrieved context. When the
        history overflows its budget, it is trimmed to half of it.
    turn_log
        A JSON-lines file of every turn, rotated at 10 MB (3 backups kept).
    facts
        Answers questions about the project's own data from its records (the platform
        supplies one); without it, such a question is answered that the project cannot be
        seen from here. Never a model's figures.
    """

    def __init__(
        self,
        router: IntentRouter,
        backend: Backend,
        *,
        memory: VectorMemory | None = None,
        fallback: Backend | None = None,
        adapters: AdapterPool | None = None,
        experts: Sequence[Expert] = EXPERTS,
        user: str = "default",
        history_tokens: int = 1024,
        memory_tokens: int = 256,
        settings: GenerationSettings | None = None,
        turn_log: str | Path | None = None,
        facts: ProjectFacts | None = None,
    ) -> None:
        self.router, self.backend, self.memory, self.fallback = router, backend, memory, fallback
        self.adapters = adapters
        self.experts = {e.name: e for e in experts}
        self.user, self.memory_tokens = user, memory_tokens
        self.settings = settings or GenerationSettings()
        self.buffer = ShortTermBuffer(
            history_tokens, backend.count_tokens, trim_to=history_tokens // 2
        )
        self.forced: str | None = None
        self.facts = facts
        self._log = _turn_logger(Path(turn_log)) if turn_log else None
        self.last: Turn | None = None

    def switch(self, expert: str | None) -> None:
        """Answer every message with ``expert`` (``None``: back to the router's choice)."""
        if expert is not None and expert not in self.experts:
            raise NotFoundError(f"no expert {expert!r}; experts: {', '.join(self.experts)}")
        self.forced = expert

    def clear(self) -> None:
        """Forget the conversation so far (the long-term memory stays)."""
        self.buffer.clear()

    def reply(self, text: str) -> Iterator[str]:
        """Stream the answer to ``text``; the turn is logged when the stream ends."""
        if not text.strip():
            raise InvalidParameterError("an empty message")
        started = time.perf_counter()
        route = self.router.route(text)
        if self.forced is None and asks_project(route, text):
            return self._from_project(text, route, started)
        expert = self._expert(route)
        turn = Turn(
            self.user,
            text,
            route.intent,
            route.confidence,
            route.source,
            expert.name,
            None,
            self.backend.name,
            route_ms=route.latency_ms,
        )
        messages = self._messages(text, expert, turn)
        return self._generate(messages, expert, turn, started)

    def _from_project(self, text: str, route: Route, started: float) -> Iterator[str]:
        """The answer of :attr:`facts` (composed from records, no model), as one piece."""
        question = read_question(text)
        facts = self.facts.answer(question) if self.facts is not None else no_project(question)
        turn = Turn(self.user, text, PROJECT_DATA, route.confidence, route.source, FROM_PROJECT,
                    None, FROM_PROJECT, route_ms=route.latency_ms, first_token_ms=0.0)  # fmt: skip
        yield facts.text
        self._finish(turn, [Message("user", text)], facts.text, self.backend, started)

    def _expert(self, route: Route) -> Expert:
        if self.forced:
            return self.experts[self.forced]
        chosen = next((e for e in self.experts.values() if route.intent in e.intents), None)
        return chosen or next(iter(self.experts.values()))

    def _messages(self, text: str, expert: Expert, turn: Turn) -> list[Message]:
        """The expert's system prompt, the history as the model saw it, then the message
        with its recalled memories: a prompt whose beginning stays the same from turn to
        turn, so a backend that caches it evaluates only the new turn."""
        context = self._recall(text, turn)
        message = f"{context}\n\n{text}" if context else text
        history = [Message(t.role, t.text) for t in self.buffer.turns()]
        return [Message("system", expert.system_prompt), *history, Message("user", message)]

    def _recall(self, text: str, turn: Turn) -> str:
        """The user's nearest memories that the history does not already hold."""
        if self.memory is None:
            return ""
        try:
            hits = self.memory.search(text, k=5, where=Filter(user=self.user))
        except Exception as e:  # the memory is optional: answer without it, and say so
            turn.degraded.append(f"memory unavailable: {type(e).__name__}: {e}")
            return ""
        history = "\n".join(t.text for t in self.buffer.turns())
        hits = [hit for hit in hits if hit.memory.text not in history]
        given = fitting(hits, self.memory_tokens, self.backend.count_tokens)
        turn.memories = len(given)
        return rag_context(given, self.memory_tokens, self.backend.count_tokens)

    def _generate(
        self, messages: list[Message], expert: Expert, turn: Turn, started: float
    ) -> Iterator[str]:
        backend, adapter = self.backend, self._adapter(expert, turn)
        pieces: list[str] = []
        try:
            stream = backend.stream(messages, self.settings, adapter)
            first = next(stream, None)
        except ModelUnavailableError as e:
            if self.fallback is None:
                raise
            turn.degraded.append(f"backend {backend.name} unavailable: {e}")
            backend, adapter = self.fallback, None
            turn.backend, turn.adapter = backend.name, None
            stream = backend.stream(messages, self.settings)
            first = next(stream, None)
        turn.first_token_ms = (time.perf_counter() - started) * 1e3
        for piece in itertools.chain([first] if first is not None else [], stream):
            pieces.append(piece)
            yield piece
        self._finish(turn, messages, "".join(pieces), backend, started)

    def _adapter(self, expert: Expert, turn: Turn) -> str | None:
        """The expert's adapter, or none (said in the turn) when there is none to load."""
        adapter = expert.adapter
        if adapter is not None and self.adapters is not None:
            try:
                adapter = self.adapters.ensure(adapter)
            except (NotFoundError, InvalidParameterError, ModelUnavailableError) as e:
                turn.degraded.append(f"no adapter for {expert.name}: {e}; the base model answered")
                adapter = None
        elif adapter is not None and adapter not in self.backend.adapters():
            turn.degraded.append(f"adapter {adapter!r} not loaded: the base model answered")
            adapter = None
        turn.adapter = adapter
        return adapter

    def _finish(
        self, turn: Turn, messages: list[Message], answer: str, backend: Backend, started: float
    ) -> None:
        turn.answer, turn.total_ms = answer, (time.perf_counter() - started) * 1e3
        turn.tokens_in = sum(backend.count_tokens(m.content) for m in messages)
        turn.tokens_out = backend.count_tokens(answer) if answer else 0
        self.buffer.add("user", messages[-1].content)  # as sent, memories included
        self.buffer.add("assistant", answer)
        if self.memory is not None:
            try:
                self.memory.add([turn.text], user=self.user, kind="message")
            except Exception as e:
                turn.degraded.append(f"memory not written: {type(e).__name__}: {e}")
        self.last = turn
        if self._log is not None:
            self._log.info(json.dumps({"time": time.time(), **asdict(turn)}, ensure_ascii=False))


def _turn_logger(path: Path) -> logging.Logger:
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"azuraforge.assist.turns.{path.resolve()}")
    if not logger.handlers:
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=10_000_000, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def check_verdict(verdict: str, correction: str = "") -> None:
    """Refuse a verdict on an answer other than ``good``, ``bad`` or ``correction``, and a
    correction without the corrected answer.

    >>> check_verdict("correction")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: a correction needs the corrected answer
    """
    if verdict not in ("good", "bad", "correction"):
        raise InvalidParameterError(f"feedback must be good, bad or correction, got {verdict!r}")
    if verdict == "correction" and not correction.strip():
        raise InvalidParameterError("a correction needs the corrected answer")


def record_feedback(path: str | Path, turn: Turn, verdict: str, correction: str = "") -> None:
    """Append the user's verdict on a turn (``good``, ``bad`` or ``correction``) to a JSON-lines
    file, the input of the later self-improvement loop."""
    check_verdict(verdict, correction)
    record: dict[str, Any] = {"time": time.time(), "verdict": verdict, "correction": correction}
    record.update(
        {
            k: v
            for k, v in asdict(turn).items()
            if k in ("user", "text", "intent", "expert", "answer")
        }
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as file:
        file.write(json.dumps(record, ensure_ascii=False) + "\n")

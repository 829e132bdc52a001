"""The assistant on the platform: a message is routed to an intent (the shipped intent router),
the intent to an expert (its system prompt and adapter), and the expert's answer to the
backend the project's :class:`~azuraforge.assist.backends.selection.BackendSelector` chooses
among the declared ones (settings ``assist_backends``; none declared: the packaged
SmolLM2-135M, :mod:`~azuraforge.platform.services.assist_backends`, loaded at the first
message), unless the request names one. Each answer streams; once it ends, its turn is a row
of the project (conversations are a user's own) and its timings the selector's measurements;
a user's verdict on it (good, bad, a correction) is the selector's success count. A backend
that fails before its first piece is counted an error (taken out after three in a row, probed
back in later) and the next choice answers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from azuraforge.assist.adapters.registry import GGUF_FILE
from azuraforge.assist.backends.base import Backend, BackendSpec, GenerationSettings, Message
from azuraforge.assist.backends.registry import backend_class, build, check_kinds
from azuraforge.assist.backends.selection import (
    BackendSelector,
    Candidate,
    Choice,
    Outcome,
    learned,
)
from azuraforge.assist.cache import Cached, CacheStats, cache_key, cacheable
from azuraforge.assist.embeddings import memory_embedder
from azuraforge.assist.facts import PROJECT_DATA, asks_project, read_question
from azuraforge.assist.memory import Hit, fitting, rag_context
from azuraforge.assist.orchestrator import EXPERTS, FROM_PROJECT, PROJECT_EXPERT, Expert
from azuraforge.assist.routing import IntentRouter, Route, default_router
from azuraforge.errors import ModelUnavailableError, NotFoundError
from azuraforge.platform.blobs import BlobCache, BlobStore
from azuraforge.platform.jobs.files import data_folder_of
from azuraforge.platform.prometheus import CHAT_CACHE_LOOKUPS, CHAT_GENERATION_SECONDS, CHAT_TOKENS
from azuraforge.platform.services.assist_backends import declared_backends
from azuraforge.platform.services.chat_cache import open_answers
from azuraforge.platform.services.chat_memory import ChatMemory, memory_url
from azuraforge.platform.services.guardian import CHECKED, REFUSED, Check, Guardian
from azuraforge.platform.services.project_facts import FactSources, ProjectFactsReader
from azuraforge.platform.services.registry import checked_folder, expert_champion
from azuraforge.platform.settings import AssistBackend, Settings
from azuraforge.platform.store import ModelVersionRecord
from azuraforge.platform.store.chat import TurnRecord, TurnWrite
from azuraforge.platform.store.examples import ProposedExample
from azuraforge.platform.store.interfaces import Chat, Examples

_log = logging.getLogger(__name__)
AUTO = "auto"
"""The model name that lets the router and the selector choose."""
HISTORY_TURNS = 8
"""Turns of a conversation given to the model before the new message."""
RECALLING = "memory_recall"
"""The intent whose messages are given the user's memories (and are not kept as one)."""
MEMORY_TOKENS = 256
"""Tokens of recalled memories a message is given at most."""
MISSING_EXTRA = (
    "the assistant's default backend (SmolLM2-135M through llama.cpp) is not installed: "
    "pip install 'azuraforge[assist]' and start the server again, or declare another backend "
    "in assist_backends (docs/assist.md)"
)


class NoBackendError(ModelUnavailableError):
    """No assistant backend answers (or the default one is not installed)."""


@dataclass
class Answer:
    """One answer as it streams: who answers and why, its pieces, and (once :attr:`pieces`
    is drained) its text and timings, which :meth:`ChatService.finish` keeps."""

    intent: str
    expert: Expert
    backend: str
    adapter: str | None
    choice: Choice
    pieces: Iterator[str]
    messages: list[Message]
    said: str = ""
    """The user's own message (:attr:`messages` may give it with recalled memories)."""
    recalled: int = 0
    """How many of the user's memories it was given."""
    text: list[str] = field(default_factory=list)
    measured: str = ""
    """What the selector measures it as: the backend, or ``backend/adapter@version``."""
    first_token_ms: float | None = None
    tokens_per_s: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    key: str | None = None
    """Its key in the response cache (a deterministic request's), if one is kept."""
    cached: bool = False
    """Whether it came from the response cache."""
    generated_ms: float = 0.0
    """Milliseconds from the request to the backend to the answer's last piece."""
    from_project: bool = False
    """Whether it was composed from the project's rows (no backend answered)."""
    confidence: float | None = None
    """The router's calibrated probability of :attr:`intent` for the message (1.0 for a
    rule; ``None`` when no router chose)."""


class ChatSources(Chat, Examples, FactSources, Protocol):
    """What a chat turn uses: the project's conversations, the examples its checks propose,
    and the facts its project's questions read (runs, models, data files)."""


@dataclass(frozen=True)
class _Request:
    """What every backend asked for one message is given: the routed message, its expert and
    champion adapter, the prompt and the generation settings."""

    store: ChatSources
    project: str
    route: Route
    expert: Expert
    champion: ModelVersionRecord | None
    prompt: list[Message]
    said: str
    recalled: int
    generation: GenerationSettings


class ChatService:
    """The server's assistant: the declared backends (each loaded on first use, kept), the
    intent router (loaded on first use), a backend selector per project (its measurements
    read from the store on first use, written back after each answer and verdict)."""

    def __init__(
        self, settings: Settings, blobs: BlobStore, router: IntentRouter | None = None
    ) -> None:
        self.declared: dict[str, AssistBackend] = _checked(declared_backends(settings))
        self.implicit = not settings.assist_backends
        """Whether the backend is the default one, none being declared."""
        self.max_tokens = settings.assist_max_tokens
        self.discount = settings.assist_selector_discount
        self.experts = {expert.name: expert for expert in EXPERTS}
        self._router = router
        self.answers = open_answers(settings)
        self.guardian = Guardian() if settings.assist_guardian else None
        self.memory = (
            ChatMemory(settings.assist_memory_url or memory_url(settings.database_url),
                       lambda: memory_embedder(self.router.embedder))
            if settings.assist_memory else None
        )  # fmt: skip
        self.cache = BlobCache(blobs, settings.cache_dir)
        self._data = (settings, blobs)
        """What a project's data folder is found with (:meth:`_from_project`)."""
        self._backends: dict[str, Backend] = {}
        self._selectors: dict[str, BackendSelector] = {}
        self._read: dict[str, dict[tuple[object, object], dict[str, object]]] = {}
        """Each project's selector's rows as last read from the store: what it learns after
        is saved as increments to them (:func:`learned`)."""
        self._lock = threading.Lock()
        self._measuring = threading.RLock()
        """Held while a selector chooses or learns: chats run on several threads."""

    def reconfigure(self, settings: Settings) -> None:
        """Run on a newer version of the live settings: its backends (one whose declaration
        changed is loaded again at its next use; the selectors start again from the
        measurements in the store), answer length, selector discount and cache.

        Raises
        ------
        InvalidParameterError
            If a backend is of a kind there is not (nothing is changed then).
        """
        declared = _checked(declared_backends(settings))
        if declared != self.declared or settings.assist_selector_discount != self.discount:
            self._backends = {
                name: backend for name, backend in self._backends.items()
                if self.declared.get(name) == declared.get(name)
            }  # fmt: skip
            self._selectors, self._read = {}, {}
        self.declared, self.implicit = declared, not settings.assist_backends
        self.max_tokens = settings.assist_max_tokens
        self.discount = settings.assist_selector_discount
        old = self._data[0]
        if _cache_settings(settings) != _cache_settings(old):
            self.answers = open_answers(settings)
        self._data = (settings, self._data[1])

    def models(self) -> list[str]:
        """What a request's ``model`` may name: ``auto``, a backend, an expert."""
        return [AUTO, *self.declared, *self.experts]

    def start(
        self, store: ChatSources, project: str, messages: Sequence[Message], model: str = AUTO,
        settings: GenerationSettings | None = None, user: str | None = None,
    ) -> Answer:  # fmt: skip
        """Route the last user message of ``messages``, choose the expert and backend (or
        those ``model`` names), and start the answer; its pieces stream from
        :attr:`Answer.pieces`. A message of ``user`` that asks about earlier conversations
        is given their memories.

        Raises
        ------
        NoBackendError
            If every backend failed before answering, or the default one (none declared) is
            not installed.
        NotFoundError
            If ``model`` names no backend nor expert.
        """
        last, route = self._routed(messages, model)
        if model not in self.experts and asks_project(route, last):
            answered = self._from_project(store, project, last)
            answered.confidence = route.confidence
            return answered
        expert = self.experts.get(model) or self._expert(route.intent)
        prompt, recalled = self._prompt(project, user, route.intent, last, messages, expert)
        champion = expert_champion(store, expert.name, project)
        asked = self._candidates(expert, champion, model)
        request = _Request(store, project, route, expert, champion, prompt, last, recalled,
                           settings or GenerationSettings())  # fmt: skip
        while asked:
            answer = self._tried(request, asked)
            if answer is not None:
                return answer
        raise NoBackendError("no backend answered")  # every one asked was tried

    def _routed(self, messages: Sequence[Message], model: str) -> tuple[str, Route]:
        """The last user message of ``messages`` and its route, once ``model`` is known.

        Raises
        ------
        NotFoundError
            If ``model`` names no backend nor expert.
        """
        if model != AUTO and model not in self.declared and model not in self.experts:
            raise NotFoundError(f"no model {model!r}; models: {', '.join(self.models())}")
        last = next((m.content for m in reversed(messages) if m.role == "user"), "")
        return last, self.router.route(last)

    def _prompt(
        self, project: str, user: str | None, intent: str, said: str,
        messages: Sequence[Message], expert: Expert,
    ) -> tuple[list[Message], int]:  # fmt: skip
        """What the backend is given for ``messages`` (the expert's system prompt unless they
        hold one, the memories of ``user`` a recalling ``said`` is given), and how many
        memories that is."""
        recalled = self._recall(project, user, intent, said, messages)
        return _with_memories(self._with_system(messages, expert), recalled, said), len(recalled)

    def _tried(self, request: _Request, asked: dict[str, tuple[str, str | None]]) -> Answer | None:
        """The answer of the backend the selector chooses among ``asked`` (taken out of it):
        from the response cache, else started; ``None`` when that backend failed and others
        remain.

        Raises
        ------
        NoBackendError
            If it failed and was the last one asked.
        """
        choice = self._chosen_backend(request, asked)
        name, adapter = asked.pop(choice.candidate)
        backend = self.backend(name)
        if adapter is not None and request.champion is not None:
            self._load(backend, request.expert, adapter, request.champion)
        key = self._key(request.prompt, request.generation, name, adapter)
        route = request.route
        answer = Answer(route.intent, request.expert, name, adapter, choice, iter(()),
                        request.prompt, said=request.said, recalled=request.recalled, key=key,
                        measured=choice.candidate, confidence=route.confidence)  # fmt: skip
        found = self._cached(request.store, request.project, key)
        if found is not None:
            return _from_cache(answer, found)
        return self._generated(request, answer, backend, last=not asked)

    def _chosen_backend(
        self, request: _Request, asked: dict[str, tuple[str, str | None]]
    ) -> Choice:
        """The selector's choice among ``asked`` for the request's intent."""
        with self._measuring:
            selector = self.selector(request.store, request.project, among=list(asked))
            return selector.choose(request.route.intent, among=list(asked))

    def _generated(
        self, request: _Request, answer: Answer, backend: Backend, *, last: bool
    ) -> Answer | None:
        """``answer`` with its pieces streaming from ``backend``; ``None`` if the backend
        failed before its first piece (an error to the selector).

        Raises
        ------
        NoBackendError
            If the backend failed and was the ``last`` one asked.
        """
        started = time.perf_counter()
        try:
            stream = backend.stream(request.prompt, request.generation, answer.adapter)
            first = next(stream, None)
        except ModelUnavailableError as e:  # its message may name a file: logged, not sent
            _log.warning("chat: backend %s failed: %s", answer.backend, e)
            self._failed(request, answer.choice)
            if last:
                raise NoBackendError(
                    f"the backend {answer.backend} could not answer; it is retried later"
                ) from None
            return None
        answer.first_token_ms = (time.perf_counter() - started) * 1e3
        answer.pieces = self._pieces(answer, first, stream, started)
        return answer

    def _failed(self, request: _Request, choice: Choice) -> None:
        """Count an error of the backend ``choice`` names for the request's intent."""
        intent = request.route.intent
        with self._measuring:
            selector = self.selector(request.store, request.project)
            selector.record(intent, choice.candidate, Outcome(success=None, error=True))
            self._save(request.store, request.project, selector, intent)

    def finish(
        self, store: ChatSources, project: str, answer: Answer, *, conversation: int | None = None,
        user: str = "",
    ) -> TurnRecord | None:  # fmt: skip
        """Once ``answer`` has streamed: its measurements to the selector (a cached answer
        measures no backend), into the response cache if it is deterministic, and, in a
        ``conversation`` of ``user``, its turn as a row (the stored turn)."""
        count = _words if answer.from_project else self.backend(answer.backend).count_tokens
        answer.tokens_in = sum(count(m.content) for m in answer.messages)
        text = "".join(answer.text)
        CHAT_TOKENS.labels("prompt").inc(answer.tokens_in)
        if not answer.cached and not answer.from_project:
            self._measure(store, project, answer, text)
        if conversation is None:
            return None
        written = TurnWrite(
            message=answer.said, answer=text, intent=answer.intent, expert=answer.expert.name,
            adapter=answer.adapter, backend=answer.backend, reason=answer.choice.reason,
            first_token_ms=answer.first_token_ms, tokens_per_s=answer.tokens_per_s,
            tokens_in=answer.tokens_in, tokens_out=answer.tokens_out, cached=answer.cached,
            recalled=answer.recalled,
        )  # fmt: skip
        turn = store.add_chat_turn(conversation, user, written, project=project)
        self._after_turn(store, project, answer, turn, user)
        return turn

    def _after_turn(
        self, store: ChatSources, project: str, answer: Answer, turn: TurnRecord, user: str
    ) -> None:
        """Once ``turn`` is kept: its code to the guardian (a code answer, not cached), its
        message to the memory of ``user`` (unless it asked to recall)."""
        if self.guardian is not None and answer.intent in CHECKED and not answer.cached:
            check = turn.answer
            self.guardian.submit(check, lambda found: self._checked(store, project, turn, found))
        if self.memory is not None and answer.intent != RECALLING:
            meta = {"conversation": turn.conversation_id, "turn": turn.id}
            self.memory.of(project, user).remember(answer.said, meta)

    def _checked(self, store: ChatSources, project: str, turn: TurnRecord, found: Check) -> None:
        """Keep the guardian's finding on ``turn``; unless it refused, the selector counts it
        as a verdict on the answer's backend."""
        store.set_turn_check(turn.id, found.status, found.message, project=project)
        if found.status == REFUSED:
            return
        if not found.passed:
            why = f"the guardian ran its code: {found.status}: {found.message}"
            store.propose_example(proposed_from(turn, why), project=project)
        with self._measuring:
            selector = self.selector(store, project)
            measured = measured_as(turn.backend, turn.adapter)
            selector.judge(turn.intent, measured, found.passed)
            self._save(store, project, selector, turn.intent)

    def _candidates(
        self, expert: Expert, champion: ModelVersionRecord | None, model: str
    ) -> dict[str, tuple[str, str | None]]:
        """What the selector may choose, as measured (``local``, ``local/python@3``), each
        a backend and the adapter it answers through: every declared backend (or the one
        ``model`` names) with the expert's adapter where it takes one, and, when ``model`` is
        ``auto``, the same backend's base model beside it, so the selector learns per intent
        whether the adapter answers better (a new version starts untried)."""
        offered = [model] if model in self.declared else list(self.declared)
        found: dict[str, tuple[str, str | None]] = {}
        for name in offered:
            adapter = self._adapter_name(expert, name, champion)
            found[measured_as(name, adapter)] = (name, adapter)
            if adapter is not None and model == AUTO:
                found[name] = (name, None)
        return found

    def _recall(
        self, project: str, user: str | None, intent: str, said: str,
        messages: Sequence[Message],
    ) -> list[Hit]:  # fmt: skip
        """The memories of ``user`` a message ``said`` of ``intent`` is given: those the
        conversation does not hold already, as many as fit in :data:`MEMORY_TOKENS`."""
        if self.memory is None or user is None or intent != RECALLING or not said:
            return []
        hits = self.memory.of(project, user).recall(said, {m.content for m in messages})
        return fitting(hits, MEMORY_TOKENS, _words)

    def _from_project(self, store: ChatSources, project: str, said: str) -> Answer:
        """The answer to a question about the project, composed from its rows as ``store``
        (the asker's view) shows them; no backend is asked (:mod:`~azuraforge.assist.facts`)."""
        settings, blobs = self._data
        folder = data_folder_of(settings, project, blobs, store)
        facts = ProjectFactsReader(store, project, folder).answer(read_question(said))
        why = "read from the project's rows" if facts.seen else "the project's rows do not show it"
        choice = Choice(FROM_PROJECT, PROJECT_DATA, why)
        return Answer(
            PROJECT_DATA, PROJECT_EXPERT, FROM_PROJECT, None, choice, iter([facts.text]),
            [Message("user", said)], said=said, text=[facts.text], first_token_ms=0.0,
            tokens_out=_words(facts.text), from_project=True,
        )  # fmt: skip

    def judge(self, store: ChatSources, project: str, turn: TurnRecord, by: str) -> None:
        """Count the verdict of ``turn`` (good: a success; bad or corrected: a failure) in the
        selector's measurements of its backend on its intent; a failure is proposed as a
        training example (:mod:`~azuraforge.platform.store.examples`), said by ``by``."""
        if turn.verdict is None or turn.backend == FROM_PROJECT:
            return  # an answer read from rows: no backend to count, no expert to train
        if turn.verdict != "good":
            why = f"{'corrected' if turn.correction else 'marked bad'} by {by}"
            store.propose_example(proposed_from(turn, why), project=project)
        with self._measuring:
            selector = self.selector(store, project)
            selector.judge(
                turn.intent, measured_as(turn.backend, turn.adapter), turn.verdict == "good"
            )
            self._save(store, project, selector, turn.intent)

    def history(self, turns: Sequence[TurnRecord], message: str) -> list[Message]:
        """A conversation's last turns as messages, then ``message``."""
        kept: list[Message] = []
        for turn in turns[-HISTORY_TURNS:]:
            kept += [Message("user", turn.message), Message("assistant", turn.answer)]
        return [*kept, Message("user", message)]

    @property
    def router(self) -> IntentRouter:
        """The intent router (the shipped one, loaded on first use)."""
        with self._lock:
            if self._router is None:
                self._router = default_router()
            return self._router

    def backend(self, name: str) -> Backend:
        """The declared backend ``name``, loaded on first use.

        Raises
        ------
        NoBackendError
            If it is the default one and the ``assist`` extra is not installed (the
            message says what to install).
        """
        with self._lock:
            if name not in self._backends:
                try:
                    self._backends[name] = _built(self.declared[name], self._data[0])
                except ModelUnavailableError as e:
                    if not self.implicit:
                        raise
                    _log.warning("chat: the default backend could not load: %s", e)
                    raise NoBackendError(MISSING_EXTRA) from e
            return self._backends[name]

    def _measure(self, store: Chat, project: str, answer: Answer, text: str) -> None:
        """A generated answer's tokens and timings to the metrics and to the selector, and
        its ``text`` into the response cache if it is deterministic."""
        backend = self.backend(answer.backend)
        answer.tokens_out = backend.count_tokens(text) if text else 0
        CHAT_TOKENS.labels("completion").inc(answer.tokens_out)
        CHAT_GENERATION_SECONDS.inc(answer.generated_ms / 1e3)
        outcome = Outcome(success=None, first_token_ms=answer.first_token_ms,
                          tokens_per_s=answer.tokens_per_s,
                          tokens=answer.tokens_in + answer.tokens_out)  # fmt: skip
        with self._measuring:
            selector = self.selector(store, project)
            selector.record(answer.intent, answer.measured, outcome)
            self._save(store, project, selector, answer.intent)
        self._keep(store, project, answer, text)

    def selector(self, store: Chat, project: str, among: Sequence[str] = ()) -> BackendSelector:
        """The project's selector over the declared backends (and ``among``: backends with
        an expert's adapter version, ``local/python@3``, each measured apart), its
        measurements read again from the store (other API processes add to them too; its
        health, who is out for errors, is this process's own). Callers that learn hold
        ``_measuring`` from this read to their write (:meth:`_save`, what was learned since
        this read), so no answer of another thread is lost between them."""
        with self._measuring:
            rows = [
                {k: v for k, v in row.items() if k != "updated_at"}
                for row in store.list_backend_performance(project=project)
            ]
            if project not in self._selectors:
                self._selectors[project] = BackendSelector(
                    [self._candidate(b) for b in self.declared], discount=self.discount
                )
            selector = self._selectors[project]
            self._add_candidates(selector, [*among, *(str(row["candidate"]) for row in rows)])
            selector.restore(rows)
            self._read[project] = {(r["task"], r["candidate"]): r for r in rows}
            return selector

    def _add_candidates(self, selector: BackendSelector, measured: Sequence[str]) -> None:
        """Add to ``selector`` those of ``measured`` it lacks whose backend is declared."""
        for candidate in measured:
            if candidate not in selector.candidates and self._backend_of(candidate):
                selector.add(self._candidate(candidate))

    def _candidate(self, measured: str) -> Candidate:
        declared = self.declared[self._backend_of(measured)]
        return Candidate(measured, declared.cost_per_token, tuple(declared.specialties))

    def _backend_of(self, measured: str) -> str:
        """The declared backend a measured candidate is (``""``: none declared now)."""
        name = measured.split("/", 1)[0]
        return name if name in self.declared else ""

    def performance(self, store: Chat, project: str) -> list[dict[str, Any]]:
        """What the project's selector measured of each declared backend per task type (its
        rows, with ``success_rate``), and whether it prefers it for the task now
        (``preferred``)."""
        with self._measuring:
            selector = self.selector(store, project)
            rows = [row for row in selector.rows() if row["candidate"] in selector.candidates]
            tasks: dict[str, list[str]] = {}
            for row in rows:
                tasks.setdefault(str(row["task"]), []).append(str(row["candidate"]))
            best = {task: selector.best(task, among) for task, among in tasks.items()}
            return [
                {**row, "preferred": best[str(row["task"])] == row["candidate"],
                 "success_rate": selector.estimate(str(row["task"]),
                                                   str(row["candidate"])).success_rate}
                for row in rows
            ]  # fmt: skip

    def cache_stats(self, store: Chat, project: str) -> CacheStats | None:
        """The project's response cache (None: the cache is off)."""
        return None if self.answers is None else self.answers.stats(store, project)

    def _key(
        self, prompt: list[Message], settings: GenerationSettings, backend: str,
        adapter: str | None,
    ) -> str | None:  # fmt: skip
        """The request's cache key, if it is cached: deterministic, with the cache on. The
        model is the backend's whole declaration (another model or server is another key)."""
        if self.answers is None or not cacheable(settings):
            return None
        model = self.declared[backend].model_dump_json()
        return cache_key(prompt, settings, model, adapter)

    def _cached(self, store: Chat, project: str, key: str | None) -> Cached | None:
        if key is None or self.answers is None:
            return None
        found = self.answers.take(store, key, project)
        CHAT_CACHE_LOOKUPS.labels("miss" if found is None else "hit").inc()
        return found

    def _keep(self, store: Chat, project: str, answer: Answer, text: str) -> None:
        if answer.key is None or self.answers is None or not text:
            return
        kept = Cached(text, answer.tokens_out, answer.generated_ms)
        self.answers.keep(store, answer.key, kept, project)

    def _adapter_name(
        self, expert: Expert, backend: str, champion: ModelVersionRecord | None
    ) -> str | None:
        """The adapter ``expert`` answers through on ``backend``: the champion version as
        ``<name>@<version>``; without one, the expert's own adapter if the backend has it
        loaded; else (or on a backend that takes no adapters) none: the base model."""
        if backend_class(self.declared[backend].kind).adapter_format != "gguf":
            return None  # the registry keeps experts' adapters as GGUF files
        if champion is not None:
            return f"{expert.name}@{champion.version}"
        loaded = self._backends.get(backend)
        return expert.adapter if loaded and expert.adapter in loaded.adapters() else None

    def _load(
        self, backend: Backend, expert: Expert, name: str, version: ModelVersionRecord
    ) -> None:
        """Load adapter ``version`` into ``backend`` as ``name`` unless it is (its files
        copied from the blob store and checked), the expert's other versions unloaded."""
        with self._lock:
            if name in backend.adapters():
                return
            backend.load_adapter(name, checked_folder(self.cache, version) / GGUF_FILE)
            for older in backend.adapters():
                if older.startswith(f"{expert.name}@") and older != name:
                    backend.unload_adapter(older)

    def _expert(self, intent: str) -> Expert:
        chosen = next((e for e in EXPERTS if intent in e.intents), None)
        return chosen or EXPERTS[0]

    @staticmethod
    def _with_system(messages: Sequence[Message], expert: Expert) -> list[Message]:
        if any(m.role == "system" for m in messages):
            return list(messages)
        return [Message("system", expert.system_prompt), *messages]

    def _pieces(
        self, answer: Answer, first: str | None, stream: Iterator[str], started: float
    ) -> Iterator[str]:
        if first is None:
            return
        answer.text.append(first)
        yield first
        for piece in stream:
            answer.text.append(piece)
            yield piece
        answer.generated_ms = (time.perf_counter() - started) * 1e3
        seconds = answer.generated_ms / 1e3 - (answer.first_token_ms or 0.0) / 1e3
        pieces = len(answer.text)
        answer.tokens_per_s = (pieces - 1) / seconds if pieces > 1 and seconds > 0 else None

    def _save(self, store: Chat, project: str, selector: BackendSelector, task: str) -> None:
        """Add what ``selector`` learned on ``task`` since :meth:`selector` read it to the
        store's counts (other API processes' answers, counted meanwhile, are kept)."""
        read = self._read.get(project, {})
        learnt = [learned(read.get((row["task"], row["candidate"])), row)
                  for row in selector.rows() if row["task"] == task]  # fmt: skip
        store.add_backend_performance([row for row in learnt if row], project=project)


def proposed_from(turn: TurnRecord, why: str) -> ProposedExample:
    """The training example a failed ``turn`` proposes: its message, its answer, ``why`` it
    failed, and the user's correction as the right output if they gave one."""
    return ProposedExample(
        expert=turn.expert, intent=turn.intent, prompt=turn.message, wrong_output=turn.answer,
        why=why, output=turn.correction, turn_id=turn.id,
    )  # fmt: skip


def measured_as(backend: str, adapter: str | None) -> str:
    """What the selector measures an answer of ``backend`` through ``adapter`` as.

    >>> measured_as("local", None), measured_as("local", "python@3")
    ('local', 'local/python@3')
    """
    return backend if adapter is None else f"{backend}/{adapter}"


def _from_cache(answer: Answer, found: Cached) -> Answer:
    """``answer`` as the response cache kept it: its text at once, no backend asked."""
    answer.pieces, answer.text = iter([found.answer]), [found.answer]
    answer.tokens_out, answer.first_token_ms, answer.cached = found.tokens_out, 0.0, True
    return answer


def _with_memories(prompt: list[Message], recalled: Sequence[Hit], said: str) -> list[Message]:
    """``prompt`` with the ``recalled`` memories before the user's last message ``said``."""
    if not recalled:
        return prompt
    at = max(i for i, m in enumerate(prompt) if m.role == "user")
    context = rag_context(recalled, MEMORY_TOKENS, _words)
    return [*prompt[:at], Message("user", f"{context}\n\n{said}"), *prompt[at + 1 :]]


def _words(text: str) -> int:
    """Tokens of ``text`` as the memory context counts them before a backend is chosen: a
    word is about 1.3 tokens of a BPE vocabulary."""
    return round(len(text.split()) * 1.3)


def _checked(backends: Sequence[AssistBackend]) -> dict[str, AssistBackend]:
    """``backends`` by name, each of a kind the group ``azuraforge.backends`` declares (the
    plugin folder's included: it is loaded before the chat is made).

    Raises
    ------
    InvalidParameterError
        Naming the backend whose kind there is not, and the kinds there are.
    """
    check_kinds((backend.name, backend.kind) for backend in backends)
    return {backend.name: backend for backend in backends}


def _built(declared: AssistBackend, settings: Settings) -> Backend:
    """The backend ``declared`` declares, built by its kind (a served model computes on
    :func:`served_threads` unless it says; transformers keeps its dequantised bases in
    ``home/assist/bases``)."""
    spec = BackendSpec(
        declared.kind,
        declared.name,
        model=declared.model,
        url=declared.url,
        threads=declared.threads or served_threads(),
        cache=settings.home / "assist" / "bases",
    )
    return build(spec)


def served_threads() -> int:
    """The threads a served llama.cpp model computes on unless its declaration says: one less
    than the CPUs the server may use (at least one), leaving a core to the server and its
    clients. On 2 cores, both threads gave no more tokens/s through the API than one (the
    second only fought the server for its core: docs/benchmarks.md, chat_api)."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


def _cache_settings(settings: Settings) -> tuple[str, float, int]:
    """What the answers' cache is opened with."""
    return settings.assist_cache_url, settings.assist_cache_ttl, settings.assist_cache_entries

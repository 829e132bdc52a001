"""The assistant's turn on real parts (router on n-grams, SQLite memory, echo backend):
routing to experts, memory across sessions, streaming, JSON logs and every degradation."""

import copy
import json

import pytest

from azuraforge.assist.backends import Backend, Capabilities, EchoBackend, Message
from azuraforge.assist.embeddings import CharNgrams
from azuraforge.assist.intents import Example
from azuraforge.assist.memory import SqliteVecMemory
from azuraforge.assist.orchestrator import Assistant, read_expert_map, record_feedback
from azuraforge.assist.routing import IntentRouter, train_shipped_router
from azuraforge.errors import (
    DataFormatError,
    InvalidParameterError,
    ModelUnavailableError,
    NotFoundError,
)

WEATHER = [
    Example("will it rain tomorrow", "weather"),
    Example("yarın yağmur yağacak mı", "weather"),
    Example("how hot is it in İzmir today", "weather"),
    Example("good morning friend", "greet"),
    Example("günaydın dostum", "greet"),
    Example("hello, nice to meet you", "greet"),
]


class DownBackend(Backend):
    """A backend whose server is down: every generation fails before its first piece."""

    name = "down"
    capabilities = Capabilities(streaming=True, adapters=False, context_tokens=0)

    def _stream(self, messages, settings, adapter):
        raise ModelUnavailableError("connection refused")
        yield ""  # pragma: no cover - makes this a generator

    def count_tokens(self, text):
        return len(text.split())


class BrokenMemory(SqliteVecMemory):
    def search(self, query, k=5, where=None):
        raise OSError("disk I/O error")


@pytest.fixture(scope="module")
def router():
    return train_shipped_router(CharNgrams())


@pytest.fixture
def echo(tmp_path):
    backend = EchoBackend()
    (tmp_path / "python.gguf").write_bytes(b"x")
    backend.load_adapter("python", tmp_path / "python.gguf")
    return backend


def log_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_code_question_goes_to_the_python_expert_with_its_adapter_and_is_logged(
    router, echo, tmp_path
):
    log = tmp_path / "turns.jsonl"
    assistant = Assistant(router, echo, turn_log=log)
    answer = "".join(assistant.reply("Python'da bir listeyi tersine çeviren fonksiyon yaz"))
    assert answer.startswith("[python] echo:")
    (record,) = log_lines(log)
    assert (record["intent"], record["expert"], record["adapter"]) == (
        "code_python",
        "python",
        "python",
    )
    assert record["tokens_out"] == len(answer.split()) and record["degraded"] == []
    assert 0 < record["first_token_ms"] <= record["total_ms"]


def test_an_expert_whose_adapter_is_missing_answers_with_the_base_model_and_says_so(router):
    assistant = Assistant(router, EchoBackend())
    answer = "".join(assistant.reply("Damlaya damlaya göl olur atasözünün anlamı nedir?"))
    assert answer.startswith("echo:") and assistant.last.expert == "turkish"
    assert assistant.last.degraded == ["adapter 'turkish' not loaded: the base model answered"]


class RecordingEcho(EchoBackend):
    """The echo backend, keeping the messages of its last generation."""

    def _stream(self, messages, settings, adapter):
        self.seen = messages
        return super()._stream(messages, settings, adapter)


def test_memory_is_recalled_across_sessions_for_the_same_user_only(router, tmp_path):
    path = tmp_path / "memory.db"
    first = Assistant(
        router, EchoBackend(), memory=SqliteVecMemory(path, CharNgrams()), user="ayse"
    )
    "".join(first.reply("Kız kardeşimin adı Elif, bunu unutma"))
    first.memory.close()
    for user, remembered in (("ayse", True), ("mehmet", False)):
        backend = RecordingEcho()
        later = Assistant(router, backend, memory=SqliteVecMemory(path, CharNgrams()), user=user)
        "".join(later.reply("kız kardeşimin adı neydi?"))
        assert later.last.intent == "memory_recall"
        system, *_, message = backend.seen
        assert ("- Kız kardeşimin adı Elif, bunu unutma" in message.content) is remembered
        assert message.content.endswith("kız kardeşimin adı neydi?")
        assert system.content == later.experts["general"].system_prompt
        assert later.last.memories == (1 if remembered else 0)


def test_each_prompt_begins_with_the_previous_prompt_and_its_answer(router, tmp_path):
    """What lets llama.cpp reuse its cached prompt: only the new turn is new."""
    backend = RecordingEcho()
    memory = SqliteVecMemory(tmp_path / "memory.db", CharNgrams())
    assistant = Assistant(router, backend, memory=memory, user="ayse")
    prompts, answers = [], []
    for text in ("Kız kardeşimin adı Elif", "Kız kardeşim İzmir'de yaşıyor", "merhaba"):
        answers.append("".join(assistant.reply(text)))
        prompts.append(backend.seen)
    for before, answer, after in zip(prompts, answers, prompts[1:], strict=False):
        assert after[: len(before) + 1] == [*before, Message("assistant", answer)]
    # What the history already holds is not recalled again from the long-term memory.
    assert not any("- Kız kardeşimin" in prompt[-1].content for prompt in prompts)
    assert assistant.last.memories == 0


def test_a_down_backend_falls_back_and_a_broken_memory_is_skipped(router, tmp_path):
    memory = BrokenMemory(tmp_path / "m.db", CharNgrams())
    assistant = Assistant(router, DownBackend(), fallback=EchoBackend(), memory=memory)
    assert "".join(assistant.reply("merhaba, nasılsın?")).startswith("echo:")
    reasons = assistant.last.degraded
    assert reasons[0].startswith("memory unavailable: OSError: disk I/O error")
    assert reasons[1] == "backend down unavailable: connection refused"
    assert assistant.last.backend == "echo"
    with pytest.raises(ModelUnavailableError, match="connection refused"):
        "".join(Assistant(router, DownBackend()).reply("merhaba"))


class CountingNgrams(CharNgrams):
    """Character n-grams that note each text they compute a row for, and on which side."""

    def __init__(self):
        super().__init__()
        self.computed = []

    def _compute(self, texts, side):
        self.computed += [(side, text) for text in texts]
        return super()._compute(texts, side)


def test_a_turn_embeds_its_message_once_to_route_and_search_and_once_to_store(router, tmp_path):
    """The router and the memory search each embedded the message (E5: 30 ms a time)."""
    embedder = CountingNgrams()
    shared = copy.copy(router)
    shared.embedder = embedder  # the same n-grams: the same rows
    memory = SqliteVecMemory(tmp_path / "m.db", embedder)
    assistant = Assistant(shared, EchoBackend(), memory=memory, user="ayse")
    "".join(assistant.reply("Kız kardeşimin adı Elif"))
    message = "Kız kardeşimin adı Elif"
    assert embedder.computed == [("query", message), ("passage", message)]
    "".join(assistant.reply("kız kardeşimin adı neydi?"))
    assert assistant.last.intent == "memory_recall" and len(embedder.computed) == 4


def test_a_users_router_maps_its_intents_to_experts_by_a_file(tmp_path):
    router = IntentRouter(CharNgrams(dim=512), threshold=0.0, fallback="greet").fit(WEATHER)
    mapping = tmp_path / "experts.json"
    mapping.write_text(json.dumps({"weather": "turkish"}))
    experts = read_expert_map(mapping, router.labels)
    assert [e.intents for e in experts] == [
        ("general_chat", "memory_recall"),
        ("turkish_culture", "weather"),
        ("code_python", "code_debug"),
    ]
    assistant = Assistant(router, EchoBackend(), experts=experts)
    "".join(assistant.reply("will it rain in Ankara tomorrow?"))
    assert (assistant.last.intent, assistant.last.expert) == ("weather", "turkish")
    "".join(assistant.reply("good morning to you"))
    assert (assistant.last.intent, assistant.last.expert) == ("greet", "general")  # unmapped


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"wether": "turkish"}', "intent 'wether' is not one of the router's: greet, weather"),
        ('{"weather": "chef"}', "goes to expert 'chef'; experts: general, turkish, python"),
        ('["weather"]', "expected an object of intent to expert"),
        ("{weather: turkish}", "not a readable JSON file"),
    ],
)
def test_a_bad_expert_map_is_one_error_naming_the_file(tmp_path, content, message):
    mapping = tmp_path / "experts.json"
    mapping.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        read_expert_map(mapping, ["greet", "weather"])


def test_history_switch_clear_and_feedback(router, tmp_path):
    assistant = Assistant(router, EchoBackend())
    "".join(assistant.reply("benim adım Ayşe"))
    assert [t.role for t in assistant.buffer.turns()] == ["user", "assistant"]
    assistant.switch("python")
    "".join(assistant.reply("merhaba"))
    assert assistant.last.expert == "python"
    with pytest.raises(NotFoundError, match="no expert 'chef'; experts: general, turkish, python"):
        assistant.switch("chef")
    assistant.clear()
    assert assistant.buffer.turns() == []
    feedback = tmp_path / "feedback.jsonl"
    record_feedback(feedback, assistant.last, "correction", "Merhaba! Nasıl yardımcı olabilirim?")
    (stored,) = log_lines(feedback)
    assert stored["verdict"] == "correction" and stored["text"] == "merhaba"
    with pytest.raises(InvalidParameterError, match="needs the corrected answer"):
        record_feedback(feedback, assistant.last, "correction")
    with pytest.raises(InvalidParameterError, match="an empty message"):
        assistant.reply("   ")


def test_with_a_registry_each_expert_gets_its_newest_trained_adapter_loaded_on_demand(
    router, tmp_path
):
    from azuraforge.assist.adapters import AdapterPool, AdapterRegistry
    from tests.assist.adapters.test_registry import peft_folder
    from tests.assist.tiny_llama import build_tiny_llama

    base = build_tiny_llama(tmp_path / "tiny", ["hello world"])
    registry = AdapterRegistry(tmp_path / "experts")
    for _ in range(2):
        registry.register(
            "python", peft_folder(tmp_path / "peft"), base, base_sha256="", data_sha256=""
        )
    backend = EchoBackend()
    assistant = Assistant(router, backend, adapters=AdapterPool(backend, registry))
    assert backend.adapters() == []
    answer = "".join(assistant.reply("Python'da bir listeyi tersine çeviren fonksiyon yaz"))
    assert answer.startswith("[python@v2] echo:") and assistant.last.adapter == "python@v2"
    assert backend.adapters() == ["python@v2"]
    "".join(assistant.reply("Damlaya damlaya göl olur atasözünün anlamı nedir?"))
    assert assistant.last.expert == "turkish" and assistant.last.adapter is None
    (note,) = assistant.last.degraded
    assert note.startswith("no adapter for turkish: expert 'turkish' has no adapter")

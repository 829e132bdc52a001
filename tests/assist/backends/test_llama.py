"""The llama.cpp backend on the real packaged SmolLM2-135M-Instruct (offline)."""

import pytest

from azuraforge.assist.backends import GenerationSettings, Message
from azuraforge.assist.backends.llama import LlamaCppBackend
from azuraforge.errors import InvalidParameterError, NotFoundError

GREEDY = GenerationSettings(max_tokens=24, temperature=0.0, seed=1)
CHAT = [Message("user", "Write a Python function that adds two numbers.")]


@pytest.fixture(scope="module")
def backend():
    model = LlamaCppBackend(context_tokens=512, threads=1)
    yield model
    model.close()


@pytest.mark.slow
def test_streamed_pieces_join_to_the_generated_answer(backend):
    pieces = list(backend.stream(CHAT, GREEDY))
    assert len(pieces) > 3 and "".join(pieces) == backend.generate(CHAT, GREEDY)
    assert "def" in "".join(pieces)
    assert 0 < backend.count_tokens("".join(pieces)) <= GREEDY.max_tokens


@pytest.mark.slow
def test_adapters_that_are_not_there_or_not_lora_are_refused_clearly(backend, tmp_path):
    with pytest.raises(NotFoundError, match="no adapter 'python'; loaded: none"):
        backend.stream(CHAT, adapter="python")
    with pytest.raises(NotFoundError, match="not found"):
        backend.load_adapter("python", tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file")
    with pytest.raises(InvalidParameterError, match="is not a LoRA adapter in GGUF format"):
        backend.load_adapter("python", junk)
    assert backend.adapters() == []


@pytest.mark.slow
def test_prompt_caching_reuses_the_shared_prefix_unless_turned_off(backend, monkeypatch):
    cached: list[int] = []
    generate = backend._llm.generate

    def noting_the_cache(tokens, *args, **kwargs):  # llama-cpp-python's token loop
        cached.append(backend._llm.n_tokens)
        return generate(tokens, *args, **kwargs)

    monkeypatch.setattr(backend._llm, "generate", noting_the_cache)
    other = [Message("user", "Write a Python function that multiplies two numbers.")]
    backend.generate(CHAT, GREEDY)
    backend.generate(other, GREEDY)
    monkeypatch.setattr(backend, "cache_prompts", False)
    fresh = backend.generate(other, GREEDY)
    assert cached[1] > 0 and cached[2] == 0
    assert fresh == backend.generate(other, GREEDY)

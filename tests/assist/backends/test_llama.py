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
    prompts: list[int] = []
    evaluated: list[list[int]] = []
    generate, evaluate = backend._llm.generate, backend._llm.eval

    def noting_the_prompt(tokens, *args, **kwargs):  # llama-cpp-python's token loop
        prompts.append(len(tokens))
        evaluated.append([])
        return generate(tokens, *args, **kwargs)

    def noting_what_is_evaluated(tokens):
        evaluated[-1].append(len(tokens))
        return evaluate(tokens)

    monkeypatch.setattr(backend._llm, "generate", noting_the_prompt)
    monkeypatch.setattr(backend._llm, "eval", noting_what_is_evaluated)
    other = [Message("user", "Write a Python function that multiplies two numbers.")]
    backend.generate(CHAT, GREEDY)
    backend.generate(other, GREEDY)
    monkeypatch.setattr(backend, "cache_prompts", False)
    backend.generate(other, GREEDY)
    reused = [prompt - batches[0] for prompt, batches in zip(prompts, evaluated, strict=True)]
    assert reused[1] > 0, "the chat template's shared beginning was evaluated again"
    assert reused[2] == 0


@pytest.mark.slow
def test_messages_longer_than_the_context_are_refused_in_one_line(backend):
    long = [Message("user", "Explain this log line by line. " + "error 42 at line 7; " * 200)]
    with pytest.raises(InvalidParameterError, match="do not fit the model's context"):
        backend.generate(long, GREEDY)
    assert "def" in backend.generate(CHAT, GREEDY)

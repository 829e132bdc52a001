"""The whole LoRA path on a tiny random Llama with a tokenizer trained here: train with PEFT ->
save as a registered version -> convert to GGUF -> load into llama.cpp -> swap -> stream.

Real engines throughout (transformers + PEFT + torch, llama.cpp); the conversion is judged by
llama.cpp computing the same logits through the GGUF adapter as PEFT through its own.
"""

import json
import threading
from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from azuraforge.assist.adapters import AdapterPool, AdapterRegistry
from azuraforge.assist.adapters.training import LoraSettings, train_expert
from azuraforge.assist.backends import GenerationSettings, Message
from azuraforge.assist.backends.llama import LlamaCppBackend
from azuraforge.assist.backends.transformers import TransformersBackend
from azuraforge.assist.bases import file_sha256
from azuraforge.assist.corpora import Instruction
from azuraforge.assist.prompts import format_prompt
from tests.assist.tiny_llama import build_tiny_llama

NAMES = ["Ada", "Alan", "Grace", "Linus", "Guido", "Barbara", "Edsger", "Donald", "Ken", "Dennis"]
EXAMPLES = [
    Instruction(f"Greet {name}.", "", f"Merhaba {name}, the quick brown fox!") for name in NAMES
]
SYSTEM = "You greet people."
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Merhaba dünya! Bugün hava çok güzel.",
    "You greet people. " + " ".join(e.instruction + " " + e.output for e in EXAMPLES),
]
SETTINGS = LoraSettings(rank=4, alpha=8, dropout=0.0, steps=40, learning_rate=1e-2, seed=3)
GREEDY = GenerationSettings(max_tokens=12, temperature=0.0, seed=1)


def _taught(answer: str) -> bool:
    """The answer has the taught form (a model this small does not always copy the name)."""
    return answer.startswith("Merhaba") and "quick brown fox" in answer


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), CORPUS, seed=5)


@pytest.fixture(scope="module")
def trained(base: Path, tmp_path_factory: pytest.TempPathFactory):
    """The expert 'greeter', trained on eight names and held out on two."""
    root = tmp_path_factory.mktemp("work")
    registry = AdapterRegistry(root / "experts")
    version = train_expert(
        registry,
        "greeter",
        base,
        EXAMPLES[:8],
        held_out=EXAMPLES[8:],
        settings=SETTINGS,
        system_prompt=SYSTEM,
        cache=root / "bases",
        threads=1,
    )
    return registry, version, root / "bases"


@pytest.fixture(scope="module")
def llama(base: Path):
    backend = LlamaCppBackend(base, context_tokens=256, threads=1)
    yield backend
    backend.close()


@pytest.mark.slow
def test_training_records_where_the_adapter_came_from_and_that_it_learned(base, trained):
    registry, version, _ = trained
    assert (version.expert, version.version, version.name) == ("greeter", 1, "greeter@v1")
    assert version.base == str(base.resolve()) and version.base_sha256 == file_sha256(base)
    assert len(version.data_sha256) == 64 and version.settings["rank"] == 4
    metrics = version.metrics
    assert metrics["train_examples"] == 8 and metrics["held_out_examples"] == 2
    assert metrics["too_long"] == 0
    assert metrics["last_train_loss"] < metrics["first_train_loss"] / 4
    # The held-out names were never seen, yet the pattern around them was learned.
    assert metrics["perplexity"] < metrics["base_perplexity"] / 4
    assert {p.name for p in version.folder.iterdir()} == {"peft", "adapter.gguf", "version.json"}
    assert registry.get("greeter") == version and registry.experts() == ["greeter"]


def _last_logits(llama: LlamaCppBackend, adapter: str | None, ids: list[int]) -> np.ndarray:
    # White-box: the backend's own context, with the adapter set as a generation sets it.
    with llama._generating:
        llama._use(adapter)
        llama._llm.reset()
        llama._llm.eval(ids)
        pointer = llama_cpp.llama_get_logits_ith(llama._llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(llama._llm.n_vocab(),)).astype(np.float64)


@pytest.mark.slow
def test_llama_cpp_through_the_gguf_adapter_computes_what_peft_computes(trained, llama):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    registry, version, bases = trained
    folder = next(bases.iterdir())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(folder), version.folder / "peft"
    ).eval()
    AdapterPool(llama, registry).ensure("greeter")
    for name in ("Ken", "Dennis", "Zeynep"):
        prompt = format_prompt(
            tokenizer,
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Greet {name}."}],
        )
        ids = tokenizer(prompt + "Merhaba", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            theirs = peft_model(torch.tensor([ids])).logits[0, -1].double().numpy()
            with peft_model.disable_adapter():
                bare = peft_model(torch.tensor([ids])).logits[0, -1].double().numpy()
        ours = _last_logits(llama, "greeter@v1", ids)
        scale = np.abs(theirs).max()
        # llama.cpp's F16 key/value cache costs ~3e-4 of the scale; a wrong conversion (rows
        # of q/k not permuted, alpha lost) costs tenths, and so does no adapter at all.
        assert np.abs(ours - theirs).max() <= 3e-3 * scale
        assert np.abs(bare - theirs).max() > 0.05 * scale
        assert np.abs(_last_logits(llama, None, ids) - bare).max() <= 3e-3 * scale


@pytest.mark.slow
def test_the_served_adapter_streams_the_answer_it_was_taught_and_swaps_back(trained, llama):
    registry, _, _ = trained
    name = AdapterPool(llama, registry).ensure("greeter")
    chat = [Message("system", SYSTEM), Message("user", "Greet Ada.")]
    pieces = list(llama.stream(chat, GREEDY, adapter=name))
    assert _taught("".join(pieces)) and len(pieces) > 3
    assert not _taught(llama.generate(chat, GREEDY))
    assert "".join(llama.stream(chat, GREEDY, adapter=name)) == "".join(pieces)


@pytest.mark.slow
def test_swaps_under_streaming_load_keep_each_generation_on_its_own_adapter(
    trained, llama, monkeypatch
):
    """Two threads stream, each alternating the adapter and none, while a third loads and
    unloads another copy of the adapter: every answer has its own adapter's form, every
    answer after a swap is the fresh context's answer, token for token, and a swap leaves no
    cached keys and values computed with the other weights (on this tiny model they move
    the logits by about half their scale, yet rarely the greedy answer)."""
    registry, version, _ = trained
    name = AdapterPool(llama, registry).ensure("greeter")
    chats = [[Message("system", SYSTEM), Message("user", f"Greet {n}.")] for n in NAMES[:3]]
    fresh = {}
    for index, chat in enumerate(chats):
        for adapter in (name, None):
            llama._llm.reset()
            fresh[index, adapter] = llama.generate(chat, GREEDY, adapter=adapter)
    served: list[tuple[int, str | None, str, bool, int]] = []
    done, seen, use = threading.Event(), threading.local(), llama._use

    def noting_swaps(adapter: str | None) -> None:  # runs under the generation lock
        seen.swapped = adapter != llama._active
        use(adapter)
        seen.cached = llama._llm.n_tokens

    monkeypatch.setattr(llama, "_use", noting_swaps)

    def stream(offset: int) -> None:
        for turn in range(8):
            index, adapter = (turn + offset) % len(chats), name if (turn + offset) % 2 else None
            answer = "".join(llama.stream(chats[index], GREEDY, adapter=adapter))
            served.append((index, adapter, answer, seen.swapped, seen.cached))

    def churn() -> None:
        while not done.is_set():
            llama.load_adapter("copy", version.folder / "adapter.gguf")
            llama.unload_adapter("copy")

    threads = [threading.Thread(target=stream, args=(k,)) for k in (0, 1)]
    churner = threading.Thread(target=churn)
    for thread in [*threads, churner]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    churner.join()
    assert len(served) == 16 and llama.adapters() == [name]
    assert any(swapped for *_, swapped, _ in served)
    for index, adapter, answer, swapped, cached in served:
        assert _taught(answer) == (adapter is not None), (index, adapter, answer)
        if swapped:
            assert answer == fresh[index, adapter] and cached == 0


@pytest.mark.slow
def test_the_transformers_backend_answers_with_and_without_the_peft_adapter(base, trained):
    registry, _, bases = trained
    backend = TransformersBackend(base, cache=bases, threads=1)
    pool = AdapterPool(backend, registry)
    chat = [Message("system", SYSTEM), Message("user", "Greet Ada.")]
    name = pool.ensure("greeter")
    assert backend.adapters() == [name]
    taught = "".join(backend.stream(chat, GREEDY, adapter=name))
    assert _taught(taught)
    bare = backend.generate(chat, GREEDY)
    assert not _taught(bare)
    # A reader that stops after one piece ends the generation and frees the backend.
    stream = backend.stream(chat, GREEDY, adapter=name)
    next(stream)
    stream.close()
    backend.unload_adapter(name)
    assert backend.adapters() == [] and backend.generate(chat, GREEDY) == bare
    assert backend.count_tokens("Merhaba Dennis") > 0


@pytest.mark.slow
def test_a_second_training_is_the_next_version_and_the_base_is_dequantised_once(base, trained):
    registry, first, bases = trained
    before = sorted(p.name for p in bases.iterdir())
    second = train_expert(
        registry,
        "greeter",
        base,
        EXAMPLES,
        settings=LoraSettings(rank=2, alpha=4, steps=2, seed=1),
        cache=bases,
        threads=1,
    )
    assert second.version == 2 and registry.get("greeter") == second
    assert registry.get("greeter", 1) == first
    assert [v.version for v in registry.versions("greeter")] == [1, 2]
    assert second.data_sha256 != first.data_sha256
    assert "perplexity" not in second.metrics  # nothing held out, nothing claimed
    assert sorted(p.name for p in bases.iterdir()) == before
    record = json.loads((second.folder / "version.json").read_text())
    assert record["settings"]["rank"] == 2

"""The tiny random Llama GGUF: llama.cpp and transformers load it and compute the same thing.

Real engines, no mocks: llama.cpp (llama-cpp-python) generates from the file and gives its
logits; transformers loads the same file (``gguf_file=``) offline, and both tokenizers, built
from the file's metadata alone, must give the same ids.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import llama_cpp
import numpy as np
import pytest

from tests.assist.tiny_llama import (
    CHATML_TEMPLATE,
    ENDOFTEXT,
    IM_END,
    IM_START,
    TinyLlamaConfig,
    build_tiny_llama,
    permute_qk,
    random_hf_state_dict,
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, this is a tiny model for tests; generation works on two cores.",
    "AzuraForge builds, trains, tracks and serves models on its own NumPy core.",
    "The assistant answers questions about pipelines, experiments and the model registry.",
    "Train a forecaster on the weather data, then compare the runs in the dashboard.",
    "Merhaba dünya! Bugün hava çok güzel, ılık ve güneşli.",
    "İstanbul'da yaşıyorum; Iğdır'dan gelen arkadaşım Şişli'de çalışıyor.",
    "Modeli eğit, sonuçları karşılaştır ve en iyi deneyi kaydet.",
    "Yapay zekâ asistanı sorulara Türkçe ve İngilizce cevap verir.",
]

SAMPLES = [
    "Hello world, the quick brown fox.",
    "I'm sure they'll train it; it's DONE.",
    "  two  spaces,\ttabs\r\nand new lines   ",
    "numbers 3.14159 2024-01-01 1,000,000",
    "Merhaba dünya! İstanbul'da ılık ve güneşli bir gün.",
    "IĞDIR ığdır ŞİŞLİ şişli ÇÖĞÜŞ çöğüş — “tırnak”",
    "unseen: emoji 🙂👍🏽 and 日本語",
]

# llama.cpp's KV cache in F32: its default F16 cache alone costs ~3e-4 relative on the logits.
F32 = llama_cpp.GGML_TYPE_F32


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), CORPUS, seed=7)


@pytest.fixture(scope="module")
def vocab_size(model_path: Path) -> int:
    return len(gguf.GGUFReader(model_path).fields["tokenizer.ggml.tokens"].data)


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Iterator[llama_cpp.Llama]:
    model = llama_cpp.Llama(
        model_path=str(model_path),
        n_ctx=256,
        n_threads=2,
        logits_all=True,
        type_k=F32,
        type_v=F32,
        seed=1,
        verbose=False,
    )
    yield model
    model.close()


@pytest.fixture(scope="module")
def hf(model_path: Path) -> Iterator[tuple[Any, Any]]:
    """transformers' model and tokenizer from the GGUF file, with the hub offline."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, name = model_path.parent, model_path.name
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        yield model.eval(), tokenizer


def test_the_file_is_built_fast_and_the_same_from_the_same_corpus_and_seed(tmp_path, model_path):
    start = time.perf_counter()
    again = build_tiny_llama(tmp_path, CORPUS, seed=7)
    assert time.perf_counter() - start < 5
    assert again.read_bytes() == model_path.read_bytes()
    assert build_tiny_llama(tmp_path / "other", CORPUS, seed=8).read_bytes() != again.read_bytes()


def test_the_metadata_and_tensors_are_those_of_a_converted_llama(model_path, vocab_size):
    reader = gguf.GGUFReader(model_path)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    config = TinyLlamaConfig()
    assert fields["general.architecture"] == "llama"
    assert fields["general.file_type"] == gguf.LlamaFileType.ALL_F32
    assert {
        key: fields[f"llama.{key}"]
        for key in (
            "context_length",
            "embedding_length",
            "block_count",
            "feed_forward_length",
            "attention.head_count",
            "attention.head_count_kv",
            "rope.dimension_count",
            "vocab_size",
        )
    } == {
        "context_length": 256,
        "embedding_length": 64,
        "block_count": 2,
        "feed_forward_length": 128,
        "attention.head_count": 4,
        "attention.head_count_kv": 2,
        "rope.dimension_count": 16,
        "vocab_size": vocab_size,
    }
    assert fields["llama.rope.freq_base"] == pytest.approx(10000.0)
    assert fields["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)

    tokens = fields["tokenizer.ggml.tokens"]
    assert 300 <= vocab_size <= 1000 and tokens[:3] == [ENDOFTEXT, IM_START, IM_END]
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.ggml.pre"] == "gpt-2"
    assert fields["tokenizer.ggml.token_type"][:4] == [3, 3, 3, 1]  # CONTROL x3, then NORMAL
    assert len(fields["tokenizer.ggml.merges"]) == vocab_size - 3 - 256
    assert (fields["tokenizer.ggml.bos_token_id"], fields["tokenizer.ggml.eos_token_id"]) == (1, 2)
    assert fields["tokenizer.ggml.add_bos_token"] is False
    assert fields["tokenizer.chat_template"] == CHATML_TEMPLATE

    tensors = {tensor.name: tensor for tensor in reader.tensors}
    per_block = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm"]
    per_block += ["ffn_gate", "ffn_up", "ffn_down"]
    assert set(tensors) == {"token_embd.weight", "output_norm.weight", "output.weight"} | {
        f"blk.{block}.{name}.weight" for block in range(2) for name in per_block
    }
    assert {tensor.tensor_type for tensor in reader.tensors} == {gguf.GGMLQuantizationType.F32}
    # GGUF lists dimensions innermost first: (in_features, out_features).
    assert list(tensors["blk.0.attn_k.weight"].shape) == [64, 32]
    assert list(tensors["output.weight"].shape) == [64, vocab_size]

    # q and k are stored in llama.cpp's rotary layout, everything else as Hugging Face has it.
    weights = random_hf_state_dict(config, vocab_size, seed=7)
    stored_k = np.asarray(tensors["blk.1.attn_k.weight"].data)
    hf_k = weights["model.layers.1.self_attn.k_proj.weight"]
    assert np.array_equal(stored_k, permute_qk(hf_k, 4, 2)) and not np.array_equal(stored_k, hf_k)
    stored_v = np.asarray(tensors["blk.1.attn_v.weight"].data)
    assert np.array_equal(stored_v, weights["model.layers.1.self_attn.v_proj.weight"])


def test_llama_cpp_tokenizes_generates_and_stops_at_im_end(llm, vocab_size):
    assert llm.n_vocab() == vocab_size and llm.n_ctx() == 256
    assert (llm.token_bos(), llm.token_eos()) == (1, 2)
    for text in SAMPLES:
        ids = llm.tokenize(text.encode(), add_bos=True)
        assert 1 not in ids and llm.detokenize(ids).decode() == text

    first = llm.create_completion("Merhaba dünya", max_tokens=8, temperature=0.0)
    again = llm.create_completion("Merhaba dünya", max_tokens=8, temperature=0.0)
    assert first["choices"][0]["text"] == again["choices"][0]["text"]
    assert first["choices"][0]["finish_reason"] == "length"
    assert first["usage"]["prompt_tokens"] == len(llm.tokenize("Merhaba dünya".encode()))

    stopped = llm.create_completion("Hello", max_tokens=8, temperature=0.0, logit_bias={2: 100.0})
    choice = stopped["choices"][0]
    assert (choice["text"], choice["finish_reason"]) == ("", "stop")


@pytest.mark.slow
def test_chat_completion_renders_chatml_as_transformers_does(llm, hf):
    _, tokenizer = hf
    messages = [
        {"role": "system", "content": "You are a tiny model."},
        {"role": "user", "content": "Merhaba, nasılsın?"},
    ]
    answer = llm.create_chat_completion(messages=messages, max_tokens=6, temperature=0.0)
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert isinstance(answer["choices"][0]["message"]["content"], str)

    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == (
        "<|im_start|>system\nYou are a tiny model.<|im_end|>\n"
        "<|im_start|>user\nMerhaba, nasılsın?<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = tokenizer(prompt)["input_ids"]
    assert ids == llm.tokenize(prompt.encode(), add_bos=True, special=True)
    assert ids.count(1) == 3 and ids.count(2) == 2  # the special tokens stay whole
    assert answer["usage"]["prompt_tokens"] == len(ids)


@pytest.mark.slow
def test_transformers_loads_the_weights_back_in_their_hugging_face_layout(hf, vocab_size):
    model, tokenizer = hf
    config = model.config
    assert type(model).__name__ == "LlamaForCausalLM" and model.dtype.is_floating_point
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (64, 2, 128)
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (4, 2, 16)
    assert (config.vocab_size, config.max_position_embeddings) == (vocab_size, 256)
    assert config.rms_norm_eps == pytest.approx(1e-5) and not config.tie_word_embeddings
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        IM_START,
        IM_END,
        ENDOFTEXT,
    )

    # The loader un-permutes q and k: every weight is exactly the one drawn in HF's layout.
    expected = random_hf_state_dict(TinyLlamaConfig(), vocab_size, seed=7)
    loaded = {name: tensor.float().numpy() for name, tensor in model.state_dict().items()}
    assert set(loaded) == set(expected)
    for name, weights in expected.items():
        np.testing.assert_array_equal(loaded[name], weights, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text", [SAMPLES[0], SAMPLES[4], "<|im_start|>user\nhi<|im_end|>\n" + CORPUS[2]]
)
def test_llama_cpp_and_transformers_give_the_same_logits(llm, hf, text):
    import torch

    model, tokenizer = hf
    ids = tokenizer(text)["input_ids"]
    assert ids == llm.tokenize(text.encode(), add_bos=True, special=True)

    llm.reset()
    llm.eval(ids)
    ours = np.array(llm.scores[: len(ids)], dtype=np.float64)
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0].double().numpy()

    assert ours.shape == theirs.shape == (len(ids), llm.n_vocab())
    scale = np.abs(theirs).max()
    assert scale > 1.0  # far from uniform: a wrong layout could not hide
    assert np.abs(ours - theirs).max() <= 1e-4 * scale
    assert (ours.argmax(-1) == theirs.argmax(-1)).all()


@pytest.mark.slow
@pytest.mark.parametrize("text", SAMPLES)
def test_both_tokenizers_give_the_same_ids_and_text(llm, hf, text):
    _, tokenizer = hf
    ids = tokenizer(text)["input_ids"]
    assert ids == llm.tokenize(text.encode(), add_bos=True, special=False)
    assert tokenizer.decode(ids) == text == llm.detokenize(ids).decode()

"""A tiny random Llama model as a GGUF file that llama.cpp and transformers both load.

The tests of the assistant's generation (llama.cpp) and of its LoRA tooling (transformers, PEFT,
and the LoRA -> GGUF conversion) need a real model file, not a mock, and one that costs nothing
to make: :func:`build_tiny_llama` writes one in well under a second.

What it writes is what ``convert_hf_to_gguf.py`` writes for a Llama checkpoint, so a converter
tested on it meets the names, layouts and metadata of the real thing:

* ``general.architecture = llama`` with the full set of ``llama.*`` hyper-parameter keys;
* the tensors under llama.cpp's names (``token_embd``, ``blk.N.attn_q`` ... ``output``), found
  through the ``gguf`` package's own Hugging Face -> GGUF name map, all stored as F32 so that
  llama.cpp and transformers compute the same logits to rounding;
* ``attn_q`` / ``attn_k`` permuted from Hugging Face's rotary layout to llama.cpp's, as the
  converter does (:func:`permute_qk`); transformers' GGUF loader undoes that permutation;
* a byte-level BPE tokenizer trained on the caller's text with the ``tokenizers`` library,
  stored as ``tokenizer.ggml.model = gpt2`` (pre-tokenizer ``gpt-2``, the split both sides
  implement alike), with ChatML's special tokens and chat template.

The weights are drawn from a seeded NumPy generator in Hugging Face's layout
(:func:`random_hf_state_dict`), so a test can rebuild exactly what transformers should load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

#: The special tokens, first in the vocabulary (ids 0, 1, 2) as in SmolLM2's.
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

#: ChatML, the template the assistant's SmolLM2 uses.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

#: The file's name inside the folder.
GGUF_NAME = "tiny-llama.gguf"


@dataclass(frozen=True)
class TinyLlamaConfig:
    """The model's shape: small enough to build and run in milliseconds, with GQA."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    context_length: int = 256
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    #: The BPE trainer's target; a small corpus may give fewer tokens (never fewer than 259).
    vocab_size: int = 512

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def train_bpe_tokenizer(corpus: Sequence[str], vocab_size: int = 512) -> Tokenizer:
    """A byte-level BPE tokenizer (GPT-2's split and byte alphabet) trained on ``corpus``.

    The special tokens come first (ids 0, 1, 2), then the 256 byte symbols, then the merges, so
    any text encodes, whatever characters it has.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    return tokenizer


def tokenizer_tables(tokenizer: Tokenizer) -> tuple[list[str], list[str]]:
    """The vocabulary in id order and the merges as ``"left right"``, as GGUF stores them."""
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])]
    if [vocab[token] for token in tokens] != list(range(len(tokens))):
        raise ValueError("the tokenizer's ids are not contiguous from 0")
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    # tokenizers >= 0.20 writes each merge as a pair, older ones as one "left right" string.
    return tokens, [merge if isinstance(merge, str) else " ".join(merge) for merge in merges]


def random_hf_state_dict(
    config: TinyLlamaConfig, vocab_size: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Random float32 weights under Hugging Face's ``LlamaForCausalLM`` names and layouts.

    Linear weights are ``(out_features, in_features)`` with a 1/sqrt(fan-in) scale, embeddings
    have unit scale and norms scatter around 1, so the logits are far from uniform and a wrong
    permutation or transposition shows at once.
    """
    rng = np.random.default_rng(seed)
    hidden, kv = config.hidden_size, config.num_kv_heads * config.head_dim
    ffn = config.intermediate_size

    def linear(out_features: int, in_features: int) -> np.ndarray:
        return rng.standard_normal((out_features, in_features)) / np.sqrt(in_features)

    def norm() -> np.ndarray:
        return 1.0 + 0.1 * rng.standard_normal(hidden)

    weights: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": rng.standard_normal((vocab_size, hidden))
    }
    for layer in range(config.num_layers):
        prefix = f"model.layers.{layer}"
        weights[f"{prefix}.input_layernorm.weight"] = norm()
        weights[f"{prefix}.self_attn.q_proj.weight"] = linear(hidden, hidden)
        weights[f"{prefix}.self_attn.k_proj.weight"] = linear(kv, hidden)
        weights[f"{prefix}.self_attn.v_proj.weight"] = linear(kv, hidden)
        weights[f"{prefix}.self_attn.o_proj.weight"] = linear(hidden, hidden)
        weights[f"{prefix}.post_attention_layernorm.weight"] = norm()
        weights[f"{prefix}.mlp.gate_proj.weight"] = linear(ffn, hidden)
        weights[f"{prefix}.mlp.up_proj.weight"] = linear(ffn, hidden)
        weights[f"{prefix}.mlp.down_proj.weight"] = linear(hidden, ffn)
    weights["model.norm.weight"] = norm()
    weights["lm_head.weight"] = linear(vocab_size, hidden)
    return {name: value.astype(np.float32) for name, value in weights.items()}


def permute_qk(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """Hugging Face's rotary layout -> llama.cpp's, for ``attn_q`` and ``attn_k``.

    Hugging Face rotates the two halves of each head (``rotate_half``), llama.cpp rotates
    adjacent pairs: within each head the rows are interleaved. This is ``LlamaModel.permute`` of
    ``convert_hf_to_gguf.py``; pass ``n_head_kv`` for ``k_proj``, whose heads are the KV heads.
    """
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_gguf(
    path: Path,
    config: TinyLlamaConfig,
    tokenizer: Tokenizer,
    state_dict: Mapping[str, np.ndarray],
    name: str = "tiny-llama",
) -> Path:
    """Write ``state_dict`` (Hugging Face names and layouts) and ``tokenizer`` as a Llama GGUF."""
    tokens, merges = tokenizer_tables(tokenizer)
    vocab_size = len(tokens)
    embeddings = state_dict["model.embed_tokens.weight"]
    if embeddings.shape != (vocab_size, config.hidden_size):
        raise ValueError(f"embeddings {embeddings.shape} do not fit {vocab_size} tokens")

    arch = gguf.MODEL_ARCH.LLAMA
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[arch])  # general.architecture
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    writer.add_vocab_size(vocab_size)
    writer.add_context_length(config.context_length)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_heads)
    writer.add_head_count_kv(config.num_kv_heads)
    writer.add_key_length(config.head_dim)
    writer.add_value_length(config.head_dim)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_rope_freq_base(config.rope_theta)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)

    special = {token: index for index, token in enumerate(tokens) if token in SPECIAL_TOKENS}
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if token in special else gguf.TokenType.NORMAL for token in tokens]
    )
    writer.add_token_merges(merges)
    writer.add_bos_token_id(special[IM_START])
    writer.add_eos_token_id(special[IM_END])
    writer.add_unk_token_id(special[ENDOFTEXT])
    writer.add_pad_token_id(special[ENDOFTEXT])
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)

    names = gguf.get_tensor_name_map(arch, config.num_layers)
    for hf_name, value in state_dict.items():
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ValueError(f"no GGUF name for {hf_name}")
        if hf_name.endswith("q_proj.weight"):
            value = permute_qk(value, config.num_heads, config.num_heads)
        elif hf_name.endswith("k_proj.weight"):
            value = permute_qk(value, config.num_heads, config.num_kv_heads)
        writer.add_tensor(gguf_name, np.ascontiguousarray(value, dtype=np.float32))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def build_tiny_llama(
    folder: Path,
    corpus: Sequence[str],
    seed: int = 0,
    *,
    config: TinyLlamaConfig | None = None,
    filename: str = GGUF_NAME,
) -> Path:
    """Train a BPE tokenizer on ``corpus``, draw random weights and write ``folder/filename``.

    Returns the GGUF file's path; load it with ``llama_cpp.Llama(model_path=path)`` or with
    ``AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)``. The same corpus,
    seed and config give the same file.
    """
    config = config or TinyLlamaConfig()
    tokenizer = train_bpe_tokenizer(corpus, config.vocab_size)
    state_dict = random_hf_state_dict(config, tokenizer.get_vocab_size(), seed)
    folder.mkdir(parents=True, exist_ok=True)
    return write_gguf(folder / filename, config, tokenizer, state_dict)

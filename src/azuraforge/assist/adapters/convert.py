"""PEFT LoRA adapters to GGUF, the format llama.cpp swaps in microseconds.

A PEFT adapter folder holds ``adapter_config.json`` and ``adapter_model.safetensors`` with a
pair of matrices per adapted linear layer: ``lora_A`` (rank x inputs) and ``lora_B``
(outputs x rank). The GGUF adapter holds the same pairs under llama.cpp's tensor names
(``blk.3.attn_q.weight.lora_a``) with ``adapter.lora.alpha``, so llama.cpp scales them by
alpha / rank as PEFT does. The names come from the ``gguf`` package's own map, and the shapes
and architecture from the base GGUF the adapter will run on.

One subtlety: for Llama models llama.cpp stores the query and key weights with their rows
permuted (its rotary embedding pairs neighbouring rows, Hugging Face's pairs the two halves).
The update ``B @ A`` must be permuted the same way, which is a permutation of ``B``'s rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from azuraforge.errors import InvalidParameterError, NotFoundError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

# Architectures whose adapters we convert (tested), and whether their q/k rows are permuted.
_PERMUTES_QK = {"llama": True}
_PEFT_PREFIX = "base_model.model."


def convert_adapter(adapter_dir: str | Path, base_gguf: str | Path, out: str | Path) -> Path:
    """Write the PEFT LoRA adapter in ``adapter_dir`` as a GGUF adapter for ``base_gguf``.

    Returns
    -------
    Path
        ``out``, written whole or not at all (a temporary file renamed at the end).

    Raises
    ------
    NotFoundError
        The folder lacks the adapter's config or weights, or the base file is missing.
    InvalidParameterError
        The adapter is not a plain LoRA adapter of linear layers that the base has, or the
        base's architecture is not one we convert (``llama``, as SmolLM2's).
    """
    import gguf

    folder = Path(adapter_dir)
    config = _adapter_config(folder)
    base = _base_shape(Path(base_gguf))
    names = gguf.get_tensor_name_map(_arch(gguf, base["arch"]), base["blocks"])
    pairs = _lora_pairs(folder / ADAPTER_WEIGHTS)
    target = Path(out)
    partial = target.with_name(target.name + ".partial")
    writer = gguf.GGUFWriter(partial, base["arch"])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for module, (a, b) in sorted(pairs.items()):
        name = names.get_name(module)
        if name is None:
            raise InvalidParameterError(
                f"adapter layer {module!r} has no counterpart in a {base['arch']} GGUF model; "
                "train adapters on the attention and MLP projections only"
            )
        if _PERMUTES_QK[base["arch"]] and name.endswith(("attn_q", "attn_k")):
            heads = base["heads"] if name.endswith("attn_q") else base["kv_heads"]
            b = _permute_rows(b, heads)
        writer.add_tensor(f"{name}.weight.lora_a", np.ascontiguousarray(a, dtype=np.float32))
        writer.add_tensor(f"{name}.weight.lora_b", np.ascontiguousarray(b, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(target)
    return target


def _adapter_config(folder: Path) -> dict[str, Any]:
    for file in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (folder / file).is_file():
            raise NotFoundError(f"{str(folder)!r} is not a PEFT adapter folder: no {file}")
    config: dict[str, Any] = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if config.get("peft_type") != "LORA":
        raise InvalidParameterError(
            f"only LoRA adapters convert to GGUF; {folder} is {config.get('peft_type')!r}"
        )
    if config.get("use_rslora") or config.get("use_dora"):
        raise InvalidParameterError(
            "rsLoRA and DoRA adapters scale differently from llama.cpp's alpha / rank; "
            "train a plain LoRA adapter"
        )
    return config


def _base_shape(path: Path) -> dict[str, Any]:
    """The base model's architecture, block count and attention heads, read from its GGUF."""
    import gguf

    if not path.is_file():
        raise NotFoundError(f"base model {str(path)!r} not found")
    reader = gguf.GGUFReader(path)

    def field(key: str) -> Any:
        found = reader.get_field(key)
        if found is None:
            raise InvalidParameterError(f"{path.name} has no {key!r}: not a complete GGUF model")
        return found.contents()

    arch = str(field("general.architecture"))
    if arch not in _PERMUTES_QK:
        raise InvalidParameterError(
            f"{path.name} is a {arch!r} model; adapters convert for {', '.join(_PERMUTES_QK)}"
        )
    return {
        "arch": arch,
        "blocks": int(field(f"{arch}.block_count")),
        "heads": int(field(f"{arch}.attention.head_count")),
        "kv_heads": int(field(f"{arch}.attention.head_count_kv")),
    }


def _arch(gguf: Any, name: str) -> Any:
    return next(arch for arch, arch_name in gguf.MODEL_ARCH_NAMES.items() if arch_name == name)


def _lora_pairs(weights: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Module name (Hugging Face's, e.g. ``model.layers.0.self_attn.q_proj``) -> (A, B)."""
    from safetensors.numpy import load_file

    try:
        tensors = load_file(weights)
    except (TypeError, ValueError) as e:  # bfloat16 has no NumPy type
        raise InvalidParameterError(
            f"{weights} holds weights NumPy cannot read ({e}); save the adapter in float32"
        ) from e
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        module, _, part = key.removeprefix(_PEFT_PREFIX).rpartition(".lora_")
        if part not in ("A.weight", "B.weight"):
            raise InvalidParameterError(
                f"{weights.name} holds {key!r}, which is not a LoRA matrix "
                "(adapters that also train embeddings or whole layers do not convert)"
            )
        pairs.setdefault(module, {})[part[0]] = value
    if not pairs:
        raise InvalidParameterError(f"{weights} holds no LoRA matrices")
    missing = sorted(m for m, p in pairs.items() if len(p) != 2)
    if missing:
        raise InvalidParameterError(f"{weights.name} lacks A or B for {', '.join(missing)}")
    return {module: (p["A"], p["B"]) for module, p in pairs.items()}


def _permute_rows(b: np.ndarray, heads: int) -> np.ndarray:
    """Reorder ``b``'s rows as llama.cpp's converter reorders a query or key weight's."""
    rows = b.shape[0]
    return b.reshape(heads, 2, rows // heads // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)

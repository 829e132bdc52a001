"""The base models the assistant trains and serves in PyTorch form: the libraries that run them
(the ``assist-train`` extra), a GGUF base dequantised once into a Hugging Face folder, and the
checksum that names it. Training (:mod:`~azuraforge.assist.adapters.training`) and the
transformers backend (:mod:`~azuraforge.assist.backends.transformers`) both start here.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from azuraforge.assist.models import offline, resolve
from azuraforge.errors import ModelUnavailableError


def training_libraries() -> tuple[Any, Any, Any]:
    """torch, peft and transformers, or a clear error naming the extra that installs them."""
    try:
        import peft
        import torch
        import transformers
    except ImportError as e:
        raise ModelUnavailableError(
            f"training experts needs {e.name}: pip install 'azuraforge[assist-train]'"
        ) from e
    return torch, peft, transformers


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dequantised_base(base: str | Path, cache: str | Path) -> Path:
    """A Hugging Face folder (float32 safetensors, config, tokenizer) of the GGUF ``base``,
    made once and kept in ``cache/<first 16 hex digits of its SHA-256>``."""
    gguf = resolve(base)
    folder = Path(cache) / file_sha256(gguf)[:16]
    if (folder / "config.json").is_file():
        return folder
    offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model: Any = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype="float32"
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A model loaded from GGUF remembers its quantisation and refuses to be saved with it.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (folder / "config.json").is_file():  # not merely another process being first
            raise
    return folder

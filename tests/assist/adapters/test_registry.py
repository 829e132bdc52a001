"""The adapter registry, the LRU pool and the conversion's refusals, on hand-made PEFT folders
(NumPy matrices in safetensors) over the tiny Llama GGUF; no training needed."""

import json
import threading
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import save_file

from azuraforge.assist.adapters import AdapterPool, AdapterRegistry, convert_adapter
from azuraforge.assist.adapters.registry import _locked
from azuraforge.assist.backends import EchoBackend
from azuraforge.errors import InvalidParameterError, NotFoundError
from tests.assist.tiny_llama import build_tiny_llama

PREFIX = "base_model.model.model.layers"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), ["hello world, merhaba dünya"])


def peft_folder(folder: Path, tensors=None, **config) -> Path:
    """A PEFT LoRA folder: rank 2 on layer 0's q and k projections unless told otherwise."""
    rng = np.random.default_rng(0)
    if tensors is None:
        tensors = {
            f"{PREFIX}.0.self_attn.q_proj.lora_A.weight": rng.normal(size=(2, 64)),
            f"{PREFIX}.0.self_attn.q_proj.lora_B.weight": rng.normal(size=(64, 2)),
            f"{PREFIX}.0.self_attn.k_proj.lora_A.weight": rng.normal(size=(2, 64)),
            f"{PREFIX}.0.self_attn.k_proj.lora_B.weight": rng.normal(size=(32, 2)),
        }
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.astype(np.float32) for k, v in tensors.items()}, folder / "adapter_model.safetensors"
    )
    settings = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, **config}
    (folder / "adapter_config.json").write_text(json.dumps(settings))
    return folder


def test_conversion_writes_llama_cpp_names_alpha_and_permuted_query_rows(base, tmp_path):
    source = peft_folder(tmp_path / "peft")
    out = convert_adapter(source, base, tmp_path / "a.gguf")
    reader = gguf.GGUFReader(out)
    assert reader.get_field("general.type").contents() == "adapter"
    assert reader.get_field("adapter.type").contents() == "lora"
    assert reader.get_field("adapter.lora.alpha").contents() == 4.0
    tensors = {t.name: np.array(t.data) for t in reader.tensors}
    assert sorted(tensors) == [
        "blk.0.attn_k.weight.lora_a",
        "blk.0.attn_k.weight.lora_b",
        "blk.0.attn_q.weight.lora_a",
        "blk.0.attn_q.weight.lora_b",
    ]
    q_b = tensors["blk.0.attn_q.weight.lora_b"]
    original = _read(source)[f"{PREFIX}.0.self_attn.q_proj.lora_B.weight"]
    assert q_b.shape == original.shape and not np.array_equal(q_b, original)
    # 4 heads of 16 rows: within each head, the two halves are interleaved row by row.
    assert np.array_equal(q_b[0], original[0]) and np.array_equal(q_b[1], original[8])
    assert not (tmp_path / "a.gguf.partial").exists()


def _read(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(folder / "adapter_model.safetensors")


@pytest.mark.parametrize(
    ("config", "tensors", "message"),
    [
        ({"peft_type": "PREFIX_TUNING"}, None, "only LoRA adapters convert"),
        ({"use_dora": True}, None, "rsLoRA and DoRA"),
        ({}, {"base_model.model.lm_head.weight": np.ones((4, 4))}, "not a LoRA matrix"),
        ({}, {f"{PREFIX}.0.self_attn.q_proj.lora_A.weight": np.ones((2, 64))}, "lacks A or B"),
        (
            {},
            {
                f"{PREFIX}.0.mixer.lora_A.weight": np.ones((2, 64)),
                f"{PREFIX}.0.mixer.lora_B.weight": np.ones((64, 2)),
            },
            "no counterpart in a llama GGUF model",
        ),
    ],
)
def test_adapters_that_do_not_convert_are_refused_and_nothing_is_written(
    base, tmp_path, config, tensors, message
):
    source = peft_folder(tmp_path / "peft", tensors, **config)
    with pytest.raises(InvalidParameterError, match=message):
        convert_adapter(source, base, tmp_path / "a.gguf")
    assert not (tmp_path / "a.gguf").exists()


def test_missing_files_and_foreign_bases_are_named(base, tmp_path):
    with pytest.raises(NotFoundError, match=r"no adapter_config\.json"):
        convert_adapter(tmp_path, base, tmp_path / "a.gguf")
    source = peft_folder(tmp_path / "peft")
    with pytest.raises(NotFoundError, match="not found"):
        convert_adapter(source, tmp_path / "missing.gguf", tmp_path / "a.gguf")
    other = tmp_path / "other.gguf"
    writer = gguf.GGUFWriter(other, "mamba")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(InvalidParameterError, match="is a 'mamba' model"):
        convert_adapter(source, other, tmp_path / "a.gguf")


def register(registry, base, tmp_path, expert="python", **metrics):
    return registry.register(
        expert,
        peft_folder(tmp_path / f"peft-{expert}"),
        base,
        base_sha256="b" * 64,
        data_sha256="d" * 64,
        settings={"rank": 2},
        metrics=metrics,
    )


def test_versions_are_numbered_whole_and_never_reused(base, tmp_path):
    registry = AdapterRegistry(tmp_path / "experts")
    assert registry.experts() == []
    first = register(registry, base, tmp_path, loss=1.0)
    second = register(registry, base, tmp_path, loss=0.5)
    assert (first.version, second.version) == (1, 2)
    assert registry.get("python") == second and registry.get("python", 1) == first
    assert second.metrics == {"loss": 0.5} and second.base == str(base.resolve())
    # A half-written folder (no version.json) and staging leftovers are not versions.
    (tmp_path / "experts" / "python" / "v7").mkdir()
    assert [v.version for v in registry.versions("python")] == [1, 2]
    assert register(registry, base, tmp_path).version == 3
    assert registry.experts() == ["python"]


def test_concurrent_registrations_get_distinct_numbers(base, tmp_path):
    registry = AdapterRegistry(tmp_path / "experts")
    source = peft_folder(tmp_path / "peft")
    numbers: list[int] = []

    def one() -> None:
        version = registry.register(
            "python", source, base, base_sha256="b" * 64, data_sha256="d" * 64
        )
        numbers.append(version.version)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]
    assert not [p for p in (tmp_path / "experts" / "python").iterdir() if p.name.startswith(".")]


def test_recording_figures_waits_for_another_writer_of_the_same_version(base, tmp_path):
    registry = AdapterRegistry(tmp_path / "experts")
    folder = register(registry, base, tmp_path, loss=1.0).folder
    with _locked(folder / ".version.lock"):  # another process's evaluation, writing
        writer = threading.Thread(target=registry.add_metrics, args=("python", 1, {"x": 1}))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and "x" not in registry.get("python", 1).metrics
    writer.join(timeout=10)
    assert registry.get("python", 1).metrics == {"loss": 1.0, "x": 1}


def test_evaluations_recorded_at_once_are_all_kept(base, tmp_path):
    registry = AdapterRegistry(tmp_path / "experts")
    register(registry, base, tmp_path, loss=1.0)
    threads = [
        threading.Thread(target=registry.add_metrics, args=("python", 1, {f"pass_at_1_{i}": i}))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    metrics = registry.get("python", 1).metrics
    assert metrics == {"loss": 1.0, **{f"pass_at_1_{i}": i for i in range(8)}}
    assert sorted(p.name for p in registry.get("python").folder.iterdir()) == [
        ".version.lock",
        "adapter.gguf",
        "peft",
        "version.json",
    ]


def test_unknown_experts_versions_and_unsafe_names_are_refused(base, tmp_path):
    registry = AdapterRegistry(tmp_path / "experts")
    with pytest.raises(NotFoundError, match="train one with: azuraforge assist train-expert"):
        registry.get("python")
    register(registry, base, tmp_path)
    with pytest.raises(NotFoundError, match=r"no adapter v9 in .*; its versions: v1$"):
        registry.get("python", 9)
    for name in ("../etc", "Python", "", "a/b", "x" * 65):
        with pytest.raises(InvalidParameterError, match="expert names are"):
            registry.get(name)
    with pytest.raises(InvalidParameterError, match="not a LoRA matrix"):
        registry.register(
            "python",
            peft_folder(tmp_path / "bad", {"base_model.model.lm_head.weight": np.ones((2, 2))}),
            base,
            base_sha256="b" * 64,
            data_sha256="d" * 64,
        )
    assert [v.version for v in registry.versions("python")] == [1]


def test_the_pool_loads_on_first_use_and_unloads_the_least_recently_used(base, tmp_path):
    registry = AdapterRegistry(tmp_path / "experts")
    for expert in ("python", "turkish", "sql"):
        register(registry, base, tmp_path, expert=expert)
    backend = EchoBackend()
    pool = AdapterPool(backend, registry, capacity=2)
    assert pool.ensure("python") == "python@v1" and backend.adapters() == ["python@v1"]
    pool.ensure("turkish")
    pool.ensure("python")  # used again: now turkish is the least recent
    pool.ensure("sql")
    assert pool.loaded() == ["python@v1", "sql@v1"]
    assert backend.adapters() == ["python@v1", "sql@v1"]
    register(registry, base, tmp_path, expert="python")
    assert pool.ensure("python") == "python@v2"  # a newer version is loaded when it exists
    assert pool.ensure("python", version=1) == "python@v1"
    with pytest.raises(InvalidParameterError, match="capacity must be >= 1"):
        AdapterPool(backend, registry, capacity=0)

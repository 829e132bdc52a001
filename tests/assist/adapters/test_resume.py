"""A LoRA training stopped at a step boundary keeps its state and goes on from it: the
resumed training ends where the uninterrupted one does (the same losses, step by step)."""

from pathlib import Path

import pytest

from azuraforge.assist.adapters.training import (
    Checkpoints,
    LoraSettings,
    TrainingStoppedError,
    train_adapter,
)
from azuraforge.assist.corpora import Instruction
from azuraforge.errors import InvalidParameterError
from tests.assist.tiny_llama import build_tiny_llama

EXAMPLES = [Instruction(f"Greet {n}.", "", f"Merhaba {n}!") for n in ("Ada", "Alan", "Ken")]
SETTINGS = LoraSettings(rank=2, alpha=4, dropout=0.0, steps=12, learning_rate=1e-2, seed=1)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = [" ".join(f"{e.instruction} {e.output}" for e in EXAMPLES)]
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), corpus, seed=2)


def _losses(base: Path, out: Path, cache: Path, checkpoint: Checkpoints | None = None):
    """The losses of a training to its end, step by step."""
    seen: list[float] = []
    train_adapter(base, EXAMPLES, out, settings=SETTINGS, cache=cache, threads=1,
                  progress=lambda _, loss: seen.append(loss), checkpoint=checkpoint)  # fmt: skip
    return seen


@pytest.mark.slow
def test_a_stopped_training_resumes_from_its_last_state(base: Path, tmp_path: Path):
    cache = tmp_path / "bases"
    whole = _losses(base, tmp_path / "whole", cache)
    kept: list[tuple[int, Path]] = []
    checkpoints = Checkpoints(tmp_path / "states", 4, lambda step, file: kept.append((step, file)))
    seen: list[float] = []

    def stop_at_6(step: int, loss: float) -> bool:
        seen.append(loss)
        return step != 6

    with pytest.raises(TrainingStoppedError, match="after step 6"):
        train_adapter(base, EXAMPLES, tmp_path / "part", settings=SETTINGS, cache=cache,
                      threads=1, progress=stop_at_6, checkpoint=checkpoints)  # fmt: skip
    assert [step for step, _ in kept] == [4, 6]  # every 4 steps, and where it stopped
    resumed = Checkpoints(tmp_path / "states", 4, lambda step, file: None, resume=kept[-1][1])
    rest = _losses(base, tmp_path / "rest", cache, resumed)
    assert len(rest) == SETTINGS.steps - 6
    assert seen + rest == pytest.approx(whole, rel=1e-5)
    assert (tmp_path / "rest" / "adapter_config.json").is_file()


def test_examples_whose_prompt_fills_max_tokens_are_refused_not_looped_on(base, tmp_path):
    tight = LoraSettings(rank=2, steps=2, max_tokens=3)
    with pytest.raises(InvalidParameterError, match="fills max_tokens \\(3\\)"):
        train_adapter(base, EXAMPLES, tmp_path / "out", settings=tight, cache=tmp_path / "b",
                      system_prompt="A long system prompt here.", threads=1)  # fmt: skip

"""LoRA experts trained with PEFT on the GGUF base model that serves them.

The base is a GGUF file (a packaged model or any other). transformers dequantises it into
PyTorch once; the result is cached as a Hugging Face folder keyed by the file's SHA-256, so
later trainings start in seconds. Examples are formatted with the model's own chat template
(the one llama.cpp applies when serving) under the expert's system prompt, and the loss counts
the answer's tokens only. The adapter is judged beside its base on held-out examples: the
mean loss per answer token and its perplexity, with the adapter and without it.

Needs the ``assist-train`` extra (transformers, peft, torch).
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from azuraforge.assist.adapters.registry import AdapterRegistry, AdapterVersion
from azuraforge.assist.bases import dequantised_base, file_sha256, training_libraries
from azuraforge.assist.corpora import Instruction
from azuraforge.assist.models import resolve
from azuraforge.assist.prompts import format_prompt
from azuraforge.errors import InvalidParameterError

IGNORED = -100  # the label PyTorch's cross-entropy skips: prompt tokens and padding


@dataclass(frozen=True)
class LoraSettings:
    """How an adapter is trained. ``alpha / rank`` scales the update, as in PEFT and llama.cpp."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    steps: int = 200
    batch_size: int = 4
    learning_rate: float = 5e-4
    max_tokens: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rank", "steps", "batch_size", "max_tokens"):
            if getattr(self, name) < 1:
                raise InvalidParameterError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidParameterError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0 or self.alpha <= 0:
            raise InvalidParameterError("learning_rate and alpha must be > 0")
        if not self.targets:
            raise InvalidParameterError("targets must name at least one linear layer")


@dataclass(frozen=True)
class TrainedAdapter:
    """A PEFT adapter folder with what it was trained from and how it scored."""

    folder: Path
    base: Path
    base_sha256: str
    data_sha256: str
    settings: LoraSettings
    metrics: dict[str, Any]


def data_sha256(examples: Sequence[Instruction]) -> str:
    """A checksum of the examples themselves, whatever file they came from."""
    text = json.dumps([asdict(e) for e in examples], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def train_adapter(
    base: str | Path,
    examples: Sequence[Instruction],
    out: str | Path,
    *,
    held_out: Sequence[Instruction] = (),
    settings: LoraSettings | None = None,
    system_prompt: str | None = None,
    cache: str | Path,
    threads: int | None = None,
    progress: Callable[[int, float], bool | None] | None = None,
    checkpoint: Checkpoints | None = None,
) -> TrainedAdapter:
    """Train a LoRA adapter on ``examples`` over the GGUF ``base`` and save it (PEFT) in ``out``.

    Parameters
    ----------
    base
        A packaged model's name or a GGUF file.
    held_out
        Examples kept out of training, scored with and without the adapter.
    system_prompt
        The expert's system prompt: training sees the prompt the expert will be served with.
    cache
        Where the dequantised base is kept (see :func:`dequantised_base`).
    progress
        Called as ``progress(step, loss)`` after every step; ``False`` stops the training
        there (:class:`TrainingStoppedError`, after a checkpoint when ``checkpoint`` is given).
    checkpoint
        Where the training keeps its state every ``checkpoint.every`` steps and resumes from
        (:class:`Checkpoints`): a training stopped or killed goes on from its last one.
    """
    settings = settings or LoraSettings()
    if not examples:
        raise InvalidParameterError("no training examples")
    torch, _, _ = training_libraries()
    tokenizer, model = _lora_model(base, cache, settings, threads)
    train_rows, held_rows = _encoded(tokenizer, examples, held_out, system_prompt, settings)
    started = time.perf_counter()
    losses = _train(torch, model, train_rows, settings, progress, checkpoint)
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {
        "train_examples": len(train_rows),
        "held_out_examples": len(held_rows),
        # Examples whose prompt alone fills max_tokens teach nothing and are left out.
        "too_long": len(examples) + len(held_out) - len(train_rows) - len(held_rows),
        "seconds": round(seconds, 1),
        "first_train_loss": round(losses[0], 4),
        "last_train_loss": round(float(np.mean(losses[-10:])), 4),
    }
    if held_rows:
        metrics.update(_held_out_scores(torch, model, held_rows))
    target = Path(out)
    model.save_pretrained(target)
    gguf = resolve(base)
    return TrainedAdapter(
        target, gguf, file_sha256(gguf), data_sha256(examples), settings, metrics
    )


def _encoded(
    tokenizer: Any,
    examples: Sequence[Instruction],
    held_out: Sequence[Instruction],
    system_prompt: str | None,
    settings: LoraSettings,
) -> tuple[list[tuple[list[int], list[int]]], list[tuple[list[int], list[int]]]]:
    """The training and held-out examples encoded, refused when no training one is left."""
    train_rows = _encode_all(tokenizer, examples, system_prompt, settings.max_tokens)
    held_rows = _encode_all(tokenizer, held_out, system_prompt, settings.max_tokens)
    if not train_rows:
        raise InvalidParameterError(
            f"every training example's prompt fills max_tokens ({settings.max_tokens}): "
            "nothing of an answer is left to learn; raise max_tokens"
        )
    return train_rows, held_rows


def _lora_model(
    base: str | Path, cache: str | Path, settings: LoraSettings, threads: int | None
) -> tuple[Any, Any]:
    """The tokenizer of ``base`` and its dequantised model with fresh LoRA layers (seeded by
    ``settings``, PyTorch on ``threads`` threads when given)."""
    torch, peft, transformers = training_libraries()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(settings.seed)
    hf_folder = dequantised_base(base, cache)
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_folder, dtype=torch.float32)
    config = peft.LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.targets),
        task_type="CAUSAL_LM",
    )
    return tokenizer, peft.get_peft_model(model, config)


def _held_out_scores(
    torch: Any, model: Any, held_rows: list[tuple[list[int], list[int]]]
) -> dict[str, float]:
    """The held-out examples' loss and perplexity with the adapter and without it."""
    with model.disable_adapter():
        base_loss = _mean_loss(torch, model, held_rows)
    loss = _mean_loss(torch, model, held_rows)
    return {
        "base_held_out_loss": round(base_loss, 4),
        "base_perplexity": round(math.exp(base_loss), 3),
        "held_out_loss": round(loss, 4),
        "perplexity": round(math.exp(loss), 3),
    }


def train_expert(
    registry: AdapterRegistry,
    expert: str,
    base: str | Path,
    examples: Sequence[Instruction],
    **options: Any,
) -> AdapterVersion:
    """Train an adapter (:func:`train_adapter`'s options) and register it as the expert's next
    version, converted to GGUF for llama.cpp."""
    with tempfile.TemporaryDirectory(prefix="azuraforge-adapter-") as scratch:
        trained = train_adapter(base, examples, Path(scratch) / "peft", **options)
        return registry.register(
            expert,
            trained.folder,
            trained.base,
            base_sha256=trained.base_sha256,
            data_sha256=trained.data_sha256,
            settings=asdict(trained.settings),
            metrics=trained.metrics,
        )


def _encode_all(
    tokenizer: Any, examples: Sequence[Instruction], system: str | None, limit: int
) -> list[tuple[list[int], list[int]]]:
    rows = [_encode(tokenizer, e, system, limit) for e in examples]
    return [row for row in rows if any(label != IGNORED for label in row[1])]


def _encode(
    tokenizer: Any, example: Instruction, system: str | None, limit: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels (the prompt's masked) of one example, cut at ``limit`` tokens."""
    prompt, full = _texts(tokenizer, example, system)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    if ids[: len(prompt_ids)] != prompt_ids:  # the template re-tokenised across the boundary
        ids = prompt_ids + tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    labels = [IGNORED] * len(prompt_ids) + ids[len(prompt_ids) :]
    return ids[:limit], labels[:limit]


def _texts(tokenizer: Any, example: Instruction, system: str | None) -> tuple[str, str]:
    """The prompt as the model sees it before answering, and the prompt with the answer."""
    messages = [{"role": "system", "content": system}] if system else []
    request = f"{example.instruction}\n\n{example.input}" if example.input else example.instruction
    messages.append({"role": "user", "content": request})
    prompt = format_prompt(tokenizer, messages)
    if getattr(tokenizer, "chat_template", None):
        answer = [*messages, {"role": "assistant", "content": example.output}]
        return prompt, tokenizer.apply_chat_template(answer, tokenize=False)
    # A base model without a chat template: plain text, the answer ending the document.
    return prompt, prompt + example.output + (tokenizer.eos_token or "")


class TrainingStoppedError(Exception):
    """A training stopped at a step boundary because its ``progress`` said so."""

    def __init__(self, step: int) -> None:
        super().__init__(f"the training stopped after step {step}")
        self.step = step


@dataclass(frozen=True)
class Checkpoints:
    """Where a training keeps its state (the adapter's weights, the optimiser's and the
    schedule's state, the losses so far) every ``every`` steps and when it is stopped:
    ``save(step, file)`` is called with the file just written in ``folder``; ``resume``, a
    file written so, is where it goes on from (``None``: from the start)."""

    folder: Path
    every: int
    save: Callable[[int, Path], None]
    resume: Path | None = None


def _train(
    torch: Any,
    model: Any,
    rows: list[tuple[list[int], list[int]]],
    settings: LoraSettings,
    progress: Callable[[int, float], bool | None] | None,
    checkpoint: Checkpoints | None = None,
) -> list[float]:
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 1.0 - step / settings.steps
    )
    order = _batches(len(rows), settings.batch_size, settings.steps, settings.seed)
    losses: list[float] = []
    if checkpoint is not None and checkpoint.resume is not None:
        state = torch.load(checkpoint.resume, weights_only=True)
        model.load_state_dict(state["adapter"], strict=False)
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        losses = [float(x) for x in state["losses"]]
        torch.manual_seed(settings.seed + len(losses))  # dropout's draws go on afresh
    for step, batch in enumerate(order[len(losses) :], start=len(losses) + 1):
        ids, mask, labels = _padded(torch, [rows[i] for i in batch])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        losses.append(loss.item())
        go_on = progress(step, losses[-1]) if progress is not None else True
        stop = go_on is False
        if checkpoint is not None and (stop or step % checkpoint.every == 0) and step < len(order):
            _save_state(torch, model, optimiser, schedule, losses, checkpoint)
        if stop:
            raise TrainingStoppedError(step)
    model.eval()
    return losses


def _save_state(
    torch: Any, model: Any, optimiser: Any, schedule: Any, losses: list[float],
    checkpoint: Checkpoints,
) -> None:  # fmt: skip
    """Write the training's state to a new file of ``checkpoint.folder`` and hand it over."""
    adapter = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    state = {"adapter": adapter, "optimiser": optimiser.state_dict(),
             "schedule": schedule.state_dict(), "losses": losses}  # fmt: skip
    checkpoint.folder.mkdir(parents=True, exist_ok=True)
    file = checkpoint.folder / f"step-{len(losses)}.pt"
    torch.save(state, file)
    checkpoint.save(len(losses), file)


def _batches(rows: int, size: int, steps: int, seed: int) -> list[list[int]]:
    """``steps`` batches of row indices, each epoch a fresh shuffle of all rows."""
    rng = np.random.default_rng(seed)
    stream: list[int] = []
    while len(stream) < steps * size:
        stream.extend(int(i) for i in rng.permutation(rows))
    return [stream[i * size : (i + 1) * size] for i in range(steps)]


def _padded(torch: Any, rows: list[tuple[list[int], list[int]]]) -> tuple[Any, Any, Any]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORED, dtype=torch.long)
    for row, (tokens, targets) in enumerate(rows):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
        labels[row, : len(targets)] = torch.tensor(targets)
    return ids, mask, labels


def _mean_loss(torch: Any, model: Any, rows: list[tuple[list[int], list[int]]]) -> float:
    """The mean loss per answer token over ``rows`` (token-weighted, not per example)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(rows), 8):
            ids, mask, labels = _padded(torch, rows[start : start + 8])
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            targets = labels[:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                targets.reshape(-1),
                ignore_index=IGNORED,
                reduction="sum",
            )
            total += float(losses)
            count += int((targets != IGNORED).sum())
    return total / max(count, 1)

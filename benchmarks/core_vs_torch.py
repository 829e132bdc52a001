"""One training step of the AzuraForge core against PyTorch, on the same data and weights.

Two workloads (an LSTM regressor and a small CNN) run one full step each
(``zero_grad`` + forward + loss + backward + Adam ``step``) in both engines, with the same
seeded data, the same initial weights (ours, loaded into PyTorch by name) and the same
thread count (``torch.set_num_threads`` and ``threadpoolctl`` for NumPy's BLAS).

1. Correctness first: one step from identical weights; the losses and the updated
   parameters must agree within :data:`TOLERANCE`, or the script exits with status 1.
2. Timing: warm-up, then ``time.perf_counter`` around every step, the engines interleaved in
   blocks with a pause between blocks (an OpenBLAS thread keeps spinning after a NumPy block
   and would slow the next PyTorch block; DESIGN.md section 3). Medians are reported.
3. Memory: each engine alone in a fresh subprocess (this script in its hidden
   ``--measure-memory`` mode): peak RSS growth over the post-import baseline, and for ours
   also the tracemalloc peak of one step (NumPy's allocations are traced).

The table goes to stdout and between this setting's markers in ``--out``; every number,
version and machine detail goes to ``--json``. ``--setting malloc-tuned`` reruns the script
with glibc's malloc keeping freed memory, the second PyTorch setting DESIGN.md section 3 asks
for. Speed never fails the run, only correctness.

Usage::

    .venv/bin/python benchmarks/core_vs_torch.py [--quick] [--repeats N] [--threads N]
        [--setting as-installed|malloc-tuned] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from azuraforge.core import Tensor, manual_seed, nn, optim, set_num_threads
from harness import (
    ROOT,
    child_answer,
    command_line,
    cpu_model,
    cpu_ticks,
    load_and_steal_lines,
    peak_rss_mb,
    steal_share,
    write_section,
)

SEED = 0
LEARNING_RATE = 1e-3
# Losses must agree relatively; parameters after one Adam step absolutely (Adam's first step
# moves every parameter with a clear gradient by about the learning rate, 1e-3).
TOLERANCE = {"loss_rel": 1e-4, "param_abs": 1e-4}
WARMUP = {"full": 5, "quick": 2}
QUICK_REPEATS = 5
BLOCK = 5  # timed steps per engine before switching to the other one
PAUSE_S = 0.2  # between blocks, so BLAS threads spinning after one engine go idle
MEMORY_STEPS = 3  # timed-size steps after warm-up in the memory subprocess
# "as-installed" runs in the environment it is given; "malloc-tuned" re-executes itself with
# glibc's malloc told to keep freed memory (no page faults from handing it back to the OS).
# Each setting: the suffix of its section and JSON names, and its environment.
SETTINGS = {
    "as-installed": ("", {}),
    "malloc-tuned": (
        "_malloc_tuned",
        {
            "MALLOC_MMAP_THRESHOLD_": "1000000000",
            "MALLOC_TRIM_THRESHOLD_": "1000000000",
            "MALLOC_TOP_PAD_": "268435456",
        },
    ),
}


def section_name(setting: str, threads: int, stem: str = "core_vs_torch") -> str:
    """The name of one benchmark's (``stem``) section and JSON file for this setting and
    thread count (1 thread keeps the names of the single-threaded runs)."""
    name = stem + SETTINGS[setting][0]
    return name if threads == 1 else f"{name}_{threads}_threads"


def markers(setting: str, threads: int = 1, stem: str = "core_vs_torch") -> tuple[str, str]:
    """The comment lines around this setting's section of the Markdown file."""
    name = section_name(setting, threads, stem)
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def default_json(setting: str, threads: int = 1, stem: str = "core_vs_torch") -> Path:
    """Where this setting's numbers go unless --json says otherwise."""
    return ROOT / "benchmarks" / "results" / f"{section_name(setting, threads, stem)}.json"


def ensure_setting_environment(setting: str) -> None:
    """Re-execute this script with the setting's environment if it is not in force yet."""
    wanted = SETTINGS[setting][1]
    if any(os.environ.get(k) != v for k, v in wanted.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **wanted})


ENGINES = ("ours", "torch")
MB = 1024 * 1024
# Recorded with every run: OpenBLAS's kernel choice, and glibc malloc tuning (which removes
# most of PyTorch's page faults and so changes its step time; DESIGN.md section 3).
ENV_VARS = (
    "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
    "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
)  # fmt: skip
Batch = tuple[np.ndarray, np.ndarray]  # inputs, targets


# ---- the two workloads ------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """A model in both engines, its data, its loss and the speed bar it is held to."""

    key: str
    title: str
    ours_model: Callable[[], Any]
    torch_model: Callable[[], Any]
    data: Callable[[np.random.Generator], Batch]
    loss: str  # the loss class, named alike in both engines
    repeats: int
    bar: float  # ours/torch median ratio that counts as good enough


class OursLSTMRegressor(nn.Module):
    """Two stacked LSTM layers, then a linear head on the last hidden state."""

    def __init__(self) -> None:
        self.lstm = nn.LSTM(8, 64, num_layers=2)
        self.head = nn.Linear(64, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.lstm(x))


def torch_lstm_regressor() -> Any:
    """The same regressor in PyTorch, with the same parameter names (``lstm.*``, ``head.*``)."""
    import torch

    class TorchLSTMRegressor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 64, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(64, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.lstm(x)[0][:, -1])

    return TorchLSTMRegressor()


def lstm_data(rng: np.random.Generator) -> Batch:
    """Batch 64 of 48 steps x 8 features, one regression target each."""
    x = rng.standard_normal((64, 48, 8)).astype(np.float32)
    return x, rng.standard_normal((64, 1)).astype(np.float32)


def ours_cnn() -> Any:
    """Two conv + ReLU + max-pool stages, then two linear layers (``0.weight``... names)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


def torch_cnn() -> Any:
    """The same CNN in PyTorch; both Sequentials name parameters ``0.weight``, ``3.bias``..."""
    from torch import nn as tnn

    return tnn.Sequential(
        tnn.Conv2d(1, 32, 3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(1600, 128), tnn.ReLU(), tnn.Linear(128, 10),
    )  # fmt: skip


def cnn_data(rng: np.random.Generator) -> Batch:
    """Batch 128 of 28x28 single-channel images and their classes (0-9)."""
    x = rng.random((128, 1, 28, 28), dtype=np.float32)
    return x, rng.integers(0, 10, size=128, dtype=np.int64)


WORKLOADS = {
    "lstm": Workload(
        "lstm", "LSTM regressor (batch 64, 48 steps, 8 features, 2x64 LSTM, MSE)",
        OursLSTMRegressor, torch_lstm_regressor, lstm_data, "MSELoss", repeats=30, bar=1.5,
    ),
    "cnn": Workload(
        "cnn", "CNN (batch 128, 1x28x28, conv32-conv64-fc128-fc10, cross-entropy)",
        ours_cnn, torch_cnn, cnn_data, "CrossEntropyLoss", repeats=20, bar=2.0,
    ),
}  # fmt: skip


def initial_state(workload: Workload) -> dict[str, np.ndarray]:
    """Our seeded initial weights: the one source of weights for both engines."""
    manual_seed(SEED)
    return workload.ours_model().state_dict()


# ---- one engine behind one interface ----------------------------------------------------


@dataclass
class Engine:
    """A model, its loss, Adam and the fixed batch; both engines share this API."""

    name: str
    model: Any
    loss_fn: Any
    optimizer: Any
    x: Any
    y: Any
    to_numpy: Callable[[Any], np.ndarray]  # a parameter or gradient as a NumPy array

    def step(self) -> float:
        """zero_grad + forward + loss + backward + optimiser step; returns the loss."""
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()
        return float(loss.item())

    def arrays(self, what: str) -> dict[str, np.ndarray]:
        """Parameters (``what="param"``) or their gradients (``"grad"``) by name."""
        named = self.model.named_parameters()
        return {n: self.to_numpy(p if what == "param" else p.grad) for n, p in named}


def ours_engine(workload: Workload, state: dict[str, np.ndarray], batch: Batch) -> Engine:
    """The AzuraForge core on the batch, starting from ``state``."""
    model = workload.ours_model()
    model.load_state_dict(state)
    optimizer = optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = getattr(nn, workload.loss)()
    return Engine("ours", model, loss_fn, optimizer, Tensor(batch[0]), batch[1], _ours_array)


def _ours_array(value: Any) -> np.ndarray:
    """A parameter (``Tensor``) or a gradient (already an array) as an array."""
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def torch_engine(workload: Workload, state: dict[str, np.ndarray], batch: Batch) -> Engine:
    """PyTorch on the batch, with ``state`` loaded by name (strict: every name must match)."""
    import torch

    model = workload.torch_model()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = getattr(torch.nn, workload.loss)()
    x, y = (torch.from_numpy(a) for a in batch)
    return Engine("torch", model, loss_fn, optimizer, x, y, lambda t: t.detach().numpy())


def make_engine(name: str, workload: Workload) -> Engine:
    """An engine on the workload's seeded batch and initial weights."""
    batch = workload.data(np.random.default_rng(SEED))
    build = ours_engine if name == "ours" else torch_engine
    return build(workload, initial_state(workload), batch)


# ---- correctness, timing, memory --------------------------------------------------------


def max_abs_diff(ours: dict[str, np.ndarray], peer: dict[str, np.ndarray]) -> dict[str, float]:
    """The largest absolute difference of each named array."""
    return {name: float(np.max(np.abs(a - peer[name]))) for name, a in ours.items()}


def check_one_step(ours: Engine, peer: Engine) -> dict[str, Any]:
    """One step of each engine from identical weights; compare losses and updated parameters
    (checked) and gradients (reported, relative to each gradient's largest element)."""
    losses = {e.name: e.step() for e in (ours, peer)}
    params = max_abs_diff(ours.arrays("param"), peer.arrays("param"))
    grads = max_abs_diff(ours.arrays("grad"), peer.arrays("grad"))
    scale = {n: float(np.max(np.abs(g))) or 1.0 for n, g in peer.arrays("grad").items()}
    loss_rel = abs(losses["ours"] - losses["torch"]) / max(abs(losses["torch"]), 1e-12)
    worst = max(params, key=params.__getitem__)
    return {
        "loss": {**losses, "rel_diff": loss_rel},
        "param_max_abs_diff": params[worst],
        "worst_param": worst,
        "grad_max_rel_diff": max(grads[n] / scale[n] for n in grads),
        "tolerance": TOLERANCE,
        "ok": loss_rel <= TOLERANCE["loss_rel"] and params[worst] <= TOLERANCE["param_abs"],
    }


def time_interleaved(
    engines: list[Engine], warmup: int, repeats: int
) -> tuple[dict[str, list[float]], dict[str, dict[str, float]]]:
    """Milliseconds per step for each engine, run in alternating blocks with pauses, and what
    each engine's steps cost the process beyond their own work:

    ``cpu_per_wall``: process CPU time over wall time, about the thread count when nothing
    else competes for the CPUs (lower: other processes or the hypervisor took CPU time);
    ``page_faults_per_step``: minor page faults (memory handed back to the OS and taken again,
    which glibc malloc tuning removes; DESIGN.md section 3).
    """
    for engine in engines:
        for _ in range(warmup):
            engine.step()
    wall: dict[str, list[float]] = {e.name: [] for e in engines}
    cpu, faults = dict.fromkeys(wall, 0.0), dict.fromkeys(wall, 0)
    for block in range(-(-repeats // BLOCK)):
        order = engines if block % 2 == 0 else engines[::-1]
        for engine in order:
            gc.collect()
            time.sleep(PAUSE_S)
            for _ in range(min(BLOCK, repeats - block * BLOCK)):
                start, start_cpu, start_faults = time.perf_counter(), time.process_time(), minflt()
                engine.step()
                wall[engine.name].append((time.perf_counter() - start) * 1e3)
                cpu[engine.name] += (time.process_time() - start_cpu) * 1e3
                faults[engine.name] += minflt() - start_faults
    costs = {
        name: {"cpu_per_wall": cpu[name] / sum(t), "page_faults_per_step": faults[name] / len(t)}
        for name, t in wall.items()
    }
    return wall, costs


def minflt() -> int:
    """Minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure_memory(engine_name: str, workload: Workload, warmup: int) -> dict[str, float]:
    """Peak RSS growth over the post-import baseline for warm-up + a few steps; for ours also
    the tracemalloc peak of one step over what was allocated before it."""
    baseline = peak_rss_mb()
    engine = make_engine(engine_name, workload)
    for _ in range(warmup + MEMORY_STEPS):
        engine.step()
    result = {
        "rss_baseline_mb": baseline,
        "rss_peak_growth_mb": peak_rss_mb() - baseline,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if engine_name == "ours":
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        engine.step()
        result["tracemalloc_step_peak_mb"] = (tracemalloc.get_traced_memory()[1] - before) / MB
        tracemalloc.stop()
    return result


def memory_in_subprocess(engine: str, workload: str, threads: int, quick: bool) -> dict[str, Any]:
    """Run :func:`measure_memory` in a fresh interpreter and return its JSON answer."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--measure-memory", "--engine", engine]
    cmd += ["--workload", workload, "--threads", str(threads), *(["--quick"] if quick else [])]
    return child_answer(cmd, "memory subprocess")


def limit_threads(threads: int, with_torch: bool) -> None:
    """Give each engine ``threads``: torch's OpenMP/MKL pools through its own setting, ours
    through :func:`azuraforge.core.set_num_threads` (its pool, with one OpenBLAS thread
    inside each of its threads; called last, since threadpoolctl's limit reaches OpenBLAS
    too)."""
    if with_torch:
        import torch

        torch.set_num_threads(threads)
    threadpool_limits(limits=threads)
    set_num_threads(threads)


# ---- environment and report -------------------------------------------------------------


def environment(threads: int, load_before: tuple[float, ...], ticks: list[int]) -> dict[str, Any]:
    """Versions, BLAS, threads, machine and load, as recorded in the report and the JSON."""
    import torch

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "numpy_blas": numpy_blas(),
        **torch_kernels(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "env": {k: os.environ.get(k) for k in ENV_VARS},
        "threadpools": threadpool_info(),
        "platform": platform.platform(),
        "load_average_1_5_15": {"before": load_before, "after": os.getloadavg()},
        "steal_share": steal_share(ticks, cpu_ticks()),
    }


def numpy_blas() -> list[dict[str, Any]]:
    """NumPy's BLAS libraries in this process (threadpoolctl): API, version, kernels, threads."""
    return [
        {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
        for p in threadpool_info()
        if p["user_api"] == "blas" and "numpy" in p["filepath"]
    ]


def torch_kernels() -> dict[str, Any]:
    """PyTorch's CPU capability and its parallel set-up (threads, OpenMP, MKL, oneDNN)."""
    import torch

    parallel = torch.__config__.parallel_info().split("Environment variables")[0]
    return {
        "torch_parallel_info": [line.strip() for line in parallel.strip().splitlines()],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def kernel_note(env: dict[str, Any]) -> str:
    """Which OpenBLAS kernel NumPy ran, and the environment variables that chose it."""
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} with its {b['architecture']} kernels"
        for b in env["numpy_blas"]
    )
    chosen = ", ".join(
        f"{k}={v if v is not None else '(unset)'}"
        for k, v in env["env"].items()
        if k.startswith("OPENBLAS")
    )
    return f"NumPy's BLAS in this run: {blas or 'unknown'} ({chosen})."


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown results table."""
    head = (
        "| workload | ours median ms | torch median ms | ratio ours/torch | bar | meets bar "
        "| ours peak MB (RSS) | torch peak MB (RSS) | ours step peak MB (tracemalloc) |"
    )
    rows = [head, "|" + "---|" * 9]
    for r in results:
        ours, peer = r["memory"]["ours"], r["memory"]["torch"]
        rows.append(
            f"| {r['workload']} | {r['median_ms']['ours']:.2f} | {r['median_ms']['torch']:.2f} "
            f"| {r['ratio']:.2f} | <= {r['bar']:.1f} | {'yes' if r['meets_bar'] else 'no'} "
            f"| {ours['rss_peak_growth_mb']:.1f} | {peer['rss_peak_growth_mb']:.1f} "
            f"| {ours['tracemalloc_step_peak_mb']:.1f} |"
        )
    return "\n".join(rows)


def environment_block(env: dict[str, Any]) -> str:
    """The environment as a fenced text block."""
    lines = [
        f"CPU: {env['cpu']} ({env['cpu_count']} logical CPUs), {env['platform']}",
        f"Python {env['python']}, NumPy {env['numpy']}, torch {env['torch']}",
        f"threads per engine: {env['threads']}",
        *load_and_steal_lines(env, str(env["threads"])),
        *(f"{k}={v if v is not None else '(unset)'}" for k, v in env["env"].items()),
        *(
            f"NumPy BLAS: {b['internal_api']} {b['version']}, {b['architecture']} kernels, "
            f"{b['num_threads']} thread(s)"
            for b in env["numpy_blas"]
        ),
        f"torch CPU capability: {env['torch_cpu_capability']}",
        "torch.__config__.parallel_info():",
        *(f"  {line}" for line in env["torch_parallel_info"]),
    ]
    return "```text\n" + "\n".join(lines) + "\n```"


def section(report: dict[str, Any]) -> str:
    """The Markdown that goes between the markers of the --out file."""
    results, cfg = report["results"], report["config"]
    checks = "; ".join(
        f"{r['key']}: loss rel diff {r['check']['loss']['rel_diff']:.1e}, "
        f"max param diff {r['check']['param_max_abs_diff']:.1e}, "
        f"max grad rel diff {r['check']['grad_max_rel_diff']:.1e}"
        for r in results
    )
    counts = ", ".join(f"{r['repeats']} ({r['key']})" for r in results)
    busy, faults = (
        "; ".join(
            f"{r['key']}: ours {r['costs']['ours'][k]:{f}}, torch {r['costs']['torch'][k]:{f}}"
            for r in results
        )
        for k, f in (("cpu_per_wall", ".2f"), ("page_faults_per_step", ".0f"))
    )
    start, end = markers(report["setting"], cfg["threads"])
    tuned = SETTINGS[report["setting"]][1]
    heading = (
        "## Core vs PyTorch: one training step"
        + (", glibc malloc tuned" if tuned else ", as installed")
        + (f", {cfg['threads']} threads" if cfg["threads"] > 1 else "")
    )
    how = (
        "Both engines in one process started with "
        + " ".join(f"`{k}={v}`" for k, v in tuned.items())
        + ": freed memory stays in the process, so neither engine page-faults on reuse."
        if tuned
        else "Both engines with the allocator as installed (glibc defaults)."
    )
    return "\n".join([
        start,
        heading,
        "",
        how,
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        table(results),
        "",
        f"One step = zero_grad + forward + loss + backward + Adam step (lr {LEARNING_RATE}), "
        f"same seeded batch and initial weights in both engines, {cfg['threads']} thread(s) each. "
        f"Median of {counts} timed steps "
        f"after {cfg['warmup']} warm-up steps, the engines interleaved in blocks of {BLOCK} "
        f"with a {PAUSE_S} s pause between blocks. Ratio > 1 means ours is slower.",
        "",
        f"Process CPU time / wall time over the timed steps: {busy}. Each engine may use "
        f"{cfg['threads']} thread(s), so with nothing else running this is at most about "
        f"{cfg['threads']}; well below that (at 1 thread: below about 0.95) means other "
        "processes, or the hypervisor (see steal below), took CPU time during the steps and "
        "the medians are inflated.",
        "",
        f"Minor page faults per timed step: {faults}. They come from memory handed back to "
        "the OS and taken again, and mostly go away with glibc malloc tuning (e.g. "
        "`MALLOC_MMAP_THRESHOLD_`, recorded below), which speeds up the engine that had them; "
        "DESIGN.md section 3 asks for PyTorch both as installed and tuned.",
        "",
        "Peak MB (RSS): growth of the peak resident set over the post-import baseline, each "
        f"engine alone in a fresh process, over warm-up + {MEMORY_STEPS} steps (model, data, "
        "optimiser state and the step's temporaries). Read from `VmHWM`, the counter behind "
        "`ru_maxrss`: a child's `ru_maxrss` starts at its parent's peak, so it shows no growth "
        "here. Step peak MB (tracemalloc): the most NumPy memory our core held during one "
        "step beyond what it held before the step.",
        "",
        f"Correctness (checked before timing, one step from identical weights): {checks}. "
        f"Tolerances: loss {TOLERANCE['loss_rel']:.0e} relative, parameters "
        f"{TOLERANCE['param_abs']:.0e} absolute.",
        "",
        kernel_note(report["environment"]),
        "",
        environment_block(report["environment"]),
        end,
    ])  # fmt: skip


# ---- driver -----------------------------------------------------------------------------


def run_workload(workload: Workload, args: argparse.Namespace, warmup: int) -> dict[str, Any]:
    """Check, time and measure one workload; exit with status 1 if the engines disagree."""
    engines = [make_engine(name, workload) for name in ENGINES]
    check = check_one_step(*engines)
    if not check["ok"]:
        sys.exit(f"{workload.key}: ours and torch disagree after one step: {json.dumps(check)}")
    repeats = args.repeats or (QUICK_REPEATS if args.quick else workload.repeats)
    times, costs = time_interleaved(engines, warmup, repeats)
    median = {name: float(np.median(t)) for name, t in times.items()}
    quartiles = {name: np.percentile(t, [25, 75]).tolist() for name, t in times.items()}
    ratio = median["ours"] / median["torch"]
    memory = {e: memory_in_subprocess(e, workload.key, args.threads, args.quick) for e in ENGINES}
    return {
        "key": workload.key, "workload": workload.title, "repeats": repeats, "check": check,
        "times_ms": times, "median_ms": median, "quartiles_ms": quartiles, "ratio": ratio,
        "bar": workload.bar, "meets_bar": ratio <= workload.bar, "memory": memory,
        "costs": costs,
    }  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the memory mode's are hidden: the script calls itself)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI size: fewer repeats")
    parser.add_argument("--repeats", type=int, help="timed steps per engine and workload")
    parser.add_argument("--threads", type=int, default=1, help="threads per engine (default 1)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown to update"
    )
    parser.add_argument(
        "--setting",
        choices=sorted(SETTINGS),
        default="as-installed",
        help="allocator setting; each has its own section in --out (default as-installed)",
    )
    parser.add_argument("--json", type=Path, help="where the numbers go (default per setting)")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), help="run only this workload")
    parser.add_argument("--measure-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1 or (args.repeats is not None and args.repeats < 1):
        parser.error("--threads and --repeats must be positive")
    if args.measure_memory and not (args.engine and args.workload):
        parser.error("--measure-memory needs --engine and --workload")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, or (hidden mode) one engine's memory measurement."""
    args = parse_args(argv)
    ensure_setting_environment(args.setting)
    warmup = WARMUP["quick" if args.quick else "full"]
    limit_threads(args.threads, with_torch=not (args.measure_memory and args.engine == "ours"))
    if args.measure_memory:
        print(json.dumps(measure_memory(args.engine, WORKLOADS[args.workload], warmup)))
        return
    load_before, ticks = os.getloadavg(), cpu_ticks()
    keys = [args.workload] if args.workload else list(WORKLOADS)
    results = [run_workload(WORKLOADS[k], args, warmup) for k in keys]
    report = {
        "setting": args.setting,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {"threads": args.threads, "quick": args.quick, "warmup": warmup},
        "environment": environment(args.threads, load_before, ticks),
        "results": results,
    }
    print(table(results))
    print(kernel_note(report["environment"]))
    write_section(args.out, section(report), markers(args.setting, args.threads))
    json_path = args.json or default_json(args.setting, args.threads)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} and {json_path}")


if __name__ == "__main__":
    main()

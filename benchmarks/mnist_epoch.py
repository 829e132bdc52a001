"""Training epochs of the digit classifier's CNN on MNIST: the AzuraForge core beside PyTorch.

The digit classifier's model (``build_cnn`` with ``DigitConfig``'s defaults) trains on the
app's training images, scaled as the app scales them, with the app's batch size, Adam and
learning rate, in both engines: the same initial weights (ours, built under
``manual_seed(0)``, loaded into an identically named PyTorch ``nn.Sequential``), the same
batches in the same order (one seeded NumPy generator draws each epoch's order) and the same
thread count (``set_num_threads`` for ours, which sets its BLAS's threads too;
``torch.set_num_threads`` for PyTorch). Only the dropout masks differ: each engine draws its own.

The parent prepares the data once (outside any timing) and runs each engine alone in a fresh
interpreter (this script in its hidden ``--run-engine`` mode), ours first, then PyTorch. The
child times each epoch's training loop with ``time.perf_counter`` (batch gathering, forward,
loss, backward and the optimiser step, the model in train mode), then scores the official
10,000 test images (eval mode, no gradient), and reports seconds per epoch, test accuracy,
its peak RSS growth over its post-import baseline and CPU time over wall time.

The table goes to stdout and between this setting's markers in ``--out``; every number,
version and machine detail goes to ``--json``. ``--setting malloc-tuned`` reruns the script
with glibc's malloc keeping freed memory, as ``core_vs_torch.py`` does. ``--quick`` trains
only the first batches of each epoch and scores the first test images: a smoke test, not a
measurement. MNIST comes from ``AZURAFORGE_DATA_MIRROR``, the dataset cache or a download,
as for the app; if none has it the script exits with status 1.

Usage::

    .venv/bin/python benchmarks/mnist_epoch.py [--quick] [--epochs N] [--threads N]
        [--setting as-installed|malloc-tuned] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from azuraforge.apps.digits import DigitConfig, _pixel_scaler, _pixels, build_cnn
from azuraforge.core import get_num_threads, manual_seed, nn, optim, set_num_threads
from azuraforge.errors import DataFormatError, DatasetUnavailableError
from azuraforge.learn import predict
from azuraforge.learn.datasets import load_mnist
from core_vs_torch import (
    ENV_VARS,
    SETTINGS,
    default_json,
    ensure_setting_environment,
    markers,
    numpy_blas,
    torch_kernels,
)
from harness import (
    ROOT,
    child_answer,
    command_line,
    cpu_model,
    cpu_ticks,
    git_state,
    load_and_steal_lines,
    peak_rss_mb,
    steal_share,
    version,
    write_outputs,
)

STEM = "mnist_epoch"  # its sections and JSON files: mnist_epoch[_malloc_tuned][_N_threads]
SEED = 0
ENGINES = ("ours", "torch")
QUICK_BATCHES = 40  # training batches per epoch in a --quick run
QUICK_TEST_IMAGES = 2000  # test images scored in a --quick run
PAUSE_S = 2.0  # between the two engines' processes
ARRAYS = ("train_x", "train_y", "test_x", "test_y")  # the prepared data, one .npy file each
# Besides core_vs_torch's variables: any other that steers OpenBLAS, glibc malloc or OpenMP.
ENV_PREFIXES = ("OPENBLAS_", "MALLOC_", "OMP_", "MKL_", "AZURAFORGE_NUM_THREADS")


def bounds(report: dict[str, Any]) -> tuple[str, str]:
    """The markers of this run's section: one per allocator setting and thread count."""
    return markers(report["setting"], report["config"]["threads"], STEM)


# ---- the data and the initial weights (parent) ------------------------------------------


def prepare_data(folder: Path, config: DigitConfig, quick: bool) -> dict[str, int]:
    """Write the app's training images and labels, the test set (its first images when
    ``quick``) and our seeded initial weights into ``folder``; exit with status 1 if MNIST
    cannot be had. Returns how many images of each part were written."""
    try:
        data = load_mnist()
    except (DatasetUnavailableError, DataFormatError) as e:
        sys.exit(f"mnist_epoch: MNIST is not available: {e}")
    # As the app: the last val_size training images are its validation set, not trained on,
    # and the pixel scaling is fitted on the images it trains on.
    images = data.train_images[: -config.val_size]
    scaler = _pixel_scaler(images)
    test = QUICK_TEST_IMAGES if quick else len(data.test_images)
    arrays = {
        "train_x": _pixels(images, scaler),
        "train_y": data.train_labels[: -config.val_size].astype(np.int64),
        "test_x": _pixels(data.test_images[:test], scaler),
        "test_y": data.test_labels[:test].astype(np.int64),
    }
    for name in ARRAYS:
        np.save(folder / f"{name}.npy", arrays[name])
    manual_seed(SEED)
    model = build_cnn(config.channels, config.hidden_size, config.dropout)
    np.savez(folder / "weights.npz", **model.state_dict())
    return {"train_images": len(images), "test_images": test}


# ---- one engine behind one interface (child) --------------------------------------------


@dataclass
class Engine:
    """A model, its loss and Adam; both engines train and predict through this API."""

    model: Any
    loss_fn: Any
    optimizer: Any
    as_input: Callable[[np.ndarray], Any]  # a NumPy batch as the engine takes it
    predict: Callable[[np.ndarray], np.ndarray]  # logits of rows, eval mode, no graph

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """zero_grad + forward + loss + backward + optimiser step; returns the loss."""
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(self.as_input(x)), self.as_input(y))
        loss.backward()
        self.optimizer.step()
        return float(loss.item())


def ours_engine(weights: dict[str, np.ndarray], config: DigitConfig) -> Engine:
    """The app's model in our core, fed NumPy batches as the app's Trainer feeds them."""
    manual_seed(SEED)  # seeds the dropout masks
    model = build_cnn(config.channels, config.hidden_size, config.dropout)
    model.load_state_dict(weights)
    optimizer = optim.Adam(model.parameters(), lr=config.learning_rate)
    return Engine(
        model, nn.CrossEntropyLoss(), optimizer, lambda a: a,
        lambda x: predict(model, x, config.batch_size),
    )  # fmt: skip


def torch_engine(weights: dict[str, np.ndarray], config: DigitConfig) -> Engine:
    """The same model in PyTorch, ``weights`` loaded by name (strict: every name must match)."""
    import torch
    from torch import nn as tnn

    torch.manual_seed(SEED)  # seeds the dropout masks
    c, hidden = config.channels, config.hidden_size
    model = tnn.Sequential(
        tnn.Conv2d(1, c, 3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(c, 2 * c, 3), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(2 * c * 5 * 5, hidden), tnn.ReLU(),
        tnn.Dropout(config.dropout), tnn.Linear(hidden, 10),
    )  # fmt: skip
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)

    def predict_rows(x: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            return np.concatenate([
                model(torch.from_numpy(x[start : start + config.batch_size])).numpy()
                for start in range(0, len(x), config.batch_size)
            ])  # fmt: skip

    return Engine(model, tnn.CrossEntropyLoss(), optimizer, torch.from_numpy, predict_rows)


def set_threads(engine: str, threads: int) -> int:
    """Give the engine ``threads`` threads (ours sets its BLAS's threads itself; in the PyTorch
    process NumPy's BLAS gets as many); returns the count the engine reports back. Imports
    PyTorch for its engine, so the import is in the baseline."""
    if engine == "ours":
        set_num_threads(threads)  # also sets NumPy's BLAS, through threadpoolctl
        return get_num_threads()
    import torch

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")  # NumPy's, idle while torch trains
    return int(torch.get_num_threads())


def train_epoch(
    engine: Engine, data: dict[str, np.ndarray], order: np.ndarray, batch_size: int, quick: bool
) -> dict[str, float]:
    """One epoch over the rows in ``order`` (its first batches when ``quick``), timed: wall
    seconds, process CPU time over wall time, mean training loss, batches."""
    starts = range(0, len(order), batch_size)[: QUICK_BATCHES if quick else None]
    x, y = data["train_x"], data["train_y"]
    engine.model.train()
    gc.collect()
    total, rows = 0.0, 0
    start, start_cpu = time.perf_counter(), time.process_time()
    for first in starts:
        batch = order[first : first + batch_size]
        total += engine.step(x[batch], y[batch]) * len(batch)
        rows += len(batch)
    wall = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    return {
        "seconds": wall,
        "cpu_per_wall": cpu / wall,
        "train_loss": total / rows,
        "batches": len(starts),
    }


def blas_in_use(engine: str) -> dict[str, Any]:
    """The kernels this process ran: NumPy's BLAS (threadpoolctl), and for PyTorch its CPU
    capability and parallel setup."""
    if engine == "ours":
        return {"numpy_blas": numpy_blas()}
    return {"numpy_blas": numpy_blas(), **torch_kernels()}


def run_engine(engine: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Set the threads, load the prepared data, train ``args.epochs`` timed epochs, score
    the test images; the child's whole answer."""
    threads = set_threads(engine, args.threads)
    baseline = peak_rss_mb()
    data = {name: np.load(folder / f"{name}.npy") for name in ARRAYS}
    with np.load(folder / "weights.npz") as saved:
        weights = {k: saved[k] for k in saved.files}
    data_mb = peak_rss_mb() - baseline
    config = DigitConfig()
    trainer = (ours_engine if engine == "ours" else torch_engine)(weights, config)
    rng = np.random.default_rng(SEED)  # the same epoch orders in both engines
    epochs = []
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(data["train_x"]))
        epochs.append(train_epoch(trainer, data, order, config.batch_size, args.quick))
        print(f"{engine}: epoch {epoch}: {epochs[-1]['seconds']:.1f} s", file=sys.stderr)
    predicted = trainer.predict(data["test_x"]).argmax(axis=1)
    seconds = [e["seconds"] for e in epochs]
    return {
        "threads": threads,
        "epochs": epochs,
        "median_epoch_s": float(np.median(seconds)),
        "cpu_per_wall": sum(e["cpu_per_wall"] * e["seconds"] for e in epochs) / sum(seconds),
        "test_accuracy": float(np.mean(predicted == data["test_y"])),
        "rss_baseline_mb": baseline,
        "rss_data_mb": data_mb,
        "rss_peak_growth_mb": peak_rss_mb() - baseline,
        "kernels": blas_in_use(engine),
    }


def engine_in_subprocess(engine: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run :func:`run_engine` in a fresh interpreter and return its JSON answer (its progress
    lines go to this process's stderr)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-engine", engine]
    cmd += ["--data", str(folder), "--threads", str(args.threads), "--epochs", str(args.epochs)]
    cmd += ["--quick"] if args.quick else []
    return child_answer(cmd, f"mnist_epoch: the {engine} run", show_stderr=True)


# ---- environment and report -------------------------------------------------------------


def environment(load_before: tuple[float, ...], ticks: list[int]) -> dict[str, Any]:
    """Versions, machine, load and the variables that steer the kernels and the allocator."""
    names = [*ENV_VARS, *sorted(k for k in os.environ if k.startswith(ENV_PREFIXES))]
    return {
        "python": platform.python_version(),
        "git": git_state(),
        "packages": {p: version(p) for p in ("numpy", "torch", "threadpoolctl")},
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "env": {k: os.environ.get(k) for k in dict.fromkeys(names)},
        "load_average_1_5_15": {"before": load_before, "after": os.getloadavg()},
        "steal_share": steal_share(ticks, cpu_ticks()),
    }


def kernel_note(engines: dict[str, dict[str, Any]]) -> str:
    """Which BLAS kernels each engine's process ran, with how many threads, and PyTorch's CPU
    capability."""
    blas = "; ".join(
        f"{name} ({result['threads']} engine threads): "
        + ", ".join(
            f"{b['internal_api']} {b['version']} with its {b['architecture']} kernels, "
            f"{b['num_threads']} BLAS thread(s)"
            for b in result["kernels"]["numpy_blas"]
        )
        for name, result in engines.items()
    )
    capability = engines["torch"]["kernels"]["torch_cpu_capability"]
    return f"NumPy's BLAS in each engine's process: {blas}. PyTorch CPU capability: {capability}."


def table(report: dict[str, Any]) -> str:
    """The Markdown results table."""
    epochs = report["config"]["epochs"]
    per_epoch = "median s per epoch" if epochs > 1 else "s per epoch"
    rows = [
        f"| engine | threads | {per_epoch} | ratio ours/torch | test accuracy % "
        "| peak RSS MB | CPU/wall |",
        "|" + "---|" * 7,
    ]
    for name, r in report["engines"].items():
        ratio = f"{report['ratio']:.2f}" if name == "ours" else "-"
        rows.append(
            f"| {name} | {r['threads']} | {r['median_epoch_s']:.2f} | {ratio} "
            f"| {100 * r['test_accuracy']:.2f} | {r['rss_peak_growth_mb']:.1f} "
            f"| {r['cpu_per_wall']:.2f} |"
        )
    return "\n".join(rows)


def environment_block(env: dict[str, Any], engines: dict[str, dict[str, Any]]) -> str:
    """The environment as a fenced text block."""
    lines = [
        f"CPU: {env['cpu']} ({env['cpu_count']} logical CPUs), {env['platform']}",
        f"AzuraForge at commit {env['git']}",
        f"Python {env['python']}, " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()),
        *load_and_steal_lines(env, "the thread count"),
        *(f"{k}={v if v is not None else '(unset)'}" for k, v in env["env"].items()),
        "torch.__config__.parallel_info() in the PyTorch process:",
        *(f"  {line}" for line in engines["torch"]["kernels"]["torch_parallel_info"]),
    ]
    return "```text\n" + "\n".join(lines) + "\n```"


def section(report: dict[str, Any]) -> str:
    """The Markdown that goes between the markers of the --out file."""
    cfg, engines = report["config"], report["engines"]
    tuned = SETTINGS[report["setting"]][1]
    heading = "## MNIST: training epochs of the digit classifier's CNN, core vs PyTorch" + (
        ", glibc malloc tuned" if tuned else ", as installed"
    )
    how = (
        "Both engines' processes started with "
        + " ".join(f"`{k}={v}`" for k, v in tuned.items())
        + ": freed memory stays in the process, so neither engine page-faults on reuse."
        if tuned
        else "Both engines with the allocator as installed (glibc defaults)."
    )
    quick = (
        f"**Quick run**: only the first {QUICK_BATCHES} batches of each epoch, scored on the "
        f"first {cfg['test_images']:,} test images. A smoke test, not a measurement of the "
        "epoch; the accuracy is that of a barely trained model."
        if cfg["quick"]
        else ""
    )
    losses = ", ".join(
        f"{name} {r['epochs'][-1]['train_loss']:.4f}" for name, r in engines.items()
    )
    n = cfg["epochs"]
    timed = f"median over {n} epochs" if n > 1 else "one epoch"
    batches = -(-cfg["train_images"] // cfg["batch_size"])
    last = cfg["train_images"] - (batches - 1) * cfg["batch_size"]
    return "\n".join([
        bounds(report)[0],
        heading,
        "",
        how,
        *(["", quick] if quick else []),
        "",
        f"Generated {report['generated']} by `{report['command']}`.",
        "",
        table(report),
        "",
        f"An epoch is the digit classifier's training epoch: its {cfg['train_images']:,} "
        f"training images (MNIST's 60,000 less the last {cfg['val_size']:,}, which the app "
        "keeps for validation), pixels standardised with the mean and standard deviation of "
        f"those images as the app does, in {batches} batches of {cfg['batch_size']} (the "
        f"last of {last}), gathered in an order drawn from one seeded NumPy generator per "
        "epoch (the same orders in both engines); each batch: zero_grad + forward + "
        f"cross-entropy + backward + Adam step (lr {cfg['learning_rate']}, as the app), the "
        "model in train mode. The model is `build_cnn` with the app's defaults: conv 3x3 "
        f"{cfg['channels']} - ReLU - max-pool - conv 3x3 {2 * cfg['channels']} - ReLU - "
        f"max-pool - dense {cfg['hidden_size']} - ReLU - dropout {cfg['dropout']} - 10; our "
        f"initial weights (built under `manual_seed({SEED})`) loaded into PyTorch by name. "
        "The dropout masks differ, each engine drawing its own, so losses and accuracies "
        "agree statistically, not to the digit.",
        "",
        f"Seconds per epoch: wall time ({timed}), `time.perf_counter` around the training "
        "loop, batch gathering included (data loaded and converted before; no warm-up, so "
        "each engine's first-call costs are in its first epoch; the app's validation pass "
        "after each epoch is not included). Ratio > 1 means ours is slower. "
        f"{cfg['threads']} thread(s) each: `set_num_threads` for ours (the core's threads; "
        "the core sets its BLAS's threads itself, see below), `torch.set_num_threads` for "
        "PyTorch. Each engine runs alone in a fresh process, ours first, then PyTorch after "
        f"a {PAUSE_S:g} s pause.",
        "",
        f"Test accuracy after the same {n} epoch{'s' if n > 1 else ''}, on the "
        f"{cfg['test_images']:,} test images in eval mode (dropout off) without gradients. "
        f"Mean training loss over the last epoch: {losses}.",
        "",
        "Peak RSS MB: growth of the process's peak resident set (`VmHWM`) over its "
        "post-import baseline, through training and scoring; it includes the prepared data "
        "arrays the process loads first ("
        + ", ".join(f"{name} {r['rss_data_mb']:.0f} MB" for name, r in engines.items())
        + "). CPU/wall: process CPU time over wall time across the timed epochs; with "
        f"nothing else running it is at most about {cfg['threads']}, and well below the "
        "engine's own usual value means other processes or the hypervisor took CPU time.",
        "",
        kernel_note(engines),
        "",
        environment_block(report["environment"], engines),
        bounds(report)[1],
    ])  # fmt: skip


# ---- driver -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the engine mode's are hidden: the script calls itself)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: first {QUICK_BATCHES} batches, first {QUICK_TEST_IMAGES} test images",
    )
    parser.add_argument("--epochs", type=int, default=1, help="epochs per engine (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="threads per engine (default 2)")
    parser.add_argument(
        "--setting",
        choices=sorted(SETTINGS),
        default="as-installed",
        help="allocator setting; each has its own section in --out (default as-installed)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="Markdown to update"
    )
    parser.add_argument("--json", type=Path, help="where the numbers go (default per setting)")
    parser.add_argument("--run-engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads < 1 or args.epochs < 1:
        parser.error("--threads and --epochs must be positive")
    if args.run_engine and not args.data:
        parser.error("--run-engine needs --data")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, or (hidden mode) one engine's epochs."""
    args = parse_args(argv)
    ensure_setting_environment(args.setting)
    if args.run_engine:
        print(json.dumps(run_engine(args.run_engine, args.data, args)))
        return
    load_before, ticks = os.getloadavg(), cpu_ticks()
    config = DigitConfig()
    with tempfile.TemporaryDirectory(prefix="mnist_epoch_") as tmp:
        counts = prepare_data(Path(tmp), config, args.quick)
        engines = {}
        for engine in ENGINES:
            if engines:
                time.sleep(PAUSE_S)
            engines[engine] = engine_in_subprocess(engine, Path(tmp), args)
    keys = ("batch_size", "learning_rate", "channels", "hidden_size", "dropout", "val_size")
    report = {
        "setting": args.setting,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        "config": {
            "threads": args.threads, "epochs": args.epochs, "quick": args.quick,
            "seed": SEED, **counts, **{k: getattr(config, k) for k in keys},
        },
        "environment": environment(load_before, ticks),
        "ratio": engines["ours"]["median_epoch_s"] / engines["torch"]["median_epoch_s"],
        "engines": engines,
    }  # fmt: skip
    print(table(report))
    print(kernel_note(engines))
    json_path = args.json or default_json(args.setting, args.threads, STEM)
    write_outputs(report, section(report), bounds(report), args.out, json_path)


if __name__ == "__main__":
    main()

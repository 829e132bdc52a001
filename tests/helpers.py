"""Shared test helpers: a finite-difference gradient checker and PyTorch comparisons.

Everything here is plain functions so test modules import them explicitly
(``from tests.helpers import check_gradients``). PyTorch is imported lazily, only by the
helpers that need it, so the NumPy-only tests run without it.
"""

from __future__ import annotations

import ast
import textwrap
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from azuraforge.core import Tensor, nn, no_grad, optim

FD_EPS = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-9


def rng(seed: int = 0) -> np.random.Generator:
    """A seeded NumPy generator; every test draws its data from one."""
    return np.random.default_rng(seed)


def away_from_zero(shape: tuple[int, ...], seed: int = 0, low: float = 0.2) -> np.ndarray:
    """float64 values with ``low <= |x| <= 1.5`` and random signs: no kink within FD reach."""
    g = rng(seed)
    return g.uniform(low, 1.5, size=shape) * g.choice([-1.0, 1.0], size=shape)


def tensor64(data: Any, requires_grad: bool = True) -> Tensor:
    """A float64 tensor, the dtype every finite-difference check runs in."""
    return Tensor(np.array(data, dtype=np.float64), requires_grad=requires_grad, dtype=np.float64)


def _projection(output: Tensor, seed: int) -> np.ndarray:
    # A random weighting of the outputs: a plain sum would hide errors that cancel out, such
    # as any softmax gradient (each row of softmax sums to one).
    return rng(seed).uniform(0.5, 1.5, size=output.shape) * rng(seed + 1).choice(
        [-1.0, 1.0], size=output.shape
    )


def numerical_gradient(objective: Callable[[], float], tensor: Tensor, eps: float) -> np.ndarray:
    """Central differences of ``objective`` with respect to each element of ``tensor``."""
    tensor.data = np.ascontiguousarray(tensor.data)
    grad = np.zeros_like(tensor.data)
    flat = tensor.data.reshape(-1)  # a view: writing to it perturbs the tensor in place
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = objective()
        flat[i] = original - eps
        minus = objective()
        flat[i] = original
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(
    fn: Callable[[], Tensor],
    tensors: Sequence[Tensor],
    *,
    seed: int = 0,
    eps: float = FD_EPS,
    rtol: float = FD_RTOL,
    atol: float = FD_ATOL,
) -> None:
    """Assert that backprop through ``fn()`` matches central finite differences.

    ``fn`` takes no arguments and recomputes its output from ``tensors`` (float64 tensors,
    parameters included, whose data is perturbed in place one element at a time). The output
    is reduced to a scalar with a fixed random weighting, so every output element counts.
    """
    for t in tensors:
        assert t.data.dtype == np.float64, f"finite differences need float64, got {t.dtype}"
        assert t.requires_grad
        t.grad = None
    output = fn()
    weights = _projection(output, seed)
    (output * Tensor(weights, dtype=np.float64)).sum().backward()

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn().data * weights))

    for i, t in enumerate(tensors):
        numeric = numerical_gradient(objective, t, eps)
        assert t.grad is not None, f"input {i} of shape {t.shape} received no gradient"
        np.testing.assert_allclose(
            t.grad, numeric, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}"
        )


def check_module_gradients(module: nn.Module, *inputs: Tensor, seed: int = 0) -> None:
    """Finite-difference check of a float64 module: its floating inputs and every parameter."""
    module.to(np.float64)
    wanted = [t for t in inputs if t.requires_grad] + module.parameters()
    assert wanted
    check_gradients(lambda: module(*inputs), wanted, seed=seed)


# ---- comparisons with PyTorch -----------------------------------------------------------

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}
"""Relative agreement with PyTorch per dtype (float64 should agree almost to the last bit)."""


def assert_close(actual: Any, expected: Any, rtol: float, what: str = "") -> None:
    """Element-wise ``rtol`` agreement; ``atol`` scales with the largest expected value, so
    elements near zero are compared relative to the array rather than to themselves."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    scale = float(np.max(np.abs(expected), initial=1.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def to_torch(array: np.ndarray, requires_grad: bool = False) -> Any:
    """A torch tensor with a copy of ``array`` (same dtype)."""
    import torch

    return torch.tensor(np.array(array), requires_grad=requires_grad)


def copy_state_to_torch(ours: nn.Module, theirs: Any) -> None:
    """Copy every parameter and buffer into the torch module's tensor of the same name."""
    import torch

    target = theirs.state_dict()
    ours_state = ours.state_dict()
    assert set(ours_state) <= set(target), sorted(set(ours_state) - set(target))
    with torch.no_grad():
        for name, value in ours_state.items():
            target[name].copy_(torch.from_numpy(value))


def compare_with_torch(
    out: Tensor, expected: Any, pairs: Sequence[tuple[str, Tensor, Any]], dtype: Any, seed: int = 1
) -> None:
    """Compare ``out`` with torch's ``expected``, backpropagate one random upstream gradient
    through both, then compare the gradient of each ``(name, ours, theirs)`` pair."""
    rtol = TOLERANCE[dtype]
    assert out.dtype == dtype, f"output dtype {out.dtype}, expected {np.dtype(dtype)}"
    assert_close(out.data, expected.detach().numpy(), rtol, "output")
    upstream = rng(seed).normal(size=out.shape).astype(dtype)
    out.backward(upstream)
    expected.backward(to_torch(upstream))
    for name, mine, reference in pairs:
        assert mine.grad is not None, f"{name} received no gradient"
        assert_close(mine.grad, reference.grad.numpy(), rtol, f"gradient of {name}")


def compare_module_with_torch(ours: nn.Module, theirs: Any, x: np.ndarray, dtype: Any) -> None:
    """Same weights and input in both: compare output, input gradient and every parameter
    gradient (by name), after backpropagating one random upstream gradient."""
    import torch

    ours.to(dtype)
    theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    copy_state_to_torch(ours, theirs)
    ours.zero_grad()
    theirs.zero_grad(set_to_none=True)
    floating = np.asarray(x).dtype.kind == "f"
    x_ours = Tensor(x, requires_grad=floating, dtype=dtype if floating else None)
    x_theirs = to_torch(x.astype(dtype) if floating else x, requires_grad=floating)
    torch_params = dict(theirs.named_parameters())
    pairs = [("input", x_ours, x_theirs)] if floating else []
    pairs += [(name, p, torch_params[name]) for name, p in ours.named_parameters()]
    compare_with_torch(ours(x_ours), theirs(x_theirs), pairs, dtype)


def train_and_check(
    model: nn.Module,
    loss_fn: Callable[[Any], Tensor],
    steps: int = 30,
    lr: float = 0.02,
    max_ratio: float = 0.7,
) -> None:
    """Train with Adam; assert the loss falls below ``max_ratio`` of its start and that every
    parameter (and buffer) in the state dict has changed."""
    before = model.state_dict()
    optimizer = optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    after = model.state_dict()
    assert losses[-1] < max_ratio * losses[0], losses
    unchanged = [name for name in before if np.array_equal(before[name], after[name])]
    assert not unchanged, f"never updated: {unchanged}"


def _objective(params: Sequence[Any], targets: Sequence[Any]) -> Any:
    # Written once for both libraries: Tensor and torch.Tensor share these operators.
    total = None
    for p, target in zip(params, targets, strict=True):
        term = ((p.tanh() - target) * (p - target)).sum()
        total = term if total is None else total + term
    return total


def compare_optimizer_with_torch(
    make_ours: Callable[[list[Tensor]], optim.Optimizer],
    make_theirs: Callable[[list[Any]], Any],
    dtype: Any,
    steps: int = 6,
) -> None:
    """Run both optimisers on the same objective and compare the parameters after each step."""
    g = rng(42)
    initial = [g.normal(size=(3, 2)), g.normal(size=(4,))]
    targets = [g.normal(size=p.shape).astype(dtype) for p in initial]
    ours = [Tensor(p.copy(), requires_grad=True, dtype=dtype) for p in initial]
    theirs = [to_torch(p.astype(dtype), requires_grad=True) for p in initial]
    ours_targets = [Tensor(t, dtype=dtype) for t in targets]
    theirs_targets = [to_torch(t) for t in targets]
    ours_opt, theirs_opt = make_ours(ours), make_theirs(theirs)
    for step in range(steps):
        ours_opt.zero_grad()
        theirs_opt.zero_grad()
        _objective(ours, ours_targets).backward()
        _objective(theirs, theirs_targets).backward()
        ours_opt.step()
        theirs_opt.step()
        for i, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
            assert mine.dtype == dtype
            expected = reference.detach().numpy()
            assert_close(mine.data, expected, TOLERANCE[dtype], f"parameter {i}, step {step}")
    moved = [not np.allclose(p.data, p0) for p, p0 in zip(ours, initial, strict=True)]
    assert all(moved), "the optimiser left a parameter where it started"


def imported_modules(path: Path) -> set[str]:
    """Absolute module names a Python file imports (for layering tests)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def write_pipeline_plugin(
    root: Path,
    package: str,
    source: str,
    entry_points: dict[str, str],
    group: str = "azuraforge.pipelines",
    other_groups: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """Install distribution ``package`` 0.1 in folder ``root``: the package's ``__init__.py``
    holds ``source``, and ``entry_points`` (name -> ``module:Class``) go in ``group``
    (``azuraforge.pipelines`` unless told), ``other_groups``' in theirs. Put ``root`` on
    sys.path (or PYTHONPATH) to install it."""
    (root / package).mkdir(exist_ok=True)
    (root / package / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{package}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    groups = {group: entry_points, **(other_groups or {})}
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{name}]\n" + "".join(f"{entry} = {target}\n" for entry, target in entries.items())
            for name, entries in groups.items()
        )
    )
    return root


def stopped_from_another_thread(source: Any) -> list[Any]:
    """The events a live ``source`` yields on a thread of its own until the first has come
    and ``source.stop()`` is called from this one; fails unless the iteration then ends
    within 2 s (a source waiting for input must wake up at the stop)."""
    got: list[Any] = []
    first = threading.Event()

    def consume() -> None:
        for event in source:
            got.append(event)
            first.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    assert first.wait(timeout=5), "no event came"
    started = time.monotonic()
    source.stop()
    consumer.join(timeout=5)
    assert not consumer.is_alive() and time.monotonic() - started < 2
    return got

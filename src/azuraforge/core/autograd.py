"""Backward rules: one per primitive, all in one table.

A rule receives ``needs`` (which inputs want a gradient), the gradient of the output and
whatever the forward pass saved, and returns one gradient per input (``None`` where not
needed). A rule must never write into ``grad`` or a saved array: the engine may hand the
same ``grad`` to several rules, and it may be a read-only broadcast view. Rules work on NumPy
arrays only; broadcasting is undone by the engine (:func:`unbroadcast`), so a rule may return
a gradient in the broadcast shape.

Composite operations (softmax, mean, losses, norms) are built from primitives and need no
rule. Fused kernels (LSTM, GRU, conv, pooling, cross-entropy) add their own rules with
:func:`register_gradient` because one hand-written rule beats hundreds of graph nodes.
"""

from collections.abc import Callable
from typing import Any

import numpy as np

from azuraforge.core import workspace
from azuraforge.core.parallel import parallel_matmul, parallel_pieces
from azuraforge.errors import GradientError

Grads = tuple[np.ndarray | None, ...]
Needs = tuple[bool, ...]
Rule = Callable[..., Grads]

GRADIENTS: dict[str, Rule] = {}

FREED: tuple[str, tuple[Any, ...], tuple[Any, ...]] = ("freed", (), ())
"""The context a node keeps after ``backward`` released its graph."""


def register_gradient(op: str) -> Callable[[Rule], Rule]:
    """Add the backward rule of ``op`` to :data:`GRADIENTS`."""

    def decorator(rule: Rule) -> Rule:
        if op in GRADIENTS:
            raise GradientError(f"a backward rule for {op!r} is already registered")
        GRADIENTS[op] = rule
        return rule

    return decorator


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes NumPy broadcasting added or stretched to reach ``shape``."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)


def _expand_reduced(
    grad: np.ndarray, shape: tuple[int, ...], axis: Any, keepdims: bool
) -> np.ndarray:
    """Broadcast the gradient of a reduction back to the input's shape."""
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)
    return np.broadcast_to(grad, shape)


@register_gradient("freed")
def _freed(needs: Needs, grad: np.ndarray) -> Grads:
    raise GradientError(
        "backward() through a graph that an earlier backward() already freed; "
        "pass retain_graph=True to the first call to backpropagate twice"
    )


@register_gradient("add")
def _add(needs: Needs, grad: np.ndarray) -> Grads:
    return grad, grad


@register_gradient("sub")
def _sub(needs: Needs, grad: np.ndarray) -> Grads:
    return grad, (-grad if needs[1] else None)


@register_gradient("mul")
def _mul(needs: Needs, grad: np.ndarray, a: Any, b: Any) -> Grads:
    return (grad * b if needs[0] else None), (grad * a if needs[1] else None)


@register_gradient("div")
def _div(needs: Needs, grad: np.ndarray, a: Any, b: Any) -> Grads:
    grad_a = grad / b
    return (grad_a if needs[0] else None), (-grad_a * a / b if needs[1] else None)


@register_gradient("neg")
def _neg(needs: Needs, grad: np.ndarray) -> Grads:
    return (-grad,)


@register_gradient("pow")
def _pow(needs: Needs, grad: np.ndarray, base: Any, exponent: Any, out: Any) -> Grads:
    grad_base = None
    if needs[0]:
        # d/dx x**0 is 0 everywhere, also at x = 0 where x**-1 would give inf * 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = exponent * np.power(base, exponent - 1)
        grad_base = grad * np.where(exponent == 0, 0, slope)
    grad_exp = None
    if needs[1]:
        with np.errstate(divide="ignore", invalid="ignore"):
            grad_exp = grad * out * np.where(base > 0, np.log(np.where(base > 0, base, 1)), 0)
    return grad_base, grad_exp


@register_gradient("matmul")
def _matmul(needs: Needs, grad: np.ndarray, a: Any, b: Any) -> Grads:
    if a.ndim == 1 and b.ndim == 1:
        return (grad * b if needs[0] else None), (grad * a if needs[1] else None)
    a2, b2, g2 = _as_matrices(a, b, grad)
    grad_a = grad_b = None
    if needs[0]:
        grad_a = parallel_matmul(g2, np.swapaxes(b2, -1, -2))
        grad_a = grad_a[..., 0, :] if a.ndim == 1 else grad_a
    if needs[1]:
        grad_b = parallel_matmul(np.swapaxes(a2, -1, -2), g2)
        grad_b = grad_b[..., 0] if b.ndim == 1 else grad_b
    return grad_a, grad_b


def _as_matrices(a: Any, b: Any, grad: np.ndarray) -> tuple[Any, Any, np.ndarray]:
    """``a``, ``b`` and the gradient of ``a @ b`` with a 1-D operand made a matrix, as
    ``matmul`` reads it (a row on the left, a column on the right)."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a.ndim == 1:
        grad = np.expand_dims(grad, -2)
    if b.ndim == 1:
        grad = np.expand_dims(grad, -1)
    return a2, b2, grad


@register_gradient("exp")
def _exp(needs: Needs, grad: np.ndarray, out: Any) -> Grads:
    return (grad * out,)


@register_gradient("log")
def _log(needs: Needs, grad: np.ndarray, x: Any) -> Grads:
    return (grad / x,)


@register_gradient("sqrt")
def _sqrt(needs: Needs, grad: np.ndarray, out: Any) -> Grads:
    return (grad * 0.5 / out,)


@register_gradient("abs")
def _abs(needs: Needs, grad: np.ndarray, x: Any) -> Grads:
    return (grad * np.sign(x),)


@register_gradient("tanh")
def _tanh(needs: Needs, grad: np.ndarray, out: Any) -> Grads:
    return (grad * (1 - out * out),)


@register_gradient("sigmoid")
def _sigmoid(needs: Needs, grad: np.ndarray, out: Any) -> Grads:
    return (grad * out * (1 - out),)


@register_gradient("relu")
def _relu(needs: Needs, grad: np.ndarray, x: Any) -> Grads:
    out = workspace.empty_like(x, np.result_type(grad))
    if workspace.layout(grad) != workspace.layout(x):
        # Element-wise work over two layouts reads one of them across memory (a flattened
        # layer's NCHW gradient against a batch-innermost input: 0.76 ms for 204,800 values);
        # one transposing copy, then the pass in one layout, takes a fraction of that.
        np.copyto(out, grad)
        grad = out
    parallel_pieces(x, lambda piece: np.multiply(grad[piece], x[piece] > 0, out=out[piece]))
    return (out,)


@register_gradient("clip")
def _clip(needs: Needs, grad: np.ndarray, x: Any, low: Any, high: Any) -> Grads:
    inside = np.ones(x.shape, dtype=bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return (grad * inside,)


@register_gradient("cast")
def _cast(needs: Needs, grad: np.ndarray, dtype: Any) -> Grads:
    return (grad.astype(dtype),)


@register_gradient("sum")
def _sum(needs: Needs, grad: np.ndarray, shape: Any, axis: Any, keepdims: Any) -> Grads:
    return (_expand_reduced(grad, shape, axis, keepdims),)


@register_gradient("min")
@register_gradient("max")
def _extremum(needs: Needs, grad: np.ndarray, x: Any, out: Any, axis: Any, keepdims: Any) -> Grads:
    out = _expand_reduced(out, x.shape, axis, keepdims)
    winners = x == out
    share = winners / winners.sum(axis=axis, keepdims=True)
    return (_expand_reduced(grad, x.shape, axis, keepdims) * share,)


@register_gradient("reshape")
def _reshape(needs: Needs, grad: np.ndarray, shape: Any) -> Grads:
    return (grad.reshape(shape),)


@register_gradient("permute")
def _permute(needs: Needs, grad: np.ndarray, axes: Any) -> Grads:
    return (grad.transpose(np.argsort(axes)),)


@register_gradient("getitem")
def _getitem(
    needs: Needs, grad: np.ndarray, shape: Any, dtype: Any, index: Any, advanced: Any
) -> Grads:
    full = np.zeros(shape, dtype=dtype)
    if advanced:
        np.add.at(full, index, grad)  # repeated indices must add up
    else:
        full[index] = grad
    return (full,)


@register_gradient("concat")
def _concat(needs: Needs, grad: np.ndarray, axis: Any, sizes: Any) -> Grads:
    return tuple(np.split(grad, np.cumsum(sizes)[:-1], axis=axis))


@register_gradient("where")
def _where(needs: Needs, grad: np.ndarray, condition: Any) -> Grads:
    zero = np.zeros((), dtype=grad.dtype)
    return (
        np.where(condition, grad, zero) if needs[0] else None,
        np.where(condition, zero, grad) if needs[1] else None,
    )

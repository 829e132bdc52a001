"""Primitive operations: each computes its output and saves what its backward rule needs.

The backward rules live in :mod:`azuraforge.core.autograd`, one per primitive. A few
composites that read best next to their primitive (``mean``, ``min``, ``transpose``,
``stack``) are built from primitives here and need no rule of their own.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from azuraforge.core import workspace
from azuraforge.core.parallel import parallel_matmul, parallel_pieces
from azuraforge.core.tensor import ArrayLike, Tensor
from azuraforge.errors import InvalidParameterError, ShapeError

Axis = int | tuple[int, ...] | None


def as_tensor(value: ArrayLike, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; a constant takes the floating dtype of ``like``.

    Examples
    --------
    >>> as_tensor(2.0).dtype
    dtype('float32')
    """
    if isinstance(value, Tensor):
        return value
    if like is not None and like.data.dtype.kind == "f":
        return Tensor(value, dtype=like.data.dtype)
    return Tensor(value)


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    tensor_b = as_tensor(b)
    return as_tensor(a, like=tensor_b), tensor_b


def _broadcast_check(op: str, a: Tensor, b: Tensor) -> None:
    try:
        np.broadcast_shapes(a.data.shape, b.data.shape)
    except ValueError:
        raise ShapeError(
            f"cannot {op} tensors of shapes {a.shape} and {b.shape}: they do not broadcast"
        ) from None


def add(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a + b with broadcasting.

    Examples
    --------
    >>> add(Tensor([1.0, 2.0]), 1)
    Tensor([2., 3.])
    """
    ta, tb = _pair(a, b)
    _broadcast_check("add", ta, tb)
    return Tensor._from_op(ta.data + tb.data, "add", (ta, tb))


def sub(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a - b with broadcasting."""
    ta, tb = _pair(a, b)
    _broadcast_check("subtract", ta, tb)
    return Tensor._from_op(ta.data - tb.data, "sub", (ta, tb))


def mul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a * b element-wise with broadcasting."""
    ta, tb = _pair(a, b)
    _broadcast_check("multiply", ta, tb)
    return Tensor._from_op(ta.data * tb.data, "mul", (ta, tb), ta.data, tb.data)


def div(a: ArrayLike, b: ArrayLike) -> Tensor:
    """a / b element-wise with broadcasting."""
    ta, tb = _pair(a, b)
    _broadcast_check("divide", ta, tb)
    return Tensor._from_op(ta.data / tb.data, "div", (ta, tb), ta.data, tb.data)


def neg(x: Tensor) -> Tensor:
    """-x."""
    return Tensor._from_op(-x.data, "neg", (x,))


def pow(base: ArrayLike, exponent: ArrayLike) -> Tensor:
    """base ** exponent; either may be a tensor.

    Examples
    --------
    >>> pow(Tensor([2.0, 3.0]), 2)
    Tensor([4., 9.])
    """
    tb, te = _pair(base, exponent)
    _broadcast_check("raise", tb, te)
    out = np.power(tb.data, te.data)
    return Tensor._from_op(out, "pow", (tb, te), tb.data, te.data, out)


def matmul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Matrix product, batched over leading axes like ``numpy.matmul``.

    Examples
    --------
    >>> matmul(Tensor([[1.0, 2.0]]), Tensor([[3.0], [4.0]]))
    Tensor([[11.]])
    """
    ta, tb = _pair(a, b)
    if ta.ndim == 0 or tb.ndim == 0 or ta.shape[-1] != tb.shape[-2 if tb.ndim > 1 else 0]:
        raise ShapeError(
            f"cannot matmul shapes {ta.shape} and {tb.shape}: the last axis of the first must "
            "equal the second-to-last axis of the second"
        )
    try:
        out = parallel_matmul(ta.data, tb.data)
    except ValueError:
        raise ShapeError(
            f"cannot matmul shapes {ta.shape} and {tb.shape}: their batch axes do not broadcast"
        ) from None
    return Tensor._from_op(out, "matmul", (ta, tb), ta.data, tb.data)


def _floating(x: Tensor) -> np.ndarray:
    """The data, as float32 when it is integer or bool (functions with real-valued output)."""
    return x.data if x.data.dtype.kind == "f" else x.data.astype(np.float32)


def exp(x: Tensor) -> Tensor:
    """e ** x."""
    out = np.exp(_floating(x))
    return Tensor._from_op(out, "exp", (x,), out)


def log(x: Tensor) -> Tensor:
    """Natural logarithm."""
    data = _floating(x)
    return Tensor._from_op(np.log(data), "log", (x,), data)


def sqrt(x: Tensor) -> Tensor:
    """Square root."""
    out = np.sqrt(_floating(x))
    return Tensor._from_op(out, "sqrt", (x,), out)


def abs(x: Tensor) -> Tensor:
    """Absolute value; its gradient at 0 is 0."""
    return Tensor._from_op(np.abs(x.data), "abs", (x,), x.data)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    out = np.tanh(_floating(x))
    return Tensor._from_op(out, "tanh", (x,), out)


def sigmoid(x: Tensor) -> Tensor:
    """Logistic function 1 / (1 + e**-x), computed without overflow."""
    # 0.5 * tanh(x / 2) + 0.5 is the same function and never overflows.
    data = _floating(x)
    out = (np.tanh(data * 0.5) * 0.5 + 0.5).astype(data.dtype, copy=False)
    return Tensor._from_op(out, "sigmoid", (x,), out)


def relu(x: Tensor) -> Tensor:
    """max(x, 0); its gradient at 0 is 0. Large inputs are split over the core's threads."""
    data = x.data
    out = workspace.empty_like(data)  # the input's memory layout, so pieces line up
    parallel_pieces(data, lambda piece: np.maximum(data[piece], 0, out=out[piece]))
    return Tensor._from_op(out, "relu", (x,), data)


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Clamp to ``[min, max]``; the gradient passes where ``min <= x <= max``."""
    if min is None and max is None:
        raise InvalidParameterError("clip needs min, max or both; got neither")
    return Tensor._from_op(np.clip(x.data, min, max), "clip", (x,), x.data, min, max)


def cast(x: Tensor, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype``; converting to a non-floating dtype ends the graph."""
    if np.dtype(dtype).kind != "f":
        return Tensor(x.data.astype(dtype), dtype=dtype)
    return Tensor._from_op(x.data.astype(dtype), "cast", (x,), x.data.dtype)


def normalize_axes(x: Tensor, axis: Axis) -> tuple[int, ...]:
    """``axis`` (an int, a tuple or None for all) as non-negative axes of ``x``.

    Raises
    ------
    ShapeError
        If an axis is out of range or repeated.
    """
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    for a in axes:
        if not isinstance(a, int | np.integer) or not -x.ndim <= a < x.ndim:
            raise ShapeError(f"axis {a!r} is out of range for a tensor of shape {x.shape}")
    normal = tuple(int(a) % x.ndim for a in axes)
    if len(set(normal)) != len(normal):
        raise ShapeError(f"axis {axis!r} names an axis twice (tensor of shape {x.shape})")
    return normal


def _check_reducible(x: Tensor, axis: Axis, what: str) -> None:
    empty = [a for a in normalize_axes(x, axis) if x.shape[a] == 0]
    if empty and axis is None:
        raise ShapeError(f"cannot take the {what} of an empty tensor (shape {x.shape})")
    if empty:
        raise ShapeError(
            f"cannot take the {what} over axis {empty[0]}, which is empty (tensor of shape "
            f"{x.shape})"
        )


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes when ``None``)."""
    normalize_axes(x, axis)
    out = np.sum(x.data, axis=axis, keepdims=keepdims)
    return Tensor._from_op(np.asarray(out), "sum", (x,), x.data.shape, axis, keepdims)


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes when ``None``).

    Examples
    --------
    >>> mean(Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    Tensor([2., 3.])
    """
    total = sum(x, axis, keepdims)
    return total * (total.data.size / builtins.max(x.data.size, 1))


def max(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis``; ties share the gradient equally."""
    _check_reducible(x, axis, "max")
    out = np.asarray(np.max(x.data, axis=axis, keepdims=keepdims))
    return Tensor._from_op(out, "max", (x,), x.data, out, axis, keepdims)


def min(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``; ties share the gradient equally."""
    _check_reducible(x, axis, "min")
    out = np.asarray(np.min(x.data, axis=axis, keepdims=keepdims))
    return Tensor._from_op(out, "min", (x,), x.data, out, axis, keepdims)


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """The same elements in a new shape; one dimension may be -1.

    Examples
    --------
    >>> reshape(Tensor([1.0, 2.0, 3.0, 4.0]), (2, -1)).shape
    (2, 2)
    """
    if not all(isinstance(d, int | np.integer) for d in shape):
        raise InvalidParameterError(f"reshape needs integer sizes, got {tuple(shape)}")
    try:
        out = x.data.reshape(tuple(shape))
    except ValueError as e:
        known = [d for d in shape if d != -1]
        reason = f"{x.size} elements vs {int(np.prod(known))}" if len(known) == len(shape) else e
        raise ShapeError(
            f"cannot reshape tensor of shape {x.shape} into {tuple(shape)}: {reason}"
        ) from None
    return Tensor._from_op(out, "reshape", (x,), x.data.shape)


def permute(x: Tensor, axes: Sequence[int]) -> Tensor:
    """Reorder axes: output axis ``i`` is input axis ``axes[i]``."""
    wanted = tuple(axes)
    if len(wanted) != x.ndim or len({int(a) % builtins.max(x.ndim, 1) for a in wanted}) != x.ndim:
        raise ShapeError(f"permute needs each of the {x.ndim} axes once, got {wanted}")
    normal = normalize_axes(x, wanted)
    return Tensor._from_op(x.data.transpose(normal), "permute", (x,), normal)


def transpose(x: Tensor, axis0: int = -2, axis1: int = -1) -> Tensor:
    """Swap two axes."""
    first, second = normalize_axes(x, (axis0, axis1)) if axis0 != axis1 else (axis0, axis0)
    axes = list(range(x.ndim))
    axes[first], axes[second] = axes[second], axes[first]
    return permute(x, axes)


def _plain_index(index: Any) -> tuple[Any, bool]:
    """The index with tensors turned into arrays, and whether it is an advanced index."""
    parts = index if isinstance(index, tuple) else (index,)
    plain = tuple(p.data if isinstance(p, Tensor) else p for p in parts)
    advanced = builtins.any(isinstance(p, np.ndarray | list) for p in plain)
    return (plain if isinstance(index, tuple) else plain[0]), advanced


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]`` with NumPy's basic and advanced indexing."""
    plain, advanced = _plain_index(index)
    try:
        out = x.data[plain]
    except IndexError as e:
        raise ShapeError(f"cannot index tensor of shape {x.shape} with {index!r}: {e}") from None
    saved = (x.data.shape, x.data.dtype, plain, advanced)
    return Tensor._from_op(np.asarray(out), "getitem", (x,), *saved)


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis.

    Examples
    --------
    >>> concat([Tensor([1.0]), Tensor([2.0, 3.0])]).shape
    (3,)
    """
    if not tensors:
        raise InvalidParameterError("concat needs at least one tensor, got none")
    try:
        out = np.concatenate([t.data for t in tensors], axis=axis)
    except ValueError as e:
        shapes = [t.shape for t in tensors]
        raise ShapeError(f"cannot concat shapes {shapes} along axis {axis}: {e}") from None
    sizes = [t.data.shape[axis] for t in tensors]
    return Tensor._from_op(out, "concat", tuple(tensors), axis, sizes)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    if not tensors:
        raise InvalidParameterError("stack needs at least one tensor, got none")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ShapeError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ShapeError(f"stack axis {axis} is out of range for {ndim - 1}-d tensors")
    position = axis % ndim
    expanded = [reshape(t, (*t.shape[:position], 1, *t.shape[position:])) for t in tensors]
    return concat(expanded, axis=position)


def where(condition: ArrayLike, a: ArrayLike, b: ArrayLike) -> Tensor:
    """Elements of ``a`` where ``condition`` holds, else of ``b``.

    Examples
    --------
    >>> where(Tensor([1.0, -1.0]) > 0, 1.0, Tensor([5.0, 6.0]))
    Tensor([1., 6.])
    """
    mask = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    ta, tb = _pair(a, b)
    try:
        out = np.where(mask, ta.data, tb.data)
    except ValueError:
        raise ShapeError(
            f"where: condition {mask.shape}, a {ta.shape} and b {tb.shape} do not broadcast"
        ) from None
    return Tensor._from_op(out, "where", (ta, tb), mask)

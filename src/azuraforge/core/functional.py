"""Composite functions built from primitives, plus the fused kernels, in one namespace.

Like ``torch.nn.functional``: activations, dropout, convolution, pooling and losses as plain
functions. Composites here need no backward code of their own.
"""

from __future__ import annotations

import math

import numpy as np

from azuraforge.core import ops
from azuraforge.core.fused import (
    avg_pool2d,
    conv2d_max_pool2d,
    cross_entropy,
    gru_layer,
    lstm_layer,
    max_pool2d,
)
from azuraforge.core.fused import conv2d as _conv2d
from azuraforge.core.random import generator
from azuraforge.core.tensor import ArrayLike, Tensor
from azuraforge.core.validation import (
    TORCH_NAME,
    check_padding,
    check_probability,
    check_reduction,
    either,
    pair,
)
from azuraforge.errors import InvalidParameterError, ShapeError

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "conv2d_max_pool2d",
    "cross_entropy",
    "dropout",
    "gelu",
    "gru_layer",
    "huber_loss",
    "l1_loss",
    "leaky_relu",
    "log_softmax",
    "lstm_layer",
    "max_pool2d",
    "mse_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]


def _stable_shift(x: Tensor, axis: int) -> Tensor:
    # Subtracting the (constant) row maximum changes nothing mathematically and stops exp
    # from overflowing.
    ops.normalize_axes(x, axis)
    return x - Tensor(x.data.max(axis=axis, keepdims=True), dtype=x.dtype)


def softmax(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """exp(x) normalised to sum to 1 along ``axis`` (``dim``, PyTorch's name; the last by
    default).

    Examples
    --------
    >>> softmax(Tensor([[0.0, 0.0]]), dim=1)
    Tensor([[0.5, 0.5]])
    """
    along = _along("softmax", axis, dim)
    e = _stable_shift(x, along).exp()
    return e / e.sum(axis=along, keepdims=True)


def log_softmax(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """log(softmax(x)), computed stably; ``dim`` as in :func:`softmax`."""
    along = _along("log_softmax", axis, dim)
    shifted = _stable_shift(x, along)
    return shifted - shifted.exp().sum(axis=along, keepdims=True).log()


def _along(what: str, axis: int | None, dim: int | None) -> int:
    given = either(what, ("axis", "dim"), axis, dim, TORCH_NAME)
    return -1 if given is None else given


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return ops.relu(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e**-x)."""
    return ops.sigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return ops.tanh(x)


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
) -> Tensor:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (F, C, KH, KW); ``padding``
    in zeros on each side, or ``"same"`` (the output as large as the input, stride 1; an
    even kernel gets its extra zero at the bottom and right, as PyTorch) or ``"valid"`` (none).

    Examples
    --------
    >>> import numpy as np
    >>> conv2d(Tensor(np.ones((1, 1, 5, 4))), Tensor(np.ones((1, 1, 2, 3))), padding="same").shape
    (1, 1, 5, 4)
    """
    check_padding("conv2d", padding, stride)
    if not isinstance(padding, str):
        return _conv2d(x, weight, bias, stride, padding)
    if padding == "valid":
        return _conv2d(x, weight, bias, stride, 0)
    kh, kw = weight.shape[-2:]
    for axis, extra in ((2, (kh - 1) % 2), (3, (kw - 1) % 2)):
        if extra and x.ndim == 4:
            shape = list(x.shape)
            shape[axis] = 1
            x = ops.concat([x, Tensor(np.zeros(shape, dtype=x.dtype))], axis=axis)
    return _conv2d(x, weight, bias, 1, ((kh - 1) // 2, (kw - 1) // 2))


def adaptive_avg_pool2d(x: Tensor, output_size: int | tuple[int, int]) -> Tensor:
    """The mean of each of ``output_size`` (an int or a pair) regions of ``x`` (N, C, H, W),
    region ``i`` of a side of ``n`` spanning ``floor(i*n/out)`` to ``ceil((i+1)*n/out)``, as
    ``torch.nn.functional.adaptive_avg_pool2d``.

    Examples
    --------
    >>> import numpy as np
    >>> adaptive_avg_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 1)
    Tensor([[[[7.5]]]])
    """
    out_h, out_w = pair(output_size, "output_size")
    if x.ndim != 4:
        raise ShapeError(f"adaptive_avg_pool2d expects (N, C, H, W) input, got shape {x.shape}")
    height, width = x.shape[2:]
    if height % out_h == 0 and width % out_w == 0:
        return avg_pool2d(x, (height // out_h, width // out_w))
    rows = [_regions(height, out_h, i) for i in range(out_h)]
    cols = [_regions(width, out_w, j) for j in range(out_w)]
    cells = [ops.stack([x[:, :, r, c].mean(axis=(2, 3)) for c in cols], axis=-1) for r in rows]
    return ops.stack(cells, axis=-2)


def _regions(size: int, out: int, index: int) -> slice:
    return slice(index * size // out, -(-(index + 1) * size // out))


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else ``negative_slope * x``."""
    return ops.where(x.data > 0, x, x * negative_slope)


def gelu(x: Tensor, approximate: str = "tanh") -> Tensor:
    """Gaussian error linear unit in its tanh form, PyTorch's ``approximate='tanh'``: the
    only form here (PyTorch's default, the exact erf form, differs by less than 1e-3).

    Raises
    ------
    InvalidParameterError
        For ``approximate`` other than ``"tanh"``.
    """
    if approximate != "tanh":
        raise InvalidParameterError(
            f"gelu: only approximate='tanh' is available, got {approximate!r} (the exact "
            "erf form differs from it by less than 1e-3)"
        )
    inner = (x + 0.044715 * x**3) * math.sqrt(2.0 / math.pi)
    return 0.5 * x * (1.0 + inner.tanh())


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training only).

    Examples
    --------
    >>> dropout(Tensor([1.0, 2.0]), p=0.5, training=False)
    Tensor([1., 2.])
    """
    check_probability("dropout", "p", p)
    if not training or p == 0.0:
        return x
    keep = generator().random(x.shape) >= p
    return x * (keep.astype(x.dtype) / (1.0 - p))


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _loss_inputs(what: str, prediction: Tensor, target: ArrayLike, reduction: str) -> Tensor:
    check_reduction(reduction, what)
    target_t = ops.as_tensor(target, like=prediction)
    if target_t.shape != prediction.shape:
        raise ShapeError(
            f"{what}: prediction has shape {prediction.shape} but target has {target_t.shape}; "
            "they must match (reshape one, e.g. target.reshape(-1, 1))"
        )
    return target_t


def mse_loss(prediction: Tensor, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Mean squared error."""
    diff = prediction - _loss_inputs("mse_loss", prediction, target, reduction)
    return _reduce(diff * diff, reduction)


def l1_loss(prediction: Tensor, target: ArrayLike, reduction: str = "mean") -> Tensor:
    """Mean absolute error."""
    diff = prediction - _loss_inputs("l1_loss", prediction, target, reduction)
    return _reduce(diff.abs(), reduction)


def huber_loss(
    prediction: Tensor, target: ArrayLike, delta: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Squared error below ``delta``, linear above it (PyTorch's ``HuberLoss``)."""
    if delta <= 0:
        raise InvalidParameterError(f"huber_loss: delta must be > 0, got {delta}")
    diff = (prediction - _loss_inputs("huber_loss", prediction, target, reduction)).abs()
    losses = ops.where(diff.data < delta, 0.5 * diff * diff, delta * (diff - 0.5 * delta))
    return _reduce(losses, reduction)


def binary_cross_entropy_with_logits(
    logits: Tensor, target: ArrayLike, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy on raw scores, stable for large |logits|.

    Uses max(x, 0) - x*y + log(1 + exp(-|x|)).
    """
    y = _loss_inputs("binary_cross_entropy_with_logits", logits, target, reduction)
    # |x| and max(x, 0) through one constant mask, so both take the x > 0 branch at x = 0 and
    # the gradient there is sigmoid(0) - y; relu() and abs() each give 0 at 0, which sums to -y.
    non_negative = logits.data >= 0
    magnitude = ops.where(non_negative, logits, -logits)
    softplus = (1.0 + (-magnitude).exp()).log()
    return _reduce(ops.where(non_negative, logits, 0.0) - logits * y + softplus, reduction)

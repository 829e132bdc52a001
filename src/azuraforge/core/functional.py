"""Composite functions built from primitives, plus the fused kernels, in one namespace.

Like ``torch.nn.functional``: activations, dropout, convolution, pooling and losses as plain
functions. Composites here need no backward code of their own.
"""

from __future__ import annotations

import math

from azuraforge.core import ops
from azuraforge.core.fused import (
    avg_pool2d,
    conv2d,
    cross_entropy,
    gru_layer,
    lstm_layer,
    max_pool2d,
)
from azuraforge.core.random import generator
from azuraforge.core.tensor import ArrayLike, Tensor
from azuraforge.core.validation import check_probability, check_reduction
from azuraforge.errors import InvalidParameterError, ShapeError

__all__ = [
    "avg_pool2d",
    "binary_cross_entropy_with_logits",
    "conv2d",
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
    "softmax",
]


def _stable_shift(x: Tensor, axis: int) -> Tensor:
    # Subtracting the (constant) row maximum changes nothing mathematically and stops exp
    # from overflowing.
    ops.normalize_axes(x, axis)
    return x - Tensor(x.data.max(axis=axis, keepdims=True), dtype=x.dtype)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) normalised to sum to 1 along ``axis``.

    Examples
    --------
    >>> softmax(Tensor([0.0, 0.0]))
    Tensor([0.5, 0.5])
    """
    e = _stable_shift(x, axis).exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)), computed stably."""
    shifted = _stable_shift(x, axis)
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else ``negative_slope * x``."""
    return ops.where(x.data > 0, x, x * negative_slope)


def gelu(x: Tensor) -> Tensor:
    """Gaussian error linear unit, tanh approximation (PyTorch's ``approximate='tanh'``)."""
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

"""Dense layers, activations, normalisation, dropout, embedding and containers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from azuraforge.core import functional as F
from azuraforge.core.nn import init
from azuraforge.core.nn.conv import Conv2d, MaxPool2d
from azuraforge.core.nn.module import Module, Parameter
from azuraforge.core.nn.registry import register_architecture
from azuraforge.core.tensor import Tensor
from azuraforge.core.validation import OLD_NAME, check_positive, check_probability, either, pair
from azuraforge.errors import InvalidParameterError, ShapeError


@register_architecture("Linear")
class Linear(Module):
    """y = x @ weight.T + bias, on the last axis.

    Parameters
    ----------
    in_features, out_features
        Sizes of the last axis of input and output.
    bias
        Whether to learn an additive bias.

    Examples
    --------
    >>> from azuraforge.core import manual_seed
    >>> manual_seed(0)
    >>> Linear(3, 2)(Tensor(np.ones((4, 3)))).shape
    (4, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        check_positive("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.fan_in_uniform((out_features, in_features), in_features))
        self.bias = Parameter(init.fan_in_uniform((out_features,), in_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ShapeError(
                f"Linear expects {self.in_features} features on the last axis, got input "
                f"of shape {x.shape}"
            )
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias


@register_architecture("ReLU")
class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


@register_architecture("LeakyReLU")
class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)


@register_architecture("Tanh")
class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


@register_architecture("Sigmoid")
class Sigmoid(Module):
    """Logistic function."""

    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


@register_architecture("GELU")
class GELU(Module):
    """Gaussian error linear unit (tanh approximation)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x)


@register_architecture("Softmax")
class Softmax(Module):
    """Softmax along ``axis``."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)


@register_architecture("Flatten")
class Flatten(Module):
    """Merge axes ``start_dim`` to ``end_dim`` (inclusive) into one, as PyTorch's
    ``Flatten``; the default keeps the batch axis and flattens the rest.

    Parameters
    ----------
    start_dim, end_dim
        First and last axis to merge; negative values count from the end. ``start_dim``
        is 1 unless given.
    start_axis
        The earlier spelling of ``start_dim``, still accepted (and recorded as ``start_dim``).

    Raises
    ------
    InvalidParameterError
        If ``start_dim`` and ``start_axis`` are both given with different values.

    Examples
    --------
    >>> Flatten()(Tensor(np.zeros((2, 3, 4, 5)))).shape
    (2, 60)
    >>> Flatten(start_dim=1, end_dim=2)(Tensor(np.zeros((2, 3, 4, 5)))).shape
    (2, 12, 5)
    >>> Flatten(start_axis=2)
    Flatten(start_dim=2, end_dim=-1)
    """

    def __init__(
        self, start_dim: int | None = None, end_dim: int = -1, *, start_axis: int | None = None
    ) -> None:
        start = either("Flatten", ("start_dim", "start_axis"), start_dim, start_axis, OLD_NAME)
        self.start_dim, self.end_dim = 1 if start is None else start, end_dim

    def _recorded_arguments(self, named: dict[str, Any]) -> dict[str, Any]:
        return {
            name: self.start_dim if name == "start_dim" else value
            for name, value in named.items()
            if name != "start_axis"
        }

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)


@register_architecture("Dropout")
class Dropout(Module):
    """Zero elements with probability ``p`` while training; identity in eval mode.

    Parameters
    ----------
    p
        Probability of zeroing each element, in [0, 1); survivors are scaled by 1/(1-p).
    """

    def __init__(self, p: float = 0.5) -> None:
        check_probability("Dropout", "p", p)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)


@register_architecture("Embedding")
class Embedding(Module):
    """A lookup table: integer indices to learned vectors of size ``embedding_dim``.

    Parameters
    ----------
    num_embeddings
        Size of the table; indices must be in ``[0, num_embeddings)``.
    embedding_dim
        Length of each vector (initialised from N(0, 1), as PyTorch does).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        check_positive("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(init.normal((num_embeddings, embedding_dim)))

    def forward(self, indices: Tensor | np.ndarray) -> Tensor:
        idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if idx.dtype.kind not in "iu":
            raise InvalidParameterError(
                f"Embedding expects integer indices, got dtype {idx.dtype}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_embeddings):
            raise InvalidParameterError(
                f"Embedding indices must be in [0, {self.num_embeddings - 1}], "
                f"got {idx.min()}..{idx.max()}"
            )
        return self.weight[idx]


@register_architecture("LayerNorm")
class LayerNorm(Module):
    """Normalise over the last ``len(normalized_shape)`` axes, then scale and shift.

    Parameters
    ----------
    normalized_shape
        Trailing shape to normalise over: an int for the last axis, or a tuple.
    eps
        Added to the variance for stability.
    elementwise_affine
        Whether to learn a per-element scale (ones) and shift (zeros).
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
    ) -> None:
        dims: tuple[Any, ...] = (
            (normalized_shape,)
            if isinstance(normalized_shape, int | np.integer)
            else tuple(normalized_shape)
        )
        check_positive("LayerNorm", **{f"normalized_shape[{i}]": d for i, d in enumerate(dims)})
        shape = tuple(int(d) for d in dims)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(init.constant(shape, 1.0)) if elementwise_affine else None
        self.bias = Parameter(init.constant(shape, 0.0)) if elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if x.shape[-n:] != self.normalized_shape:
            raise ShapeError(
                f"LayerNorm expects trailing shape {self.normalized_shape}, got input {x.shape}"
            )
        axes = tuple(range(-n, 0))
        centred = x - x.mean(axis=axes, keepdims=True)
        variance = (centred * centred).mean(axis=axes, keepdims=True)
        out = centred / (variance + self.eps).sqrt()
        if self.weight is not None and self.bias is not None:
            out = out * self.weight + self.bias
        return out


class _BatchNorm(Module):
    """Batch normalisation over every axis except the channel axis 1.

    Parameters
    ----------
    num_features
        Channels on axis 1.
    eps
        Added to the variance for stability.
    momentum
        Weight of the current batch in the running mean and (unbiased) variance.
    affine
        Whether to learn a per-channel scale and shift.
    """

    input_ndims: tuple[int, ...] = ()

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ) -> None:
        check_positive(type(self).__name__, num_features=num_features)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(init.constant((num_features,), 1.0)) if affine else None
        self.bias = Parameter(init.constant((num_features,), 0.0)) if affine else None
        self.running_mean = Tensor(init.constant((num_features,), 0.0))
        self.running_var = Tensor(init.constant((num_features,), 1.0))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self.input_ndims or x.shape[1] != self.num_features:
            raise ShapeError(
                f"{type(self).__name__}({self.num_features}) expects {self.input_ndims}-D input "
                f"with {self.num_features} channels on axis 1, got {x.shape}"
            )
        axes = (0, *range(2, x.ndim))
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.training:
            mean = x.mean(axis=axes, keepdims=True)
            centred = x - mean
            variance = (centred * centred).mean(axis=axes, keepdims=True)
            self._update_running(mean.data, variance.data, x.size // self.num_features)
        else:
            centred = x - self.running_mean.data.reshape(shape)
            variance = Tensor(self.running_var.data.reshape(shape), dtype=x.dtype)
        out = centred / (variance + self.eps).sqrt()
        if self.weight is not None and self.bias is not None:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out

    def _update_running(self, mean: np.ndarray, variance: np.ndarray, count: int) -> None:
        unbiased = variance.reshape(-1) * count / max(count - 1, 1)
        m, dtype = self.momentum, self.running_mean.data.dtype
        new_mean = (1 - m) * self.running_mean.data + m * mean.reshape(-1)
        new_var = (1 - m) * self.running_var.data + m * unbiased
        self.running_mean.data = new_mean.astype(dtype, copy=False)
        self.running_var.data = new_var.astype(dtype, copy=False)


@register_architecture("BatchNorm1d")
class BatchNorm1d(_BatchNorm):
    """Batch normalisation for (N, C) or (N, C, L) input."""

    input_ndims = (2, 3)


@register_architecture("BatchNorm2d")
class BatchNorm2d(_BatchNorm):
    """Batch normalisation for (N, C, H, W) input."""

    input_ndims = (4,)


@register_architecture("Sequential")
class Sequential(Module):
    """Layers applied one after another.

    Examples
    --------
    >>> from azuraforge.core import manual_seed
    >>> manual_seed(0)
    >>> model = Sequential(Linear(2, 4), ReLU(), Linear(4, 1))
    >>> model(Tensor(np.ones((3, 2)))).shape
    (3, 1)
    """

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise InvalidParameterError(
                    f"Sequential takes modules, got {type(layer).__name__} at position {i}"
                )
        self.layers = list(layers)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The layers named by position (``0``, ``1``, ...), so state-dict keys are
        ``0.weight``, ``1.bias``, as PyTorch's."""
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def forward(self, x: Any) -> Any:
        for layer in _conv_then_pool(_pool_before_relu(self.layers)):
            x = layer(x)
        return x

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)


def _pool_before_relu(layers: list[Module]) -> list[Module]:
    """The layers in the order they run: a max-pooling right after a ReLU runs before it.
    The numbers and gradients are the same (a window's maximum commutes with ReLU), and the
    ReLU then passes over a quarter of the values (the benchmark CNN's first ReLU: 2.8M)."""
    order = list(layers)
    for i in range(len(order) - 1):
        if type(order[i]) is ReLU and type(order[i + 1]) is MaxPool2d:
            order[i], order[i + 1] = order[i + 1], order[i]
    return order


class _ConvThenPool:
    """A Conv2d and the MaxPool2d right after it, whose windows are as large as their stride,
    run as one node (:func:`F.conv2d_max_pool2d`): the convolution's output is pooled a few
    rows at a time and never kept whole (the benchmark CNN's first: 11 MB a step)."""

    def __init__(self, conv: Conv2d, padding: int | tuple[int, int], pool: MaxPool2d) -> None:
        self.conv, self.padding, self.kernel_size = conv, padding, pool.kernel_size

    def __call__(self, x: Tensor) -> Tensor:
        conv = self.conv
        return F.conv2d_max_pool2d(
            x, conv.weight, conv.bias, conv.stride, self.padding, self.kernel_size
        )


def _fused(conv: Module, pool: Module) -> _ConvThenPool | None:
    """The two layers as one step, when they are a Conv2d with numeric padding and a tiled
    MaxPool2d."""
    if type(conv) is not Conv2d or type(pool) is not MaxPool2d:
        return None
    padding, kernel = conv.padding, pair(pool.kernel_size, "kernel_size")
    if isinstance(padding, str) or pair(pool.stride or kernel, "stride") != kernel:
        return None
    return _ConvThenPool(conv, padding, pool)


def _conv_then_pool(layers: list[Module]) -> list[Any]:
    """``layers`` with each Conv2d and the tiled MaxPool2d right after it as one step."""
    steps: list[Any] = []
    for layer in layers:
        fused = _fused(steps[-1], layer) if steps else None
        if fused is not None:
            steps[-1] = fused
        else:
            steps.append(layer)
    return steps


__all__ = [
    "GELU",
    "BatchNorm1d",
    "BatchNorm2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
]

"""2-D convolution and pooling on NCHW tensors, as single graph nodes.

Convolution is im2col + one GEMM: every receptive field becomes a row of a matrix, so the
whole batch is multiplied by the filters in a single BLAS call. Backward is two GEMMs and a
col2im that adds each kernel offset's slice back (``kernel_h * kernel_w`` strided adds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from azuraforge.core.autograd import Grads, Needs, register_gradient
from azuraforge.core.tensor import Tensor
from azuraforge.errors import InvalidParameterError, ShapeError


def pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """``value`` as a (height, width) pair of non-negative ints."""
    pair_ = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair_) != 2 or any(not isinstance(v, int) or v < 0 for v in pair_):
        raise InvalidParameterError(f"{name} must be an int or a pair of ints >= 0, got {value!r}")
    return pair_[0], pair_[1]


def _output_size(size: int, kernel: int, stride: int, what: str) -> int:
    if stride < 1:
        raise InvalidParameterError(f"{what}: stride must be >= 1, got {stride}")
    if size < kernel:
        raise ShapeError(f"{what}: kernel {kernel} is larger than the (padded) input size {size}")
    return (size - kernel) // stride + 1


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """View of shape (N, C, OH, OW, KH, KW) over every receptive field."""
    view = sliding_window_view(x, kernel, axis=(2, 3))
    return view[:, :, :: stride[0], :: stride[1]]


def _check_nchw(x: Tensor, what: str) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{what} expects input of shape (batch, channels, height, width), got {x.shape}")


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (F, C, KH, KW).

    Examples
    --------
    >>> import numpy as np
    >>> x = Tensor(np.ones((1, 1, 3, 3)))
    >>> conv2d(x, Tensor(np.ones((1, 1, 2, 2)))).shape
    (1, 1, 2, 2)
    """
    _check_nchw(x, "conv2d")
    filters, channels, kh, kw = weight.shape
    if x.shape[1] != channels:
        raise ShapeError(f"conv2d: weight expects {channels} input channels, got input {x.shape}")
    sh, sw = pair(stride, "stride")
    ph, pw = pair(padding, "padding")
    data = np.pad(x.data, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x.data
    n, _, height, width = data.shape
    oh = _output_size(height, kh, sh, "conv2d")
    ow = _output_size(width, kw, sw, "conv2d")
    cols = _windows(data, (kh, kw), (sh, sw)).transpose(0, 2, 3, 1, 4, 5)
    cols = cols.reshape(n * oh * ow, channels * kh * kw)
    out = cols @ weight.data.reshape(filters, -1).T
    if bias is not None:
        out += bias.data
    out = out.reshape(n, oh, ow, filters).transpose(0, 3, 1, 2)
    parents = (x, weight) if bias is None else (x, weight, bias)
    saved = (cols, weight.data, data.shape, (sh, sw), (ph, pw))
    return Tensor._from_op(out, "conv2d", parents, *saved)


def _col2im(
    cols: np.ndarray, padded_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int]
) -> np.ndarray:
    """Add each window's gradient back onto the padded input. cols: (N, OH, OW, C, KH, KW)."""
    n, oh, ow = cols.shape[:3]
    out = np.zeros(padded_shape, dtype=cols.dtype)
    sh, sw = stride
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            out[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += cols[..., i, j].transpose(0, 3, 1, 2)
    return out


def _unpad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    ph, pw = padding
    return x[:, :, ph : x.shape[2] - ph, pw : x.shape[3] - pw]


@register_gradient("conv2d")
def _conv2d_backward(
    needs: Needs,
    grad: np.ndarray,
    cols: np.ndarray,
    weight: np.ndarray,
    padded_shape: tuple[int, ...],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> Grads:
    filters, channels, kh, kw = weight.shape
    grad_rows = grad.transpose(0, 2, 3, 1).reshape(-1, filters)
    grad_x = None
    if needs[0]:
        n, _, oh, ow = grad.shape
        grad_cols = (grad_rows @ weight.reshape(filters, -1)).reshape(n, oh, ow, channels, kh, kw)
        grad_x = _unpad(_col2im(grad_cols, padded_shape, (kh, kw), stride), padding)
    grad_w = (grad_rows.T @ cols).reshape(weight.shape) if needs[1] else None
    grad_b = grad_rows.sum(axis=0) if len(needs) == 3 else None
    return (grad_x, grad_w, grad_b)[: len(needs)]


def _pool_windows(x: Tensor, kernel_size: Any, stride: Any, what: str) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    _check_nchw(x, what)
    kernel = pair(kernel_size, "kernel_size")
    strides = pair(stride, "stride") if stride is not None else kernel
    _output_size(x.shape[2], kernel[0], strides[0], what)
    _output_size(x.shape[3], kernel[1], strides[1], what)
    return _windows(x.data, kernel, strides), kernel, strides


def max_pool2d(
    x: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
) -> Tensor:
    """Maximum over each ``kernel_size`` window (stride defaults to the kernel size).

    Examples
    --------
    >>> import numpy as np
    >>> max_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2)
    Tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    windows, kernel, strides = _pool_windows(x, kernel_size, stride, "max_pool2d")
    n, c, oh, ow = windows.shape[:4]
    flat = windows.reshape(n, c, oh, ow, -1)
    winner = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, winner[..., None], axis=-1)[..., 0]
    saved = (winner, x.data.shape, x.data.dtype, kernel, strides)
    return Tensor._from_op(out, "max_pool2d", (x,), *saved)


@register_gradient("max_pool2d")
def _max_pool2d_backward(
    needs: Needs,
    grad: np.ndarray,
    winner: np.ndarray,
    shape: tuple[int, ...],
    dtype: Any,
    kernel: tuple[int, int],
    strides: tuple[int, int],
) -> Grads:
    n, c, oh, ow = grad.shape
    out = np.zeros(shape, dtype=dtype)
    sh, sw = strides
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            hit = winner == i * kernel[1] + j
            out[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += grad * hit
    return (out,)


def avg_pool2d(
    x: Tensor, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
) -> Tensor:
    """Mean over each ``kernel_size`` window (stride defaults to the kernel size)."""
    windows, kernel, strides = _pool_windows(x, kernel_size, stride, "avg_pool2d")
    out = windows.mean(axis=(-2, -1), dtype=x.data.dtype)
    return Tensor._from_op(out, "avg_pool2d", (x,), x.data.shape, kernel, strides)


@register_gradient("avg_pool2d")
def _avg_pool2d_backward(
    needs: Needs,
    grad: np.ndarray,
    shape: tuple[int, ...],
    kernel: tuple[int, int],
    strides: tuple[int, int],
) -> Grads:
    n, c, oh, ow = grad.shape
    out = np.zeros(shape, dtype=grad.dtype)
    share = grad / (kernel[0] * kernel[1])
    sh, sw = strides
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            out[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += share
    return (out,)

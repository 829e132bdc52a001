"""2-D convolution and pooling on NCHW tensors, as single graph nodes.

The API is NCHW, like PyTorch; the memory behind it is batch-innermost, ``(C, H, W, N)``
(cuda-convnet's layout). NumPy's cost is per inner loop, and with the batch innermost every
inner loop of these kernels, and of the element-wise layers between them (ReLU), runs over
``N`` contiguous values instead of one short row of a small feature map.

Convolution is im2col + GEMM, a chunk of output rows at a time: the receptive fields of a few
output rows of the whole batch are the columns of a ``(C*KH*KW, rows*OW*N)`` matrix of about
:data:`CHUNK_BYTES`, and ``weight (F, C*KH*KW) @ fields`` is those rows of the output in
``(F, OH, OW, N)`` memory, returned as an NCHW view. The fields never exist for the whole
batch at once: the product reads each chunk while it is still in cache, and the backward pass
copies them again from the saved input (a ninth of their size for a 3x3 kernel) instead of
keeping them from step to step. Backward is the weight's product over the same chunks, and
for the input ``weight.T @ grad`` a few input channels at a time, followed by a col2im that
adds each kernel offset's slice back (``KH * KW`` strided adds). Pooling is a running maximum
(or sum) over the ``KH * KW`` strided views of the input, with no window copies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from azuraforge.core import workspace
from azuraforge.core.autograd import Grads, Needs, register_gradient
from azuraforge.core.parallel import min_items, parallel_for, parallel_sum
from azuraforge.core.tensor import Tensor
from azuraforge.core.validation import pair
from azuraforge.errors import ShapeError


def _output_size(size: int, kernel: int, stride: int, what: str) -> int:
    if size < kernel:
        raise ShapeError(f"{what}: kernel {kernel} is larger than the (padded) input size {size}")
    return (size - kernel) // stride + 1


def _offset(
    x: np.ndarray, i: int, j: int, out_hw: tuple[int, ...], stride: tuple[int, int]
) -> np.ndarray:
    """The view of ``x`` (C, H, W, N) that kernel offset (i, j) sees at every output position."""
    (oh, ow), (sh, sw) = out_hw, stride
    return x[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]


def _batch_inner(x: np.ndarray) -> np.ndarray:
    """NCHW array -> (C, H, W, N) contiguous memory (free when it already is)."""
    return np.ascontiguousarray(x.transpose(1, 2, 3, 0))


def _nchw(x: np.ndarray) -> np.ndarray:
    """(C, H, W, N) memory -> NCHW view."""
    return x.transpose(3, 0, 1, 2)


def _check_nchw(x: Tensor, what: str) -> None:
    if x.ndim != 4:
        raise ShapeError(
            f"{what} expects input of shape (batch, channels, height, width), got {x.shape}"
        )


CHUNK_BYTES = 1 << 21  # receptive fields copied at a time: the product reads them from cache


@dataclass(frozen=True)
class _Geometry:
    """A convolution's shapes: ``kernel`` (KH, KW), ``strides``, output ``out_hw``."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    out_hw: tuple[int, int]

    def fields(self, data: np.ndarray, rows: slice, into: np.ndarray) -> np.ndarray:
        """The receptive fields of output ``rows`` of (C, H, W, N) ``data``, copied into the
        front of ``into``: a (C*KH*KW, rows*OW*N) matrix."""
        (kh, kw), (sh, sw) = self.kernel, self.strides
        top, bottom = rows.start * sh, (rows.stop - 1) * sh + kh
        windows = sliding_window_view(data[:, top:bottom], (kh, kw), axis=(1, 2))
        channels, n = data.shape[0], data.shape[3]
        shape = (channels, kh, kw, rows.stop - rows.start, self.out_hw[1], n)
        cols = into[: math.prod(shape)].reshape(shape)
        cols[...] = windows[:, ::sh, ::sw].transpose(0, 4, 5, 1, 2, 3)
        return cols.reshape(channels * kh * kw, -1)

    def per_row(self, channels: int, n: int) -> int:
        """Elements of the receptive fields of one output row over ``channels``."""
        return channels * self.kernel[0] * self.kernel[1] * self.out_hw[1] * n

    def add_back(self, cols: np.ndarray, into: np.ndarray, rows: slice) -> None:
        """Add the fields' gradient ``cols`` of output ``rows`` to (C, H, W, N) ``into``
        (col2im): one strided add for each kernel offset."""
        (kh, kw), count = self.kernel, rows.stop - rows.start
        cols = cols.reshape(into.shape[0], kh, kw, count, self.out_hw[1], into.shape[3])
        below = into[:, rows.start * self.strides[0] :]
        for i, j in _offsets(self.kernel):
            _offset(below, i, j, (count, self.out_hw[1]), self.strides)[...] += cols[:, i, j]


def _chunks(rows: slice, per_row: int, itemsize: int) -> tuple[list[slice], int]:
    """``rows`` cut into chunks of about :data:`CHUNK_BYTES` at ``per_row`` elements a row,
    and the elements of the largest chunk."""
    per_chunk = max(1, min(rows.stop - rows.start, CHUNK_BYTES // (per_row * itemsize)))
    starts = range(rows.start, rows.stop, per_chunk)
    return [slice(a, min(a + per_chunk, rows.stop)) for a in starts], per_chunk * per_row


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
    data, geometry, pads = _conv_input(x, weight, bias, stride, padding)
    filters, (out_h, out_w), n = weight.shape[0], geometry.out_hw, data.shape[3]
    out = workspace.empty((filters, out_h, out_w, n), np.result_type(data.dtype, weight.dtype))
    lhs, result = weight.data.reshape(filters, -1), out.reshape(filters, -1)
    row = out_w * n  # columns of one output row

    def output_rows(rows: slice) -> None:
        block = result[:, rows.start * row : rows.stop * row]
        _convolve_rows(data, lhs, bias, geometry, rows, block)

    parallel_for(output_rows, out_h, min_items(filters * row))
    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor._from_op(_nchw(out), "conv2d", parents, data, weight.data, geometry, pads)


def _conv_input(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any
) -> tuple[np.ndarray, _Geometry, tuple[int, int]]:
    """The (padded) input in (C, H, W, N) memory, the convolution's shapes and its padding."""
    _check_conv_shapes(x, weight, bias)
    kh, kw = weight.shape[2:]
    strides = pair(stride, "stride")
    ph, pw = pair(padding, "padding", minimum=0)
    data = _batch_inner(x.data)
    if ph or pw:
        data = np.pad(data, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    out_hw = (
        _output_size(data.shape[1], kh, strides[0], "conv2d"),
        _output_size(data.shape[2], kw, strides[1], "conv2d"),
    )
    return data, _Geometry((kh, kw), strides, out_hw), (ph, pw)


def _convolve_rows(
    data: np.ndarray,
    lhs: np.ndarray,
    bias: Tensor | None,
    geometry: _Geometry,
    rows: slice,
    out: np.ndarray,
) -> None:
    """Output ``rows`` of the convolution into ``out`` (F, rows*OW*N): ``lhs @ fields`` plus
    the bias, the fields copied a chunk at a time into this thread's chunk buffer."""
    row = geometry.out_hw[1] * data.shape[3]
    chunks, size = _chunks(rows, geometry.per_row(*data.shape[::3]), data.itemsize)
    scratch = _scratch(size, data.dtype)
    for part in chunks:
        block = out[:, (part.start - rows.start) * row : (part.stop - rows.start) * row]
        np.matmul(lhs, geometry.fields(data, part, scratch), out=block)
        if bias is not None:
            block += bias.data[:, None]


def _scratch(elements: int, dtype: Any) -> np.ndarray:
    """A flat buffer for one chunk: of :data:`CHUNK_BYTES` whenever the chunk fits, so that
    the forward and both backward products of every layer share this thread's one buffer."""
    itemsize = np.dtype(dtype).itemsize
    return workspace.empty((max(elements, CHUNK_BYTES // itemsize),), dtype)


def _check_conv_shapes(x: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    _check_nchw(x, "conv2d")
    if weight.ndim != 4:
        raise ShapeError(
            f"conv2d weight must have shape (out_channels, in_channels, kh, kw), "
            f"got {weight.shape}"
        )
    filters, channels = weight.shape[:2]
    if bias is not None and bias.shape != (filters,):
        raise ShapeError(f"conv2d bias must have shape ({filters},), got {bias.shape}")
    if x.shape[1] != channels:
        raise ShapeError(f"conv2d: weight expects {channels} input channels, got input {x.shape}")


@register_gradient("conv2d")
def _conv2d_backward(
    needs: Needs,
    grad: np.ndarray,
    data: np.ndarray,
    weight: np.ndarray,
    geometry: _Geometry,
    padding: tuple[int, int],
) -> Grads:
    grad_rows = _batch_inner(grad).reshape(weight.shape[0], -1)
    return _conv_grads(needs, grad_rows, data, weight, geometry, padding)


def _conv_grads(
    needs: Needs,
    grad_rows: np.ndarray,
    data: np.ndarray,
    weight: np.ndarray,
    geometry: _Geometry,
    padding: tuple[int, int],
) -> Grads:
    """The gradients of a convolution's input, weight and bias from its output's, given as
    (F, OH*OW*N) rows."""
    dtype = np.result_type(grad_rows.dtype, data.dtype)
    grad_x = grad_w = grad_b = None
    if needs[0]:
        padded = _input_grad(grad_rows, weight, data.shape, geometry, dtype)
        ph, pw = padding
        grad_x = _nchw(padded[:, ph : padded.shape[1] - ph, pw : padded.shape[2] - pw])
    if needs[1] or len(needs) == 3:
        grad_w, grad_b = _weight_and_bias_grads(grad_rows, data, geometry, dtype)
        grad_w = grad_w.reshape(weight.shape) if needs[1] else None
    return (grad_x, grad_w, grad_b)[: len(needs)]


def _input_grad(
    grad_rows: np.ndarray,
    weight: np.ndarray,
    padded_shape: tuple[int, ...],
    geometry: _Geometry,
    dtype: Any,
) -> np.ndarray:
    """The gradient of the (padded) input, (C, H, W, N), each thread on its own input
    channels: ``weight.T @ grad`` for a chunk of output rows at a time (about
    :data:`CHUNK_BYTES` of fields' gradients), added back into those rows by col2im."""
    filters, channels, kh, kw = weight.shape
    padded = workspace.empty(padded_shape, dtype)
    lhs = weight.reshape(filters, -1)
    row = geometry.out_hw[1] * padded_shape[3]

    def input_channels(part: slice) -> None:
        into, lhs_part = (
            padded[part],
            lhs[:, part.start * kh * kw : part.stop * kh * kw].T,
        )
        into[...] = 0
        per_row = geometry.per_row(part.stop - part.start, padded_shape[3])
        chunks, size = _chunks(slice(0, geometry.out_hw[0]), per_row, padded.itemsize)
        scratch = _scratch(size, dtype)
        for rows in chunks:
            cols = scratch[: (rows.stop - rows.start) * per_row].reshape(len(lhs_part), -1)
            np.matmul(lhs_part, grad_rows[:, rows.start * row : rows.stop * row], out=cols)
            geometry.add_back(cols, into, rows)

    parallel_for(input_channels, channels, min_items(kh * kw * grad_rows.shape[1]))
    return padded


def _weight_and_bias_grads(
    grad_rows: np.ndarray, data: np.ndarray, geometry: _Geometry, dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``grad_rows @ fields.T`` (F, C*KH*KW) and ``grad_rows.sum(1)`` (F,), summed over
    pieces of the output rows, the fields copied again a chunk at a time from the input:
    every piece is a full-width GEMM, even when C*KH*KW is as small as a first layer's 9."""
    row = geometry.out_hw[1] * data.shape[3]

    def output_rows(rows: slice) -> np.ndarray:
        chunks, size = _chunks(rows, geometry.per_row(*data.shape[::3]), data.itemsize)
        scratch = _scratch(size, data.dtype)

        def product(part: slice) -> np.ndarray:
            fields = geometry.fields(data, part, scratch)
            piece = grad_rows[:, part.start * row : part.stop * row]
            # (fields @ piece.T).T: OpenBLAS runs this orientation ~17 % faster (conv2 of
            # the benchmark's CNN: 4.8 vs 5.8 ms on one thread)
            return np.hstack([(fields @ piece.T).T, piece.sum(axis=1, keepdims=True)])

        total = product(chunks[0])
        for part in chunks[1:]:
            total += product(part)
        return total

    per_row = grad_rows.shape[0] * data.shape[0] * math.prod(geometry.kernel) * row
    both = parallel_sum(output_rows, geometry.out_hw[0], min_items(per_row))
    return both[:, :-1].astype(dtype, copy=False), both[:, -1]


def conv2d_max_pool2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    kernel_size: int | tuple[int, int] = 2,
) -> Tensor:
    """``max_pool2d(conv2d(x, weight, bias, stride, padding), kernel_size)`` in one node, the
    pooling's windows as large as its stride (PyTorch's default).

    The convolution's output is made a few rows at a time and pooled while still in cache; it
    never exists whole. The pooling keeps which offset of each window won (one byte per
    pooled value; ties to the first, as PyTorch), and the backward pass rebuilds the
    convolution's output gradient from it. The numbers and gradients are those of the two
    ops.

    Examples
    --------
    >>> import numpy as np
    >>> conv2d_max_pool2d(Tensor(np.ones((2, 1, 6, 6))), Tensor(np.ones((4, 1, 3, 3)))).shape
    (2, 4, 2, 2)
    """
    data, geometry, pads = _conv_input(x, weight, bias, stride, padding)
    pool = pair(kernel_size, "kernel_size")
    filters, n = weight.shape[0], data.shape[3]
    pooled_hw = (
        _output_size(geometry.out_hw[0], pool[0], pool[0], "max_pool2d"),
        _output_size(geometry.out_hw[1], pool[1], pool[1], "max_pool2d"),
    )
    pooled = workspace.empty((filters, *pooled_hw, n), np.result_type(data.dtype, weight.dtype))
    winners = np.empty(pooled.shape, np.uint8)
    lhs, conv_row = weight.data.reshape(filters, -1), geometry.out_hw[1] * n

    def pooled_rows(rows: slice) -> None:
        chunks, size = _chunks(rows, filters * conv_row * pool[0], data.itemsize)
        outputs = _scratch(size, pooled.dtype)
        for part in chunks:
            conv_rows = slice(part.start * pool[0], part.stop * pool[0])
            block = outputs[: filters * (conv_rows.stop - conv_rows.start) * conv_row]
            _convolve_rows(data, lhs, bias, geometry, conv_rows, block.reshape(filters, -1))
            conv = block.reshape(filters, -1, geometry.out_hw[1], n)
            _pool_with_winners(conv, pooled[:, part], winners[:, part], pool)

    parallel_for(pooled_rows, pooled_hw[0], min_items(filters * pool[0] * conv_row))
    parents = (x, weight) if bias is None else (x, weight, bias)
    saved = (data, weight.data, geometry, pads, winners, pool)
    return Tensor._from_op(_nchw(pooled), "conv2d_max_pool2d", parents, *saved)


def _pool_with_winners(
    conv: np.ndarray, out: np.ndarray, winners: np.ndarray, pool: tuple[int, int]
) -> None:
    """The maximum of each ``pool`` window of (F, rows, W, N) ``conv`` into ``out``, and in
    ``winners`` the index of the first offset that holds it."""
    first, *rest = _offsets(pool)
    np.copyto(out, _offset(conv, *first, out.shape[1:3], pool))
    winners[...] = 0
    beats, marks = np.empty(out.shape, dtype=bool), np.empty(out.shape, dtype=np.uint8)
    for index, (i, j) in enumerate(rest, start=1):
        view = _offset(conv, i, j, out.shape[1:3], pool)
        np.greater(view, out, out=beats)
        # index grows along the loop, so the newest beater has the largest: a maximum, not a
        # masked copy (three times as slow on a batch of MNIST's windows)
        np.multiply(beats, np.uint8(index), out=marks)
        np.maximum(winners, marks, out=winners)
        np.maximum(out, view, out=out)


@register_gradient("conv2d_max_pool2d")
def _conv2d_max_pool2d_backward(
    needs: Needs,
    grad: np.ndarray,
    data: np.ndarray,
    weight: np.ndarray,
    geometry: _Geometry,
    padding: tuple[int, int],
    winners: np.ndarray,
    pool: tuple[int, int],
) -> Grads:
    share = _batch_inner(grad)
    dtype = np.result_type(share.dtype, data.dtype)
    grad_conv = workspace.empty((weight.shape[0], *geometry.out_hw, data.shape[3]), dtype)
    covered = (share.shape[1] * pool[0], share.shape[2] * pool[1])

    def filters(part: slice) -> None:
        into = grad_conv[part]
        if covered != geometry.out_hw:  # the rows and columns no window reaches
            into[...] = 0
        for index, (i, j) in enumerate(_offsets(pool)):
            target = _offset(into, i, j, share.shape[1:3], pool)
            np.multiply(share[part], winners[part] == index, out=target)

    _over_channels(filters, grad_conv)
    grad_rows = grad_conv.reshape(weight.shape[0], -1)
    return _conv_grads(needs, grad_rows, data, weight, geometry, padding)


def _pool_geometry(
    x: Tensor, kernel_size: Any, stride: Any, what: str
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    _check_nchw(x, what)
    kernel = pair(kernel_size, "kernel_size")
    strides = pair(stride, "stride") if stride is not None else kernel
    out_hw = (
        _output_size(x.shape[2], kernel[0], strides[0], what),
        _output_size(x.shape[3], kernel[1], strides[1], what),
    )
    return kernel, strides, out_hw


def _offsets(kernel: tuple[int, ...]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def max_pool2d(
    x: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
) -> Tensor:
    """Maximum over each ``kernel_size`` window (stride defaults to the kernel size).

    Ties send the gradient to the first maximum in the window, as PyTorch does. When ``x`` is
    a ReLU's output in a graph being recorded, the pooling runs on the ReLU's input and the
    ReLU on the pooled values: the numbers and gradients are the same (a window's maximum
    commutes with ReLU), and the backward pass skips the ReLU over the full-size input.

    Examples
    --------
    >>> import numpy as np
    >>> max_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2)
    Tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    if x._ctx is not None and x._ctx[0] == "relu":  # the context is (op, parents, saved)
        return max_pool2d(x._ctx[1][0], kernel_size, stride).relu()
    kernel, strides, out_hw = _pool_geometry(x, kernel_size, stride, "max_pool2d")
    data = _batch_inner(x.data)
    out = _pooled(data, kernel, strides, out_hw, np.maximum)
    return Tensor._from_op(_nchw(out), "max_pool2d", (x,), data, out, kernel, strides)


def _pooled(
    data: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    out_hw: tuple[int, int],
    combine: np.ufunc,
) -> np.ndarray:
    """``combine`` (maximum or add) of the kernel offsets' views of (C, H, W, N) ``data``."""
    first, *rest = _offsets(kernel)
    out = workspace.empty((data.shape[0], *out_hw, data.shape[3]), data.dtype)

    def channels(part: slice) -> None:
        piece, into = data[part], out[part]
        np.copyto(into, _offset(piece, *first, out_hw, strides))
        for i, j in rest:
            combine(into, _offset(piece, i, j, out_hw, strides), out=into)

    _over_channels(channels, data)
    return out


def _over_channels(work: Callable[[slice], None], data: np.ndarray) -> None:
    """Run ``work`` on pieces of channels of a (C, H, W, N) array, on the core's threads."""
    parallel_for(work, data.shape[0], min_items(data[0].size))


@register_gradient("max_pool2d")
def _max_pool2d_backward(
    needs: Needs,
    grad: np.ndarray,
    data: np.ndarray,
    out: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, int],
) -> Grads:
    grad_c = _batch_inner(grad)
    grad_x = workspace.empty(data.shape, data.dtype)
    out_hw = out.shape[1:3]
    overlapping = strides[0] < kernel[0] or strides[1] < kernel[1]
    covered = (out_hw[0] * strides[0], out_hw[1] * strides[1])
    tiled = not overlapping and kernel == strides and covered == data.shape[1:3]

    def channels(part: slice) -> None:
        piece, peak, into, share = data[part], out[part], grad_x[part], grad_c[part]
        if not tiled:  # else every input element is written below, in exactly one window
            into[...] = 0
        unclaimed = np.ones(peak.shape, dtype=bool)
        hit = np.empty(peak.shape, dtype=bool)
        for i, j in _offsets(kernel):
            np.equal(_offset(piece, i, j, out_hw, strides), peak, out=hit)
            hit &= unclaimed
            unclaimed ^= hit
            target = _offset(into, i, j, out_hw, strides)
            if overlapping:
                target += share * hit
            else:  # each input element is in one window only: write, don't add
                np.multiply(share, hit, out=target)

    _over_channels(channels, data)
    return (_nchw(grad_x),)


def avg_pool2d(
    x: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
) -> Tensor:
    """Mean over each ``kernel_size`` window (stride defaults to the kernel size)."""
    kernel, strides, out_hw = _pool_geometry(x, kernel_size, stride, "avg_pool2d")
    data = _batch_inner(x.data if x.data.dtype.kind == "f" else x.data.astype(np.float32))
    out = _pooled(data, kernel, strides, out_hw, np.add)
    out *= 1.0 / (kernel[0] * kernel[1])
    return Tensor._from_op(_nchw(out), "avg_pool2d", (x,), data.shape, kernel, strides)


@register_gradient("avg_pool2d")
def _avg_pool2d_backward(
    needs: Needs,
    grad: np.ndarray,
    shape: tuple[int, ...],
    kernel: tuple[int, int],
    strides: tuple[int, int],
) -> Grads:
    share = _batch_inner(grad) / (kernel[0] * kernel[1])
    grad_x = workspace.empty(shape, grad.dtype)

    def channels(part: slice) -> None:
        into = grad_x[part]
        into[...] = 0
        for i, j in _offsets(kernel):
            _offset(into, i, j, share.shape[1:3], strides)[...] += share[part]

    _over_channels(channels, grad_x)
    return (_nchw(grad_x),)

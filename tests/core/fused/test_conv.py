"""Fused conv2d, max_pool2d and avg_pool2d: finite differences and PyTorch."""

import numpy as np
import pytest

from azuraforge.core import Tensor
from azuraforge.core import functional as F
from azuraforge.core.fused import conv
from azuraforge.errors import InvalidParameterError, ShapeError
from tests.helpers import (
    check_gradients,
    compare_with_torch,
    rng,
    tensor64,
    to_torch,
)

torch = pytest.importorskip("torch")
torch_functional = torch.nn.functional

CONV_CASES = [  # (stride, padding, bias)
    (1, 0, True),
    (2, 1, True),
    ((1, 2), (0, 1), False),
    (2, 0, True),  # 6 columns with kernel 3, stride 2: the last column is never read
]


@pytest.mark.parametrize("input_requires_grad", [True, False])
@pytest.mark.parametrize(("stride", "padding", "bias"), CONV_CASES)
def test_conv2d_gradients_match_finite_differences(stride, padding, bias, input_requires_grad):
    x = tensor64(rng(1).normal(size=(2, 2, 5, 6)), requires_grad=input_requires_grad)
    w = tensor64(rng(2).normal(size=(3, 2, 3, 3)))
    b = tensor64(rng(3).normal(size=(3,))) if bias else None
    wanted = [t for t in (x, w, b) if t is not None and t.requires_grad]
    check_gradients(lambda: F.conv2d(x, w, b, stride, padding), wanted)
    if not input_requires_grad:
        assert x.grad is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("stride", "padding", "bias"), CONV_CASES)
def test_conv2d_matches_torch(stride, padding, bias, dtype):
    arrays = [rng(4).normal(size=(2, 2, 5, 6)), rng(5).normal(size=(3, 2, 3, 3))]
    arrays += [rng(6).normal(size=(3,))] if bias else []
    ours = [Tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    theirs = [to_torch(a.astype(dtype), requires_grad=True) for a in arrays]
    out = F.conv2d(*ours, stride=stride, padding=padding)
    expected = torch_functional.conv2d(*theirs, stride=stride, padding=padding)
    pairs = list(zip(["input", "weight", "bias"], ours, theirs, strict=False))
    compare_with_torch(out, expected, pairs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("stride", "padding"), [(1, 2), (2, (1, 0))])
def test_conv2d_over_several_chunks_matches_torch(stride, padding, dtype):
    # A 5x5 kernel over 40 channels: the receptive fields of one output row of the batch take
    # about CHUNK_BYTES, so the fields are copied, multiplied and added back a few rows at a
    # time, the chunks' input rows overlapping
    arrays = [rng(9).normal(size=(16, 40, 30, 30)), rng(10).normal(size=(8, 40, 5, 5))]
    arrays.append(rng(11).normal(size=(8,)))
    fields_bytes = 40 * 25 * 30 * 30 * 16 * np.dtype(dtype).itemsize
    assert fields_bytes > 10 * conv.CHUNK_BYTES
    ours = [Tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    theirs = [to_torch(a.astype(dtype), requires_grad=True) for a in arrays]
    out = F.conv2d(*ours, stride=stride, padding=padding)
    expected = torch_functional.conv2d(*theirs, stride=stride, padding=padding)
    pairs = list(zip(["input", "weight", "bias"], ours, theirs, strict=True))
    compare_with_torch(out, expected, pairs, dtype)


FUSED_CASES = [  # (stride, padding, pool): 13 rows pooled by 2 leave the last one out
    (1, 0, 2),
    (2, 1, 3),
    (1, (1, 0), (2, 3)),
]


def _two_ops_and_fused(data, weight, bias, stride, padding, pool, dtype):
    """Output, then input, weight and bias gradients of the fused node and of the two ops,
    through a ReLU as in a CNN, with one upstream gradient."""
    results = []
    for fused in (True, False):
        x, w, b = (Tensor(a, requires_grad=True, dtype=dtype) for a in (data, weight, bias))
        if fused:
            out = F.conv2d_max_pool2d(x, w, b, stride, padding, pool)
        else:
            out = F.max_pool2d(F.conv2d(x, w, b, stride, padding), pool)
        upstream = rng(12).normal(size=out.shape)
        (out.relu() * Tensor(upstream, dtype=dtype)).sum().backward()
        results.append([out.data, x.grad, w.grad, b.grad])
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("stride", "padding", "pool"), FUSED_CASES)
def test_conv2d_max_pool2d_gives_the_two_ops_values_and_gradients(stride, padding, pool, dtype):
    # Whole numbers and a constant band, as MNIST's background: windows full of ties, whose
    # gradient goes to the first maximum in both
    data = _ties_and_negatives((6, 3, 15, 15))
    data[:, :, :5] = 0.5
    weight, bias = _ties_and_negatives((4, 3, 3, 3), seed=1), rng(13).normal(size=(4,))
    fused, two_ops = _two_ops_and_fused(data, weight, bias, stride, padding, pool, dtype)
    names = ["output", "input", "weight", "bias"]
    for name, ours, reference in zip(names, fused, two_ops, strict=True):
        scale = max(1.0, float(np.abs(reference).max()))
        np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6 * scale, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_max_pool2d_over_several_chunks_matches_torch(dtype):
    arrays = [rng(14).normal(size=(16, 40, 30, 30)), rng(15).normal(size=(8, 40, 5, 5))]
    arrays.append(rng(16).normal(size=(8,)))
    ours = [Tensor(a, requires_grad=True, dtype=dtype) for a in arrays]
    theirs = [to_torch(a.astype(dtype), requires_grad=True) for a in arrays]
    out = F.conv2d_max_pool2d(*ours, padding=2, kernel_size=2)
    expected = torch_functional.max_pool2d(torch_functional.conv2d(*theirs, padding=2), 2)
    pairs = list(zip(["input", "weight", "bias"], ours, theirs, strict=True))
    compare_with_torch(out, expected, pairs, dtype)


def test_conv2d_max_pool2d_gradients_match_finite_differences():
    x = tensor64(rng(17).normal(size=(2, 2, 7, 6)))
    w, b = tensor64(rng(18).normal(size=(3, 2, 2, 2))), tensor64(rng(19).normal(size=(3,)))
    check_gradients(lambda: F.conv2d_max_pool2d(x, w, b, padding=1, kernel_size=2), [x, w, b])


POOL_CASES = [(2, None), (3, 2), ((2, 3), (1, 2)), (2, 1)]
POOLS = {
    "max": (F.max_pool2d, torch_functional.max_pool2d),
    "avg": (F.avg_pool2d, torch_functional.avg_pool2d),
}


@pytest.mark.parametrize(("kernel", "stride"), POOL_CASES)
@pytest.mark.parametrize("name", POOLS)
def test_pool_gradients_match_finite_differences(name, kernel, stride):
    # Normal data: each window's maximum is unique and far from the runner-up.
    x = tensor64(rng(7).normal(size=(2, 2, 5, 6)))
    pool = POOLS[name][0]
    check_gradients(lambda: pool(x, kernel, stride), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("kernel", "stride"), POOL_CASES)
@pytest.mark.parametrize("name", POOLS)
def test_pool_matches_torch(name, kernel, stride, dtype):
    ours_fn, theirs_fn = POOLS[name]
    data = rng(8).normal(size=(2, 3, 5, 6)).astype(dtype)
    x, t = Tensor(data, requires_grad=True, dtype=dtype), to_torch(data, requires_grad=True)
    compare_with_torch(
        ours_fn(x, kernel, stride), theirs_fn(t, kernel, stride), [("input", x, t)], dtype
    )


def test_max_pool2d_values():
    out = F.max_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2)
    np.testing.assert_array_equal(out.data, [[[[5.0, 7.0], [13.0, 15.0]]]])


def test_conv2d_rejects_input_that_is_not_nchw():
    with pytest.raises(
        ShapeError, match=r"conv2d expects input of shape \(batch, channels, height"
    ):
        F.conv2d(Tensor(np.ones((2, 5, 5))), Tensor(np.ones((1, 2, 3, 3))))


def test_conv2d_rejects_a_channel_mismatch():
    with pytest.raises(
        ShapeError, match=r"weight expects 3 input channels, got input \(1, 2, 5, 5\)"
    ):
        F.conv2d(Tensor(np.ones((1, 2, 5, 5))), Tensor(np.ones((4, 3, 3, 3))))


def test_conv2d_rejects_a_kernel_larger_than_the_input():
    with pytest.raises(ShapeError, match=r"kernel 3 is larger than the \(padded\) input size 2"):
        F.conv2d(Tensor(np.ones((1, 1, 2, 5))), Tensor(np.ones((1, 1, 3, 3))))


@pytest.mark.parametrize(
    ("stride", "padding", "message"),
    [
        (0, 0, "stride must be an int or a pair of ints >= 1, got 0"),
        (-1, 0, "stride must be an int or a pair of ints >= 1, got -1"),
        (1, (1, 2, 3), r"padding must be an int or a pair of ints >= 0, got \(1, 2, 3\)"),
        (1.5, 0, "stride must be an int or a pair of ints >= 1, got 1.5"),
        (1, -1, "padding must be an int or a pair of ints >= 0, got -1"),
    ],
)
def test_conv2d_rejects_bad_stride_and_padding(stride, padding, message):
    with pytest.raises(InvalidParameterError, match=message):
        F.conv2d(
            Tensor(np.ones((1, 1, 4, 4))), Tensor(np.ones((1, 1, 2, 2))), None, stride, padding
        )


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_rejects_bad_input(pool):
    with pytest.raises(
        ShapeError, match=r"expects input of shape \(batch, channels, height, width\)"
    ):
        pool(Tensor(np.ones((4, 4))), 2)
    with pytest.raises(ShapeError, match=r"kernel 5 is larger than the \(padded\) input size 4"):
        pool(Tensor(np.ones((1, 1, 4, 4))), 5)


def _ties_and_negatives(shape, seed=0):
    """Whole numbers around zero: windows with ties, all-negative windows, exact zeros."""
    return np.round(np.random.default_rng(seed).standard_normal(shape) * 1.5)


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 2), (2, 1)])
def test_max_pool_of_a_relu_gives_the_values_and_gradients_of_the_two_ops(kernel, stride):
    data = _ties_and_negatives((3, 4, 9, 9))
    x = Tensor(data, requires_grad=True)
    pooled = F.max_pool2d(x.relu(), kernel, stride)
    out_grad = np.random.default_rng(2).standard_normal(pooled.shape)
    (pooled * Tensor(out_grad)).sum().backward()
    # Reference: the ReLU's output as a leaf, pooled, its gradient sent back through the ReLU.
    relu_out = Tensor(np.maximum(data, 0), requires_grad=True)
    reference = F.max_pool2d(relu_out, kernel, stride)
    (reference * Tensor(out_grad)).sum().backward()
    np.testing.assert_array_equal(pooled.data, reference.data)
    np.testing.assert_array_equal(x.grad, relu_out.grad * (data > 0))


def test_a_relu_output_used_twice_gets_both_gradients_when_one_use_is_pooled():
    data = _ties_and_negatives((2, 3, 6, 6), seed=3)
    x = Tensor(data, requires_grad=True)
    activated = x.relu()
    (F.max_pool2d(activated, 2).sum() + (activated * 3.0).sum()).backward()
    relu_out = Tensor(np.maximum(data, 0), requires_grad=True)
    (F.max_pool2d(relu_out, 2).sum() + (relu_out * 3.0).sum()).backward()
    np.testing.assert_array_equal(x.grad, relu_out.grad * (data > 0))


def test_max_pool_backward_zeroes_what_no_window_covers_in_a_reused_buffer():
    # 27 x 27 with 2 x 2 windows leaves the last row and column out; 373 KB of gradient
    # comes from the workspace, so the second backward gets the first one's buffer back
    data = np.random.default_rng(4).standard_normal((8, 16, 27, 27)).astype(np.float32)
    for scale in (1.0, 2.0):
        x = Tensor(data, requires_grad=True)
        (F.max_pool2d(x, 2) * scale).sum().backward()
        peer = torch.tensor(data, requires_grad=True)
        (torch.nn.functional.max_pool2d(peer, 2) * scale).sum().backward()
        np.testing.assert_array_equal(x.grad, peer.grad.numpy())
        assert not x.grad[:, :, -1].any() and not x.grad[:, :, :, -1].any()

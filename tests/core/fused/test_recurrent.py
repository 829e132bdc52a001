"""Fused LSTM and GRU layers: gradients against finite differences, and input checks.

The stacked modules are compared with PyTorch in tests/core/nn/test_recurrent.py.
"""

import numpy as np
import pytest

from azuraforge.core import Tensor, nn
from azuraforge.core import functional as F
from azuraforge.errors import ShapeError
from tests.helpers import check_gradients, rng, tensor64

KERNELS = {"lstm": (F.lstm_layer, 4), "gru": (F.gru_layer, 3)}
BATCH, STEPS, FEATURES, HIDDEN = 2, 4, 3, 3


def _weights(gates, seed):
    g = rng(seed)
    rows = gates * HIDDEN
    shapes = [(rows, FEATURES), (rows, HIDDEN), (rows,), (rows,)]
    return [tensor64(g.uniform(-0.8, 0.8, size=shape)) for shape in shapes]


@pytest.mark.parametrize("input_requires_grad", [True, False])
@pytest.mark.parametrize("last_only", [True, False])
@pytest.mark.parametrize("name", KERNELS)
def test_gradients_match_finite_differences(name, last_only, input_requires_grad):
    kernel, gates = KERNELS[name]
    x = tensor64(rng(1).normal(size=(BATCH, STEPS, FEATURES)), requires_grad=input_requires_grad)
    weights = _weights(gates, seed=2)
    wanted = [x, *weights] if input_requires_grad else weights
    check_gradients(lambda: kernel(x, *weights, last_only=last_only), wanted)
    if not input_requires_grad:
        assert x.grad is None


@pytest.mark.parametrize("name", KERNELS)
def test_output_shapes_and_dtype(name):
    kernel, gates = KERNELS[name]
    x = tensor64(rng(3).normal(size=(BATCH, STEPS, FEATURES)))
    weights = _weights(gates, seed=4)
    assert kernel(x, *weights).shape == (BATCH, STEPS, HIDDEN)
    last = kernel(x, *weights, last_only=True)
    assert last.shape == (BATCH, HIDDEN)
    assert last.dtype == np.float64
    np.testing.assert_array_equal(last.data, kernel(x, *weights).data[:, -1])


@pytest.mark.parametrize("name", KERNELS)
def test_a_single_step_sequence(name):
    kernel, gates = KERNELS[name]
    x = tensor64(rng(5).normal(size=(BATCH, 1, FEATURES)))
    weights = _weights(gates, seed=6)
    check_gradients(lambda: kernel(x, *weights, last_only=True), [x, *weights])


@pytest.mark.parametrize("name", KERNELS)
def test_input_that_is_not_batch_time_features_raises(name):
    kernel, gates = KERNELS[name]
    weights = _weights(gates, seed=7)
    with pytest.raises(
        ShapeError, match=r"expects input of shape \(batch, time, features\), got \(4, 3\)"
    ):
        kernel(Tensor(np.zeros((4, 3))), *weights)
    with pytest.raises(
        ShapeError, match=r"built for 3 input features, got 5 \(input shape \(2, 4, 5\)\)"
    ):
        kernel(Tensor(np.zeros((2, 4, 5))), *weights)


@pytest.mark.parametrize("layer", [nn.GRU, nn.LSTM])
@pytest.mark.parametrize(("batch", "hidden"), [(1, 3), (2, 1), (1, 1)])
def test_recurrent_backward_leaves_the_incoming_gradient_alone(layer, batch, hidden):
    x = Tensor(rng(0).standard_normal((batch, 5, 2)))
    bias = Tensor(rng(1).standard_normal((batch, hidden)), requires_grad=True)
    out = layer(2, hidden)(x) + bias
    (out * out).sum().backward()
    np.testing.assert_allclose(bias.grad, 2 * out.data, rtol=1e-6)


@pytest.mark.parametrize("layer", [nn.GRU, nn.LSTM])
def test_recurrent_backward_accepts_a_read_only_gradient(layer):
    out = layer(1, 1)(Tensor(np.ones((1, 3, 1))))
    out.sum().backward()  # sum's gradient is a read-only broadcast view


@pytest.mark.parametrize("name", KERNELS)
def test_gradient_of_the_input_through_frozen_weights(name):
    kernel, gates = KERNELS[name]
    x = tensor64(rng(8).normal(size=(BATCH, STEPS, FEATURES)))
    weights = [tensor64(w.data, requires_grad=False) for w in _weights(gates, seed=9)]
    check_gradients(lambda: kernel(x, *weights), [x])
    assert all(w.grad is None for w in weights)


@pytest.mark.parametrize("name", KERNELS)
def test_backward_twice_with_retain_graph_doubles_the_gradients(name):
    kernel, gates = KERNELS[name]
    x = tensor64(rng(10).normal(size=(BATCH, STEPS, FEATURES)))
    weights = _weights(gates, seed=11)
    out = (kernel(x, *weights) ** 2).sum()
    out.backward(retain_graph=True)
    once = [t.grad.copy() for t in (x, *weights)]
    out.backward()
    for tensor, first in zip((x, *weights), once, strict=True):
        np.testing.assert_allclose(tensor.grad, 2 * first, rtol=1e-12)

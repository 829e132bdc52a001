"""The backward-rule table and broadcasting reduction (the rules are checked op by op in
test_ops.py and the fused tests)."""

import numpy as np
import pytest

from azuraforge.core.autograd import GRADIENTS, register_gradient, unbroadcast
from azuraforge.errors import GradientError
from tests.helpers import check_gradients, tensor64


@pytest.mark.parametrize(
    ("grad_shape", "shape"),
    [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), (2, 1)), ((4, 2, 3), ())],
)
def test_unbroadcast_sums_over_broadcast_axes(grad_shape, shape):
    grad = np.random.default_rng(0).normal(size=grad_shape)
    reduced = unbroadcast(grad, shape)
    assert reduced.shape == shape
    # Summing the reduced gradient equals summing the full one: nothing lost or duplicated.
    np.testing.assert_allclose(reduced.sum(), grad.sum())
    ones = unbroadcast(np.ones(grad_shape), shape)
    np.testing.assert_allclose(ones, np.full(shape, np.prod(grad_shape) / max(np.prod(shape), 1)))


def test_unbroadcast_keeps_each_stretched_column_separate():
    grad = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(unbroadcast(grad, (1, 3)), [[3.0, 5.0, 7.0]])
    np.testing.assert_allclose(unbroadcast(grad, (2, 1)), [[3.0], [12.0]])


def test_every_primitive_has_a_rule():
    primitives = {"add", "sub", "mul", "div", "neg", "pow", "matmul", "exp", "log", "sqrt"}
    primitives |= {"abs", "tanh", "sigmoid", "relu", "clip", "cast", "sum", "max", "reshape"}
    primitives |= {"permute", "getitem", "concat", "where"}
    fused = {"conv2d", "max_pool2d", "avg_pool2d", "cross_entropy", "lstm", "gru"}
    assert primitives | fused <= set(GRADIENTS)


def test_registering_a_rule_twice_raises():
    with pytest.raises(GradientError, match="'add' is already registered"):
        register_gradient("add")(lambda needs, grad: (grad, grad))


def test_the_finite_difference_checker_rejects_a_wrong_rule(monkeypatch):
    # Guards the guard: a rule that is off by a factor of 2 must fail check_gradients.
    monkeypatch.setitem(GRADIENTS, "tanh", lambda needs, grad, out: (2 * grad * (1 - out**2),))
    x = tensor64([0.3, -0.7])
    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_gradients(lambda: x.tanh(), [x])

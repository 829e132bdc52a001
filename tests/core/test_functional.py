"""Composite functions: activations, dropout and the functional losses' own checks.

Loss values and gradients for every reduction are compared with PyTorch in
tests/core/nn/test_losses.py (through the loss modules, which only forward to these).
"""

import numpy as np
import pytest

from azuraforge.core import Tensor, manual_seed
from azuraforge.core import functional as F
from azuraforge.errors import InvalidParameterError, ShapeError
from tests.helpers import away_from_zero, check_gradients, compare_with_torch, tensor64, to_torch

torch = pytest.importorskip("torch")

ACTIVATIONS = {
    "softmax axis -1": (lambda x: F.softmax(x), lambda t: torch.softmax(t, -1)),
    "softmax axis 0": (lambda x: F.softmax(x, axis=0), lambda t: torch.softmax(t, 0)),
    "log_softmax axis -1": (lambda x: F.log_softmax(x), lambda t: torch.log_softmax(t, -1)),
    "log_softmax axis 1": (lambda x: F.log_softmax(x, 1), lambda t: torch.log_softmax(t, 1)),
    "leaky_relu": (
        lambda x: F.leaky_relu(x, 0.1),
        lambda t: torch.nn.functional.leaky_relu(t, 0.1),
    ),
    "gelu": (
        lambda x: F.gelu(x),
        lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
    ),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradient_matches_finite_differences(name):
    ours, _ = ACTIVATIONS[name]
    x = tensor64(away_from_zero((2, 3, 4), seed=1) * 2)
    check_gradients(lambda: ours(x), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_torch(name, dtype):
    ours, theirs = ACTIVATIONS[name]
    data = away_from_zero((2, 3, 4), seed=2).astype(dtype) * 3
    x = Tensor(data, requires_grad=True, dtype=dtype)
    t = to_torch(data, requires_grad=True)
    compare_with_torch(ours(x), theirs(t), [("input", x, t)], dtype)


def test_softmax_is_stable_for_large_logits():
    out = F.softmax(Tensor([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(out.data, [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(F.log_softmax(Tensor([[1000.0, 0.0]])).data, [[0.0, -1000.0]])


def test_dropout_uses_the_seeded_mask_and_scales_what_it_keeps():
    x = tensor64(away_from_zero((4, 5), seed=4))

    def dropped():
        manual_seed(7)  # the same mask at every evaluation
        return F.dropout(x, p=0.4)

    out = dropped().data
    kept = out != 0
    assert 0 < kept.sum() < x.size
    np.testing.assert_allclose(out[kept], x.data[kept] / 0.6)
    check_gradients(dropped, [x])


def test_dropout_drops_about_p_of_the_elements():
    manual_seed(0)
    out = F.dropout(Tensor(np.ones(10_000)), p=0.3)
    assert abs(float((out.data == 0).mean()) - 0.3) < 0.02


def test_dropout_is_the_identity_in_eval_mode_and_for_p_zero():
    x = Tensor([1.0, 2.0])
    assert F.dropout(x, p=0.5, training=False) is x
    assert F.dropout(x, p=0.0) is x


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_probability_out_of_range_raises(p):
    with pytest.raises(InvalidParameterError, match=rf"dropout: p must be in \[0, 1\), got {p}"):
        F.dropout(Tensor([1.0]), p=p)


@pytest.mark.parametrize(
    "loss", [F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy_with_logits]
)
def test_loss_with_mismatched_target_shape_raises(loss):
    with pytest.raises(ShapeError, match=r"prediction has shape \(4, 1\) but target has \(4,\)"):
        loss(Tensor(np.zeros((4, 1))), np.zeros(4))


@pytest.mark.parametrize(
    "loss", [F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy_with_logits]
)
def test_loss_with_an_unknown_reduction_raises(loss):
    with pytest.raises(
        InvalidParameterError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"
    ):
        loss(Tensor(np.zeros(2)), np.zeros(2), reduction="avg")


def test_huber_delta_must_be_positive():
    with pytest.raises(InvalidParameterError, match="delta must be > 0, got 0"):
        F.huber_loss(Tensor([1.0]), [0.0], delta=0)


def test_binary_cross_entropy_gradient_at_a_zero_logit():
    # d/dx of BCE-with-logits is sigmoid(x) - y, which is 0.5 - y at x = 0. A model whose
    # output layer starts at zero sits exactly there.
    logits = tensor64([0.0, 0.0, 0.0])
    target = np.array([0.0, 1.0, 0.25])
    F.binary_cross_entropy_with_logits(logits, target, reduction="sum").backward()
    np.testing.assert_allclose(logits.grad, 0.5 - target)


def test_binary_cross_entropy_is_stable_for_huge_logits():
    logits = tensor64([-1000.0, 1000.0])
    loss = F.binary_cross_entropy_with_logits(logits, np.array([1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(loss.data, [1000.0, 1000.0])
    loss.sum().backward()
    np.testing.assert_allclose(logits.grad, [-1.0, 1.0])

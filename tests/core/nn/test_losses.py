"""Every loss module, every reduction: PyTorch and finite differences."""

import numpy as np
import pytest

from azuraforge.core import Tensor, nn
from azuraforge.errors import InvalidParameterError
from tests.helpers import (
    check_gradients,
    compare_with_torch,
    rng,
    tensor64,
    to_torch,
)

torch = pytest.importorskip("torch")

REDUCTIONS = ["mean", "sum", "none"]
CLASSES = np.array([2, 0, 1, 2, 2])


def _regression_data(seed):
    # |prediction - target| lies in [0.2, 0.4], [0.65, 0.85] or [1.4, 1.6]: never at 0 (L1's
    # kink) nor within finite-difference reach of the Huber deltas 0.5 and 1.0.
    g = rng(seed)
    target = g.normal(size=(5, 3))
    gap = g.choice([0.3, 0.75, 1.5], size=(5, 3)) + g.uniform(-0.1, 0.1, size=(5, 3))
    return target + gap * g.choice([-1.0, 1.0], size=(5, 3)), target


def _binary_data(seed):
    g = rng(seed)
    return g.uniform(0.3, 3, size=(5, 3)) * g.choice([-1.0, 1.0], size=(5, 3)), g.random((5, 3))


def _class_data(seed):
    return rng(seed).normal(size=(5, 3)) * 2, CLASSES


LOSSES = {
    "MSELoss": (nn.MSELoss, torch.nn.MSELoss, {}, _regression_data),
    "L1Loss": (nn.L1Loss, torch.nn.L1Loss, {}, _regression_data),
    "HuberLoss": (nn.HuberLoss, torch.nn.HuberLoss, {}, _regression_data),
    "HuberLoss delta=0.5": (nn.HuberLoss, torch.nn.HuberLoss, {"delta": 0.5}, _regression_data),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, torch.nn.CrossEntropyLoss, {}, _class_data),
    "CrossEntropyLoss smoothed": (
        nn.CrossEntropyLoss,
        torch.nn.CrossEntropyLoss,
        {"label_smoothing": 0.2},
        _class_data,
    ),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss, {}, _binary_data),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_gradient_matches_finite_differences(name, reduction):
    ours, _, options, data = LOSSES[name]
    prediction, target = data(seed=1)
    loss = ours(reduction=reduction, **options)
    x = tensor64(prediction)
    check_gradients(lambda: loss(x, target), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
def test_loss_matches_torch(name, reduction, dtype):
    ours_cls, theirs_cls, options, data = LOSSES[name]
    prediction, target = data(seed=2)
    prediction = prediction.astype(dtype)
    if target.dtype.kind == "f":
        target = target.astype(dtype)
    x, t = Tensor(prediction, requires_grad=True, dtype=dtype), to_torch(prediction, True)
    out = ours_cls(reduction=reduction, **options)(x, target)
    expected = theirs_cls(reduction=reduction, **options)(t, torch.from_numpy(target))
    compare_with_torch(out, expected, [("prediction", x, t)], dtype)


@pytest.mark.parametrize("name", LOSSES)
def test_target_may_be_a_tensor_an_array_or_a_list(name):
    ours, _, options, data = LOSSES[name]
    prediction, target = data(seed=4)
    loss = ours(**options)
    x = Tensor(prediction)
    expected = loss(x, target).item()
    assert loss(x, Tensor(target)).item() == pytest.approx(expected, rel=1e-6)
    assert loss(x, target.tolist()).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_an_unknown_reduction_name_raises(name):
    ours, _, options, _ = LOSSES[name]
    with pytest.raises(
        InvalidParameterError,
        match=rf"{ours.__name__}: reduction must be 'mean', 'sum' or 'none', got 'average'",
    ):
        ours(reduction="average", **options)


def test_mse_loss_value():
    assert nn.MSELoss()(Tensor([1.0, 3.0]), Tensor([0.0, 0.0])).item() == 5.0


def test_cross_entropy_loss_refuses_float_class_targets():
    with pytest.raises(
        InvalidParameterError, match="target must hold integer class indices, got dtype float32"
    ):
        nn.CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([0.0, 2.0], dtype=np.float32))

"""Fused cross-entropy: finite differences, PyTorch, and its argument checks."""

import numpy as np
import pytest

from azuraforge.core import Tensor
from azuraforge.core import functional as F
from azuraforge.errors import InvalidParameterError, ShapeError
from tests.helpers import (
    check_gradients,
    compare_with_torch,
    rng,
    tensor64,
    to_torch,
)

torch = pytest.importorskip("torch")

REDUCTIONS = ["mean", "sum", "none"]
SMOOTHING = [0.0, 0.1, 1.0]
LABELS = np.array([0, 3, 1, 3, 2])


@pytest.mark.parametrize("label_smoothing", SMOOTHING)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_gradient_matches_finite_differences(reduction, label_smoothing):
    logits = tensor64(rng(1).normal(size=(5, 4)) * 2)
    check_gradients(lambda: F.cross_entropy(logits, LABELS, reduction, label_smoothing), [logits])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", SMOOTHING)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch(reduction, label_smoothing, dtype):
    data = (rng(2).normal(size=(5, 4)) * 3).astype(dtype)
    logits, t = Tensor(data, requires_grad=True, dtype=dtype), to_torch(data, requires_grad=True)
    out = F.cross_entropy(logits, LABELS, reduction, label_smoothing)
    expected = torch.nn.functional.cross_entropy(
        t, torch.from_numpy(LABELS), reduction=reduction, label_smoothing=label_smoothing
    )
    compare_with_torch(out, expected, [("logits", logits, t)], dtype)


def test_cross_entropy_is_stable_for_huge_logits():
    loss = F.cross_entropy(Tensor([[1000.0, -1000.0], [0.0, 2000.0]]), np.array([0, 0]), "none")
    np.testing.assert_allclose(loss.data, [0.0, 2000.0])


@pytest.mark.parametrize(
    "target",
    [Tensor(LABELS), LABELS.astype(np.int32), LABELS.astype(np.uint8), list(LABELS)],
    ids=["tensor", "int32", "uint8", "list"],
)
def test_cross_entropy_accepts_labels_as_tensors_arrays_and_lists(target):
    logits = Tensor(rng(4).normal(size=(5, 4)))
    expected = F.cross_entropy(logits, LABELS).item()
    assert F.cross_entropy(logits, target).item() == expected


@pytest.mark.parametrize(
    ("labels", "shown"), [([0, 4, 1, 3, 2], "0 to 4"), ([-1, 0, 0, 0, 0], "-1 to 0")]
)
def test_cross_entropy_labels_out_of_range_raise(labels, shown):
    with pytest.raises(
        InvalidParameterError, match=rf"class indices must be in \[0, 3\], got values from {shown}"
    ):
        F.cross_entropy(Tensor(np.zeros((5, 4))), np.array(labels))


@pytest.mark.parametrize("labels", [[0.5, 1.0], [0.0, 1.0], Tensor([0.0, 2.0])])
def test_cross_entropy_refuses_float_labels_even_integral_ones(labels):
    with pytest.raises(
        InvalidParameterError,
        match=r"target must hold integer class indices, got dtype float.*astype\(np\.int64\)",
    ):
        F.cross_entropy(Tensor(np.zeros((2, 3))), labels)


def test_cross_entropy_rejects_an_unknown_reduction():
    with pytest.raises(
        InvalidParameterError,
        match="cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'max'",
    ):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 1]), reduction="max")


def test_cross_entropy_rejects_bad_shapes_and_smoothing():
    with pytest.raises(
        ShapeError, match=r"expects logits of shape \(batch, classes\), got \(6,\)"
    ):
        F.cross_entropy(Tensor(np.zeros(6)), np.array([0]))
    with pytest.raises(ShapeError, match=r"target must have shape \(2,\), got \(2, 1\)"):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([[0], [1]]))
    with pytest.raises(
        InvalidParameterError, match=r"label_smoothing must be in \[0, 1\], got 1.5"
    ):
        F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([0, 1]), label_smoothing=1.5)

"""Tensor construction and the autograd engine: accumulation, freeing, no_grad, deep graphs."""

import sys

import numpy as np
import pytest

from azuraforge.core import Tensor, is_grad_enabled, nn, no_grad, optim
from azuraforge.errors import GradientError, InvalidParameterError, ShapeError
from tests.helpers import check_gradients, tensor64


def test_float_data_defaults_to_float32_and_int_arrays_keep_their_dtype():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.array([1.0], dtype=np.float64)).dtype == np.float32
    assert Tensor(np.array([1, 2])).dtype == np.int64
    assert Tensor(np.array([True])).dtype == np.bool_
    assert Tensor([1.0], dtype=np.float64).dtype == np.float64


def test_requires_grad_on_an_int_tensor_raises():
    with pytest.raises(InvalidParameterError, match="only floating tensors can require grad"):
        Tensor(np.array([1, 2, 3]), requires_grad=True)


def test_item_needs_one_element():
    assert Tensor([[3.5]]).item() == 3.5
    with pytest.raises(InvalidParameterError, match=r"got shape \(2,\)"):
        Tensor([1.0, 2.0]).item()


def test_gradients_accumulate_across_backward_calls():
    x = tensor64([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3.0)


def test_module_and_optimizer_zero_grad_clear_gradients():
    layer = nn.Linear(2, 1)
    optimizer = optim.SGD(layer.parameters(), lr=0.1)
    layer(Tensor(np.ones((3, 2)))).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    layer.zero_grad()
    assert all(p.grad is None for p in layer.parameters())
    layer(Tensor(np.ones((3, 2)))).sum().backward()
    optimizer.zero_grad()
    assert all(p.grad is None for p in layer.parameters())


def test_no_grad_records_nothing_and_restores_the_mode():
    w = tensor64([2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = w * 3.0 + 1.0
    assert is_grad_enabled()
    assert not y.requires_grad
    assert y.is_leaf
    with pytest.raises(GradientError, match="does not require grad"):
        y.backward()


def test_backward_through_a_freed_graph_raises():
    x = tensor64([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(GradientError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = tensor64([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_a_5000_op_chain_backpropagates_without_recursion_error():
    assert sys.getrecursionlimit() < 5000 * 2
    x = tensor64([0.5])
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**5000], rtol=1e-9)


def test_backward_without_gradient_on_a_non_scalar_raises():
    x = tensor64([1.0, 2.0])
    with pytest.raises(GradientError, match=r"one-element tensor, got shape \(2,\)"):
        (x * 2.0).backward()


def test_backward_with_an_explicit_gradient():
    x = tensor64([1.0, 2.0])
    (x * x).backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [2.0, 40.0])
    with pytest.raises(GradientError, match=r"grad has shape \(3,\), expected \(2,\)"):
        (x * x).backward(np.ones(3))


def test_shared_subexpression_gets_the_sum_of_its_gradients():
    # Diamond: a feeds b and c, both feed d.
    a = tensor64([1.5, -0.5])
    shared = a * a
    d = (shared * 3.0 + shared.exp()).sum()
    d.backward()
    np.testing.assert_allclose(a.grad, (3.0 + np.exp(a.data**2)) * 2 * a.data, rtol=1e-12)


def test_the_same_leaf_used_twice_in_one_op():
    x = tensor64([3.0, -1.0])
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_inputs_that_do_not_require_grad_get_none():
    x = tensor64([1.0, 2.0])
    c = Tensor([3.0, 4.0], dtype=np.float64)
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad, c.data)


def test_detach_cuts_the_graph():
    x = tensor64([1.0, 2.0])
    y = (x * 2.0).detach()
    assert not y.requires_grad
    assert y.dtype == np.float64
    (x * y).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_astype_sends_gradients_back_in_the_source_dtype():
    x = tensor64([1.0, 2.0])
    (x.astype(np.float32) * 2.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_comparisons_give_bool_tensors_and_equality_keeps_identity():
    x = Tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal((x > 1.5).data, [False, True, True])
    np.testing.assert_array_equal((x <= 2.0).data, [True, True, False])
    np.testing.assert_array_equal(x.eq(Tensor([1.0, 0.0, 3.0])).data, [True, False, True])
    assert x in {x}
    assert x != Tensor([1.0, 2.0, 3.0])


def test_reflected_operators_with_numbers_and_arrays():
    x = Tensor([1.0, 2.0], dtype=np.float64)
    np.testing.assert_allclose((1.0 - x).data, [0.0, -1.0])
    np.testing.assert_allclose((2.0 / x).data, [2.0, 1.0])
    np.testing.assert_allclose((2.0**x).data, [2.0, 4.0])
    np.testing.assert_allclose((np.array([[1.0, 1.0]]) @ x).data, [3.0])
    assert isinstance(np.ones(2) * x, Tensor)


def test_repr_shows_values_grad_and_non_default_dtype():
    assert repr(Tensor([1.0, 2.0], requires_grad=True)) == "Tensor([1., 2.], requires_grad=True)"
    assert repr(Tensor([1.0], dtype=np.float64)) == "Tensor([1.], dtype=float64)"


def test_truth_value_of_one_element_and_error_for_many():
    assert not bool(Tensor([0.0]) > 1)
    assert bool(Tensor(2.0) > 1)
    assert float(Tensor([[3.5]])) == 3.5
    with pytest.raises(InvalidParameterError, match="truth value of a tensor with 2 elements"):
        bool(Tensor([1.0, 2.0]))
    with pytest.raises(ShapeError, match="len\\(\\) of a 0-d tensor"):
        len(Tensor(1.0))


# ---- PyTorch-style methods -----------------------------------------------------------------
DATA = np.array([[1.0, 5.0, 5.0], [7.0, -2.0, 0.5]])


@pytest.mark.parametrize("method", ["argmax", "argmin"])
@pytest.mark.parametrize(("axis", "keepdims"), [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_and_argmin_match_numpy_and_torch(method, axis, keepdims):
    torch = pytest.importorskip("torch")
    x = Tensor(DATA, requires_grad=True)
    out = getattr(x, method)(axis, keepdims)
    expected = getattr(np, method)(DATA, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(out.data, expected)
    assert out.dtype == np.int64
    assert not out.requires_grad
    theirs = getattr(torch.from_numpy(DATA), method)(*(() if axis is None else (axis, keepdims)))
    np.testing.assert_array_equal(out.data, theirs.numpy())
    np.testing.assert_array_equal(getattr(x, method)(dim=axis, keepdims=keepdims).data, expected)


def test_argmax_rejects_a_bad_axis_and_conflicting_axis_and_dim():
    with pytest.raises(ShapeError, match=r"axis 2 is out of range for a tensor of shape \(2, 3\)"):
        Tensor(DATA).argmax(axis=2)
    with pytest.raises(InvalidParameterError, match="dim is PyTorch's name for axis; give one"):
        Tensor(DATA).argmin(axis=0, dim=1)
    with pytest.raises(ShapeError, match="empty tensor"):
        Tensor(np.zeros((0, 2))).argmax()


@pytest.mark.parametrize("method", ["argmax", "argmin"])
def test_argmax_and_argmin_refuse_an_empty_axis(method):
    with pytest.raises(
        ShapeError, match=rf"cannot take the {method} over axis 1, which is empty .*\(2, 0\)"
    ):
        getattr(Tensor(np.zeros((2, 0))), method)(axis=1)
    assert getattr(Tensor(np.zeros((0, 2))), method)(axis=1).shape == (0,)


@pytest.mark.parametrize("method", ["argmax", "argmin"])
def test_argmax_and_argmin_take_pytorchs_keepdim(method):
    out = getattr(Tensor(DATA), method)(1, keepdim=True)
    np.testing.assert_array_equal(out.data, getattr(np, method)(DATA, axis=1, keepdims=True))
    assert getattr(Tensor(DATA), method)(dim=1, keepdim=True, keepdims=True).shape == (2, 1)
    with pytest.raises(
        InvalidParameterError,
        match="keepdim is PyTorch's name for keepdims; give one, got keepdims=False and keepdim",
    ):
        getattr(Tensor(DATA), method)(1, keepdims=False, keepdim=True)


@pytest.mark.parametrize("method", ["softmax", "log_softmax"])
def test_softmax_methods_match_torch_and_finite_differences(method):
    torch = pytest.importorskip("torch")
    x = tensor64(DATA)
    for kwargs, dim in [({}, -1), ({"axis": 0}, 0), ({"dim": 0}, 0)]:
        expected = getattr(torch.from_numpy(DATA), method)(dim=dim).numpy()
        np.testing.assert_allclose(getattr(x, method)(**kwargs).data, expected, rtol=1e-12)
    check_gradients(lambda: getattr(x, method)(axis=0), [x])


def test_numel_tolist_and_float():
    x = Tensor(np.array([[1, 2], [3, 4]]))
    assert x.numel() == 4
    assert x.tolist() == [[1, 2], [3, 4]]
    assert isinstance(x.tolist()[0][0], int)
    as_float = x.float()
    assert as_float.dtype == np.float32
    as_float.data[0, 0] = 10.0
    assert x.data[0, 0] == 1


def test_float_is_a_copy_that_passes_gradients_back():
    x = tensor64(DATA)
    y = x.float()
    assert y.dtype == np.float32
    assert y.data is not x.data
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(DATA.shape, 2.0))
    assert x.grad.dtype == np.float64


@pytest.mark.parametrize(("start", "end"), [(0, -1), (1, -1), (0, 1), (-2, -1), (1, 1)])
def test_flatten_matches_torch(start, end):
    torch = pytest.importorskip("torch")
    data = np.arange(24.0).reshape(2, 3, 4)
    expected = torch.from_numpy(data).flatten(start, end).numpy()
    np.testing.assert_array_equal(Tensor(data).flatten(start, end).data, expected)
    assert Tensor(3.0).flatten().shape == (1,)


def test_flatten_takes_start_axis_as_start_dim_and_refuses_a_disagreement():
    x = Tensor(np.zeros((2, 3, 4)))
    assert x.flatten(start_axis=1).shape == (2, 12)
    assert x.flatten(1, start_axis=1).shape == (2, 12)
    with pytest.raises(
        InvalidParameterError,
        match="flatten: start_axis is the old name of start_dim; give one, got start_dim=1 "
        "and start_axis=0",
    ):
        x.flatten(1, start_axis=0)


def test_a_leafs_gradient_is_laid_out_like_its_data():
    # x @ w.T (a Linear layer) hands w a transposed gradient; the optimiser's passes over w
    # and its gradient run far faster when both have one layout
    w = Tensor(np.arange(15.0).reshape(5, 3), requires_grad=True)
    x = Tensor(np.arange(6.0).reshape(2, 3))
    (x @ w.T).sum().backward()
    assert w.grad.flags.c_contiguous
    np.testing.assert_array_equal(w.grad, np.broadcast_to(x.data.sum(axis=0), (5, 3)))

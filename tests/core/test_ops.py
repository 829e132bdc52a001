"""Primitive ops: values against NumPy, gradients against float64 finite differences."""

import re

import numpy as np
import pytest

from azuraforge.core import Tensor, ops, set_num_threads
from azuraforge.errors import InvalidParameterError, ShapeError
from tests.helpers import away_from_zero, check_gradients, rng, tensor64

BINARY = {
    "add": (ops.add, np.add),
    "sub": (ops.sub, np.subtract),
    "mul": (ops.mul, np.multiply),
    "div": (ops.div, np.divide),
    "pow": (ops.pow, np.power),
}
BROADCAST_SHAPES = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((2, 1, 3), (4, 1)),
    ((1, 3), (2, 1)),
    ((2, 3), ()),
]


def _binary_inputs(name, shape_a, shape_b):
    a = away_from_zero(shape_a, seed=1)
    b = away_from_zero(shape_b, seed=2)
    if name == "pow":  # a positive base keeps the exponent's gradient (log base) defined
        a = np.abs(a)
    return tensor64(a), tensor64(b)


@pytest.mark.parametrize(("shape_a", "shape_b"), BROADCAST_SHAPES)
@pytest.mark.parametrize("name", BINARY)
def test_binary_op_with_broadcasting(name, shape_a, shape_b):
    op, reference = BINARY[name]
    a, b = _binary_inputs(name, shape_a, shape_b)
    out = op(a, b)
    np.testing.assert_allclose(out.data, reference(a.data, b.data), rtol=1e-12)
    check_gradients(lambda: op(a, b), [a, b])


@pytest.mark.parametrize(
    ("expression", "reference"),
    [
        (lambda x: x + 2.0, lambda x: x + 2.0),
        (lambda x: 2.0 - x, lambda x: 2.0 - x),
        (lambda x: x * -3.0, lambda x: x * -3.0),
        (lambda x: 1.5 / x, lambda x: 1.5 / x),
        (lambda x: -x, lambda x: -x),
        (lambda x: ops.neg(x), lambda x: -x),
    ],
)
def test_operators_with_python_numbers(expression, reference):
    x = tensor64(away_from_zero((2, 3), seed=3))
    np.testing.assert_allclose(expression(x).data, reference(x.data), rtol=1e-12)
    check_gradients(lambda: expression(x), [x])


@pytest.mark.parametrize("exponent", [2, 3, -1.5, 0.5, 1.0])
def test_pow_with_a_scalar_exponent(exponent):
    x = tensor64(np.abs(away_from_zero((2, 3), seed=4)))
    np.testing.assert_allclose((x**exponent).data, x.data**exponent, rtol=1e-12)
    check_gradients(lambda: x**exponent, [x])


def test_pow_with_a_tensor_exponent_and_scalar_base():
    e = tensor64(away_from_zero((3,), seed=5))
    np.testing.assert_allclose((2.0**e).data, 2.0**e.data, rtol=1e-12)
    check_gradients(lambda: 2.0**e, [e])


def test_pow_of_a_float32_tensor_stays_float32():
    assert (Tensor([1.0, 2.0]) ** 2).dtype == np.float32
    assert (Tensor([1.0, 2.0]) * 0.5).dtype == np.float32


MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (3, 4, 2)),
    ((3, 4), (2, 4, 5)),
    ((4,), (4,)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize(("shape_a", "shape_b"), MATMUL_SHAPES)
def test_matmul(shape_a, shape_b):
    a = tensor64(rng(6).normal(size=shape_a))
    b = tensor64(rng(7).normal(size=shape_b))
    out = a @ b
    np.testing.assert_allclose(out.data, np.matmul(a.data, b.data), rtol=1e-12)
    check_gradients(lambda: ops.matmul(a, b), [a, b])


@pytest.mark.parametrize(
    ("shape_a", "shape_b"), [((2, 3), (4, 2)), ((3,), (4,)), ((2, 3), ()), ((2, 5, 3), (2, 4))]
)
def test_matmul_with_mismatched_shapes_raises(shape_a, shape_b):
    a, b = Tensor(np.ones(shape_a)), Tensor(np.ones(shape_b))
    pattern = re.escape(f"cannot matmul shapes {shape_a} and {shape_b}")
    with pytest.raises(ShapeError, match=pattern):
        ops.matmul(a, b)


AXES = [None, 0, -1, 1, (0, 2), (-1, 0)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_reductions(name, axis, keepdims):
    # Normal data of 24 elements: distinct values, far further apart than the FD step.
    x = tensor64(rng(8).normal(size=(2, 3, 4)))
    out = getattr(ops, name)(x, axis, keepdims)
    expected = getattr(np, name)(x.data, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    check_gradients(lambda: getattr(x, name)(axis=axis, keepdims=keepdims), [x])


@pytest.mark.parametrize(("name", "expected"), [("max", [0, 0.5, 0.5]), ("min", [0.5, 0.5, 0])])
def test_max_and_min_share_the_gradient_between_ties(name, expected):
    x = tensor64([1.0, 1.0, 3.0] if name == "min" else [1.0, 3.0, 3.0])
    getattr(x, name)().backward()
    np.testing.assert_allclose(x.grad, expected)


def test_reduction_with_an_axis_out_of_range_raises():
    with pytest.raises(ShapeError, match=r"axis 2 is out of range for a tensor of shape \(2, 3\)"):
        Tensor(np.ones((2, 3))).sum(axis=2)


UNARY = {
    "exp": (ops.exp, np.exp, "any"),
    "log": (ops.log, np.log, "positive"),
    "sqrt": (ops.sqrt, np.sqrt, "positive"),
    "abs": (ops.abs, np.abs, "any"),
    "relu": (ops.relu, lambda x: np.maximum(x, 0), "any"),
    "sigmoid": (ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "any"),
    "tanh": (ops.tanh, np.tanh, "any"),
    "neg": (ops.neg, np.negative, "any"),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_op(name):
    op, reference, domain = UNARY[name]
    data = away_from_zero((3, 4), seed=9)
    x = tensor64(np.abs(data) if domain == "positive" else data)
    np.testing.assert_allclose(op(x).data, reference(x.data), rtol=1e-12)
    check_gradients(lambda: op(x), [x])


def test_unary_methods_match_functions():
    x = tensor64(np.abs(away_from_zero((5,), seed=10)))
    for name in ("exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"):
        np.testing.assert_array_equal(getattr(x, name)().data, getattr(ops, name)(x).data)


def test_sigmoid_of_huge_values_does_not_overflow():
    # RuntimeWarnings are errors in this suite (pyproject filterwarnings).
    out = ops.sigmoid(Tensor([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(out.data, [0.0, 0.5, 1.0])


def test_relu_and_abs_have_zero_gradient_at_zero():
    x = tensor64([0.0, 0.0])
    (x.relu() + x.abs()).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize(("low", "high"), [(-0.5, 0.5), (None, 0.3), (-0.3, None)])
def test_clip(low, high):
    # Values sit at least 0.1 from both bounds, so the FD step never crosses one.
    x = tensor64([[-1.2, -0.7, -0.2, 0.05], [0.15, 0.45, 0.8, 1.3]])
    out = x.clip(low, high)
    np.testing.assert_allclose(out.data, np.clip(x.data, low, high))
    check_gradients(lambda: x.clip(low, high), [x])


def test_clip_passes_the_gradient_at_the_bounds():
    x = tensor64([-1.0, 0.0, 1.0, 2.0])
    x.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0, 0.0])


def test_clip_without_bounds_raises():
    with pytest.raises(InvalidParameterError, match="clip needs min, max or both"):
        Tensor([1.0]).clip()


def test_cast_gradient():
    x = tensor64(rng(11).normal(size=(2, 2)))
    check_gradients(lambda: x.astype(np.float64) * 2.0, [x])


@pytest.mark.parametrize(
    "reshape",
    [
        lambda x: x.reshape(6, 4),
        lambda x: x.reshape((4, -1)),
        lambda x: x.reshape(-1),
        lambda x: x.flatten(1),
        lambda x: x.transpose(),
        lambda x: x.transpose(0, 2),
        lambda x: x.permute(2, 0, 1),
        lambda x: x.permute((1, 2, 0)),
        lambda x: x.T,
    ],
)
def test_shape_ops(reshape):
    x = tensor64(rng(12).normal(size=(2, 3, 4)))
    out = reshape(x)
    assert out.data.size == 24
    check_gradients(lambda: reshape(x), [x])


def test_shape_op_values():
    data = np.arange(24.0).reshape(2, 3, 4)
    x = tensor64(data)
    np.testing.assert_array_equal(x.reshape(4, -1).data, data.reshape(4, -1))
    np.testing.assert_array_equal(x.transpose(0, 2).data, data.transpose(2, 1, 0))
    np.testing.assert_array_equal(x.permute(2, 0, 1).data, data.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.T.data, data.T)
    np.testing.assert_array_equal(x.flatten(1).data, data.reshape(2, 12))


def test_reshape_to_a_wrong_size_raises():
    with pytest.raises(ShapeError, match=r"cannot reshape tensor of shape \(2, 3\) into \(4, 2\)"):
        Tensor(np.ones((2, 3))).reshape(4, 2)


def test_permute_with_repeated_axes_raises():
    with pytest.raises(ShapeError, match=r"permute needs each of the 2 axes once, got \(0, 0\)"):
        Tensor(np.ones((2, 3))).permute(0, 0)


MASK = np.array([[True, False, True, False], [False, False, True, True], [True] * 4])
INDICES = {
    "int": 1,
    "negative int": -1,
    "slices": (slice(1, None), slice(None, None, 2)),
    "reversed": (slice(None, None, -1), 2),
    "ellipsis and newaxis": (Ellipsis, None, 1),
    "int array with repeats": np.array([0, 2, 0, 0]),
    "list with repeats": [1, 1],
    "slice and int array": (slice(None), np.array([3, 0, 3])),
    "two int arrays": (np.array([0, 2, 2]), np.array([1, 1, 3])),
    "boolean mask": MASK,
    "boolean row mask": np.array([True, False, True]),
    "tensor mask": Tensor(MASK),
}


@pytest.mark.parametrize("index", INDICES.values(), ids=INDICES.keys())
def test_getitem(index):
    x = tensor64(rng(13).normal(size=(3, 4)))
    plain = index.data if isinstance(index, Tensor) else index
    np.testing.assert_array_equal(x[index].data, x.data[plain])
    check_gradients(lambda: x[index], [x])


def test_getitem_with_repeated_indices_adds_up():
    x = tensor64([10.0, 20.0, 30.0])
    x[np.array([2, 0, 2, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 3.0])


def test_getitem_out_of_range_raises():
    with pytest.raises(ShapeError, match=r"cannot index tensor of shape \(3,\)"):
        Tensor([1.0, 2.0, 3.0])[5]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(axis):
    # The sizes along `axis` differ (1, 2, 3), so the split in backward must use each one.
    shapes = [(size, 3) if axis == 0 else (2, size) for size in (1, 2, 3)]
    tensors = [tensor64(rng(14 + i).normal(size=s)) for i, s in enumerate(shapes)]
    out = ops.concat(tensors, axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate([t.data for t in tensors], axis=axis))
    check_gradients(lambda: ops.concat(tensors, axis=axis), tensors)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack(axis):
    tensors = [tensor64(rng(20 + i).normal(size=(2, 3))) for i in range(3)]
    out = ops.stack(tensors, axis=axis)
    np.testing.assert_array_equal(out.data, np.stack([t.data for t in tensors], axis=axis))
    check_gradients(lambda: ops.stack(tensors, axis=axis), tensors)


def test_concat_and_stack_errors():
    with pytest.raises(InvalidParameterError, match="concat needs at least one tensor"):
        ops.concat([])
    with pytest.raises(InvalidParameterError, match="stack needs at least one tensor"):
        ops.stack([])
    with pytest.raises(ShapeError, match=r"cannot concat shapes \[\(2, 3\), \(3, 2\)\]"):
        ops.concat([Tensor(np.ones((2, 3))), Tensor(np.ones((3, 2)))], axis=1)
    with pytest.raises(ShapeError, match="stack needs tensors of one shape"):
        ops.stack([Tensor(np.ones((2, 3))), Tensor(np.ones((3, 2)))])


def test_concat_with_a_constant_only_sends_gradient_to_the_tensor():
    x = tensor64([1.0, 2.0])
    constant = Tensor([5.0], dtype=np.float64)
    (ops.concat([constant, x]) * Tensor([1.0, 2.0, 3.0], dtype=np.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])
    assert constant.grad is None


@pytest.mark.parametrize(
    ("shape_cond", "shape_a", "shape_b"),
    [((2, 3), (2, 3), (2, 3)), ((2, 3), (3,), (2, 1)), ((3,), (2, 3), ())],
)
def test_where(shape_cond, shape_a, shape_b):
    condition = rng(30).random(shape_cond) > 0.5
    a = tensor64(rng(31).normal(size=shape_a))
    b = tensor64(rng(32).normal(size=shape_b))
    out = ops.where(condition, a, b)
    np.testing.assert_array_equal(out.data, np.where(condition, a.data, b.data))
    check_gradients(lambda: ops.where(condition, a, b), [a, b])


def test_where_with_a_number_and_a_tensor_condition():
    b = tensor64([5.0, 6.0, 7.0])
    out = ops.where(Tensor([1.0, -1.0, 1.0]) > 0, 1.0, b)
    np.testing.assert_array_equal(out.data, [1.0, 6.0, 1.0])
    out.sum().backward()
    np.testing.assert_array_equal(b.grad, [0.0, 1.0, 0.0])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_binary_op_with_shapes_that_do_not_broadcast_raises(name):
    with pytest.raises(ShapeError, match=r"tensors of shapes \(2, 3\) and \(4,\): they do not"):
        BINARY[name][0](Tensor(np.ones((2, 3))), Tensor(np.ones(4)))


def test_as_tensor_takes_the_dtype_of_like():
    like = Tensor([1.0], dtype=np.float64)
    assert ops.as_tensor(2.0, like=like).dtype == np.float64
    assert ops.as_tensor(2.0).dtype == np.float32
    assert ops.as_tensor(like) is like


def test_min_of_unsigned_integers():
    images = Tensor(np.array([[0, 7], [9, 0]], dtype=np.uint8))
    assert images.min().item() == 0
    np.testing.assert_array_equal(images.min(axis=1).data, [0, 0])


def test_pow_with_exponent_zero_has_zero_gradient_at_zero():
    w = Tensor([0.0, 2.0], requires_grad=True)
    (w**0).sum().backward()
    np.testing.assert_array_equal(w.grad, [0.0, 0.0])


@pytest.mark.parametrize("threads", [1, 2])
def test_relu_gradient_when_gradient_and_input_are_laid_out_differently(threads, restore_threads):
    # a flattened layer hands back an NCHW gradient for a batch-innermost activation
    set_num_threads(threads)
    generator = np.random.default_rng(0)
    values = generator.standard_normal((64, 12, 12, 128), dtype=np.float32)  # 1.2M: splits
    data = values.transpose(3, 0, 1, 2)  # batch-innermost memory, NCHW shape
    x = Tensor(data, requires_grad=True)
    out_grad = generator.standard_normal(x.shape, dtype=np.float32)  # C-ordered NCHW
    x.relu().backward(out_grad)
    np.testing.assert_array_equal(x.grad, out_grad * (data > 0))

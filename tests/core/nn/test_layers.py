"""Dense, activation, normalisation, dropout, embedding and container layers."""

import numpy as np
import pytest

from azuraforge.core import Tensor, manual_seed, nn
from azuraforge.core import functional as F
from azuraforge.errors import InvalidParameterError, ShapeError
from tests.helpers import (
    TOLERANCE,
    assert_close,
    check_gradients,
    check_module_gradients,
    compare_module_with_torch,
    rng,
    tensor64,
    train_and_check,
)

torch = pytest.importorskip("torch")
DTYPES = [np.float32, np.float64]


@pytest.fixture(autouse=True)
def _seed():
    manual_seed(0)
    torch.manual_seed(0)


# ---- Linear ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_match_finite_differences(bias, shape):
    check_module_gradients(nn.Linear(3, 2, bias=bias), tensor64(rng(1).normal(size=shape)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias, shape, dtype):
    ours, theirs = nn.Linear(3, 2, bias=bias), torch.nn.Linear(3, 2, bias=bias)
    compare_module_with_torch(ours, theirs, rng(2).normal(size=shape), dtype)


def test_linear_rejects_the_wrong_number_of_features():
    with pytest.raises(
        ShapeError,
        match=r"Linear expects 3 features on the last axis, got input of shape \(4, 2\)",
    ):
        nn.Linear(3, 2)(Tensor(np.ones((4, 2))))


@pytest.mark.parametrize("sizes", [(0, 2), (2, -1), (2.0, 3), (True, 3)])
def test_linear_rejects_sizes_that_are_not_positive_ints(sizes):
    with pytest.raises(InvalidParameterError, match=r"Linear: \w+ must be a positive int"):
        nn.Linear(*sizes)


def test_linear_initialisation_is_seeded_and_bounded():
    manual_seed(3)
    first = nn.Linear(16, 4).weight.data
    manual_seed(3)
    np.testing.assert_array_equal(first, nn.Linear(16, 4).weight.data)
    assert first.dtype == np.float32
    assert np.abs(first).max() <= 0.25


# ---- activations and parameter-free layers ---------------------------------------------

PARAMETER_FREE = {
    "ReLU": (nn.ReLU, lambda: torch.nn.ReLU()),
    "Tanh": (nn.Tanh, lambda: torch.nn.Tanh()),
    "Sigmoid": (nn.Sigmoid, lambda: torch.nn.Sigmoid()),
    "GELU": (nn.GELU, lambda: torch.nn.GELU(approximate="tanh")),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    "Softmax": (lambda: nn.Softmax(axis=1), lambda: torch.nn.Softmax(dim=1)),
    "Flatten": (nn.Flatten, lambda: torch.nn.Flatten()),
    "Flatten(0, 1)": (lambda: nn.Flatten(0, 1), lambda: torch.nn.Flatten(0, 1)),
    "Flatten(-2)": (lambda: nn.Flatten(start_dim=-2), lambda: torch.nn.Flatten(start_dim=-2)),
}


@pytest.mark.parametrize("name", PARAMETER_FREE)
def test_parameter_free_layer_gradients_match_finite_differences(name):
    ours = PARAMETER_FREE[name][0]()
    check_module_gradients(ours, tensor64(rng(4).uniform(0.2, 2, size=(2, 3, 4)) * [1, -1, 1, -1]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", PARAMETER_FREE)
def test_parameter_free_layer_matches_torch(name, dtype):
    ours, theirs = PARAMETER_FREE[name]
    compare_module_with_torch(ours(), theirs(), rng(5).normal(size=(2, 3, 4)) * 2, dtype)


def test_dropout_layer_gradient_with_a_fixed_mask():
    layer = nn.Dropout(0.5)
    x = tensor64(rng(6).normal(size=(3, 4)))

    def forward():
        manual_seed(11)
        return layer(x)

    assert np.any(forward().data == 0)
    check_gradients(forward, [x])


def test_dropout_layer_is_the_identity_in_eval_mode():
    layer = nn.Dropout(0.9).eval()
    x = Tensor(rng(7).normal(size=(3, 4)))
    np.testing.assert_array_equal(layer(x).data, x.data)


@pytest.mark.parametrize("p", [-0.5, 1.0])
def test_dropout_layer_rejects_p_outside_0_1(p):
    with pytest.raises(InvalidParameterError, match=rf"Dropout: p must be in \[0, 1\), got {p}"):
        nn.Dropout(p)


# ---- normalisation ----------------------------------------------------------------------

BATCH_NORMS = {
    "BatchNorm1d 2-D": (nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3)),
    "BatchNorm1d 3-D": (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
    "BatchNorm2d": (nn.BatchNorm2d, torch.nn.BatchNorm2d, (3, 3, 4, 2)),
}


def _batch(shape, seed):
    # A mean and scale per channel, so normalising has something to remove.
    channel = (1, shape[1]) + (1,) * (len(shape) - 2)
    g = rng(seed)
    return g.normal(size=shape) * g.uniform(0.5, 3, size=channel) + g.normal(size=channel)


@pytest.mark.parametrize("name", BATCH_NORMS)
def test_batch_norm_training_gradients_match_finite_differences(name):
    ours, _, shape = BATCH_NORMS[name]
    layer = ours(3).to(np.float64)
    layer.weight.data = rng(8).uniform(0.5, 2, size=3)
    layer.bias.data = rng(9).normal(size=3)
    check_module_gradients(layer, tensor64(_batch(shape, seed=10)))


@pytest.mark.parametrize("name", BATCH_NORMS)
def test_batch_norm_eval_gradients_match_finite_differences(name):
    ours, _, shape = BATCH_NORMS[name]
    layer = ours(3).to(np.float64)
    layer.running_mean.data = rng(11).normal(size=3)
    layer.running_var.data = rng(12).uniform(0.5, 2, size=3)
    layer.eval()
    check_module_gradients(layer, tensor64(_batch(shape, seed=13)))


def _train_batch_norms(name, dtype):
    """Ours and torch's after three training batches, checked batch by batch."""
    ours_cls, theirs_cls, shape = BATCH_NORMS[name]
    ours, theirs = ours_cls(3), theirs_cls(3)
    ours.weight.data = rng(14).uniform(0.5, 2, size=3).astype(np.float32)
    ours.bias.data = rng(15).normal(size=3).astype(np.float32)
    for step in range(3):
        compare_module_with_torch(ours, theirs, _batch(shape, seed=16 + step), dtype)
        for buffer in ("running_mean", "running_var"):
            expected = getattr(theirs, buffer).detach().numpy()
            assert_close(getattr(ours, buffer).data, expected, TOLERANCE[dtype], buffer)
            assert getattr(ours, buffer).dtype == dtype
    assert not np.allclose(ours.running_mean.data, 0)
    return ours, theirs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BATCH_NORMS)
def test_batch_norm_training_matches_torch_including_running_stats(name, dtype):
    _train_batch_norms(name, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BATCH_NORMS)
def test_batch_norm_eval_matches_torch_with_the_running_stats(name, dtype):
    ours, theirs = _train_batch_norms(name, dtype)
    ours.eval(), theirs.eval()
    compare_module_with_torch(ours, theirs, _batch(BATCH_NORMS[name][2], seed=20), dtype)


def test_batch_norm_without_affine_has_no_parameters():
    layer = nn.BatchNorm1d(3, affine=False)
    assert layer.parameters() == []
    out = layer(Tensor(_batch((8, 3), seed=21))).data
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.var(axis=0), 1, atol=1e-3)


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.BatchNorm1d(3), (2, 4)),
        (nn.BatchNorm1d(3), (2, 3, 4, 5)),
        (nn.BatchNorm2d(3), (2, 3, 4)),
    ],
)
def test_batch_norm_rejects_the_wrong_input_shape(layer, shape):
    with pytest.raises(
        ShapeError, match=rf"{type(layer).__name__}\(3\) expects .* with 3 channels on axis 1"
    ):
        layer(Tensor(np.ones(shape)))


LAYER_NORMS = {"last axis": (4, (2, 3, 4)), "last two axes": ((3, 4), (2, 3, 4))}


@pytest.mark.parametrize("name", LAYER_NORMS)
def test_layer_norm_gradients_match_finite_differences(name):
    normalized_shape, shape = LAYER_NORMS[name]
    layer = nn.LayerNorm(normalized_shape).to(np.float64)
    layer.weight.data = rng(22).uniform(0.5, 2, size=layer.weight.shape)
    layer.bias.data = rng(23).normal(size=layer.bias.shape)
    check_module_gradients(layer, tensor64(rng(24).normal(size=shape) * 2 + 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LAYER_NORMS)
def test_layer_norm_matches_torch(name, dtype):
    normalized_shape, shape = LAYER_NORMS[name]
    ours, theirs = nn.LayerNorm(normalized_shape), torch.nn.LayerNorm(normalized_shape)
    ours.weight.data = rng(25).uniform(0.5, 2, size=ours.weight.shape).astype(np.float32)
    ours.bias.data = rng(26).normal(size=ours.bias.shape).astype(np.float32)
    compare_module_with_torch(ours, theirs, rng(27).normal(size=shape) * 3 + 1, dtype)


def test_layer_norm_rejects_the_wrong_trailing_shape():
    with pytest.raises(
        ShapeError, match=r"LayerNorm expects trailing shape \(4,\), got input \(2, 5\)"
    ):
        nn.LayerNorm(4)(Tensor(np.ones((2, 5))))


# ---- embedding --------------------------------------------------------------------------

INDICES = np.array([[0, 3, 3], [4, 0, 1]])  # repeats: their gradients must add up


def test_embedding_gradients_match_finite_differences():
    check_module_gradients(nn.Embedding(5, 3), Tensor(INDICES))


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_matches_torch(dtype):
    compare_module_with_torch(nn.Embedding(5, 3), torch.nn.Embedding(5, 3), INDICES, dtype)


def test_embedding_rejects_bad_indices():
    layer = nn.Embedding(5, 3)
    with pytest.raises(InvalidParameterError, match=r"indices must be in \[0, 4\], got 0..5"):
        layer(np.array([0, 5]))
    with pytest.raises(InvalidParameterError, match="expects integer indices, got dtype float"):
        layer(np.array([0.0, 1.0]))


# ---- Sequential -------------------------------------------------------------------------


def test_sequential_gradients_match_finite_differences():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.GELU())
    check_module_gradients(model, tensor64(rng(28).normal(size=(5, 3))))


def test_sequential_is_indexable_and_iterable():
    first, second = nn.Linear(2, 3), nn.ReLU()
    model = nn.Sequential(first, second)
    assert len(model) == 2
    assert model[0] is first
    assert list(model) == [first, second]
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_sequential_state_dict_keys_are_torchs_so_weights_copy_by_name():
    torch_model = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        torch.nn.ReLU(),
        torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh()),
        torch.nn.LSTM(4, 2, batch_first=True),
    )
    ours = nn.Sequential(
        nn.Linear(3, 4),
        nn.ReLU(),
        nn.Sequential(nn.Linear(4, 4), nn.Tanh()),
        nn.LSTM(4, 2, return_sequences=True),
    )
    state = {name: value.detach().numpy() for name, value in torch_model.state_dict().items()}
    assert set(state) == set(ours.state_dict())
    ours.load_state_dict(state)
    x = rng(40).normal(size=(2, 5, 3)).astype(np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x))[0].numpy()
    assert_close(ours(Tensor(x)).data, expected, TOLERANCE[np.float32])


def test_flatten_accepts_the_earlier_start_axis():
    x = Tensor(np.zeros((2, 3, 4, 5)))
    assert nn.Flatten(start_axis=2)(x).shape == (2, 3, 20)
    with pytest.raises(InvalidParameterError, match="start_axis is the old name of start_dim"):
        nn.Flatten(start_dim=0, start_axis=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'axis'"):
        nn.Flatten(axis=2)


@pytest.mark.parametrize("start_dim", [0, 1])
def test_flatten_refuses_start_dim_and_start_axis_that_disagree(start_dim):
    with pytest.raises(
        InvalidParameterError, match=f"give one, got start_dim={start_dim} and start_axis=2"
    ):
        nn.Flatten(start_dim=start_dim, start_axis=2)


def test_flatten_records_only_start_dim():
    layer = nn.Flatten(start_axis=2)
    assert layer.start_dim == 2
    assert layer._init_arguments == {"start_dim": 2, "end_dim": -1}
    assert repr(layer) == "Flatten(start_dim=2, end_dim=-1)"
    assert repr(nn.Flatten(start_dim=2, start_axis=2)) == "Flatten(start_dim=2, end_dim=-1)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_flatten_refuses_a_start_after_its_end():
    with pytest.raises(ShapeError, match="start_dim 2 comes after end_dim 1"):
        nn.Flatten(2, 1)(Tensor(np.zeros((2, 3, 4))))


def test_sequential_rejects_what_is_not_a_module():
    with pytest.raises(
        InvalidParameterError, match="Sequential takes modules, got function at position 1"
    ):
        nn.Sequential(nn.ReLU(), F.gelu)


# ---- training: every parameter of every layer learns ------------------------------------


def test_an_mlp_trains_every_layer():
    x = rng(30).normal(size=(32, 3))
    y = np.sin(x @ np.array([[1.0], [-2.0], [0.5]]))
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    train_and_check(model, lambda m: F.mse_loss(m(Tensor(x)), y))


def test_a_batch_norm_mlp_trains_every_layer():
    x = rng(31).normal(size=(32, 3)) * 4 + 2
    y = (x[:, :1] - 2 > 0).astype(np.float32)
    model = nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 1))
    train_and_check(model, lambda m: F.binary_cross_entropy_with_logits(m(Tensor(x)), y))


def test_embedding_and_layer_norm_train_every_parameter():
    tokens = rng(32).integers(0, 6, size=(24, 3))
    labels = tokens[:, 0] % 2  # the class is read off the first token
    model = nn.Sequential(
        nn.Embedding(6, 4), nn.LayerNorm(4), nn.Flatten(), nn.GELU(), nn.Linear(12, 2)
    )
    train_and_check(model, lambda m: F.cross_entropy(m(tokens), labels))


def test_batch_norm_running_statistics_keep_their_dtype():
    norm = nn.BatchNorm1d(3)
    norm(Tensor(rng(0).standard_normal((4, 3)), dtype=np.float64))
    assert norm.running_mean.dtype == np.float32 and norm.running_var.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequential_with_relu_then_max_pool_matches_torch(dtype):
    # Sequential runs the pooling before the ReLU (fewer values); PyTorch runs them in order
    manual_seed(0)
    ours = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten()
    )
    x = rng(0).standard_normal((4, 2, 9, 9))  # windows of all-negative convolutions too
    compare_module_with_torch(ours, theirs, x, dtype)
    assert [type(layer).__name__ for layer in ours] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten"]


@pytest.mark.parametrize(
    ("conv", "pool", "last_op"),
    [
        ({"padding": 1}, {}, "conv2d_max_pool2d"),
        ({"stride": 2}, {"kernel_size": (1, 2), "stride": (1, 2)}, "conv2d_max_pool2d"),
        ({"padding": "same"}, {}, "max_pool2d"),  # the string padding's own path
        ({"padding": 1}, {"stride": 1}, "max_pool2d"),  # overlapping windows
    ],
)
def test_sequential_runs_a_conv_and_its_tiled_max_pool_as_one_node(conv, pool, last_op):
    manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, **conv), nn.ReLU(), nn.MaxPool2d(**{"kernel_size": 2, **pool})
    )
    x = Tensor(rng(2).standard_normal((2, 1, 7, 7)))
    out = model(x)
    assert out._ctx is not None and out._ctx[1][0]._ctx[0] == last_op  # relu(pool(conv))
    layer_by_layer = model[2](model[1](model[0](x)))
    np.testing.assert_allclose(out.data, layer_by_layer.data, rtol=1e-6, atol=1e-6)


def test_sequential_relu_then_max_pool_gradients_match_finite_differences():
    manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.MaxPool2d(2))
    check_module_gradients(model, tensor64(rng(1).standard_normal((2, 1, 5, 5))))

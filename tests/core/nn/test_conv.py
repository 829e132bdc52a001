"""Conv2d, MaxPool2d and AvgPool2d modules: PyTorch, finite differences, and a small CNN."""

import numpy as np
import pytest

from azuraforge.core import Tensor, manual_seed, nn
from azuraforge.core import functional as F
from azuraforge.errors import InvalidParameterError
from tests.helpers import (
    check_module_gradients,
    compare_module_with_torch,
    rng,
    tensor64,
    train_and_check,
)

torch = pytest.importorskip("torch")

CONV_OPTIONS = [
    {"kernel_size": 3},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 0)},
    {"kernel_size": 2, "bias": False},
]
POOLS = {
    "MaxPool2d": (nn.MaxPool2d, torch.nn.MaxPool2d),
    "AvgPool2d": (nn.AvgPool2d, torch.nn.AvgPool2d),
}
POOL_OPTIONS = [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1}, {"kernel_size": (2, 3)}]


@pytest.fixture(autouse=True)
def _seed():
    manual_seed(0)
    torch.manual_seed(0)


@pytest.mark.parametrize("options", CONV_OPTIONS)
def test_conv2d_gradients_match_finite_differences(options):
    layer = nn.Conv2d(2, 3, **options)
    check_module_gradients(layer, tensor64(rng(1).normal(size=(2, 2, 5, 5))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", CONV_OPTIONS)
def test_conv2d_matches_torch(options, dtype):
    ours, theirs = nn.Conv2d(2, 3, **options), torch.nn.Conv2d(2, 3, **options)
    compare_module_with_torch(ours, theirs, rng(2).normal(size=(2, 2, 6, 5)), dtype)


def test_conv2d_parameters_are_shaped_like_torch():
    ours = dict(nn.Conv2d(2, 4, kernel_size=(3, 2)).named_parameters())
    theirs = dict(torch.nn.Conv2d(2, 4, kernel_size=(3, 2)).named_parameters())
    assert {k: v.shape for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


def test_conv2d_output_shape():
    out = nn.Conv2d(1, 8, kernel_size=3, padding=1)(Tensor(np.zeros((2, 1, 7, 7))))
    assert out.shape == (2, 8, 7, 7)


@pytest.mark.parametrize("options", POOL_OPTIONS)
@pytest.mark.parametrize("name", POOLS)
def test_pool_gradients_match_finite_differences(name, options):
    check_module_gradients(POOLS[name][0](**options), tensor64(rng(3).normal(size=(2, 2, 5, 6))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", POOL_OPTIONS)
@pytest.mark.parametrize("name", POOLS)
def test_pool_matches_torch(name, options, dtype):
    ours, theirs = POOLS[name]
    compare_module_with_torch(
        ours(**options), theirs(**options), rng(4).normal(size=(2, 3, 6, 6)), dtype
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((0, 3, 3), "Conv2d: in_channels must be a positive int, got 0"),
        ((2, 3.0, 3), "Conv2d: out_channels must be a positive int, got 3.0"),
        ((2, 3, (3, 3, 3)), r"kernel_size must be an int or a pair of ints >= 1, got \(3, 3, 3\)"),
    ],
)
def test_conv2d_rejects_bad_arguments(arguments, message):
    with pytest.raises(InvalidParameterError, match=message):
        nn.Conv2d(*arguments)


def test_a_cnn_trains_every_parameter():
    # Two classes of 6x6 images: a bright top half or a bright bottom half.
    g = rng(5)
    labels = g.integers(0, 2, size=16)
    images = g.normal(size=(16, 1, 6, 6)) * 0.5
    images[labels == 0, :, :3] += 1.0
    images[labels == 1, :, 3:] += 1.0
    model = nn.Sequential(
        nn.Conv2d(1, 3, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 2, kernel_size=2),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    train_and_check(model, lambda m: F.cross_entropy(m(Tensor(images)), labels), steps=25)


def test_the_earlier_names_are_the_same_classes():
    assert nn.Conv2D is nn.Conv2d
    assert nn.MaxPool2D is nn.MaxPool2d
    assert nn.AvgPool2D is nn.AvgPool2d
    assert isinstance(nn.Conv2D(1, 2, 3), nn.Conv2d)

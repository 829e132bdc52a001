"""Stacked LSTM and GRU modules: PyTorch's names and numbers, finite differences, training."""

import numpy as np
import pytest

from azuraforge.core import Tensor, manual_seed, nn
from azuraforge.core import functional as F
from azuraforge.errors import InvalidParameterError, ShapeError
from tests.helpers import (
    check_gradients,
    check_module_gradients,
    compare_module_with_torch,
    rng,
    tensor64,
    train_and_check,
)

torch = pytest.importorskip("torch")

BATCH, STEPS, FEATURES, HIDDEN = 2, 4, 3, 5


class _TorchLast:
    """Makes a batch-first torch RNN return what ours does: the last hidden state, or every
    step with ``return_sequences``. Subclassing keeps torch's parameter names."""

    def __init__(self, *args, return_sequences=False, **kwargs):
        super().__init__(*args, batch_first=True, **kwargs)
        self.return_sequences = return_sequences

    def forward(self, x):
        out, _ = super().forward(x)
        return out if self.return_sequences else out[:, -1]


class TorchLSTM(_TorchLast, torch.nn.LSTM):
    pass


class TorchGRU(_TorchLast, torch.nn.GRU):
    pass


RECURRENT = {"LSTM": (nn.LSTM, TorchLSTM), "GRU": (nn.GRU, TorchGRU)}


@pytest.fixture(autouse=True)
def _seed():
    manual_seed(0)
    torch.manual_seed(0)


@pytest.mark.parametrize("name", RECURRENT)
def test_parameters_are_named_and_shaped_like_torch(name):
    ours, theirs = RECURRENT[name]
    mine = dict(ours(FEATURES, HIDDEN, num_layers=2).named_parameters())
    expected = theirs(FEATURES, HIDDEN, num_layers=2).state_dict()
    assert list(mine) == list(expected)
    assert {k: v.shape for k, v in mine.items()} == {
        k: tuple(v.shape) for k, v in expected.items()
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("name", RECURRENT)
def test_matches_torch(name, num_layers, return_sequences, dtype):
    ours_cls, theirs_cls = RECURRENT[name]
    kwargs = {"num_layers": num_layers, "return_sequences": return_sequences}
    ours, theirs = ours_cls(FEATURES, HIDDEN, **kwargs), theirs_cls(FEATURES, HIDDEN, **kwargs)
    x = rng(1).normal(size=(BATCH, STEPS, FEATURES))
    compare_module_with_torch(ours, theirs, x, dtype)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("name", RECURRENT)
def test_two_layer_gradients_match_finite_differences(name, return_sequences):
    module = RECURRENT[name][0](FEATURES, 3, num_layers=2, return_sequences=return_sequences)
    check_module_gradients(module, tensor64(rng(2).normal(size=(BATCH, 3, FEATURES))))


@pytest.mark.parametrize("name", RECURRENT)
def test_dropout_between_layers_with_a_fixed_mask(name):
    module = RECURRENT[name][0](FEATURES, 3, num_layers=2, dropout=0.5).to(np.float64)
    x = tensor64(rng(3).normal(size=(BATCH, 3, FEATURES)))

    def forward():
        manual_seed(5)
        return module(x)

    with_dropout = forward().data
    module.eval()
    assert not np.allclose(with_dropout, module(x).data)
    module.train()
    check_gradients(forward, [x, *module.parameters()])


@pytest.mark.parametrize("name", RECURRENT)
def test_dropout_is_off_in_eval_mode(name):
    ours = RECURRENT[name][0]
    with_dropout = ours(FEATURES, HIDDEN, num_layers=2, dropout=0.5).eval()
    plain = ours(FEATURES, HIDDEN, num_layers=2)
    plain.load_state_dict(with_dropout.state_dict())
    x = Tensor(rng(4).normal(size=(BATCH, STEPS, FEATURES)))
    np.testing.assert_array_equal(with_dropout(x).data, plain(x).data)


@pytest.mark.parametrize("name", RECURRENT)
def test_input_with_the_wrong_shape_raises(name):
    module = RECURRENT[name][0](FEATURES, HIDDEN)
    with pytest.raises(
        ShapeError, match=rf"{name} expects input of shape \(batch, time, features\), got \(4, 3\)"
    ):
        module(Tensor(np.zeros((4, 3))))
    with pytest.raises(
        ShapeError,
        match=rf"{name} was built for 3 input features, got 2 \(input shape \(2, 4, 2\)\)",
    ):
        module(Tensor(np.zeros((2, 4, 2))))


@pytest.mark.parametrize("name", RECURRENT)
def test_bad_constructor_arguments_raise(name):
    ours = RECURRENT[name][0]
    with pytest.raises(
        InvalidParameterError, match=rf"{name}: dropout must be in \[0, 1\), got 1.0"
    ):
        ours(FEATURES, HIDDEN, dropout=1.0)
    with pytest.raises(
        InvalidParameterError, match=rf"{name}: num_layers must be a positive int, got 0"
    ):
        ours(FEATURES, HIDDEN, num_layers=0)


@pytest.mark.parametrize("name", RECURRENT)
def test_a_two_layer_model_trains_every_parameter(name):
    # Predict the sum of a short sequence: it needs memory across steps.
    x = rng(6).normal(size=(16, 5, 2))
    y = x.sum(axis=(1, 2))[:, None] / 3
    model = nn.Sequential(RECURRENT[name][0](2, 6, num_layers=2), nn.Linear(6, 1))
    train_and_check(model, lambda m: F.mse_loss(m(Tensor(x)), y), steps=40, lr=0.03)

"""SGD against PyTorch over several steps, in every configuration."""

import numpy as np
import pytest

from azuraforge.core import Tensor, optim
from azuraforge.errors import InvalidParameterError
from tests.helpers import compare_optimizer_with_torch

torch = pytest.importorskip("torch")

CONFIGS = {
    "plain": {"lr": 0.1},
    "momentum": {"lr": 0.1, "momentum": 0.9},
    "momentum with dampening": {"lr": 0.1, "momentum": 0.8, "dampening": 0.3},
    "nesterov": {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    "weight decay": {"lr": 0.1, "weight_decay": 0.1},
    "everything": {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.05},
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CONFIGS)
def test_sgd_matches_torch(name, dtype):
    options = CONFIGS[name]
    compare_optimizer_with_torch(
        lambda params: optim.SGD(params, **options),
        lambda params: torch.optim.SGD(params, **options),
        dtype,
    )


def test_sgd_step_value():
    w = Tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    optimizer.step()
    np.testing.assert_allclose(w.data, [0.8])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": -0.1}, "SGD: lr must be a number >= 0, got -0.1"),
        ({"lr": 0.1, "momentum": -0.5}, "SGD: momentum must be a number >= 0, got -0.5"),
        ({"lr": 0.1, "nesterov": True}, "SGD: nesterov needs momentum > 0 and dampening = 0"),
        (
            {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True},
            "nesterov needs momentum > 0 and dampening = 0",
        ),
    ],
)
def test_sgd_rejects_bad_hyperparameters(options, message):
    with pytest.raises(InvalidParameterError, match=message):
        optim.SGD([Tensor([1.0], requires_grad=True)], **options)

"""Adam and AdamW against PyTorch over several steps."""

import numpy as np
import pytest

from azuraforge.core import Tensor, optim
from azuraforge.errors import InvalidParameterError
from tests.helpers import compare_optimizer_with_torch

torch = pytest.importorskip("torch")

CONFIGS = {
    "Adam": (optim.Adam, torch.optim.Adam, {"lr": 0.05}),
    "Adam betas and eps": (
        optim.Adam,
        torch.optim.Adam,
        {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6},
    ),
    "Adam weight decay": (optim.Adam, torch.optim.Adam, {"lr": 0.05, "weight_decay": 0.1}),
    "AdamW default decay": (optim.AdamW, torch.optim.AdamW, {"lr": 0.05}),
    "AdamW weight decay": (optim.AdamW, torch.optim.AdamW, {"lr": 0.05, "weight_decay": 0.2}),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CONFIGS)
def test_matches_torch(name, dtype):
    ours, theirs, options = CONFIGS[name]
    compare_optimizer_with_torch(
        lambda params: ours(params, **options), lambda params: theirs(params, **options), dtype
    )


def test_adamw_defaults_to_torch_weight_decay():
    w = Tensor([1.0], requires_grad=True)
    assert (
        optim.AdamW([w]).weight_decay
        == torch.optim.AdamW([torch.ones(1)]).defaults["weight_decay"]
    )
    assert optim.Adam([w]).weight_decay == 0.0


def test_adam_first_step_moves_each_parameter_by_lr():
    w = Tensor([1.0, -3.0], requires_grad=True)
    optimizer = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    optimizer.step()
    np.testing.assert_allclose(w.data, [0.9, -2.9], rtol=1e-6)


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": -1e-3}, "lr must be a number >= 0, got -0.001"),
        ({"betas": (0.9, 1.0)}, r"betas must be two numbers in \[0, 1\), got \(0.9, 1.0\)"),
        ({"eps": -1.0}, "eps must be a number >= 0, got -1.0"),
        ({"weight_decay": float("nan")}, "weight_decay must be a number >= 0, got nan"),
    ],
)
def test_rejects_bad_hyperparameters(cls, options, message):
    with pytest.raises(InvalidParameterError, match=rf"{cls.__name__}: {message}"):
        cls([Tensor([1.0], requires_grad=True)], **options)

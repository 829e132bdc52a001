"""The Optimizer base (zero_grad, state, checks) and clip_grad_norm_ against PyTorch."""

import numpy as np
import pytest

from azuraforge.core import Tensor, nn, optim
from azuraforge.errors import InvalidParameterError
from tests.helpers import TOLERANCE, assert_close, rng, to_torch

torch = pytest.importorskip("torch")


def _grads(scale):
    g = rng(1)
    return [g.normal(size=(3, 2)) * scale, g.normal(size=(4,)) * scale]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_norm", [0.5, 1.0, 100.0])
def test_clip_grad_norm_matches_torch(max_norm, dtype):
    grads = _grads(scale=2.0)
    ours = [Tensor(np.zeros_like(g), requires_grad=True, dtype=dtype) for g in grads]
    theirs = [to_torch(np.zeros_like(g).astype(dtype), requires_grad=True) for g in grads]
    for mine, reference, g in zip(ours, theirs, grads, strict=True):
        mine.grad = g.astype(dtype)
        reference.grad = to_torch(g.astype(dtype))
    total = optim.clip_grad_norm_(ours, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert_close(total, expected.item(), TOLERANCE[dtype], "norm")
    for i, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        assert mine.grad.dtype == dtype
        assert_close(mine.grad, reference.grad.numpy(), TOLERANCE[dtype], f"gradient {i}")
    clipped = np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in ours))
    assert clipped == pytest.approx(min(total, max_norm), rel=1e-5)


def test_clip_grad_norm_skips_parameters_without_gradients():
    with_grad, without = Tensor([3.0, 4.0], requires_grad=True), Tensor([1.0], requires_grad=True)
    with_grad.grad = np.array([3.0, 4.0], dtype=np.float32)
    assert optim.clip_grad_norm_([with_grad, without], max_norm=1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(with_grad.grad, [0.6, 0.8], rtol=1e-5)
    assert without.grad is None


def test_clip_grad_norm_rejects_a_negative_max_norm():
    with pytest.raises(InvalidParameterError, match="max_norm must be a number >= 0, got -1"):
        optim.clip_grad_norm_([Tensor([1.0], requires_grad=True)], max_norm=-1)


def test_step_skips_parameters_without_gradients():
    used, unused = Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)
    optimizer = optim.Adam([used, unused], lr=0.1)
    (used * 3.0).sum().backward()
    optimizer.step()
    assert used.data[0] != 1.0
    assert unused.data[0] == 2.0


def test_lr_may_change_between_steps():
    w = Tensor([1.0], requires_grad=True)
    optimizer = optim.SGD([w], lr=0.1)
    optimizer.lr = 0.5
    w.grad = np.array([1.0], dtype=np.float32)
    optimizer.step()
    np.testing.assert_allclose(w.data, [0.5])


def test_state_dict_resumes_training_exactly():
    def run(steps, optimizer, w):
        for _ in range(steps):
            optimizer.zero_grad()
            (w * w * w).sum().backward()
            optimizer.step()

    w_a = Tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    opt_a = optim.Adam([w_a], lr=0.1)
    run(5, opt_a, w_a)

    w_b = Tensor([1.0, -2.0], requires_grad=True, dtype=np.float64)
    opt_b = optim.Adam([w_b], lr=0.1)
    run(2, opt_b, w_b)
    saved = opt_b.state_dict()
    w_c = Tensor(w_b.data.copy(), requires_grad=True, dtype=np.float64)
    opt_c = optim.Adam([w_c], lr=0.1)
    opt_c.load_state_dict(saved)
    run(3, opt_c, w_c)
    np.testing.assert_array_equal(w_c.data, w_a.data)


def test_load_state_dict_rejects_a_different_parameter_count():
    saved = optim.SGD([Tensor([1.0], requires_grad=True)], lr=0.1).state_dict()
    two = [Tensor([1.0], requires_grad=True), Tensor([2.0], requires_grad=True)]
    with pytest.raises(
        InvalidParameterError, match="optimizer state has 1 parameters, this optimizer has 2"
    ):
        optim.SGD(two, lr=0.1).load_state_dict(saved)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW])
def test_optimizers_check_their_parameters_and_lr(cls):
    name = cls.__name__
    with pytest.raises(InvalidParameterError, match=f"{name} got an empty parameter list"):
        cls([], lr=0.1)
    with pytest.raises(
        InvalidParameterError, match=f"{name}: parameter 1 is not a tensor that requires grad"
    ):
        cls([Tensor([1.0], requires_grad=True), Tensor([1.0])], lr=0.1)
    with pytest.raises(
        InvalidParameterError, match=f"{name}: lr must be a number >= 0, got -0.01"
    ):
        cls([Tensor([1.0], requires_grad=True)], lr=-0.01)


def test_a_parameter_listed_twice_is_updated_once():
    w = Tensor([1.0], requires_grad=True)
    opt = optim.SGD([w, w], lr=0.5)
    (w * 1.0).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.data, [0.5])


def test_optimizer_state_from_another_optimizer_is_refused():
    params = nn.Linear(2, 2).parameters()
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    with pytest.raises(InvalidParameterError, match=r"saved by Adam\.state_dict"):
        optim.Adam(params).load_state_dict(sgd.state_dict())


def test_optimizer_state_of_the_wrong_shape_is_refused():
    model = nn.Linear(2, 2)
    adam = optim.Adam(model.parameters())
    model(Tensor(np.ones((1, 2)))).sum().backward()
    adam.step()
    state = adam.state_dict()
    state["state"][0]["exp_avg"] = np.zeros((7,))
    with pytest.raises(InvalidParameterError, match="has shape \\(7,\\)"):
        optim.Adam(model.parameters()).load_state_dict(state)
    assert isinstance(adam.state_dict()["state"][0]["step"], int)

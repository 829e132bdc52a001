"""Learning-rate schedules: the sequences PyTorch's schedulers produce."""

import numpy as np
import pytest

from azuraforge.core import Tensor, optim
from azuraforge.errors import InvalidParameterError
from tests.helpers import assert_close

torch = pytest.importorskip("torch")

BASE_LR = 0.5


def _optimizers():
    ours = optim.SGD([Tensor([1.0], requires_grad=True)], lr=BASE_LR)
    theirs = torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=BASE_LR)
    return ours, theirs


def _epoch_sequences(make_ours, make_theirs, epochs):
    ours_opt, theirs_opt = _optimizers()
    ours, theirs = make_ours(ours_opt), make_theirs(theirs_opt)
    ours_lrs, theirs_lrs = [], []
    for _ in range(epochs):
        theirs_opt.step()  # torch wants an optimiser step before each scheduler step
        ours.step()
        theirs.step()
        ours_lrs.append(ours_opt.lr)
        theirs_lrs.append(theirs_opt.param_groups[0]["lr"])
    return ours_lrs, theirs_lrs


@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.5), (3, 0.1), (4, 0.9)])
def test_step_lr_matches_torch(step_size, gamma):
    ours, theirs = _epoch_sequences(
        lambda o: optim.StepLR(o, step_size=step_size, gamma=gamma),
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma),
        epochs=12,
    )
    assert_close(ours, theirs, 1e-12, "learning rates")
    assert len(set(ours)) > 2


@pytest.mark.parametrize(("T_max", "eta_min"), [(5, 0.0), (8, 0.05), (1, 0.01)])
def test_cosine_annealing_matches_torch_beyond_t_max(T_max, eta_min):
    ours, theirs = _epoch_sequences(
        lambda o: optim.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min),
        epochs=2 * T_max + 3,
    )
    assert_close(ours, theirs, 1e-10, "learning rates")
    assert min(ours) == pytest.approx(eta_min, abs=1e-12)


METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.899, 0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
PLATEAU_OPTIONS = [
    {},
    {"patience": 1},
    {"patience": 0, "factor": 0.5, "cooldown": 2},
    {"patience": 1, "factor": 0.2, "min_lr": 0.03},
    {"patience": 2, "threshold": 0.1},
    {"mode": "max", "patience": 1, "factor": 0.5},
]


@pytest.mark.parametrize("options", PLATEAU_OPTIONS)
def test_reduce_lr_on_plateau_matches_torch(options):
    ours_opt, theirs_opt = _optimizers()
    ours = optim.ReduceLROnPlateau(ours_opt, **options)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **options)
    ours_lrs, theirs_lrs = [], []
    for metric in METRICS:
        theirs_opt.step()
        ours.step(metric)
        theirs.step(metric)
        ours_lrs.append(ours_opt.lr)
        theirs_lrs.append(theirs_opt.param_groups[0]["lr"])
    assert_close(ours_lrs, theirs_lrs, 1e-12, "learning rates")


def test_reduce_lr_on_plateau_lowers_the_rate_after_patience_runs_out():
    optimizer, _ = _optimizers()
    scheduler = optim.ReduceLROnPlateau(optimizer, patience=2, factor=0.5)
    lrs = []
    for metric in [1.0, 1.0, 1.0, 1.0, 1.0]:
        scheduler.step(metric)
        lrs.append(optimizer.lr)
    np.testing.assert_allclose(lrs, [0.5, 0.5, 0.5, 0.25, 0.25])


def test_scheduler_arguments_are_checked():
    optimizer, _ = _optimizers()
    with pytest.raises(
        InvalidParameterError, match="StepLR: step_size must be an int >= 1, got 0"
    ):
        optim.StepLR(optimizer, step_size=0)
    with pytest.raises(InvalidParameterError, match=r"T_max must be an int >= 1, got 2\.5"):
        optim.CosineAnnealingLR(optimizer, T_max=2.5)
    with pytest.raises(InvalidParameterError, match="mode must be 'min' or 'max', got 'up'"):
        optim.ReduceLROnPlateau(optimizer, mode="up")
    with pytest.raises(InvalidParameterError, match=r"factor must be in \(0, 1\), got 1.0"):
        optim.ReduceLROnPlateau(optimizer, factor=1.0)
    with pytest.raises(InvalidParameterError, match="patience must be a number >= 0, got -1"):
        optim.ReduceLROnPlateau(optimizer, patience=-1)


def _run_cosine(epochs, resume_at=None):
    opt = optim.SGD([Tensor([0.0], requires_grad=True)], lr=1.0)
    sched = optim.CosineAnnealingLR(opt, T_max=10)
    for epoch in range(epochs):
        if epoch == resume_at:
            saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
            opt = optim.SGD([Tensor([0.0], requires_grad=True)], lr=1.0)
            opt.load_state_dict(saved_opt)
            sched = optim.CosineAnnealingLR(opt, T_max=10)
            sched.load_state_dict(saved_sched)
        sched.step()
    return opt.lr


def test_schedulers_resume_exactly_from_their_state_dict():
    assert _run_cosine(6, resume_at=5) == pytest.approx(_run_cosine(6))


def test_reduce_lr_on_plateau_takes_tensor_metrics():
    opt = optim.SGD([Tensor([0.0], requires_grad=True)], lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, patience=1)
    for metric in [1.0, 2.0, 2.0, 2.0]:
        sched.step(Tensor([metric]))
    assert opt.lr == pytest.approx(0.1)

"""Learning-rate schedules: call ``step()`` once per epoch after the optimiser's steps."""

from __future__ import annotations

import math
from typing import Any

from azuraforge.core.optim.optimizer import Optimizer
from azuraforge.core.validation import check_non_negative
from azuraforge.errors import InvalidParameterError


class _Resumable:
    """``state_dict``/``load_state_dict`` for schedulers: every attribute but the optimiser."""

    optimizer: Optimizer

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's counters and settings, to resume it exactly."""
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        unknown = sorted(set(state) - set(self.state_dict()))
        if unknown:
            raise InvalidParameterError(
                f"{type(self).__name__}.load_state_dict: unknown keys {unknown}; was this state "
                "saved from another scheduler?"
            )
        vars(self).update(state)


class LRScheduler(_Resumable):
    """Sets ``optimizer.lr`` from the epoch count; subclasses define :meth:`get_lr`."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def get_lr(self) -> float:
        """The learning rate for ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def step(self) -> None:
        """Advance one epoch and update the optimiser's learning rate."""
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    optimizer
        The optimiser whose ``lr`` this sets.
    step_size
        Epochs between two decays.
    gamma
        Factor applied at each decay.

    Examples
    --------
    >>> from azuraforge.core import Tensor
    >>> from azuraforge.core.optim import SGD
    >>> opt = SGD([Tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> for _ in range(4): sched.step()
    >>> opt.lr
    0.25
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if not isinstance(step_size, int) or step_size < 1:
            raise InvalidParameterError(
                f"StepLR: step_size must be an int >= 1, got {step_size!r}"
            )
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def get_lr(self) -> float:
        return self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Cosine from the initial learning rate down to ``eta_min`` over ``T_max`` epochs.

    Parameters
    ----------
    optimizer
        The optimiser whose ``lr`` this sets.
    T_max
        Epochs of half a cosine period (the rate rises again after, as in PyTorch).
    eta_min
        The lowest learning rate.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if not isinstance(T_max, int) or T_max < 1:
            raise InvalidParameterError(
                f"CosineAnnealingLR: T_max must be an int >= 1, got {T_max!r}"
            )
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def get_lr(self) -> float:
        progress = math.pi * self.last_epoch / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(progress)) / 2


class ReduceLROnPlateau(_Resumable):
    """Multiply the learning rate by ``factor`` when a metric stops improving.

    ``step(metric)`` after each validation; after ``patience`` epochs without an improvement
    larger than ``threshold`` (relative), the rate drops, then waits ``cooldown`` epochs.

    Parameters
    ----------
    optimizer
        The optimiser whose ``lr`` this lowers.
    mode
        ``'min'`` when lower metrics are better (a loss), ``'max'`` otherwise.
    factor
        Multiplier applied to the rate, in (0, 1).
    patience
        Epochs without improvement tolerated before lowering the rate.
    threshold
        Relative change that counts as an improvement.
    cooldown
        Epochs to wait after a drop before counting again.
    min_lr
        The rate never goes below this.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if mode not in ("min", "max"):
            raise InvalidParameterError(
                f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}"
            )
        if not 0.0 < factor < 1.0:
            raise InvalidParameterError(
                f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}"
            )
        check_non_negative(
            "ReduceLROnPlateau",
            patience=patience,
            threshold=threshold,
            cooldown=cooldown,
            min_lr=min_lr,
        )
        self.optimizer, self.mode, self.factor = optimizer, mode, factor
        self.patience, self.threshold, self.cooldown, self.min_lr = (
            patience,
            threshold,
            cooldown,
            min_lr,
        )
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0
        self.cooldown_left = 0

    def _improved(self, metric: float) -> bool:
        # PyTorch's relative threshold, sign and all.
        if self.mode == "min":
            return metric < self.best * (1 - self.threshold)
        return metric > self.best * (1 + self.threshold)

    def step(self, metric: float) -> None:
        """Record this epoch's ``metric`` and lower the learning rate if it has plateaued."""
        metric = float(metric)
        if self._improved(metric):
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            self.optimizer.lr = max(self.optimizer.lr * self.factor, self.min_lr)
            self.cooldown_left, self.bad_epochs = self.cooldown, 0

"""`Optimizer`: the base every optimiser fills one hook of, and gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from azuraforge.core.tensor import Tensor
from azuraforge.core.validation import check_non_negative
from azuraforge.errors import InvalidParameterError


class Optimizer:
    """Updates parameters from their gradients; subclasses implement :meth:`update`.

    ``step()`` calls ``update(param, grad, state)`` for every parameter that has a gradient,
    where ``state`` is that parameter's own dict (moments, step count). ``lr`` is a plain
    attribute, so learning-rate schedulers and users may change it between steps.

    Parameters
    ----------
    params
        The tensors to optimise, usually ``model.parameters()``.
    lr
        Learning rate.
    """

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        # A parameter listed twice (shared weights) is updated once.
        self.params = list({id(p): p for p in params}.values())
        name = type(self).__name__
        if not self.params:
            raise InvalidParameterError(f"{name} got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise InvalidParameterError(
                    f"{name}: parameter {i} is not a tensor that requires grad"
                )
        check_non_negative(name, lr=lr)
        self.lr = lr
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (gradients otherwise accumulate)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        for param, state in zip(self.params, self.state, strict=True):
            if param.grad is not None:
                self.update(param, param.grad, state)

    def update(self, param: Tensor, grad: np.ndarray, state: dict[str, Any]) -> None:
        """Change ``param.data`` in place from ``grad``; keep what you need in ``state``."""
        raise NotImplementedError(f"{type(self).__name__} does not define update()")

    def state_dict(self) -> dict[str, Any]:
        """Learning rate and per-parameter state, to resume training exactly."""
        return {
            "optimizer": type(self).__name__,
            "lr": self.lr,
            "state": [_copy_state(s) for s in self.state],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (checked before anything changes)."""
        name = type(self).__name__
        if state.get("optimizer") != name or "state" not in state or "lr" not in state:
            raise InvalidParameterError(
                f"{name}.load_state_dict needs a state saved by {name}.state_dict(), got one "
                f"from {state.get('optimizer', 'something else')!r}"
            )
        if len(state["state"]) != len(self.params):
            raise InvalidParameterError(
                f"optimizer state has {len(state['state'])} parameters, this optimizer has "
                f"{len(self.params)}"
            )
        for i, (param, saved) in enumerate(zip(self.params, state["state"], strict=True)):
            for key, value in saved.items():
                if isinstance(value, np.ndarray) and value.shape != param.data.shape:
                    raise InvalidParameterError(
                        f"optimizer state {key!r} of parameter {i} has shape {value.shape}, "
                        f"the parameter has {param.data.shape}"
                    )
        self.lr = state["lr"]
        self.state = [_copy_state(s) for s in state["state"]]


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale gradients in place so their global L2 norm is at most ``max_norm``.

    Returns
    -------
    float
        The norm before clipping.

    Examples
    --------
    >>> w = Tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()
    >>> clip_grad_norm_([w], max_norm=1.0)
    10.0
    >>> round(float(np.linalg.norm(w.grad)), 4)
    1.0
    """
    check_non_negative("clip_grad_norm_", max_norm=max_norm)
    grads = [p.grad for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g *= scale
    return total

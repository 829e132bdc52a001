"""Adam and AdamW."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from azuraforge.core import workspace
from azuraforge.core.optim.optimizer import Optimizer
from azuraforge.core.tensor import Tensor
from azuraforge.core.validation import check_non_negative
from azuraforge.errors import InvalidParameterError


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction; ``weight_decay`` adds L2 to the gradient.

    Parameters
    ----------
    params
        Tensors to optimise.
    lr
        Step size.
    betas
        Decay rates of the first and second moment estimates.
    eps
        Added to the denominator for stability.
    weight_decay
        L2 penalty folded into the gradient (use :class:`AdamW` for decoupled decay).

    Examples
    --------
    >>> w = Tensor([1.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    Tensor([0.9], requires_grad=True)

    References
    ----------
    Kingma, D. P. & Ba, J. (2015). Adam: A Method for Stochastic Optimization. ICLR.
    """

    decoupled = False

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        name = type(self).__name__
        check_non_negative(name, eps=eps, weight_decay=weight_decay)
        if (
            not isinstance(betas, tuple | list)
            or len(betas) != 2
            or not all(isinstance(b, int | float) and 0.0 <= b < 1.0 for b in betas)
        ):
            raise InvalidParameterError(
                f"{name}: betas must be two numbers in [0, 1), got {betas}"
            )
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def update(self, param: Tensor, grad: np.ndarray, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        if self.weight_decay and self.decoupled:
            param.data *= 1 - self.lr * self.weight_decay
        elif self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # m += (1 - beta1) * grad and the rest, each temporary written into one buffer
        # instead of a fresh array of the parameter's size
        scratch = workspace.empty_like(m)
        np.multiply(grad, 1 - beta1, out=scratch)
        m *= beta1
        m += scratch
        np.multiply(grad, grad, out=scratch)
        scratch *= 1 - beta2
        v *= beta2
        v += scratch
        np.sqrt(v, out=scratch)
        scratch *= 1 / math.sqrt(1 - beta2 ** state["step"])
        scratch += self.eps
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr / (1 - beta1 ** state["step"])
        param.data -= scratch


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``p *= 1 - lr * wd``
    before the Adam step. Default ``weight_decay=0.01`` as in PyTorch."""

    decoupled = True

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)

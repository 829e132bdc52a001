"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from azuraforge.core.optim.optimizer import Optimizer
from azuraforge.core.tensor import Tensor
from azuraforge.core.validation import check_non_negative
from azuraforge.errors import InvalidParameterError


class SGD(Optimizer):
    """SGD as PyTorch defines it.

    ``g = grad + weight_decay * p``; with momentum ``buf = momentum * buf + (1 - dampening) * g``
    and ``g = buf`` (or ``g + momentum * buf`` with Nesterov); then ``p -= lr * g``.

    Examples
    --------
    >>> w = Tensor([1.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w
    Tensor([0.8], requires_grad=True)
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        check_non_negative(
            "SGD", momentum=momentum, dampening=dampening, weight_decay=weight_decay
        )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise InvalidParameterError("SGD: nesterov needs momentum > 0 and dampening = 0")
        self.momentum, self.dampening = momentum, dampening
        self.nesterov, self.weight_decay = nesterov, weight_decay

    def update(self, param: Tensor, grad: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            grad = grad + self.weight_decay * param.data
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, copy=True)
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        param.data -= self.lr * grad

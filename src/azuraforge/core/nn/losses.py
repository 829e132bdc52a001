"""Loss modules: thin wrappers that hold the options of the functional losses."""

from __future__ import annotations

import numpy as np

from azuraforge.core import functional as F
from azuraforge.core.nn.module import Module
from azuraforge.core.nn.registry import register_architecture
from azuraforge.core.tensor import ArrayLike, Tensor
from azuraforge.core.validation import check_reduction


class _Loss(Module):
    """Base of the loss modules.

    Parameters
    ----------
    reduction
        ``'mean'`` (default) or ``'sum'`` over the batch, or ``'none'`` for one loss per
        element (per row for cross-entropy).
    """

    def __init__(self, reduction: str = "mean") -> None:
        check_reduction(reduction, type(self).__name__)
        self.reduction = reduction


@register_architecture("MSELoss")
class MSELoss(_Loss):
    """Mean squared error.

    Examples
    --------
    >>> MSELoss()(Tensor([1.0, 3.0]), Tensor([0.0, 0.0]))
    Tensor(5.)
    """

    def forward(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        return F.mse_loss(prediction, target, self.reduction)


@register_architecture("L1Loss")
class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        return F.l1_loss(prediction, target, self.reduction)


@register_architecture("HuberLoss")
class HuberLoss(_Loss):
    """Squared error below ``delta``, linear above."""

    def __init__(self, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, prediction: Tensor, target: ArrayLike) -> Tensor:
        return F.huber_loss(prediction, target, self.delta, self.reduction)


@register_architecture("CrossEntropyLoss")
class CrossEntropyLoss(_Loss):
    """Cross-entropy on logits (N, C) against class indices (N,); log-softmax fused in."""

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.label_smoothing = label_smoothing

    def forward(self, logits: Tensor, target: Tensor | np.ndarray) -> Tensor:
        return F.cross_entropy(logits, target, self.reduction, self.label_smoothing)


@register_architecture("BCEWithLogitsLoss")
class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on raw scores (sigmoid fused in, stable for large scores)."""

    def forward(self, logits: Tensor, target: ArrayLike) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, self.reduction)

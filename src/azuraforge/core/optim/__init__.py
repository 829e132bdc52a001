"""Optimisers and learning-rate schedulers with PyTorch's names and update rules."""

from azuraforge.core.optim import lr_scheduler
from azuraforge.core.optim.adam import Adam, AdamW
from azuraforge.core.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR
from azuraforge.core.optim.optimizer import Optimizer, clip_grad_norm_
from azuraforge.core.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "Optimizer",
    "ReduceLROnPlateau",
    "StepLR",
    "clip_grad_norm_",
    "lr_scheduler",
]

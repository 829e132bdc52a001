"""Neural-network layers and losses with PyTorch's names, and the registry of architectures
that saved models name (:func:`register_architecture`).

``Conv2D``, ``MaxPool2D`` and ``AvgPool2D`` are the earlier names of ``Conv2d``,
``MaxPool2d`` and ``AvgPool2d`` (the same classes)."""

from azuraforge.core.nn import functional, init
from azuraforge.core.nn.conv import (
    AdaptiveAvgPool2d,
    AvgPool2D,
    AvgPool2d,
    Conv2D,
    Conv2d,
    MaxPool2D,
    MaxPool2d,
)
from azuraforge.core.nn.layers import (
    GELU,
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    LeakyReLU,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from azuraforge.core.nn.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
)
from azuraforge.core.nn.module import Module, Parameter
from azuraforge.core.nn.recurrent import GRU, LSTM
from azuraforge.core.nn.registry import (
    find_architecture_name,
    get_architecture,
    list_architectures,
    register_architecture,
)

__all__ = [
    "GELU",
    "GRU",
    "LSTM",
    "AdaptiveAvgPool2d",
    "AvgPool2D",
    "AvgPool2d",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2D",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "HuberLoss",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "MSELoss",
    "MaxPool2D",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "find_architecture_name",
    "functional",
    "get_architecture",
    "init",
    "list_architectures",
    "register_architecture",
]

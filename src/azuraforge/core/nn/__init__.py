"""Neural-network layers and losses with PyTorch's names."""

from azuraforge.core.nn import init
from azuraforge.core.nn.conv import AvgPool2D, Conv2D, MaxPool2D
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

__all__ = [
    "GELU",
    "GRU",
    "LSTM",
    "AvgPool2D",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2D",
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
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "init",
]

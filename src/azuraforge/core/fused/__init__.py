"""Fused kernels: whole layers as one graph node with a hand-written backward.

Op-by-op autograd runs an LSTM step as ~1,700 graph nodes; as one node the same step is a
handful of NumPy calls on preallocated buffers. Each kernel registers its backward rule in
:data:`azuraforge.core.autograd.GRADIENTS` and is checked against finite differences and
PyTorch in the tests.
"""

from azuraforge.core.fused.conv import avg_pool2d, conv2d, conv2d_max_pool2d, max_pool2d
from azuraforge.core.fused.loss import cross_entropy
from azuraforge.core.fused.recurrent import gru_layer, lstm_layer

__all__ = [
    "avg_pool2d",
    "conv2d",
    "conv2d_max_pool2d",
    "cross_entropy",
    "gru_layer",
    "lstm_layer",
    "max_pool2d",
]

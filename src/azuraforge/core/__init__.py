"""The from-scratch deep-learning core: tensors with autograd, layers, losses, optimisers.

Imports only NumPy (and threadpoolctl, to give the BLAS the core's thread count). Names
follow PyTorch so it reads familiar::

    from azuraforge.core import Tensor, nn, optim, no_grad

See ``docs/core.md`` for a tour and a worked LSTM example.
"""

from azuraforge.core import functional, nn, optim, parallel, workspace
from azuraforge.core.ops import concat, stack, where
from azuraforge.core.parallel import get_num_threads, set_num_threads
from azuraforge.core.random import Generator, manual_seed, use_generator
from azuraforge.core.serialization import load, save
from azuraforge.core.tensor import Tensor, is_grad_enabled, no_grad

__all__ = [
    "Generator",
    "Tensor",
    "concat",
    "functional",
    "get_num_threads",
    "is_grad_enabled",
    "load",
    "manual_seed",
    "nn",
    "no_grad",
    "optim",
    "parallel",
    "save",
    "set_num_threads",
    "stack",
    "use_generator",
    "where",
    "workspace",
]

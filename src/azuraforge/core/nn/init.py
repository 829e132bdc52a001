"""Parameter initialisers (PyTorch's defaults), drawing from the current generator.

That is the generator of the enclosing :func:`azuraforge.core.use_generator` block, else the
process default (see :mod:`azuraforge.core.random`).
"""

import math

import numpy as np

from azuraforge.core.random import generator


def uniform(shape: tuple[int, ...], bound: float, dtype: type = np.float32) -> np.ndarray:
    """Samples from U(-bound, bound)."""
    return generator().uniform(-bound, bound, size=shape).astype(dtype)


def fan_in_uniform(shape: tuple[int, ...], fan_in: int, dtype: type = np.float32) -> np.ndarray:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear, Conv and RNN weights."""
    return uniform(shape, 1.0 / math.sqrt(fan_in), dtype)


def normal(shape: tuple[int, ...], std: float = 1.0, dtype: type = np.float32) -> np.ndarray:
    """Samples from N(0, std**2)."""
    return (generator().standard_normal(shape) * std).astype(dtype)


def xavier_uniform(shape: tuple[int, int], dtype: type = np.float32) -> np.ndarray:
    """Glorot uniform for a (fan_out, fan_in) weight."""
    fan_out, fan_in = shape
    return uniform(shape, math.sqrt(6.0 / (fan_in + fan_out)), dtype)

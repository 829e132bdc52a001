"""Parameter initialisers (PyTorch's defaults), drawing from the current generator.

That is the generator of the enclosing :func:`azuraforge.core.use_generator` block, else the
process default (see :mod:`azuraforge.core.random`). Inside an :func:`allocation_limit`
block the initialisers refuse, before allocating, to create more values than the limit:
:func:`azuraforge.core.load` builds a file's architecture so, and cannot be made to allocate
far more memory than the file holds.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from azuraforge.core.random import generator
from azuraforge.errors import AllocationLimitError


class _Allowance:
    def __init__(self, limit: int) -> None:
        self.limit, self.requested = limit, 0

    def reserve(self, shape: tuple[int, ...]) -> None:
        self.requested += math.prod(int(d) for d in shape)
        if self.requested > self.limit:
            raise AllocationLimitError(self.requested, self.limit)


_allowance: ContextVar[_Allowance | None] = ContextVar("azuraforge_init_allowance", default=None)


@contextmanager
def allocation_limit(values: int) -> Iterator[None]:
    """Let the initialisers create at most ``values`` values in all, in this block and
    thread (or task); the next one asked for more raises before allocating anything.

    Raises
    ------
    AllocationLimitError
        Inside the block, from the initialiser that would go over the limit.

    Examples
    --------
    >>> from azuraforge.core import nn
    >>> with allocation_limit(1_000):
    ...     nn.Linear(100_000, 100_000)
    Traceback (most recent call last):
    ...
    azuraforge.errors.AllocationLimitError: initialising would create 10,000,000,000 \
values, more than the 1,000 allowed by allocation_limit
    """
    token = _allowance.set(_Allowance(values))
    try:
        yield
    finally:
        _allowance.reset(token)


def _reserve(shape: tuple[int, ...]) -> None:
    allowance = _allowance.get()
    if allowance is not None:
        allowance.reserve(shape)


def uniform(shape: tuple[int, ...], bound: float, dtype: type = np.float32) -> np.ndarray:
    """Samples from U(-bound, bound)."""
    _reserve(shape)
    return generator().uniform(-bound, bound, size=shape).astype(dtype)


def fan_in_uniform(shape: tuple[int, ...], fan_in: int, dtype: type = np.float32) -> np.ndarray:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear, Conv and RNN weights."""
    return uniform(shape, 1.0 / math.sqrt(fan_in), dtype)


def normal(shape: tuple[int, ...], std: float = 1.0, dtype: type = np.float32) -> np.ndarray:
    """Samples from N(0, std**2)."""
    _reserve(shape)
    return (generator().standard_normal(shape) * std).astype(dtype)


def xavier_uniform(shape: tuple[int, int], dtype: type = np.float32) -> np.ndarray:
    """Glorot uniform for a (fan_out, fan_in) weight."""
    fan_out, fan_in = shape
    return uniform(shape, math.sqrt(6.0 / (fan_in + fan_out)), dtype)


def constant(shape: tuple[int, ...], value: float, dtype: type = np.float32) -> np.ndarray:
    """An array of ``value`` (ones for a norm's scale, zeros for its shift and statistics)."""
    _reserve(shape)
    return np.full(shape, value, dtype)

"""Buffers the kernels reuse from step to step instead of asking the OS for fresh memory.

A training step makes the same large arrays every time (im2col columns, layer outputs,
their gradients). Allocated afresh, each one is mapped, page-faulted in and handed back:
thousands of page faults a step, which also serialise the core's threads. :func:`empty`
hands out a cached array of the same shape and dtype when nothing else refers to it any
more (its reference count says so: any live view of it counts), else a new one.

The cache belongs to the calling thread, holds only large arrays, a few per shape, and a
bounded number of bytes; the oldest shapes are dropped first.
"""

from __future__ import annotations

import math
import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

MIN_BYTES = 256 * 1024  # smaller arrays come from malloc's own free lists cheaply
MAX_BYTES = 1 << 30  # per thread, across all shapes
PER_SHAPE = 8  # arrays of one shape and dtype alive at once in a step (outputs, gradients)

Key = tuple[tuple[int, ...], np.dtype[Any]]


class _Cache(threading.local):
    def __init__(self) -> None:
        self.slots: OrderedDict[Key, list[np.ndarray]] = OrderedDict()
        self.bytes = 0


_cache = _Cache()


def _references(slots: list[np.ndarray], index: int) -> int:
    return sys.getrefcount(slots[index])


# What _references reports for an array that only its list refers to, measured once, since
# interpreters count the references of temporaries differently.
_FREE = _references([np.empty(1)], 0)


def _free_slot(slots: list[np.ndarray]) -> np.ndarray | None:
    """The first array in ``slots`` that nothing but the cache refers to."""
    for index in range(len(slots)):
        if _references(slots, index) <= _FREE:
            return slots[index]
    return None


def empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array, reused from this thread's cache when one of the
    same shape and dtype is no longer referred to by anything."""
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize  # np.prod takes ~9 us on a tuple; this 0.2
    if size < MIN_BYTES or size > MAX_BYTES // PER_SHAPE:
        return np.empty(shape, dtype)
    key = (tuple(shape), dtype)
    slots = _cache.slots.get(key)
    if slots is None:
        slots = _cache.slots[key] = []
    _cache.slots.move_to_end(key)
    found = _free_slot(slots)
    if found is not None:
        return found
    array = np.empty(shape, dtype)
    if len(slots) < PER_SHAPE:
        slots.append(array)
        _cache.bytes += size
        _evict()
    return array


def _evict() -> None:
    """Drop the least recently used shapes until the cache is within :data:`MAX_BYTES`."""
    while _cache.bytes > MAX_BYTES and len(_cache.slots) > 1:
        _, slots = _cache.slots.popitem(last=False)
        _cache.bytes -= sum(a.nbytes for a in slots)


def clear() -> None:
    """Forget this thread's cached buffers (arrays still in use stay valid)."""
    _cache.slots.clear()
    _cache.bytes = 0


def empty_like(array: np.ndarray, dtype: Any = None) -> np.ndarray:
    """Like :func:`empty` with ``array``'s shape, its axes laid out in memory in the same
    order as ``array``'s (a batch-innermost view gets a batch-innermost buffer)."""
    dtype = np.dtype(dtype or array.dtype)
    if array.size * dtype.itemsize < MIN_BYTES:  # never cached: NumPy keeps the layout too
        return np.empty_like(array, dtype)
    order = layout(array)
    buffer = empty(tuple(array.shape[axis] for axis in order), dtype)
    return buffer.transpose(np.argsort(order))


def layout(array: np.ndarray) -> list[int]:
    """The axes from outermost to innermost in memory (``[0, 1, 2]`` for a C-ordered 3-D
    array; a batch-innermost NCHW view gives ``[1, 2, 3, 0]``)."""
    return sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis]))

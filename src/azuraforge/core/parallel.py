"""The core's threads: how many there are, and running a kernel's pieces on them.

Like ``torch.set_num_threads``, one number holds for the whole process. It defaults to the
CPUs the process may run on, or to ``AZURAFORGE_NUM_THREADS`` when that is set. Kernels split
their work into that many contiguous pieces (batch rows, channels, output rows) and run them
on a pool of threads; large NumPy calls release the GIL, so the pieces run at the same time.

The BLAS is told the same number through ``threadpoolctl``: a GEMM the core calls from one
thread may use every core, and while the core's own pieces run, the BLAS runs one thread
inside each of them, so the two never oversubscribe the cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

from threadpoolctl import ThreadpoolController

from azuraforge.errors import InvalidParameterError

THREADS_VARIABLE = "AZURAFORGE_NUM_THREADS"

_threads: int | None = None  # None until first asked for, or set
_pool: ThreadPoolExecutor | None = None
_blas: list[Any] | None = None  # threadpoolctl's controllers of the loaded BLAS libraries
_lock = threading.RLock()
_regions = 0  # parallel regions running now (threads of the user's may each start one)
_inside = threading.local()  # .active: this thread is running one piece of a parallel region


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _checked(threads: object, given_as: str) -> int:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidParameterError(f"{given_as}: the thread count must be an integer >= 1")
    return threads


def _from_environment() -> int:
    value = os.environ.get(THREADS_VARIABLE)
    if value is None or not value.strip():
        return available_cpus()
    given_as = f"{THREADS_VARIABLE}={value}"
    try:
        return _checked(int(value), given_as)
    except ValueError:
        raise InvalidParameterError(
            f"{given_as}: the thread count must be an integer >= 1; unset it to use every CPU"
        ) from None


def get_num_threads() -> int:
    """The threads the core's kernels and the BLAS may use (see :func:`set_num_threads`).

    Raises
    ------
    InvalidParameterError
        If ``AZURAFORGE_NUM_THREADS`` is set to something other than a positive integer.
    """
    if _threads is None:
        set_num_threads(_from_environment())
    assert _threads is not None
    return _threads


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads for the core's kernels and the BLAS under them.

    One thread gives the single-threaded path exactly as before; more split each large
    kernel (convolution, pooling, element-wise maths, the recurrent layers' batch) into
    that many pieces. Results agree with one thread within float32 rounding.

    Raises
    ------
    InvalidParameterError
        If ``threads`` is not an integer >= 1.

    Examples
    --------
    >>> set_num_threads(1)
    >>> get_num_threads()
    1
    """
    global _threads, _pool
    threads = _checked(threads, f"set_num_threads({threads!r})")
    with _lock:
        if _pool is not None and threads != _threads:
            _pool.shutdown(wait=True)
            _pool = None
        _threads = threads
        _set_blas_threads(threads)


def _blas_libraries() -> list[Any]:
    global _blas
    if _blas is None:
        _blas = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _blas


def _set_blas_threads(threads: int) -> None:
    for library in _blas_libraries():
        library.set_num_threads(threads)


@contextmanager
def _blas_single_threaded() -> Iterator[None]:
    """One BLAS thread inside each piece; the core's count again once no region runs."""
    global _regions
    with _lock:
        _regions += 1
        if _regions == 1:
            _set_blas_threads(1)
    try:
        yield
    finally:
        with _lock:
            _regions -= 1
            if _regions == 0:
                _set_blas_threads(get_num_threads())


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="azuraforge-core")
        return _pool


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's pool threads: start afresh on first use."""
    global _pool, _regions, _lock
    _pool, _regions, _lock = None, 0, threading.RLock()
    _inside.active = False


os.register_at_fork(after_in_child=_after_fork_in_child)


def split(total: int, pieces: int) -> list[slice]:
    """``range(total)`` as at most ``pieces`` contiguous slices of near-equal size.

    Examples
    --------
    >>> split(10, 3)
    [slice(0, 4, None), slice(4, 7, None), slice(7, 10, None)]
    """
    pieces = max(1, min(pieces, total))
    size, extra = divmod(total, pieces)
    bounds = [0]
    for piece in range(pieces):
        bounds.append(bounds[-1] + size + (piece < extra))
    return [slice(a, b) for a, b in pairwise(bounds)]


def _run_piece(work: Callable[[slice], None], piece: slice) -> None:
    _inside.active = True
    try:
        work(piece)
    finally:
        _inside.active = False


def parallel_for(work: Callable[[slice], None], total: int, min_piece: int = 1) -> None:
    """Call ``work(piece)`` for contiguous pieces covering ``range(total)``, on the core's
    threads; returns when every piece is done and re-raises the first piece's error.

    Pieces hold at least ``min_piece`` items, so small work stays on the calling thread.
    The pieces must write disjoint parts of their outputs. A region started inside a piece
    runs serially in that piece (no nested pools).
    """
    threads = get_num_threads()
    pieces = min(threads, total // max(min_piece, 1))
    if pieces <= 1 or getattr(_inside, "active", False):
        work(slice(0, total))
        return
    first, *rest = split(total, pieces)
    pool = _executor(threads)
    with _blas_single_threaded():
        futures: list[Future[None]] = [pool.submit(_run_piece, work, piece) for piece in rest]
        try:
            _run_piece(work, first)
        finally:
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error

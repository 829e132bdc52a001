"""The core's threads: how many there are, and running a kernel's pieces on them.

Like ``torch.set_num_threads``, one number holds for the whole process. It defaults to the
CPUs the process may run on, or to ``AZURAFORGE_NUM_THREADS`` when that is set. Kernels split
their work into that many contiguous pieces (batch rows, channels, output rows) and run them
on a pool of threads; large NumPy calls release the GIL, so the pieces run at the same time.

The core's threads do all the parallel work, its GEMMs included (split by rows, like every
other kernel), so through ``threadpoolctl`` the BLAS is held at one thread inside each piece
and the two never oversubscribe the cores. A multi-threaded BLAS beside the core's pool was
measured to make things worse: OpenBLAS's threads spin for a while after each call and take
the cores the next piece needs (docs/core.md, "Threads").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from azuraforge.errors import InvalidParameterError

THREADS_VARIABLE = "AZURAFORGE_NUM_THREADS"

_threads: int | None = None  # None until first asked for, or set
_pool: ThreadPoolExecutor | None = None
_lock = threading.RLock()
_inside = threading.local()  # .active: this thread is running one piece of a parallel region


def _available_cpus() -> int:
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
        return _available_cpus()
    given_as = f"{THREADS_VARIABLE}={value}"
    try:
        return _checked(int(value), given_as)
    except ValueError:
        raise InvalidParameterError(
            f"{given_as}: the thread count must be an integer >= 1; unset it to use every CPU"
        ) from None


def get_num_threads() -> int:
    """The threads the core's kernels run on (see :func:`set_num_threads`).

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
    """Run the core's kernels on ``threads`` threads, with one BLAS thread inside each.

    One thread gives the single-threaded path exactly as before; more split each large
    kernel (matrix products, convolution, pooling, ReLU, the LSTM backward's work around its
    step loop) into that many pieces. Results agree with one thread within float32 rounding.
    The BLAS libraries loaded in the process (NumPy's OpenBLAS) are set to one thread, also
    for NumPy calls outside the core; ``threadpoolctl`` can change that afterwards.

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
        ThreadpoolController().limit(limits=1, user_api="blas")


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="azuraforge-core")
        return _pool


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's pool threads: start afresh on first use."""
    global _pool, _lock
    _pool, _lock = None, threading.RLock()
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


def _run_inside(task: Callable[[], None]) -> None:
    """Run one piece of a parallel region (a region started inside it runs serially)."""
    previous = getattr(_inside, "active", False)
    _inside.active = True
    try:
        task()
    finally:
        _inside.active = previous


def parallel_for(work: Callable[[slice], None], total: int, min_piece: int = 1) -> None:
    """Call ``work(piece)`` for contiguous pieces covering ``range(total)``, on the core's
    threads; returns when every piece is done and re-raises the first piece's error.

    Pieces hold at least ``min_piece`` items, so small work stays on the calling thread.
    The pieces must write disjoint parts of their outputs. A region started inside a piece
    runs serially in that piece (no nested pools). The caller runs the first piece, then any
    piece a busy pool has not started yet.
    """
    threads = get_num_threads()
    pieces = min(threads, total // max(min_piece, 1))
    if pieces <= 1 or getattr(_inside, "active", False):
        work(slice(0, total))
        return
    first, *rest = split(total, pieces)
    with Background() as others:
        for piece in rest:
            others.submit(partial(work, piece))
        _run_inside(partial(work, first))


def parallel_sum(
    work: Callable[[slice], np.ndarray], total: int, min_piece: int = 1
) -> np.ndarray:
    """The sum of ``work(piece)`` over contiguous pieces covering ``range(total)``, run on the
    core's threads. Each piece returns its own partial sum (a new array); they are added in
    piece order, so the result does not depend on which thread finished first.

    Examples
    --------
    >>> parallel_sum(lambda piece: np.arange(10)[piece].sum(keepdims=True), 10)
    array([45])
    """
    partials: dict[int, np.ndarray] = {}

    def run(piece: slice) -> None:
        partials[piece.start] = work(piece)

    parallel_for(run, total, min_piece)
    first, *rest = (partials[start] for start in sorted(partials))
    for part in rest:
        first += part
    return first


class Background:
    """Tasks that run on the core's other threads while the calling thread goes on.

    A serial loop (an LSTM's steps) keeps the calling thread busy with many small NumPy
    calls; the work that can wait for it (products over the steps already done) goes here in
    a few large calls each, so the threads seldom want the GIL at the same time.

    Use it as a context manager. Leaving the block runs on the caller every task no thread
    has started yet (newest first: the other threads take the oldest), waits for the rest
    and raises the error of the first submitted task that failed; when the block itself
    raises, the tasks still end first and the block's error is the one that propagates.
    With one thread, or inside a parallel region, :meth:`submit` runs the task at once.
    Tasks must write disjoint outputs; results do not depend on the thread count as long as
    the tasks do not.

    Examples
    --------
    >>> out = np.zeros(4)
    >>> with Background() as background:
    ...     for i in range(4):
    ...         background.submit(lambda i=i: out.__setitem__(i, i * i))
    >>> out
    array([0., 1., 4., 9.])
    """

    def __init__(self) -> None:
        self._started: list[tuple[Future[None], Callable[[], None]]] = []

    def __enter__(self) -> Background:
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        errors = self._end()
        if error is None and errors:
            raise errors[0]

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task()`` on another thread, or now, raising its error here, when there is
        none to run it."""
        threads = get_num_threads()
        if threads == 1 or getattr(_inside, "active", False):
            task()
            return
        self._started.append((_executor(threads).submit(_run_inside, task), task))

    def _end(self) -> list[BaseException]:
        """Run every task no thread has started, wait for the others; their errors in the
        order the tasks were submitted."""
        started, self._started = self._started, []
        errors: dict[int, BaseException] = {}
        try:
            for index in range(len(started) - 1, -1, -1):
                future, task = started[index]
                if future.cancel():
                    try:
                        _run_inside(task)
                    except Exception as failure:  # reported with the others' errors
                        errors[index] = failure
        finally:
            for index, (future, _) in enumerate(started):
                raised = None if future.cancelled() else future.exception()
                if raised is not None:
                    errors[index] = raised
        return [errors[index] for index in sorted(errors)]


MIN_PIECE_ELEMENTS = 32_768  # below this a piece costs more to hand over than to compute


def min_items(elements_per_item: int, min_elements: int = MIN_PIECE_ELEMENTS) -> int:
    """How many items a piece needs so that it covers at least ``min_elements`` elements."""
    return max(1, -(-min_elements // max(elements_per_item, 1)))


def _outer_axis(array: np.ndarray) -> int:
    """The axis whose step in memory is largest: pieces along it are the biggest blocks."""
    sized = [axis for axis in range(array.ndim) if array.shape[axis] > 1]
    return max(sized, key=lambda axis: abs(array.strides[axis]), default=0)


# One pass over memory per element (ReLU) pays for a hand-over only in large pieces: on the
# benchmark CNN's pooled (32, 13, 13, 128) activations, two threads took 0.30 ms where one
# took 0.22; on its (32, 26, 26, 128) conv output, 0.65 against 0.83.
MIN_ELEMENTWISE_PIECE = 1 << 19


def parallel_pieces(array: np.ndarray, work: Callable[[tuple[Any, ...]], None]) -> None:
    """Call ``work(index)`` for pieces of ``array`` cut along its outermost axis in memory.

    ``array[index]`` is one piece; the same index selects the matching piece of any array of
    the same shape, so element-wise work writes ``out[index]`` from ``array[index]``. An
    array too small for two pieces of :data:`MIN_ELEMENTWISE_PIECE` is one piece, ``(...,)``,
    with no further work.
    """
    if array.size < 2 * MIN_ELEMENTWISE_PIECE or get_num_threads() == 1:
        work((...,))
        return
    axis = _outer_axis(array)
    lead = (slice(None),) * axis
    per_item = array.size // array.shape[axis]
    pieces = min_items(per_item, MIN_ELEMENTWISE_PIECE)
    parallel_for(lambda piece: work((*lead, piece)), array.shape[axis], pieces)


MIN_PIECE_PRODUCTS = 1 << 20  # multiply-adds a matrix-product piece needs to pay its hand-over


def parallel_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` by NumPy's rules; a large 2-D product is split by output rows (or columns,
    when there are more of them: the rows of the transposed product) over the core's threads."""
    plain = a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]
    if not plain or a.size * b.shape[1] < 2 * MIN_PIECE_PRODUCTS or get_num_threads() == 1:
        product: np.ndarray = a @ b  # NumPy's rules, errors and all
        return product
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    lhs, rhs, target = (a, b, out) if a.shape[0] >= b.shape[1] else (b.T, a.T, out.T)

    def rows(part: slice) -> None:
        np.matmul(lhs[part], rhs, out=target[part])

    parallel_for(rows, lhs.shape[0], min_items(lhs.shape[1] * rhs.shape[1], MIN_PIECE_PRODUCTS))
    return out

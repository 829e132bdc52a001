"""The core's thread count, its parallel pieces, and kernels that agree at 1 and 2+ threads."""

import os
import threading

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from azuraforge.core import Tensor, get_num_threads, parallel, set_num_threads
from azuraforge.core.fused import avg_pool2d, conv2d, gru_layer, lstm_layer, max_pool2d
from azuraforge.errors import InvalidParameterError

pytestmark = pytest.mark.usefixtures("restore_threads")


def test_default_is_the_cpus_the_process_may_use(monkeypatch):
    monkeypatch.delenv(parallel.THREADS_VARIABLE, raising=False)
    monkeypatch.setattr(parallel, "_threads", None)
    assert get_num_threads() == len(os.sched_getaffinity(0))


def test_environment_variable_sets_the_default(monkeypatch):
    monkeypatch.setenv(parallel.THREADS_VARIABLE, "3")
    monkeypatch.setattr(parallel, "_threads", None)
    assert get_num_threads() == 3


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_environment_variable_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv(parallel.THREADS_VARIABLE, value)
    monkeypatch.setattr(parallel, "_threads", None)
    with pytest.raises(InvalidParameterError, match=f"AZURAFORGE_NUM_THREADS={value}"):
        get_num_threads()


@pytest.mark.parametrize("value", [0, -2, 1.5, "2", True, None])
def test_set_num_threads_refuses_what_is_not_a_positive_integer(value):
    with pytest.raises(InvalidParameterError, match="integer >= 1"):
        set_num_threads(value)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_blas_runs_one_thread_under_the_cores(threads):
    set_num_threads(threads)
    assert get_num_threads() == threads
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("total", [0, 1, 5, 1000])
def test_parallel_for_covers_every_item_once(threads, total):
    set_num_threads(threads)
    seen = np.zeros(total, dtype=int)
    pieces = []

    def work(piece):
        pieces.append(piece)
        seen[piece] += 1

    parallel.parallel_for(work, total)
    assert (seen == 1).all()
    assert len(pieces) == min(threads, max(total, 1))


def test_small_work_stays_on_the_calling_thread():
    set_num_threads(2)
    names = []
    parallel.parallel_for(lambda piece: names.append(threading.current_thread().name), 10, 8)
    assert names == [threading.current_thread().name]


def test_a_pieces_error_reaches_the_caller_after_every_piece_ran():
    set_num_threads(2)
    done = []

    def work(piece):
        done.append(piece)
        if piece.start > 0:
            raise ValueError("piece failed")

    with pytest.raises(ValueError, match="piece failed"):
        parallel.parallel_for(work, 10)
    assert len(done) == 2


def test_a_region_inside_a_piece_runs_serially_in_it():
    set_num_threads(2)
    inner = []

    def outer(piece):
        parallel.parallel_for(lambda p: inner.append((piece.start, p)), 4)

    parallel.parallel_for(outer, 2)
    assert sorted(inner) == [(0, slice(0, 4)), (1, slice(0, 4))]


def test_a_forked_child_gets_a_working_pool():
    set_num_threads(2)
    parallel.parallel_for(lambda piece: None, 2)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its parent's pool threads do not exist here
        out = np.zeros(4)
        parallel.parallel_for(lambda piece: out.__setitem__(piece, 1), 4)
        os.write(write, b"ok" if out.sum() == 4 else b"no")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok" and status == 0


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_parallel_sum_adds_every_piece_in_order(threads):
    set_num_threads(threads)
    values = np.random.default_rng(0).standard_normal((90, 4))
    pieces = []

    def partial(piece):
        pieces.append(piece)
        return values[piece].sum(axis=0)

    total = parallel.parallel_sum(partial, 90, min_piece=10)
    np.testing.assert_allclose(total, values.sum(axis=0))
    assert len(pieces) == min(threads, 9)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_background_runs_every_task_once_whatever_the_threads(threads):
    set_num_threads(threads)
    runs = np.zeros(20, dtype=int)
    with parallel.Background() as background:
        for i in range(20):
            background.submit(lambda i=i: runs.__setitem__(i, runs[i] + 1))
    assert (runs == 1).all()


def test_background_with_one_thread_runs_each_task_at_once():
    set_num_threads(1)
    order = []
    with parallel.Background() as background:
        background.submit(lambda: order.append("task"))
        order.append("after submit")
    assert order == ["task", "after submit"]


def test_background_tasks_run_beside_the_caller():
    set_num_threads(2)
    started, release = threading.Event(), threading.Event()
    names = []

    def task():
        names.append(threading.current_thread().name)
        started.set()
        release.wait(5)

    with parallel.Background() as background:
        background.submit(task)
        assert started.wait(5), "the task did not start while the caller went on"
        release.set()
    assert names[0].startswith("azuraforge-core")


def _busy_pool(release):
    """Keep the pool's one thread (at 2 threads) waiting for ``release``."""
    started = threading.Event()
    busy = parallel.Background()
    busy.submit(lambda: (started.set(), release.wait(5)))
    assert started.wait(5)
    return busy


def test_leaving_the_block_takes_back_the_tasks_no_thread_has_started():
    set_num_threads(2)
    release = threading.Event()
    busy = _busy_pool(release)
    names = []
    timer = threading.Timer(1.0, release.set)  # the block must not wait for the pool
    timer.start()
    with parallel.Background() as background:
        for _ in range(3):
            background.submit(lambda: names.append(threading.current_thread().name))
    assert not release.is_set(), "the block waited for the busy pool"
    timer.cancel()
    release.set()
    with busy:
        pass
    assert names == [threading.current_thread().name] * 3


def test_parallel_for_takes_back_pieces_a_busy_pool_has_not_started():
    set_num_threads(2)
    release = threading.Event()
    busy = _busy_pool(release)
    names = []
    parallel.parallel_for(lambda piece: names.append(threading.current_thread().name), 2)
    release.set()
    with busy:
        pass
    assert names == [threading.current_thread().name] * 2


@pytest.mark.parametrize("threads", [1, 2])
def test_the_first_submitted_tasks_error_is_raised_after_every_task_ended(threads):
    set_num_threads(threads)
    done = []

    def fail(message):
        raise ValueError(message)

    with pytest.raises(ValueError, match="first") as raised, parallel.Background() as tasks:
        tasks.submit(lambda: done.append(1))
        tasks.submit(lambda: fail("first"))
        tasks.submit(lambda: done.append(2))
        tasks.submit(lambda: fail("second"))
    assert done == [1, 2] or threads == 1
    assert "second" not in str(raised.value)


def test_an_error_in_the_block_wins_and_the_tasks_still_end():
    set_num_threads(2)
    done = []
    with pytest.raises(KeyError), parallel.Background() as tasks:
        tasks.submit(lambda: done.append(1))
        tasks.submit(lambda: (_ for _ in ()).throw(ValueError("task")))
        raise KeyError("block")
    assert done == [1]


def test_a_task_submitted_inside_a_parallel_piece_runs_at_once():
    set_num_threads(2)
    seen = []

    def piece(part):
        with parallel.Background() as inner:
            inner.submit(lambda: seen.append(threading.current_thread().name))
            assert seen, "the task was deferred inside a piece"

    parallel.parallel_for(piece, 2)
    assert len(seen) == 2


def test_split_gives_contiguous_near_equal_pieces():
    assert parallel.split(10, 3) == [slice(0, 4), slice(4, 7), slice(7, 10)]
    assert parallel.split(2, 5) == [slice(0, 1), slice(1, 2)]


# ---- kernels: the same results at 1 and at 2+ threads ---------------------------------------


def _run(threads, kernel):
    """Forward and backward of ``kernel`` on seeded inputs at ``threads``: the output and
    every input's gradient."""
    set_num_threads(threads)
    shapes, function = KERNELS[kernel]
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    if kernel in WITH_TIES:
        inputs = [np.round(a) for a in inputs]
    tensors = [Tensor(a, requires_grad=True) for a in inputs]
    out = function(*tensors)
    loss = (out * Tensor(np.linspace(-1, 1, out.size).reshape(out.shape))).sum()
    loss.backward()
    return [out.data] + [t.grad for t in tensors]


CONV = [(9, 5, 13, 11), (7, 5, 3, 2), (7,)]  # input, weight, bias
IMAGE = [(32, 16, 26, 26)]  # 21,632 values a channel: pooling splits by channels
ONES_1X1 = Tensor(np.ones((4, 9, 1, 1), np.float32))
# batch 64, 40 steps, 24 features, hidden 32: big enough that every step product splits
SEQUENCE = [(64, 40, 24), (128, 24), (128, 32), (128,), (128,)]
GRU_SEQUENCE = [(64, 40, 24), (96, 24), (96, 32), (96,), (96,)]


def _small(w_ih, w_hh, b_ih, b_hh):
    """Weights scaled so the gates are not saturated (their slopes would hide mistakes)."""
    return w_ih * 0.2, w_hh * 0.2, b_ih, b_hh


KERNELS = {  # name: (input shapes, the kernel applied to tensors of those shapes)
    "conv2d": (CONV, conv2d),
    "conv2d stride 2 padding 1": (CONV, lambda x, w, b: conv2d(x, w, b, stride=2, padding=1)),
    "first-layer conv2d (one channel)": ([(64, 1, 28, 28), (32, 1, 3, 3)], conv2d),
    "conv2d over several chunks": ([(16, 40, 30, 30), (8, 40, 5, 5), (8,)], conv2d),
    "max_pool2d": (IMAGE, lambda x: max_pool2d(x, 2)),
    "max_pool2d overlapping, with ties": (IMAGE, lambda x: max_pool2d(x, 3, stride=2)),
    "avg_pool2d": (IMAGE, lambda x: avg_pool2d(x, (2, 3), stride=(1, 2))),
    # ReLU splits only past 2 * 512K values
    "relu of a batch-innermost view": ([(64, 9, 66, 66)], lambda x: conv2d(x, ONES_1X1).relu()),
    "relu of a plain array": ([(400, 3000)], lambda x: x.relu()),
    "matmul, more rows": ([(600, 300), (300, 200)], lambda a, b: a @ b),
    "matmul, more columns": ([(40, 300), (300, 900)], lambda a, b: a @ b),
    "lstm, every step": (SEQUENCE, lambda x, *p: lstm_layer(x, *_small(*p))),
    "lstm, last step": (SEQUENCE, lambda x, *p: lstm_layer(x, *_small(*p), last_only=True)),
    "gru, every step": (GRU_SEQUENCE, lambda x, *p: gru_layer(x, *_small(*p))),
    "gru, last step": (GRU_SEQUENCE, lambda x, *p: gru_layer(x, *_small(*p), last_only=True)),
}
WITH_TIES = {"max_pool2d overlapping, with ties"}  # inputs rounded to whole numbers


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernels_agree_with_one_thread(kernel, threads):
    one = _run(1, kernel)
    many = _run(threads, kernel)
    assert len(one) == len(many)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(a).max()))


@pytest.mark.parametrize("threads", [1, 2])
def test_conv_and_pool_match_pytorch_at_each_thread_count(threads):
    set_num_threads(threads)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 3, 20, 20)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    ours_x, ours_w = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    ours = max_pool2d(conv2d(ours_x, ours_w, padding=1).relu(), 2).sum()
    ours.backward()
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    peer = torch.nn.functional.max_pool2d(torch.conv2d(tx, tw, padding=1).relu(), 2).sum()
    peer.backward()
    np.testing.assert_allclose(ours.item(), peer.item(), rtol=1e-5)
    np.testing.assert_allclose(ours_x.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours_w.grad, tw.grad.numpy(), rtol=1e-4, atol=1e-3)

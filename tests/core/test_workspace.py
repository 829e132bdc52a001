"""Reused buffers: handed out again only when nothing refers to them any more."""

import threading

import numpy as np

from azuraforge.core import workspace

SHAPE = (512, 512)  # 1 MB of float32: above workspace.MIN_BYTES


def test_a_free_buffer_is_reused():
    workspace.clear()
    first = workspace.empty(SHAPE, np.float32)
    address = first.ctypes.data
    del first
    assert workspace.empty(SHAPE, np.float32).ctypes.data == address


def test_a_buffer_in_use_is_not_handed_out_again():
    workspace.clear()
    held = workspace.empty(SHAPE, np.float32)
    held[...] = 1
    other = workspace.empty(SHAPE, np.float32)
    other[...] = 2
    assert (held == 1).all()


def test_a_live_view_keeps_its_buffer_in_use():
    workspace.clear()
    view = workspace.empty(SHAPE, np.float32)[:10].T
    view[...] = 1
    workspace.empty(SHAPE, np.float32)[...] = 2
    assert (view == 1).all()


def test_small_arrays_and_other_shapes_or_dtypes_are_not_shared():
    workspace.clear()
    small = workspace.empty((4,), np.float32)
    assert workspace.empty((4,), np.float32) is not small
    big = workspace.empty(SHAPE, np.float32)
    address = big.ctypes.data
    del big
    assert workspace.empty(SHAPE, np.float64).ctypes.data != address


def test_each_thread_has_its_own_buffers():
    workspace.clear()
    mine = workspace.empty(SHAPE, np.float32)
    address = mine.ctypes.data
    del mine
    seen = []
    thread = threading.Thread(target=lambda: seen.append(workspace.empty(SHAPE, np.float32)))
    thread.start()
    thread.join()
    assert seen[0].ctypes.data != address


def test_the_cache_keeps_within_its_byte_bound(monkeypatch):
    workspace.clear()
    monkeypatch.setattr(workspace, "MAX_BYTES", 8 * 1024 * 1024)
    for rows in range(600, 640):
        workspace.empty((rows, 512), np.float32)
    assert workspace._cache.bytes <= 8 * 1024 * 1024


def test_empty_like_keeps_the_memory_order_of_a_permuted_view():
    batch_inner = np.zeros((3, 4, 5, 600), np.float32).transpose(3, 0, 1, 2)
    out = workspace.empty_like(batch_inner)
    assert out.shape == batch_inner.shape
    assert np.argsort(out.strides).tolist() == np.argsort(batch_inner.strides).tolist()

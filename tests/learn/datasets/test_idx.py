import gzip
import importlib

import numpy as np
import pytest

from azuraforge.errors import DataFormatError
from azuraforge.learn.datasets import MNIST, load_mnist, read_idx

idx_module = importlib.import_module("azuraforge.learn.datasets.idx")


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture(scope="module")
def mnist(real_data):
    return load_mnist()


# --- the real MNIST --------------------------------------------------------------------------


def test_mnist_shapes_and_types(mnist):
    assert isinstance(mnist, MNIST)
    assert mnist.train_images.shape == (60000, 28, 28)
    assert mnist.train_labels.shape == (60000,)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.test_labels.shape == (10000,)
    assert {a.dtype for a in mnist} == {np.dtype(np.uint8)}


def test_mnist_first_labels(mnist):
    # The canonical order: the first training digit is a 5, the first test digit a 7.
    assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert mnist.test_labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_mnist_values(mnist):
    assert np.bincount(mnist.train_labels).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]  # fmt: skip
    assert mnist.train_images.min() == 0 and mnist.train_images.max() == 255
    assert mnist.train_images.flags.writeable


def test_mnist_unpacks_like_a_tuple(mnist):
    train_images, *_, test_labels = mnist
    assert train_images is mnist.train_images
    assert test_labels is mnist.test_labels


def test_load_mnist_checks_images_and_labels_agree(tmp_path, monkeypatch):
    contents = {
        "images-idx3-ubyte.gz": idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8), 8),
        "labels-idx1-ubyte.gz": idx_bytes(np.arange(2, dtype=np.uint8), 8),  # one too few
    }
    paths = {}
    for prefix in ("train", "t10k"):
        for name, data in contents.items():
            paths[f"{prefix}-{name}"] = tmp_path / f"{prefix}-{name}"
            paths[f"{prefix}-{name}"].write_bytes(gzip.compress(data))
    monkeypatch.setattr(idx_module, "fetch", lambda name: paths)
    with pytest.raises(DataFormatError, match=r"train-labels.*expected 3 uint8 labels.*\(2,\)"):
        load_mnist()


# --- read_idx --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "code"),
    [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
     (np.float32, 0x0D), (np.float64, 0x0E)],
)  # fmt: skip
@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, code, compressed):
    expected = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    data = idx_bytes(expected, code)
    path = tmp_path / "x-idx3"
    path.write_bytes(gzip.compress(data) if compressed else data)
    array = read_idx(path)
    assert array.dtype == np.dtype(dtype) and array.dtype.isnative
    np.testing.assert_array_equal(array, expected)


def test_bad_magic_number(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello world")
    with pytest.raises(
        DataFormatError, match=r"notes.txt: not an IDX file, magic number 68 65 6c 6c; expected"
    ):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    path = tmp_path / "x-idx1"
    path.write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 0]))
    with pytest.raises(DataFormatError, match="magic number 00 00 07 01"):
        read_idx(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"magic number \(empty file\)"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = tmp_path / "x-idx3"
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 60]))
    with pytest.raises(DataFormatError, match="truncated IDX header, 8 bytes for 3 dimensions"):
        read_idx(path)


def test_truncated_data(tmp_path):
    path = tmp_path / "x-idx1"
    path.write_bytes(idx_bytes(np.arange(10, dtype=np.uint8), 8)[:-3])
    with pytest.raises(DataFormatError, match=r"truncated, 15 bytes, expected 18 for shape \(10"):
        read_idx(path)


def test_extra_bytes(tmp_path):
    path = tmp_path / "x-idx1"
    path.write_bytes(idx_bytes(np.arange(10, dtype=np.uint8), 8) + b"\0")
    with pytest.raises(DataFormatError, match="longer than its header says, 19 bytes"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "x-idx1.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8), 8))[:-10])
    with pytest.raises(
        DataFormatError, match=r"x-idx1\.gz: the gzip data is truncated or corrupt"
    ):
        read_idx(path)

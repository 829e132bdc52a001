"""IDX files (the format of MNIST) as NumPy arrays, gzip-compressed or plain.

An IDX file is a 4-byte magic number ``00 00 <type> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from azuraforge.errors import DataFormatError
from azuraforge.learn.datasets.fetching import fetch

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


class MNIST(NamedTuple):
    """MNIST as four arrays; unpacks like a tuple.

    ``*_images`` are uint8 (n, 28, 28), 0 = background, 255 = ink; ``*_labels`` are uint8
    (n,) digits 0-9. The training part has 60,000 images, the test part 10,000.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not, into an array of its shape and type.

    Parameters
    ----------
    path
        The file. Gzip is recognised by its first bytes, not by the name.

    Returns
    -------
    numpy.ndarray
        A writable array in native byte order (uint8, int8, int16, int32, float32 or float64).

    Raises
    ------
    DataFormatError
        If the magic number is not that of an IDX file, or the file (or its gzip stream) is
        shorter or longer than its header says.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "tiny-idx1-ubyte"
    ...     _ = path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))
    ...     read_idx(path)
    array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise DataFormatError(f"{path}: the gzip data is truncated or corrupt ({e})") from e
    return _parse(raw, path)


def _parse(raw: bytes, path: Path) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataFormatError(
            f"{path}: not an IDX file, magic number {raw[:4].hex(' ') or '(empty file)'}; "
            f"expected 00 00 <type> <ndim> with type one of "
            f"{', '.join(f'{t:02x}' for t in _TYPES)}"
        )
    ndim = raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataFormatError(
            f"{path}: truncated IDX header, {len(raw)} bytes for {ndim} dimensions "
            f"(expected at least {offset})"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:offset])
    dtype = np.dtype(_TYPES[raw[2]])
    expected = offset + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataFormatError(
            f"{path}: {problem}, {len(raw)} bytes, expected {expected} for shape "
            f"{shape} of {dtype.newbyteorder('=')}"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def load_mnist() -> MNIST:
    """MNIST (dataset ``mnist``), fetched with :func:`fetch` and read with :func:`read_idx`.

    Returns
    -------
    MNIST
        ``(train_images, train_labels, test_images, test_labels)``.

    Raises
    ------
    DataFormatError
        If a file does not hold 28x28 uint8 images or uint8 labels, or images and labels
        differ in number.
    """
    paths = fetch("mnist")
    parts = []
    for prefix in ("train", "t10k"):
        images_path = paths[f"{prefix}-images-idx3-ubyte.gz"]
        labels_path = paths[f"{prefix}-labels-idx1-ubyte.gz"]
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataFormatError(
                f"{images_path}: expected uint8 images of 28x28, got {images.dtype} {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
            raise DataFormatError(
                f"{labels_path}: expected {len(images)} uint8 labels (one per image in "
                f"{images_path.name}), got {labels.dtype} {labels.shape}"
            )
        parts += [images, labels]
    return MNIST(*parts)

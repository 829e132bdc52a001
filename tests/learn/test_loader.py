"""ArrayDataset and DataLoader: batching, seeded shuffling, errors."""

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError, ShapeError
from azuraforge.learn import ArrayDataset, DataLoader


def _epochs(loader, n):
    return [np.concatenate([y for _, y in loader]).tolist() for _ in range(n)]


def test_batches_cover_every_row_once_per_epoch():
    loader = DataLoader(ArrayDataset(np.arange(10)[:, None], np.arange(10)), batch_size=4)
    assert len(loader) == 3
    assert [len(y) for _, y in loader] == [4, 4, 2]
    assert _epochs(loader, 1)[0] == list(range(10))


def test_shuffling_is_seeded_and_changes_every_epoch():
    data = ArrayDataset(np.arange(20), np.arange(20))
    first = _epochs(DataLoader(data, batch_size=5, shuffle=True, seed=3), 2)
    again = _epochs(DataLoader(data, batch_size=5, shuffle=True, seed=3), 2)
    assert first == again
    assert first[0] != first[1] and sorted(first[0]) == list(range(20))


def test_drop_last_skips_the_short_batch():
    loader = DataLoader(ArrayDataset(np.arange(10), np.arange(10)), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]


def test_bad_inputs_are_refused():
    with pytest.raises(ShapeError, match="x has 3 rows but y has 2"):
        ArrayDataset(np.zeros(3), np.zeros(2))
    with pytest.raises(InvalidParameterError, match="batch_size must be an int >= 1"):
        DataLoader(ArrayDataset(np.zeros(3), np.zeros(3)), batch_size=0)

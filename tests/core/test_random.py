"""manual_seed makes initialisation and dropout repeatable."""

import numpy as np

from azuraforge.core import Tensor, manual_seed, nn
from azuraforge.core import functional as F
from azuraforge.core.random import generator


def test_manual_seed_replays_the_same_draws():
    manual_seed(3)
    first = generator().random(4)
    manual_seed(3)
    np.testing.assert_array_equal(generator().random(4), first)
    manual_seed(4)
    assert not np.array_equal(generator().random(4), first)


def test_manual_seed_makes_models_and_dropout_repeatable():
    def build_and_drop():
        manual_seed(11)
        layer = nn.Linear(4, 3)
        return layer.weight.data, F.dropout(Tensor(np.ones(20)), p=0.5).data

    weights_a, mask_a = build_and_drop()
    weights_b, mask_b = build_and_drop()
    np.testing.assert_array_equal(weights_a, weights_b)
    np.testing.assert_array_equal(mask_a, mask_b)

"""Parameter initialisers: bounds, spread, dtype and seeding."""

import math

import numpy as np

from azuraforge.core import manual_seed
from azuraforge.core.nn import init


def test_uniform_stays_within_its_bound():
    manual_seed(0)
    values = init.uniform((200, 50), bound=0.3)
    assert values.dtype == np.float32
    assert -0.3 <= values.min() < -0.29
    assert 0.29 < values.max() <= 0.3


def test_fan_in_uniform_uses_one_over_sqrt_fan_in():
    manual_seed(0)
    values = init.fan_in_uniform((100, 64), fan_in=64, dtype=np.float64)
    assert values.dtype == np.float64
    assert np.abs(values).max() <= 1 / 8
    assert np.abs(values).max() > 0.124


def test_normal_has_the_requested_spread():
    manual_seed(0)
    values = init.normal((100, 100), std=2.0)
    assert abs(float(values.std()) - 2.0) < 0.05
    assert abs(float(values.mean())) < 0.05


def test_xavier_uniform_bound():
    manual_seed(0)
    values = init.xavier_uniform((30, 20))
    bound = math.sqrt(6 / 50)
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound


def test_initialisation_is_repeatable_after_manual_seed():
    manual_seed(5)
    first = init.normal((3, 3))
    manual_seed(5)
    np.testing.assert_array_equal(first, init.normal((3, 3)))
    assert not np.array_equal(first, init.normal((3, 3)))

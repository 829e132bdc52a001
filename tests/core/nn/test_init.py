"""Parameter initialisers: bounds, spread, dtype and seeding."""

import math

import numpy as np
import pytest

from azuraforge import errors
from azuraforge.core import manual_seed, nn
from azuraforge.core.nn import init
from azuraforge.core.nn.init import AllocationLimitError


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


def test_constant_fills_with_its_value():
    values = init.constant((2, 3), 1.0)
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, np.ones((2, 3)))


def test_allocation_limit_counts_every_initialiser_in_its_block():
    with init.allocation_limit(10):
        init.uniform((2, 3), 1.0)
        init.constant((4,), 0.0)
        with pytest.raises(AllocationLimitError, match="create 11 values, more than the 10"):
            init.normal((1,))
    assert init.normal((20,)).shape == (20,)  # the limit ends with its block


def test_allocation_limit_refuses_before_allocating():
    with init.allocation_limit(1_000), pytest.raises(AllocationLimitError) as error:
        nn.Sequential(nn.LayerNorm(10), nn.Linear(10**6, 10**6))
    assert (error.value.requested, error.value.limit) == (10**12 + 20, 1_000)


def test_allocation_limit_error_is_in_the_error_tree():
    assert AllocationLimitError is errors.AllocationLimitError
    assert issubclass(AllocationLimitError, errors.InvalidParameterError)
    assert "AllocationLimitError" in (errors.__doc__ or "")

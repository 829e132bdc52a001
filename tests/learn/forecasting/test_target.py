"""ChangeTarget: changes over the horizon and their exact inverse."""

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.forecasting.target import ChangeTarget


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("horizon", [1, 3])
def test_true_changes_give_back_the_values(log, horizon):
    values = np.random.default_rng(0).uniform(1.0, 50.0, 40)
    target = ChangeTarget(horizon, log)
    rows = np.arange(horizon, len(values))
    restored = target.forecast(values, rows, target.changes(values)[rows])
    np.testing.assert_allclose(restored, values[rows], rtol=1e-12)
    assert np.isnan(target.changes(values)[:horizon]).all()


def test_a_zero_change_is_persistence():
    values = np.array([3.0, 4.0, 6.0])
    np.testing.assert_allclose(
        ChangeTarget(1, log=True).forecast(values, np.array([1, 2]), np.zeros(2)), [3.0, 4.0]
    )


def test_a_log_target_refuses_values_that_are_not_positive():
    with pytest.raises(InvalidParameterError, match=r"values > 0, got a minimum of -1\.0"):
        ChangeTarget(1, log=True).changes(np.array([2.0, -1.0]))

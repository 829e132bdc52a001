"""The blend: weight search on the rows given, and who chose the weight."""

import numpy as np

from azuraforge.learn.forecasting.blend import BLEND_WEIGHTS, Blend, blended_change, choose_blend
from azuraforge.learn.timeseries import StandardScaler


def test_weight_zero_is_the_training_mean_change_and_one_the_model():
    scaler = StandardScaler().fit(np.array([[2.0], [4.0], [6.0]]))
    scaled = np.array([1.5, -2.0])
    np.testing.assert_array_equal(blended_change(scaled, 0.0, scaler), [4.0, 4.0])
    np.testing.assert_allclose(
        blended_change(scaled, 1.0, scaler), scaler.inverse_transform(scaled, columns=0)
    )


def test_the_weight_with_the_lowest_mae_is_chosen():
    actual = np.array([1.0, 2.0, 3.0])
    chosen = choose_blend(lambda w: actual * w / 0.35, actual)
    assert chosen == BLEND_WEIGHTS[7]


def test_the_report_says_who_chose_the_weight():
    assert "set by the user" in Blend(0.5, "user").describe()
    assert "chosen on the validation part" in Blend(0.5, "validation").describe()

"""The blend: weight search on the rows given, and who chose the weight."""

import numpy as np

from azuraforge.learn.forecasting.blend import (
    BLEND_WEIGHTS,
    DRIFT,
    MODEL_ALONE,
    Blend,
    blended_change,
    choose_anchored_blend,
    choose_blend,
)
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


def test_an_anchor_and_its_weight_are_chosen_together_with_the_evidence():
    actual = np.array([10.0, 20.0, 30.0])
    model = actual + np.array([6.0, -6.0, 6.0])  # right on average, noisy
    seasonal = actual + 2.0  # always 2 too high
    drift = np.full(3, 20.0)
    candidates = {
        DRIFT: lambda w: w * model + (1 - w) * drift,
        "same month last year": lambda w: w * model + (1 - w) * seasonal,
    }
    blend = choose_anchored_blend(candidates, actual)
    errors = {w: np.abs(w * model + (1 - w) * seasonal - actual).mean() for w in BLEND_WEIGHTS}
    assert blend.anchor == "same month last year"
    assert blend.weight == min(errors, key=errors.__getitem__)
    assert blend.validation_mae == {
        "chosen": min(errors.values()),
        MODEL_ALONE: 6.0,
        DRIFT: np.abs(drift - actual).mean(),
        "same month last year": 2.0,
    }
    assert "with same month last year (chosen on the validation part)" in blend.describe()
    assert blend.explain().startswith("Chosen on the validation part, by MAE: the model blended")


def test_blending_with_an_anchor_moves_from_its_change_to_the_models():
    scaler = StandardScaler().fit(np.array([[2.0], [4.0], [6.0]]))
    scaled, anchor = np.array([1.5, -2.0]), np.array([-1.0, 7.0])
    np.testing.assert_allclose(blended_change(scaled, 0.0, scaler, anchor), anchor)
    model = scaler.inverse_transform(scaled, columns=0)
    np.testing.assert_allclose(blended_change(scaled, 1.0, scaler, anchor), model)
    np.testing.assert_allclose(
        blended_change(scaled, 0.25, scaler, anchor), 0.25 * model + 0.75 * anchor
    )

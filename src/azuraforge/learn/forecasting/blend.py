"""Shrinking the model's forecast change toward the training-mean change.

The model predicts scaled changes; weight 1 keeps them, weight 0 replaces them by the
training-mean change (the target scaler's mean), which is persistence plus drift. The weight
is either set by the user or chosen on the validation part (:func:`choose_blend`), never on
the test part. :class:`Blend` records which, so reports can say who chose it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from azuraforge.learn.timeseries import StandardScaler

BLEND_WEIGHTS = np.linspace(0.0, 1.0, 21)
"""The weights :func:`choose_blend` tries: 0, 0.05, ..., 1."""


@dataclass(frozen=True)
class Blend:
    """A blend ``weight`` and who chose it: ``"validation"`` or ``"user"``.

    Examples
    --------
    >>> Blend(0.5, "user").describe()
    'blend 0.50 (set by the user)'
    >>> Blend(0.9, "validation").describe()
    'blend 0.90 (chosen on the validation part)'
    """

    weight: float
    chosen_by: str

    def describe(self) -> str:
        """The weight and its origin, for a report or a run note."""
        origin = "set by the user" if self.chosen_by == "user" else "chosen on the validation part"
        return f"blend {self.weight:.2f} ({origin})"


def blended_change(scaled: np.ndarray, weight: float, target_scaler: StandardScaler) -> np.ndarray:
    """The change in model space from the model's scaled output shrunk by ``weight``.

    Examples
    --------
    >>> scaler = StandardScaler().fit(np.array([[1.0], [3.0]]))
    >>> blended_change(np.array([1.0]), 0.5, scaler)
    array([2.5])
    """
    return target_scaler.inverse_transform(weight * scaled.astype(np.float64), columns=0)


def choose_blend(
    forecast: Callable[[float], np.ndarray],
    actual: np.ndarray,
    weights: np.ndarray = BLEND_WEIGHTS,
) -> float:
    """The weight whose ``forecast(weight)`` has the lowest MAE against ``actual`` (the
    first such weight on ties). Call it with validation rows only.

    Examples
    --------
    >>> choose_blend(lambda w: np.array([10.0 * w]), np.array([4.0]))
    0.4
    """
    errors = [np.abs(forecast(float(w)) - actual).mean() for w in weights]
    return float(weights[int(np.argmin(errors))])

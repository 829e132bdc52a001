"""Shrinking the model's forecast change toward a naive forecast's.

The model predicts scaled changes; weight 1 keeps them, weight 0 replaces them by the change
of the *anchor*: the training-mean change (the target scaler's mean: persistence plus drift,
:data:`DRIFT`) or the change another naive forecast makes (seasonal naive, climatology). The
weight and the anchor are either set by the user or chosen on the validation part
(:func:`choose_blend`, :func:`choose_anchored_blend`), never on the test part. :class:`Blend`
records which, and the validation errors it was chosen by, so reports can say who chose it
and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from azuraforge.learn.timeseries import StandardScaler

BLEND_WEIGHTS = np.linspace(0.0, 1.0, 21)
"""The weights :func:`choose_blend` tries: 0, 0.05, ..., 1."""

DRIFT = "drift"
"""The anchor that is the training-mean change: persistence plus the mean change."""

MODEL_ALONE = "the model alone"
"""The name of weight 1 among the validation errors of :class:`Blend`."""


@dataclass(frozen=True)
class Blend:
    """A blend ``weight``, its ``anchor`` and who chose them: ``"validation"`` or ``"user"``.

    ``validation_mae`` holds, when the validation part chose, the MAE there of the chosen
    forecast (``"chosen"``), of the model alone and of each anchor alone.

    Examples
    --------
    >>> Blend(0.5, "user").describe()
    'blend 0.50 (set by the user)'
    >>> Blend(0.9, "validation").describe()
    'blend 0.90 (chosen on the validation part)'
    >>> Blend(0.4, "validation", "same month last year").describe()
    'blend 0.40 with same month last year (chosen on the validation part)'
    """

    weight: float
    chosen_by: str
    anchor: str = DRIFT
    validation_mae: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """The weight, its anchor unless drift, and their origin, for a report or a run note."""
        origin = "set by the user" if self.chosen_by == "user" else "chosen on the validation part"
        anchor = "" if self.anchor == DRIFT else f" with {self.anchor}"
        return f"blend {self.weight:.2f}{anchor} ({origin})"

    def forecast_name(self) -> str:
        """What the blended forecast is, in words.

        Examples
        --------
        >>> Blend(0.0, "validation", "same day last year").forecast_name()
        "the 'same day last year' forecast"
        >>> Blend(1.0, "user").forecast_name()
        'the model alone'
        >>> Blend(0.3, "user").forecast_name()
        'the model blended 0.30 with the drift forecast (the training-mean change)'
        """
        anchor = (
            f"the {self.anchor!r} forecast"
            if self.anchor != DRIFT
            else ("the drift forecast (the training-mean change)")
        )
        if self.weight == 0:
            return anchor
        if self.weight == 1:
            return MODEL_ALONE
        return f"the model blended {self.weight:.2f} with {anchor}"

    def explain(self) -> str:
        """Why the validation part chose this blend: the MAE there of each candidate; the
        user's choice otherwise.

        Examples
        --------
        >>> maes = {"chosen": 1.0, MODEL_ALONE: 1.5, DRIFT: 2.0}
        >>> Blend(0.0, "validation", DRIFT, maes).explain().split(": ", 1)[1]
        'the drift forecast (the training-mean change) 1, the model alone 1.5, drift alone 2.'
        """
        if self.chosen_by != "validation":
            return f"Forecast: {self.forecast_name()} ({self.describe()})."
        others = ", ".join(
            f"{name}{'' if name == MODEL_ALONE else ' alone'} {mae:.4g}"
            for name, mae in self.validation_mae.items()
            if name != "chosen"
        )
        chosen = self.validation_mae.get("chosen", float("nan"))
        return (
            f"Chosen on the validation part, by MAE: {self.forecast_name()} {chosen:.4g}, "
            f"{others}."
        )


def blended_change(
    scaled: np.ndarray,
    weight: float,
    target_scaler: StandardScaler,
    anchor_change: np.ndarray | None = None,
) -> np.ndarray:
    """The change in model space from the model's scaled output shrunk by ``weight`` toward
    ``anchor_change`` (the anchor's change in model space), or toward the training-mean
    change when ``None``.

    Examples
    --------
    >>> scaler = StandardScaler().fit(np.array([[1.0], [3.0]]))
    >>> blended_change(np.array([1.0]), 0.5, scaler)
    array([2.5])
    >>> blended_change(np.array([1.0]), 0.5, scaler, anchor_change=np.array([-1.0]))
    array([1.])
    """
    if anchor_change is None:
        return target_scaler.inverse_transform(weight * scaled.astype(np.float64), columns=0)
    model = target_scaler.inverse_transform(scaled.astype(np.float64), columns=0)
    blended: np.ndarray = weight * model + (1.0 - weight) * anchor_change
    return blended


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
    return choose_anchored_blend({DRIFT: forecast}, actual, weights).weight


def choose_anchored_blend(
    forecasts: Mapping[str, Callable[[float], np.ndarray]],
    actual: np.ndarray,
    weights: np.ndarray = BLEND_WEIGHTS,
) -> Blend:
    """The anchor and weight whose forecast has the lowest MAE against ``actual``, among
    ``forecasts`` (anchor name → the blended forecast of a weight); ties keep the first
    anchor and the lowest weight. Call it with validation rows only.

    Examples
    --------
    >>> actual = np.array([4.0, 8.0])
    >>> candidates = {DRIFT: lambda w: np.array([2.0, 2.0]) * (1 + w),
    ...               "last year": lambda w: w * np.array([2.0, 2.0]) + (1 - w) * actual}
    >>> blend = choose_anchored_blend(candidates, actual)
    >>> blend.anchor, blend.weight, blend.validation_mae
    ('last year', 0.0, {'chosen': 0.0, 'the model alone': 4.0, 'drift': 4.0, 'last year': 0.0})
    """
    best: tuple[float, str, float] | None = None
    alone: dict[str, float] = {}
    for anchor, forecast in forecasts.items():
        errors = [float(np.abs(forecast(float(w)) - actual).mean()) for w in weights]
        alone[anchor], alone[MODEL_ALONE] = errors[0], errors[-1]
        index = int(np.argmin(errors))
        if best is None or errors[index] < best[0]:
            best = (errors[index], anchor, float(weights[index]))
    if best is None:
        raise ValueError("choose_anchored_blend needs at least one anchor")
    mae, anchor, weight = best
    scores = {"chosen": mae, MODEL_ALONE: alone.pop(MODEL_ALONE), **alone}
    return Blend(weight, "validation", anchor, scores)

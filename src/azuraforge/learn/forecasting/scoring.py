"""Scoring a forecast beside its baselines: :func:`regression_report` plus MASE variants.

MASE's scale is the in-sample naive MAE of the training part, taken only over pairs of rows
whose values were both observed: a filled-in value (carried forward, so its change is 0)
would shrink the scale and inflate every MASE.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from azuraforge.learn.metrics import mase, regression_report


def score_forecast(
    actual: np.ndarray,
    predicted: np.ndarray,
    baselines: Mapping[str, np.ndarray],
    train: np.ndarray | None = None,
    seasons: Mapping[str, int] | None = None,
    observed: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Every regression score of the model beside each baseline on the same rows.

    Parameters
    ----------
    actual, predicted
        The true values and the model's forecasts of them.
    baselines
        Name → the baseline's forecasts of the same rows.
    train
        The training part of the series: adds classical MASE (one-step naive scale) and,
        for each of ``seasons``, a seasonal MASE row. Each MASE row is left out when its
        scale is undefined (see :func:`naive_scale`): no observed pair of rows that far
        apart, or a training part that never changes over that many rows.
    seasons
        Name → period in rows, e.g. ``{"same day last week": 7}``; each adds a row
        ``MASE (m=7)`` scaled by the in-sample seasonal-naive MAE of ``train``.
    observed
        Which values of ``train`` were observed (``None``: all); the scales use only pairs
        of observed values.

    Returns
    -------
    dict[str, dict[str, float]]
        ``{metric: {"model": value, baseline: value, ...}}`` (see :func:`regression_report`),
        ``MASE`` after the error rows and before the relative ones, seasonal rows last.

    Examples
    --------
    >>> train = np.array([1.0, 2.0, 4.0, 3.0, 1.0, 2.0])  # period-2 naive errors 3, 1, 3, 1
    >>> scores = score_forecast(np.array([1.0, 2.0]), np.array([1.0, 1.5]),
    ...                         {"persistence": np.array([2.0, 1.0])}, train, {"cycle": 2})
    >>> scores["MAE"], scores["MASE (m=2)"]
    ({'model': 0.25, 'persistence': 1.0}, {'model': 0.125, 'persistence': 0.5})
    >>> "MASE" in score_forecast(np.array([1.0]), np.array([1.0]), {}, np.ones(5))
    False
    """
    if train is None:
        return regression_report(actual, predicted, baselines)
    one_step = naive_scale(train, 1, observed)
    scores = regression_report(
        actual, predicted, baselines, scale=one_step if one_step > 0 else None
    )
    forecasts = {"model": predicted, **baselines}
    for period in dict.fromkeys((seasons or {}).values()):
        scale = naive_scale(train, period, observed)
        if scale > 0:
            scores[f"MASE (m={period})"] = _scaled_row(actual, forecasts, scale)
    return scores


def mase_row(
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    train: np.ndarray,
    m: int = 1,
    observed: np.ndarray | None = None,
) -> dict[str, float]:
    """Classical MASE of each forecast, scaled by the in-sample period-``m`` naive MAE over
    the observed pairs of ``train`` (:func:`naive_scale`).

    Examples
    --------
    >>> mase_row(np.array([3.0]), {"model": np.array([2.0])}, np.array([1.0, 2.0, 4.0]))
    {'model': 0.6666666666666666}
    """
    return _scaled_row(actual, forecasts, naive_scale(train, m, observed))


def _scaled_row(
    actual: np.ndarray, forecasts: Mapping[str, np.ndarray], scale: float
) -> dict[str, float]:
    return {name: mase(actual, values, scale=scale) for name, values in forecasts.items()}


def naive_scale(train: np.ndarray, m: int = 1, observed: np.ndarray | None = None) -> float:
    """The mean ``|train[t] - train[t - m]|`` over the pairs whose two values were both
    observed (all pairs when ``observed`` is ``None``); 0 when there is no such pair.

    Examples
    --------
    >>> train = np.array([1.0, 3.0, 3.0, 3.0, 6.0])  # rows 2 and 3 filled in from row 1
    >>> naive_scale(train), naive_scale(train, observed=np.array([1, 1, 0, 0, 1], bool))
    (1.25, 2.0)
    """
    values = np.asarray(train, dtype=np.float64)
    changes = np.abs(values[m:] - values[:-m])
    if observed is not None:
        changes = changes[observed[m:] & observed[:-m]]
    return float(changes.mean()) if changes.size else 0.0

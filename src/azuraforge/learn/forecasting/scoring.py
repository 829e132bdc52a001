"""Scoring a forecast beside its baselines: :func:`regression_report` plus MASE variants."""

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
        for each of ``seasons``, a seasonal MASE row.
    seasons
        Name → period in rows, e.g. ``{"same day last week": 7}``; each adds a row
        ``MASE (m=7)`` scaled by the in-sample seasonal-naive MAE of ``train``; left out when
        ``train`` is not longer than the period or that MAE is 0 (MASE is undefined).

    Returns
    -------
    dict[str, dict[str, float]]
        ``{metric: {"model": value, baseline: value, ...}}`` (see :func:`regression_report`).

    Examples
    --------
    >>> train = np.array([1.0, 2.0, 4.0, 3.0, 1.0, 2.0])  # period-2 naive errors 3, 1, 3, 1
    >>> scores = score_forecast(np.array([1.0, 2.0]), np.array([1.0, 1.5]),
    ...                         {"persistence": np.array([2.0, 1.0])}, train, {"cycle": 2})
    >>> scores["MAE"], scores["MASE (m=2)"]
    ({'model': 0.25, 'persistence': 1.0}, {'model': 0.125, 'persistence': 0.5})
    """
    scores = regression_report(actual, predicted, baselines, train=train)
    if train is not None:
        forecasts = {"model": predicted, **baselines}
        for period in dict.fromkeys((seasons or {}).values()):
            if _has_seasonal_scale(train, period):
                scores[f"MASE (m={period})"] = mase_row(actual, forecasts, train, period)
    return scores


def mase_row(
    actual: np.ndarray, forecasts: Mapping[str, np.ndarray], train: np.ndarray, m: int = 1
) -> dict[str, float]:
    """Classical MASE of each forecast, scaled by the in-sample period-``m`` naive MAE.

    Examples
    --------
    >>> mase_row(np.array([3.0]), {"model": np.array([2.0])}, np.array([1.0, 2.0, 4.0]))
    {'model': 0.6666666666666666}
    """
    return {name: mase(actual, values, train=train, m=m) for name, values in forecasts.items()}


def _has_seasonal_scale(train: np.ndarray, period: int) -> bool:
    values = np.asarray(train, dtype=np.float64)
    return len(values) > period and bool(np.abs(values[period:] - values[:-period]).mean() > 0)

"""``regression_report``: every regression score of a model beside the same score of its
baselines, the table the pipelines print (DESIGN.md section 4: "a number without its
baseline is not a result").

>>> report = regression_report(
...     [1.0, 2.0, 3.0, 4.0],
...     [1.5, 2.0, 3.5, 4.0],
...     {"persistence": [0.0, 1.0, 2.0, 3.0]},
... )
>>> report["MAE"]
{'model': 0.25, 'persistence': 1.0}
>>> report["RelativeMAE vs persistence"]
{'model': 0.25, 'persistence': 1.0}
>>> list(report)
['MAE', 'RMSE', 'R2', 'MAPE', 'RelativeMAE vs persistence', 'Skill vs persistence']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.metrics.base import real_pairs
from azuraforge.learn.metrics.regression import (
    MASE,
    mae,
    mape,
    mase,
    r2,
    relative_mae,
    rmse,
    skill,
)

__all__ = ["regression_report"]

Score = Callable[[np.ndarray, np.ndarray], float]


def regression_report(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    baselines: Mapping[str, npt.ArrayLike],
    train: npt.ArrayLike | None = None,
    m: int = 1,
    scale: float | None = None,
) -> dict[str, dict[str, float]]:
    """Score a model and its baselines on the same rows, metric by metric.

    Every row of the result is one metric and maps ``'model'`` and each baseline's name to
    that predictor's score: ``MAE``, ``RMSE``, ``R2``, ``MAPE`` (left out when ``y_true``
    holds a zero, where it is undefined), ``MASE`` (only with ``train`` or ``scale``), then
    for each baseline ``RelativeMAE vs <name>`` and ``Skill vs <name>``: each predictor's
    MAE relative to that baseline's (so the baseline itself scores 1.0 and 0.0 there).

    Parameters
    ----------
    y_true
        The true values.
    y_pred
        The model's predictions, same shape.
    baselines
        Name → the baseline's predictions on the same rows (``{"persistence": ...,
        "seasonal naive": ...}``); may be empty.
    train
        The training series, for MASE's in-sample scale; MASE is left out without it or
        ``scale``.
    m
        Seasonal period of MASE's scale (1: persistence).
    scale
        MASE's scale itself, instead of ``train`` (see :class:`MASE`).

    Returns
    -------
    dict[str, dict[str, float]]
        ``{metric: {"model": value, baseline_name: value, ...}}``, in the order above.

    Raises
    ------
    ShapeError
        If a baseline's or the model's shape differs from ``y_true``'s (named in the message).
    InvalidParameterError
        If a baseline is called ``'model'``, any array holds NaN, both ``train`` and
        ``scale`` are given, or MASE's scale is not a positive number.
    """
    truth, checked = _checked(y_true, y_pred, baselines)
    scores = _scores(truth, checked, baselines, train, m, scale)
    return {
        metric: {name: fn(truth, values) for name, values in checked.items()}
        for metric, fn in scores.items()
    }


def _checked(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, baselines: Mapping[str, npt.ArrayLike]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The true values and each predictor's (``model`` first), checked as
    :func:`regression_report` says."""
    if "model" in baselines:
        raise InvalidParameterError(
            "regression_report: 'model' names the model's column; rename that baseline"
        )
    predictors = {"model": y_pred, **baselines}
    checked: dict[str, np.ndarray] = {}
    truth = np.empty(0)
    for name, values in predictors.items():
        label = "y_pred" if name == "model" else f"baseline {name!r}"
        truth, checked[name] = real_pairs("regression_report", y_true=y_true, **{label: values})
    return truth, checked


def _scores(
    truth: np.ndarray,
    checked: dict[str, np.ndarray],
    baselines: Mapping[str, npt.ArrayLike],
    train: npt.ArrayLike | None,
    m: int,
    scale: float | None,
) -> dict[str, Score]:
    """The scores the report holds, by name, in its order (see :func:`regression_report`)."""
    scores: dict[str, Score] = {"MAE": mae, "RMSE": rmse, "R2": r2}
    if np.all(truth != 0):
        scores["MAPE"] = mape
    if train is not None or scale is not None:
        MASE(train, m, scale)  # check train, m and scale once, before scoring anything
        scores["MASE"] = lambda t, p: mase(t, p, train, m, scale)
    for ref in baselines:
        scores[f"RelativeMAE vs {ref}"] = _against(relative_mae, checked[ref])
        scores[f"Skill vs {ref}"] = _against(skill, checked[ref])
    return scores


def _against(
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray], float], baseline: np.ndarray
) -> Score:
    return lambda t, p: fn(t, p, baseline)

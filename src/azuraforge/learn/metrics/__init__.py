"""Metrics: small stateful scores (``update``, ``update_many``, ``get``, ``reset``) and a
one-shot function for each, for regression, classification and trading, each read beside
its naive baseline.

>>> from azuraforge.learn.metrics import MAE, mae
>>> metric = MAE()
>>> metric.update_many([1.0, 2.0], [1.5, 2.5])
>>> metric
MAE: 0.5000
>>> mae([1.0, 2.0], [1.5, 2.5])
0.5

Definitions and formulas: ``docs/metrics.md``.
"""

from azuraforge.learn.metrics.base import Metric
from azuraforge.learn.metrics.classification import (
    F1,
    Accuracy,
    ConfusionMatrix,
    Precision,
    Recall,
    accuracy,
    confusion_matrix,
    f1,
    precision,
    recall,
)
from azuraforge.learn.metrics.regression import (
    MAE,
    MAPE,
    MASE,
    MSE,
    R2,
    RMSE,
    RelativeMAE,
    Skill,
    mae,
    mape,
    mase,
    mse,
    r2,
    relative_mae,
    rmse,
    skill,
)
from azuraforge.learn.metrics.report import regression_report
from azuraforge.learn.metrics.trading import (
    DirectionalAccuracy,
    HitRate,
    MaxDrawdown,
    SharpeRatio,
    directional_accuracy,
    hit_rate,
    majority_rate,
    max_drawdown,
    sharpe_ratio,
)

__all__ = [
    "F1",
    "MAE",
    "MAPE",
    "MASE",
    "MSE",
    "R2",
    "RMSE",
    "Accuracy",
    "ConfusionMatrix",
    "DirectionalAccuracy",
    "HitRate",
    "MaxDrawdown",
    "Metric",
    "Precision",
    "Recall",
    "RelativeMAE",
    "SharpeRatio",
    "Skill",
    "accuracy",
    "confusion_matrix",
    "directional_accuracy",
    "f1",
    "hit_rate",
    "mae",
    "majority_rate",
    "mape",
    "mase",
    "max_drawdown",
    "mse",
    "precision",
    "r2",
    "recall",
    "regression_report",
    "relative_mae",
    "rmse",
    "sharpe_ratio",
    "skill",
]

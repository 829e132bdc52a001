"""Regression metrics: MAE, MSE, RMSE, R², MAPE, MASE, and the baseline-relative ones.

Relative MAE and skill are how AzuraForge states a forecast's worth (DESIGN.md section 4):
the model's MAE divided by a naive baseline's MAE on the same rows, 1.0 meaning no better
than the baseline.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any

import numpy as np
import numpy.typing as npt

from azuraforge.core.validation import check_positive
from azuraforge.errors import InvalidParameterError
from azuraforge.learn.metrics.base import (
    FloatArray,
    Metric,
    Moments,
    as_floats,
    check_series,
    is_positive_number,
    one_pair,
    ratio,
    real_pairs,
    score,
    to_array,
)

__all__ = [
    "MAE",
    "MAPE",
    "MASE",
    "MSE",
    "R2",
    "RMSE",
    "RelativeMAE",
    "Skill",
    "mae",
    "mape",
    "mase",
    "mse",
    "r2",
    "relative_mae",
    "rmse",
    "skill",
]


class _MeanLoss(Metric):
    """The mean of a per-row loss; subclasses give the loss."""

    bigger_is_better = False
    works_with = "regression"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self._total = 0.0

    def update_many(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        t, p = real_pairs(self.name, y_true=y_true, y_pred=y_pred)
        losses = self._loss(t, p)
        self._n += t.size
        self._total += float(np.sum(losses))

    def get(self) -> float:
        return self._total / self._n if self._n else math.nan

    @abstractmethod
    def _loss(self, y_true: FloatArray, y_pred: FloatArray) -> FloatArray: ...


class MAE(_MeanLoss):
    """Mean absolute error, ``mean(|y_true - y_pred|)``.

    Examples
    --------
    >>> metric = MAE()
    >>> for t, p in [(3.0, 2.5), (-0.5, 0.0), (2.0, 2.0), (7.0, 8.0)]:
    ...     metric.update(t, p)
    >>> metric
    MAE: 0.5000
    >>> metric.get()
    0.5
    """

    def _loss(self, y_true: FloatArray, y_pred: FloatArray) -> FloatArray:
        return np.abs(y_true - y_pred)


class MSE(_MeanLoss):
    """Mean squared error, ``mean((y_true - y_pred)²)``.

    Examples
    --------
    >>> metric = MSE()
    >>> metric.update_many([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
    >>> metric
    MSE: 0.3750
    """

    def _loss(self, y_true: FloatArray, y_pred: FloatArray) -> FloatArray:
        return (y_true - y_pred) ** 2


class RMSE(MSE):
    """Root mean squared error, ``sqrt(MSE)``, in the unit of the target.

    Examples
    --------
    >>> metric = RMSE()
    >>> metric.update_many([0.0, 0.0], [3.0, -4.0])
    >>> metric
    RMSE: 3.5355
    """

    def get(self) -> float:
        return math.sqrt(super().get())


class MAPE(_MeanLoss):
    """Mean absolute percentage error, ``100 · mean(|y_true - y_pred| / |y_true|)``, in %.

    The value is a percentage (``12.5`` means 12.5 %), as River reports it; scikit-learn's
    ``mean_absolute_percentage_error`` returns the fraction (0.125).

    Raises
    ------
    InvalidParameterError
        If ``y_true`` holds a zero, where the percentage is undefined. Near-zero values make
        MAPE explode too: prefer MAE or relative MAE for series that cross zero (returns,
        temperatures in °C).

    Examples
    --------
    >>> metric = MAPE()
    >>> metric.update_many([100.0, 200.0], [110.0, 150.0])
    >>> metric
    MAPE: 17.5000%
    """

    def _loss(self, y_true: FloatArray, y_pred: FloatArray) -> FloatArray:
        zeros = np.flatnonzero(y_true == 0)
        if zeros.size:
            raise InvalidParameterError(
                f"MAPE: y_true has {zeros.size} zero(s), the first at index {zeros[0]}; "
                "the percentage error is undefined there: use MAE or RelativeMAE instead"
            )
        return 100.0 * np.abs(y_true - y_pred) / np.abs(y_true)

    def _note(self) -> str:
        return "%"


class MASE(MAE):
    """Mean absolute scaled error: the MAE divided by the in-sample naive MAE of ``train``.

    ``scale = mean(|train[t] - train[t - m]|)`` over the training series (Hyndman & Koehler),
    the MAE a seasonal-naive forecast with period ``m`` makes in sample; ``m = 1`` is
    persistence. Below 1 the model beats that in-sample naive forecast. This is *classical*
    MASE; DESIGN.md's "MASE ≤ 1.0, not worse than persistence" means :class:`RelativeMAE`,
    which compares with the baseline on the same test rows.

    Parameters
    ----------
    train
        The training part of the series (one value per step), to compute the scale from.
    m
        Seasonal period of the naive forecast in the scale: 1 (persistence), 24 (hourly
        data, daily season), 7 (daily data, weekly season) ...
    scale
        The scale itself, instead of ``train``.

    Raises
    ------
    InvalidParameterError
        If neither or both of ``train`` and ``scale`` are given, ``m`` is not a positive
        int, ``train`` has ``m`` values or fewer, or the scale is not a positive number
        (a constant training series has scale 0).

    Examples
    --------
    >>> metric = MASE(train=[1.0, 3.0, 2.0, 5.0])  # naive errors 2, 1, 3: scale 2
    >>> metric.update_many([5.0, 6.0], [4.0, 6.5])  # MAE (1 + 0.5) / 2 = 0.75
    >>> metric
    MASE: 0.3750 (scale 2.0000)

    References
    ----------
    Hyndman, R. J. & Koehler, A. B. (2006). Another look at measures of forecast accuracy.
    International Journal of Forecasting 22(4), 679-688.
    """

    def __init__(
        self, train: npt.ArrayLike | None = None, m: int = 1, scale: float | None = None
    ) -> None:
        self.train = train
        self.m = m
        self.scale = scale
        self._scale = _mase_scale(train, m, scale)
        super().__init__()

    def get(self) -> float:
        return super().get() / self._scale

    def _note(self) -> str:
        return f" (scale {self._scale:.4f})"


def _mase_scale(train: npt.ArrayLike | None, m: Any, scale: Any) -> float:
    check_positive("MASE", m=m)
    if (train is None) == (scale is None):
        raise InvalidParameterError(
            "MASE: pass either train (the training series) or scale, "
            f"got {'both' if train is not None else 'neither'}"
        )
    if train is not None:
        series = to_array(train)
        check_series("MASE", series)
        values = as_floats("MASE", "train", series)
        if values.size <= m:
            raise InvalidParameterError(
                f"MASE: train needs more than m={m} values to compute the scale, got {values.size}"
            )
        scale = float(np.mean(np.abs(values[m:] - values[:-m])))
    if not is_positive_number(scale):
        raise InvalidParameterError(
            f"MASE: the scale must be a positive number, got {scale!r}; a constant training "
            "series has scale 0: pass scale= yourself or use MAE"
        )
    return float(scale)


class RelativeMAE(Metric):
    """The model's MAE divided by a baseline's MAE on the same rows (DESIGN.md section 4).

    1.0 means no better than the baseline, 0.8 means 20 % lower error. The baseline's
    predictions come one of two ways:

    - given with the data: ``update_many(y_true, y_pred, y_baseline)``, for any baseline
      (persistence from each window's last input, seasonal naive, drift, ...);
    - built from the stream: with ``m`` set, the baseline for each value is the true value
      ``m`` steps earlier in the order fed (``m=1`` is persistence, ``m=24`` seasonal naive
      on hourly data), so ``update_many(y_true, y_pred)`` works, as the trainer calls it.
      The first ``m`` values have no baseline and are not scored, for either MAE; the
      values must come in time order, one per step.

    Parameters
    ----------
    m
        Lag of the stream-built baseline, or ``None`` (default) to require ``y_baseline``.

    Returns
    -------
    float
        ``get()``: NaN before any scored row; ``inf`` if the baseline is exact and the model
        is not.

    Raises
    ------
    InvalidParameterError
        If ``m`` is given but not a positive int; if ``y_baseline`` is missing without ``m``,
        or given with ``m``.

    Examples
    --------
    >>> metric = RelativeMAE()
    >>> metric.update_many([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], y_baseline=[0.0, 1.0, 2.0])
    >>> metric  # model MAE (0.5 + 0 + 1) / 3 = 0.5, baseline MAE 1
    RelativeMAE: 0.5000 (model MAE 0.5000 / baseline MAE 1.0000)

    Persistence built from the stream: 1.0 has no predecessor, so two rows are scored.

    >>> metric = RelativeMAE(m=1)
    >>> metric.update_many([1.0, 2.0, 4.0], [0.0, 2.5, 3.0])
    >>> metric  # model (0.5 + 1) / 2, persistence (1 + 2) / 2
    RelativeMAE: 0.5000 (model MAE 0.7500 / baseline MAE 1.5000)
    """

    bigger_is_better = False
    works_with = "regression"

    def __init__(self, m: int | None = None) -> None:
        if m is not None:
            check_positive(self.name, m=m)
        self.m = m
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self._model = 0.0
        self._baseline = 0.0
        self._history: FloatArray = np.empty(0)

    def update(self, y_true: Any, y_pred: Any, y_baseline: Any = None) -> None:
        """Add one pair, and the baseline's prediction unless ``m`` builds it."""
        t, p = one_pair(self.name, y_true, y_pred)
        b = None if y_baseline is None else one_pair(self.name, y_true, y_baseline)[1]
        self.update_many(t, p, b)

    def update_many(
        self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, y_baseline: npt.ArrayLike | None = None
    ) -> None:
        """Add arrays of true values, predictions and (unless ``m`` is set) baseline ones."""
        if self.m is None:
            if y_baseline is None:
                raise InvalidParameterError(
                    f"{self.name}: pass the baseline's predictions, update_many(y_true, "
                    "y_pred, y_baseline), or construct it with m=1 for persistence"
                )
            t, p, b = real_pairs(self.name, y_true=y_true, y_pred=y_pred, y_baseline=y_baseline)
        else:
            if y_baseline is not None:
                raise InvalidParameterError(
                    f"{self.name}(m={self.m}) builds its baseline from y_true; "
                    "construct it with m=None to pass y_baseline"
                )
            t, p, b = self._lagged(y_true, y_pred, self.m)
        self._n += t.size
        self._model += float(np.sum(np.abs(t - p)))
        self._baseline += float(np.sum(np.abs(t - b)))

    def _lagged(
        self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, m: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        t, p = real_pairs(self.name, y_true=y_true, y_pred=y_pred)
        check_series(self.name, to_array(y_true))
        stream = np.concatenate([self._history, t])
        self._history = stream[-m:]
        scored = max(stream.size - m, 0)
        return stream[m:], p[p.size - scored :], stream[:scored]

    def get(self) -> float:
        return ratio(self._model, self._baseline) if self._n else math.nan

    def _note(self) -> str:
        if not self._n:
            return ""
        n = self._n
        return f" (model MAE {self._model / n:.4f} / baseline MAE {self._baseline / n:.4f})"


class Skill(RelativeMAE):
    """Forecast skill, ``1 - relative MAE``: 0 is the baseline, 1 a perfect forecast.

    Takes its baseline exactly as :class:`RelativeMAE` does; negative values are worse than
    the baseline.

    Examples
    --------
    >>> metric = Skill()
    >>> metric.update_many([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], y_baseline=[0.0, 1.0, 2.0])
    >>> metric
    Skill: 0.5000 (model MAE 0.5000 / baseline MAE 1.0000)
    """

    bigger_is_better = True

    def get(self) -> float:
        return 1.0 - super().get()


class R2(Metric):
    """Coefficient of determination, ``1 - Σ(y - ŷ)² / Σ(y - ȳ)²``.

    ``get()`` is NaN while fewer than two values are seen or while every ``y_true`` is
    the same (the denominator is 0; scikit-learn returns 1.0 or 0.0 there). On series
    with strong autocorrelation R² is high for persistence too: read it beside a baseline.

    Examples
    --------
    >>> metric = R2()
    >>> metric.update_many([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])  # 1 - 1 / 2
    >>> metric
    R2: 0.5000
    """

    bigger_is_better = True
    works_with = "regression"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._moments = Moments()
        self._sse = 0.0
        self._low, self._high = math.inf, -math.inf

    def update_many(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        t, p = real_pairs(self.name, y_true=y_true, y_pred=y_pred)
        if not t.size:
            return
        self._moments.add(t)
        self._sse += float(np.sum((t - p) ** 2))
        self._low, self._high = min(self._low, t.min()), max(self._high, t.max())

    def get(self) -> float:
        # Compare extremes rather than m2 with 0: rounding leaves m2 tiny but not 0 for
        # constant data.
        if self._moments.n < 2 or self._low == self._high:
            return math.nan
        return 1.0 - self._sse / self._moments.m2


# ---- one-shot functions -----------------------------------------------------------------


def mae(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean absolute error of two arrays (see :class:`MAE`).

    Examples
    --------
    >>> mae([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
    0.5
    """
    return score(MAE(), y_true, y_pred)


def mse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean squared error of two arrays (see :class:`MSE`).

    Examples
    --------
    >>> mse([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
    0.375
    """
    return score(MSE(), y_true, y_pred)


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Root mean squared error of two arrays (see :class:`RMSE`).

    Examples
    --------
    >>> rmse([0.0, 0.0], [3.0, 4.0])
    3.5355339059327378
    """
    return score(RMSE(), y_true, y_pred)


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """R² of two arrays (see :class:`R2`).

    Examples
    --------
    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    return score(R2(), y_true, y_pred)


def mape(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean absolute percentage error of two arrays, in % (see :class:`MAPE`).

    Examples
    --------
    >>> mape([100.0, 200.0], [110.0, 150.0])
    17.5
    """
    return score(MAPE(), y_true, y_pred)


def mase(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    train: npt.ArrayLike | None = None,
    m: int = 1,
    scale: float | None = None,
) -> float:
    """Mean absolute scaled error of two arrays (see :class:`MASE`).

    Examples
    --------
    >>> mase([5.0, 6.0], [4.0, 6.5], train=[1.0, 3.0, 2.0, 5.0])
    0.375
    """
    return score(MASE(train, m, scale), y_true, y_pred)


def relative_mae(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_baseline: npt.ArrayLike | None = None,
    m: int | None = None,
) -> float:
    """The model's MAE over the baseline's on the same rows (see :class:`RelativeMAE`).

    Examples
    --------
    >>> relative_mae([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], y_baseline=[0.0, 1.0, 2.0])
    0.5
    >>> relative_mae([1.0, 2.0, 4.0], [0.0, 2.5, 3.0], m=1)
    0.5
    """
    metric = RelativeMAE(m)
    metric.update_many(y_true, y_pred, y_baseline)
    return metric.get()


def skill(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_baseline: npt.ArrayLike | None = None,
    m: int | None = None,
) -> float:
    """``1 - relative MAE`` of two arrays against a baseline (see :class:`Skill`).

    Examples
    --------
    >>> skill([1.0, 2.0, 3.0], [1.5, 2.0, 2.0], y_baseline=[0.0, 1.0, 2.0])
    0.5
    """
    metric = Skill(m)
    metric.update_many(y_true, y_pred, y_baseline)
    return metric.get()

"""Naive forecasts every model is scored beside: persistence, seasonal naive, drift and
climatology.

Each one forecasts ``target[rows]`` from what is known ``horizon`` rows earlier (and, for
drift and climatology, from the training rows), so it never reads the value it forecasts.
"""

from __future__ import annotations

import numpy as np

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.forecasting.frequency import Frequency


def persistence(target: np.ndarray, rows: np.ndarray, horizon: int) -> np.ndarray:
    """The last value known when the forecast is made.

    Examples
    --------
    >>> persistence(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2, 3]), horizon=2)
    array([1., 2.])
    """
    return lagged(target, rows, horizon, "persistence")


def seasonal_naive(
    target: np.ndarray, rows: np.ndarray, horizon: int, period: int, name: str = "seasonal naive"
) -> np.ndarray:
    """The value one ``period`` earlier, or, when ``horizon`` exceeds the period, the latest
    value of the same season known when the forecast is made (``period * ceil(horizon /
    period)`` rows earlier).

    Examples
    --------
    >>> series = np.arange(10.0)
    >>> seasonal_naive(series, np.array([8, 9]), horizon=1, period=4)
    array([4., 5.])
    >>> seasonal_naive(series, np.array([9]), horizon=5, period=4)
    array([1.])
    """
    return lagged(target, rows, seasonal_lag(horizon, period), name)


def seasonal_lag(horizon: int, period: int) -> int:
    """Rows back to the latest value of the same season known ``horizon`` rows ahead.

    Examples
    --------
    >>> seasonal_lag(1, 24), seasonal_lag(24, 24), seasonal_lag(25, 24)
    (24, 24, 48)
    """
    return period * -(-horizon // period)


def drift(
    target: np.ndarray, rows: np.ndarray, horizon: int, train: slice, log: bool = False
) -> np.ndarray:
    """The last known value plus the mean training change per row times ``horizon`` (times
    ``exp(mean log change * horizon)`` when ``log``).

    Examples
    --------
    >>> series = np.array([1.0, 2.0, 3.0, 5.0, 8.0])
    >>> drift(series, np.array([4]), horizon=1, train=slice(0, 3))
    array([6.])
    """
    last = persistence(target, rows, horizon)
    if log:
        mean_log_change = np.diff(np.log(target[train])).mean()
        scaled: np.ndarray = last * np.exp(mean_log_change * horizon)
        return scaled
    shifted: np.ndarray = last + np.diff(target[train]).mean() * horizon
    return shifted


def naive_baselines(
    target: np.ndarray,
    rows: np.ndarray,
    horizon: int,
    frequency: Frequency,
    reachable_only: bool = False,
) -> dict[str, np.ndarray]:
    """Persistence and each seasonal-naive baseline that fits ``frequency``, by name.

    A seasonal baseline that would read before the first row raises, unless
    ``reachable_only``, which leaves it out (:func:`unreachable_seasons` names them).

    Examples
    --------
    >>> from azuraforge.learn.forecasting.frequency import get_frequency
    >>> hours = np.arange(48.0)
    >>> naive_baselines(hours, np.array([30]), 1, get_frequency("hourly"))
    {'persistence': array([29.]), 'same hour yesterday': array([6.])}
    >>> naive_baselines(hours, np.array([20]), 1, get_frequency("hourly"), reachable_only=True)
    {'persistence': array([19.])}
    """
    forecasts = {"persistence": persistence(target, rows, horizon)}
    unreachable = unreachable_seasons(rows, horizon, frequency) if reachable_only else {}
    for name, period in frequency.seasons:
        if name not in unreachable:
            forecasts[name] = seasonal_naive(target, rows, horizon, period, name)
    return forecasts


def unreachable_seasons(rows: np.ndarray, horizon: int, frequency: Frequency) -> dict[str, int]:
    """The seasonal baselines of ``frequency`` that would read before the first row for some
    of ``rows``, with the rows back each needs.

    Examples
    --------
    >>> from azuraforge.learn.forecasting.frequency import get_frequency
    >>> unreachable_seasons(np.arange(300, 400), 1, get_frequency("daily"))
    {'same day last year': 365}
    """
    first = int(rows.min()) if len(rows) else 0
    lags = {name: seasonal_lag(horizon, period) for name, period in frequency.seasons}
    return {name: lag for name, lag in lags.items() if lag > first}


CLIMATOLOGY = "climatology"
"""The climatology baseline's name in reports and tables."""

CLIMATOLOGY_FREQUENCIES = ("daily", "weekly", "monthly", "quarterly")
"""The frequencies with a climatology baseline (an hour's climate depends on its hour too; a
year has no time of year)."""

CLIMATOLOGY_DAYS = 7
"""Days either side of a day of the year whose training values daily and weekly climatology
averages."""


def climatology(
    times: np.ndarray,
    target: np.ndarray,
    train: np.ndarray,
    rows: np.ndarray,
    frequency: Frequency,
) -> np.ndarray | None:
    """The mean training value of the same time of year: of the days within
    :data:`CLIMATOLOGY_DAYS` of the same day of the year for daily and weekly rows, of the same
    month for monthly and quarterly rows. ``None`` for other frequencies
    (:data:`CLIMATOLOGY_FREQUENCIES`), and when the training rows
    (``train``, indices of the observed training values) leave a time of year of ``rows``
    without a value (less than a year of training rows).

    Examples
    --------
    >>> from azuraforge.learn.forecasting.frequency import get_frequency
    >>> months = np.arange("2020-01", "2023-01", dtype="datetime64[M]")
    >>> values = np.tile(np.arange(12.0), 3) + np.repeat([0.0, 3.0, 6.0], 12)
    >>> climatology(months, values, np.arange(24), np.array([24, 30]), get_frequency("monthly"))
    array([1.5, 7.5])
    >>> climatology(months, values, np.arange(6), np.array([30]), get_frequency("monthly")) is None
    True
    """
    table = climatology_table(times[train], target[train], frequency)
    if table is None:
        return None
    forecast = climatology_forecast(table, times[rows], frequency)
    return None if np.isnan(forecast).any() else forecast


def climatology_table(
    times: np.ndarray, values: np.ndarray, frequency: Frequency
) -> np.ndarray | None:
    """The mean of ``values`` at each time of year (366 days, or 12 months), windowed as
    :func:`climatology` says; NaN where no value falls; ``None`` for frequencies without
    climatology. What a model blended with climatology saves to forecast new rows."""
    positions, width = _time_of_year(times, frequency)
    if positions is None:
        return None
    size = 366 if width else 12
    sums = np.bincount(positions, weights=values, minlength=size)
    counts = np.bincount(positions, minlength=size).astype(np.float64)
    if width:  # a circular window of days, so late December meets early January
        sums, counts = _circular_window(sums, width), _circular_window(counts, width)
    with np.errstate(invalid="ignore"):
        table: np.ndarray = sums / counts
    return table


def climatology_forecast(table: np.ndarray, times: np.ndarray, frequency: Frequency) -> np.ndarray:
    """The :func:`climatology_table` value of each of ``times`` (NaN where it has none)."""
    positions, _ = _time_of_year(times, frequency)
    if positions is None:
        raise InvalidParameterError(f"{frequency.name} rows have no climatology")
    forecast: np.ndarray = np.asarray(table, dtype=np.float64)[positions]
    return forecast


def _circular_window(values: np.ndarray, width: int) -> np.ndarray:
    """Each value summed with the ``width`` values either side of it, wrapping around."""
    summed = np.zeros_like(values)
    for shift in range(-width, width + 1):
        summed += np.roll(values, shift)
    return summed


def _time_of_year(times: np.ndarray, frequency: Frequency) -> tuple[np.ndarray | None, int]:
    """Each time's day of the year (0-365) and the window width in days, or its month
    (0-11) and 0; ``None`` when climatology does not fit ``frequency``."""
    stamps = np.asarray(times)
    if frequency.name not in CLIMATOLOGY_FREQUENCIES:
        return None, 0
    if frequency.unit == "D":
        days = stamps.astype("datetime64[D]")
        return (days - days.astype("datetime64[Y]")).astype(np.int64), CLIMATOLOGY_DAYS
    return stamps.astype("datetime64[M]").astype(np.int64) % 12, 0


def lagged(target: np.ndarray, rows: np.ndarray, lag: int, name: str) -> np.ndarray:
    """``target`` ``lag`` rows before each of ``rows`` (rows past its end included).

    Raises
    ------
    InvalidParameterError
        If a row lies less than ``lag`` rows after the first, naming the forecast ``name``.

    Examples
    --------
    >>> lagged(np.arange(5.0), np.array([3, 5]), 2, "two back")
    array([1., 3.])
    """
    if len(rows) and rows.min() < lag:
        raise InvalidParameterError(
            f"the forecast rows start at row {rows.min()}, before the {lag} rows the {name!r} "
            "baseline needs; use more rows or a larger train_fraction"
        )
    lagged: np.ndarray = target[rows - lag]
    return lagged

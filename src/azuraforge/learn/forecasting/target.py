"""The target in model space: the change of the (optionally log-) value over the horizon.

A model that predicts the change, not the value, falls back to persistence when it learns
nothing, instead of to something worse. :class:`ChangeTarget` computes those changes and
turns predicted changes back into values exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from azuraforge.errors import InvalidParameterError


@dataclass(frozen=True)
class ChangeTarget:
    """Changes of ``level(value)`` over ``horizon`` rows; ``level`` is the log when ``log``.

    Examples
    --------
    >>> target = ChangeTarget(horizon=2)
    >>> values = np.array([1.0, 2.0, 4.0, 7.0])
    >>> target.changes(values)
    array([nan, nan,  3.,  5.])
    >>> target.forecast(values, np.array([2, 3]), np.array([3.0, 5.0]))
    array([4., 7.])
    >>> ChangeTarget(horizon=1, log=True).forecast(values, np.array([1]), np.array([np.log(2)]))
    array([2.])
    """

    horizon: int
    log: bool = False

    def level(self, values: np.ndarray) -> np.ndarray:
        """The values in model space (float64; their log when ``log``)."""
        values = np.asarray(values)
        if not self.log:
            return values.astype(np.float64)
        if (values <= 0).any():
            raise InvalidParameterError(
                f"a log target needs values > 0, got a minimum of {values.min()}"
            )
        logs: np.ndarray = np.log(values)
        return logs

    def unlevel(self, level: np.ndarray) -> np.ndarray:
        """Undo :meth:`level`."""
        values: np.ndarray = np.exp(level) if self.log else level
        return values

    def changes(self, values: np.ndarray) -> np.ndarray:
        """The change of the level over ``horizon`` ending at each row (NaN before it)."""
        level = self.level(values)
        change = np.full(len(level), np.nan)
        change[self.horizon :] = level[self.horizon :] - level[: -self.horizon]
        return change

    def forecast(self, values: np.ndarray, rows: np.ndarray, change: np.ndarray) -> np.ndarray:
        """Values at ``rows`` from the predicted ``change`` and the value ``horizon`` rows
        before each (the last one known when the forecast is made)."""
        last_known = self.level(values)[rows - self.horizon]
        return self.unlevel(last_known + change)

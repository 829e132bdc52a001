"""DDM: the drift detection method on a stream of errors (Gama et al. 2004)."""

from __future__ import annotations

from math import sqrt

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import check_integer, check_number
from azuraforge.stream.drift.base import DriftDetector


class DDM(DriftDetector):
    r"""The drift detection method: a drift when the error rate rises above its best level.

    The stream is a learner's errors: 1 for a wrong prediction, 0 for a right one. After $i$
    of them the error rate is $p_i$ with standard deviation $s_i = \sqrt{p_i (1 - p_i) / i}$.
    Once more than ``warm_start`` values have been seen, the detector remembers $p_{min}$ and
    $s_{min}$ where $p_i + s_i$ was lowest, and signals

    - a warning when $p_i + s_i > p_{min} + w \, s_{min}$ (``warning_threshold``, 2 by
      default: about 95 % confidence),
    - a drift when $p_i + s_i > p_{min} + d \, s_{min}$ (``drift_threshold``, 3: about 99 %).

    After a drift it starts over, warm-up included. The arithmetic is River's ``DDM``, so the
    drift indices are River's; the warnings are River's plus one at each drift (River clears
    the warning when it signals a drift). As in River and the paper, $s_{min}$ is 0 when no
    error came before the end of the warm-up, and the first error after it is then a drift.

    Parameters
    ----------
    warm_start
        How many values to see before testing.
    warning_threshold
        The warning level, in standard deviations above $p_{min}$ (above 0).
    drift_threshold
        The drift level, in standard deviations above $p_{min}$ (at least
        ``warning_threshold``).
    cooldown
        Updates after a drift without another one (a rise found meanwhile and still there is
        signalled right after them). The restart's own warm-up already silences
        ``warm_start`` updates, so it only matters above that.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> errors = np.concatenate([rng.random(2000) < 0.2, rng.random(2000) < 0.5])
    >>> ddm = DDM()
    >>> for i, error in enumerate(errors):
    ...     ddm.update(error)
    ...     if ddm.drift_detected:
    ...         print(f"drift at {i}")
    drift at 2057
    >>> ddm.n_detections, ddm.n_warnings  # DDM's warning zone is often entered by chance
    (1, 1566)

    References
    ----------
    [^1]: João Gama, Pedro Medas, Gladys Castillo and Pedro Rodrigues. "Learning with drift
    detection." In Advances in Artificial Intelligence, SBIA 2004, pp. 286-295, 2004.
    """

    _STATE = (*DriftDetector._STATE, "n", "p", "p_min", "s_min")

    def __init__(
        self,
        warm_start: int = 30,
        warning_threshold: float = 2.0,
        drift_threshold: float = 3.0,
        cooldown: int = 0,
    ) -> None:
        check_integer(self, "warm_start", warm_start, least=0)
        check_number(self, "warning_threshold", warning_threshold, lambda v: v > 0, "above 0")
        check_number(
            self,
            "drift_threshold",
            drift_threshold,
            lambda v: v >= warning_threshold,
            f"at least warning_threshold ({warning_threshold})",
        )
        self.warm_start = warm_start
        self.warning_threshold = warning_threshold
        self.drift_threshold = drift_threshold
        super().__init__(cooldown)

    def _reset(self) -> None:
        self._n: int = 0
        self._p: float = 0.0
        self._p_min: float = 0.0  # with s_min, set at the first value after the warm-up
        self._s_min: float = 0.0

    def _count(self) -> int:
        return self._n

    def update(self, value: float) -> None:
        if value not in (0, 1) or value.__class__ is not int:
            value = self._as_number(value)
        if self.warning_detected:
            self._clear()
        n = self._n = self._n + 1
        p = self._p = self._p + (1.0 / n) * (value - self._p)  # River's running mean
        s = sqrt(p * (1 - p) / n)
        if n <= self.warm_start:
            return
        level = p + s
        if n == self.warm_start + 1 or level <= self._p_min + self._s_min:
            self._p_min, self._s_min = p, s
        if level > self._p_min + self.warning_threshold * self._s_min:
            self._signal(level > self._p_min + self.drift_threshold * self._s_min)

    def _as_number(self, value: float) -> float:
        if value not in (0, 1):
            raise InvalidParameterError(
                f"DDM: update takes 1 (an error) or 0 (a right prediction), got {value!r}"
            )
        return float(value)

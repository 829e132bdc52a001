"""Page-Hinkley: a cumulative test of the deviation from the running mean (Page 1954)."""

from __future__ import annotations

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import check_integer, check_number
from azuraforge.stream.drift.base import DriftDetector

MODES = ("up", "down", "both")


class PageHinkley(DriftDetector):
    r"""The Page-Hinkley test: a drift when the values stray from their mean for long enough.

    With $\bar{x}_t$ the mean of the values since the last drift, it keeps two fading sums
    of their deviations, one tilted down and one up by ``delta`` (the size of change to
    ignore):

    $$U_t = \alpha U_{t-1} + (x_t - \bar{x}_t - \delta), \qquad
    L_t = \alpha L_{t-1} + (x_t - \bar{x}_t + \delta)$$

    An increase is $U_t - \min_{k \le t} U_k$, a decrease $\max_{k \le t} L_k - L_t$ (both
    from $U_0 = L_0 = 0$). Once ``min_instances`` values have been seen it signals a drift
    when the one ``mode`` watches (or either, for ``"both"``) is above ``threshold``, a
    warning when it is above ``warning_threshold``. After a drift it starts over. The
    arithmetic is River's ``PageHinkley``, so the drift indices are River's.

    River's defaults are kept, and they suit values that vary little: on N(0, 1) values the
    sums, tilted by only ``delta=0.005``, wander like random walks and pass 50 about 65 times
    in 100,000 values. For noisy values set ``delta`` to about half the change to detect and
    ``alpha=1``: with ``delta=0.5, threshold=25`` no false alarm in 20 × 100,000 values of
    N(0, 1), and a shift of 1 found after about 50 values (the median; ``tests/stream``).

    Parameters
    ----------
    min_instances
        How many values to see before testing.
    delta
        The change to tolerate, in the units of the values (0 or more).
    threshold
        The drift level $\lambda$ (above 0).
    alpha
        The fading factor of the sums, in (0, 1]; 1 is the classic test.
    mode
        ``"up"`` watches increases, ``"down"`` decreases, ``"both"`` either.
    warning_threshold
        The warning level, in (0, ``threshold``]; None is half of ``threshold``.
    cooldown
        Updates after a drift without another one (a change found meanwhile and still there
        is signalled right after them). The restarted test first runs at its
        ``min_instances``-th value: a cool-down below that changes nothing.

    Examples
    --------
    The classic test (no fading), tolerating half the change to detect:

    >>> import numpy as np
    >>> rng = np.random.default_rng(5)
    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(2, 1, 1000)])
    >>> ph = PageHinkley(delta=0.5, threshold=25, alpha=1.0)
    >>> drifts, warnings = [], []
    >>> for i, x in enumerate(stream):
    ...     ph.update(x)
    ...     if ph.drift_detected:
    ...         drifts.append(i)
    ...     if ph.warning_detected:
    ...         warnings.append(i)
    >>> drifts, warnings
    ([1015], [1009, 1010, 1011, 1012, 1013, 1014, 1015])

    References
    ----------
    [^1]: E. S. Page. "Continuous inspection schemes." Biometrika 41 (1/2), pp. 100-115, 1954.

    [^2]: Raquel Sebastião and José Maria Fernandes. "Supporting the Page-Hinkley test with
    empirical mode decomposition for change detection." In Foundations of Intelligent
    Systems, ISMIS 2017, pp. 492-498, 2017.
    """

    _STATE = (
        *DriftDetector._STATE,
        "n",
        "mean",
        "sum_increase",
        "sum_decrease",
        "min_increase",
        "max_decrease",
    )

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
        warning_threshold: float | None = None,
        cooldown: int = 0,
    ) -> None:
        check_integer(self, "min_instances", min_instances, least=1)
        check_number(self, "delta", delta, lambda v: v >= 0, "0 or more")
        check_number(self, "threshold", threshold, lambda v: v > 0, "above 0")
        check_number(self, "alpha", alpha, lambda v: 0 < v <= 1, "in (0, 1]")
        if mode not in MODES:
            raise InvalidParameterError(
                f"PageHinkley: mode must be 'up', 'down' or 'both', got {mode!r}"
            )
        if warning_threshold is not None:
            check_number(
                self,
                "warning_threshold",
                warning_threshold,
                lambda v: 0 < v <= threshold,
                f"in (0, threshold] = (0, {threshold}] or None",
            )
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode
        self.warning_threshold = warning_threshold
        self._warning_level = threshold / 2 if warning_threshold is None else warning_threshold
        self._watch_up, self._watch_down = mode != "down", mode != "up"
        super().__init__(cooldown)

    def _reset(self) -> None:
        self._n: int = 0
        self._mean: float = 0.0
        self._sum_increase: float = 0.0
        self._sum_decrease: float = 0.0
        # Starting at U_0 = L_0 = 0 gives River's extremes (its sums start there and move
        # by -delta and +delta at the first value) without an infinity in the state.
        self._min_increase: float = 0.0
        self._max_decrease: float = 0.0

    def _count(self) -> int:
        return self._n

    def update(self, value: float) -> None:
        if value.__class__ is not float or value - value:  # x - x is 0.0 when x is finite
            value = self._as_number(value)
        if self.warning_detected:
            self._clear()
        n = self._n = self._n + 1
        mean = self._mean = self._mean + (1.0 / n) * (value - self._mean)  # River's mean
        deviation = value - mean
        up = self._sum_increase = self.alpha * self._sum_increase + deviation - self.delta
        down = self._sum_decrease = self.alpha * self._sum_decrease + deviation + self.delta
        if up < self._min_increase:
            self._min_increase = up
        if down > self._max_decrease:
            self._max_decrease = down
        if n < self.min_instances:
            return
        change = up - self._min_increase if self._watch_up else 0.0
        if self._watch_down and self._max_decrease - down > change:
            change = self._max_decrease - down
        if change > self._warning_level:
            self._signal(change > self.threshold)

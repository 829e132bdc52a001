"""ADWIN: adaptive windowing over an exponential histogram (Bifet & Gavaldà 2007)."""

from __future__ import annotations

import math

from azuraforge.stream.base import check_integer, check_number
from azuraforge.stream.drift.base import DriftDetector


class ADWIN(DriftDetector):
    r"""Adaptive windowing: a drift when two parts of the recent window have different means.

    ADWIN keeps the values since the last drift in an exponential histogram: buckets that
    summarise 1, 2, 4, ... values each (their sum and variance), at most ``max_buckets + 1``
    of each size before the two oldest are merged, so a window of $W$ values takes
    $O(\log W)$ memory. Every ``clock`` updates it tries each cut of the window between two
    buckets into an older part $W_0$ of $n_0$ values and a newer one $W_1$ of $n_1$, and
    signals a drift when their means differ by more than

    $$\epsilon = \sqrt{2 m \sigma^2 \delta'} + \tfrac{2}{3} m \delta', \quad
    m = \frac{1}{n_0 - \ell + 1} + \frac{1}{n_1 - \ell + 1}, \quad
    \delta' = \ln\frac{2 \ln W}{\delta}$$

    where $\sigma^2$ is the variance of the whole window and $\ell$ is ``min_window_length``
    (cuts leaving either part shorter than $\ell$ are not tried). The warning is the same
    test with the looser ``warning_delta``. As River's ``ADWIN`` does, the window then starts
    over empty at the next update (the test of every cut, the statistics and so the drift
    indices are River's); only cuts are tested, no bucket is dropped before a drift.

    Parameters
    ----------
    delta
        Significance of the drift test, in (0, 1): smaller means fewer false alarms and a
        later detection.
    warning_delta
        Significance of the warning test, at least ``delta`` and below 1; None is
        $\sqrt{\delta}$ (0.045 for the default ``delta``), which halves $\ln(1 / \delta)$.
    clock
        Test the cuts every ``clock`` updates (1: every update). Larger is faster but may
        detect up to ``clock - 1`` updates later.
    max_buckets
        How many buckets of each size are kept before the two oldest are merged: more is a
        finer window and more cuts to test.
    min_window_length
        The fewest values either side of a cut may hold.
    grace_period
        No test until the window holds more than this many values.
    cooldown
        Updates after a drift without another one (a change found meanwhile and still there
        is signalled at the first test after them). The window restarts empty and is first
        tested at its k-th value, k the first multiple of ``clock`` above ``grace_period``
        (32 by default): a cool-down below k changes nothing.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(0.8, 1, 1000)])
    >>> adwin = ADWIN()
    >>> drifts, warnings = [], []
    >>> for i, x in enumerate(stream):
    ...     adwin.update(x)
    ...     if adwin.drift_detected:
    ...         drifts.append((i, adwin.width))
    ...     if adwin.warning_detected:
    ...         warnings.append(i)
    >>> drifts  # (index, values in the window)
    [(1087, 1088)]
    >>> warnings  # one check before the drift, and with it
    [1055, 1087]

    References
    ----------
    [^1]: Albert Bifet and Ricard Gavaldà. "Learning from time-changing data with adaptive
    windowing." In Proceedings of the 2007 SIAM International Conference on Data Mining,
    pp. 443-448, 2007.
    """

    _STATE = (*DriftDetector._STATE, "tick", "total", "variance", "sums", "variances", "pending")

    def __init__(
        self,
        delta: float = 0.002,
        warning_delta: float | None = None,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
        cooldown: int = 0,
    ) -> None:
        check_number(self, "delta", delta, lambda v: 0 < v < 1, "in (0, 1)")
        if warning_delta is not None:
            check_number(
                self,
                "warning_delta",
                warning_delta,
                lambda v: delta <= v < 1,
                f"at least delta ({delta}) and below 1, or None",
            )
        for name, value, least in (
            ("clock", clock, 1),
            ("max_buckets", max_buckets, 1),
            ("min_window_length", min_window_length, 1),
            ("grace_period", grace_period, 0),
        ):
            check_integer(self, name, value, least)
        self.delta = delta
        self.warning_delta = warning_delta
        self._warning_delta = math.sqrt(delta) if warning_delta is None else warning_delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        super().__init__(cooldown)

    @property
    def width(self) -> int:
        """How many values the window holds (those since the last drift)."""
        return self._tick

    @property
    def estimation(self) -> float:
        """The mean of the window (0 when it is empty)."""
        total = self._total
        for x in self._pending:  # in order, as they will be added
            total += x
        return total / self._tick if self._tick else 0.0

    def _reset(self) -> None:
        self._tick = 0  # values since the last drift: the window's width (none is dropped)
        self._total = 0.0
        self._variance = 0.0  # the sum of squared deviations from the window's mean
        # Row r holds the buckets of 2**r values, oldest first: their sums and variances.
        self._sums: list[list[float]] = [[]]
        self._variances: list[list[float]] = [[]]
        # NOTE: values wait here until the next test: inserting `clock` values at once is
        # several times faster in Python and gives the same window, value for value.
        self._pending: list[float] = []

    def _step(self, x: float) -> tuple[bool, bool]:
        self._pending.append(x)
        self._tick += 1
        if self._tick % self.clock or self._tick <= self.grace_period:
            return False, False
        self._insert_pending()
        return self._test_cuts()

    def _insert_pending(self) -> None:
        """Add the pending values to the statistics and the newest row, then merge."""
        pending = self._pending
        width = self._tick - len(pending)
        total, variance = self._total, self._variance
        for x in pending:
            if width:  # Welford's update of the sum of squares, in River's order of operations
                deviation = x - total / width
                variance += width * deviation * deviation / (width + 1)
            width += 1
            total += x
        self._total, self._variance = total, variance
        self._sums[0] += pending
        self._variances[0] += [0.0] * len(pending)
        pending.clear()
        self._merge()

    def _merge(self) -> None:
        """Merge the oldest buckets of each row, two by two, until it holds ``max_buckets`` or
        one less: what merging the two oldest whenever a row overflows gives, one by one."""
        sums, variances = self._sums, self._variances
        row = 0
        while len(sums[row]) > self.max_buckets:
            if row + 1 == len(sums):
                sums.append([])
                variances.append([])
            lower_sums, lower_variances = sums[row], variances[row]
            upper_sums, upper_variances = sums[row + 1], variances[row + 1]
            merged = 2 * ((len(lower_sums) - self.max_buckets + 1) // 2)
            size = 1 << row
            half = size * 0.5
            for i in range(0, merged, 2):
                first, second = lower_sums[i], lower_sums[i + 1]
                gap = first / size - second / size
                upper_sums.append(first + second)
                upper_variances.append(
                    lower_variances[i] + lower_variances[i + 1] + half * gap * gap
                )
            del lower_sums[:merged], lower_variances[:merged]
            row += 1

    def _test_cuts(self) -> tuple[bool, bool]:
        """Test each cut, oldest first: whether one passes the drift test, one the warning's."""
        # NOTE: counts are floats here (exact below 2**53): mixed int and float arithmetic
        # makes this loop, the slowest part of ADWIN, 15 % slower.
        width, least, sqrt = float(self._tick), float(self.min_window_length), math.sqrt
        spread = self._variance / width
        log_width = 2 * math.log(width)
        loose, strict = math.log(log_width / self._warning_delta), math.log(log_width / self.delta)
        loose_linear, strict_linear = 2 / 3 * loose, 2 / 3 * strict
        n0, older, newer, offset = 0.0, 0.0, self._total, 1.0 - least
        warning = False
        for row in range(len(self._sums) - 1, -1, -1):
            size = float(1 << row)
            for total in self._sums[row]:
                n0 += size
                older += total
                newer -= total
                n1 = width - n0
                if n1 < least:
                    return False, warning
                if n0 < least:
                    continue
                m = 1.0 / (n0 + offset) + 1.0 / (n1 + offset)
                gap = abs(older / n0 - newer / n1)
                if gap > sqrt(2 * m * spread * loose) + loose_linear * m:
                    warning = True
                    if gap > sqrt(2 * m * spread * strict) + strict_linear * m:
                        return True, True
        return False, warning

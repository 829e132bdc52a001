"""ADWIN: adaptive windowing over an exponential histogram (Bifet & Gavaldà 2007)."""

from __future__ import annotations

import math
from operator import add
from typing import Any

from azuraforge.stream.base import check_integer, check_number
from azuraforge.stream.drift.base import DriftDetector

SETTLE, RESETTLE = 8, 32
"""A full test vouches for the cuts with ``SETTLE * clock`` newer values or more, until
``RESETTLE * clock`` more values came: fewer cuts to test after it, but more full tests."""


class ADWIN(DriftDetector):
    r"""Adaptive windowing: a drift when two parts of the recent window have different means.

    ADWIN keeps the values since the last drift in an exponential histogram: buckets that
    summarise 1, 2, 4, ... values each (their sum), at most ``max_buckets + 1`` of each size
    before the two oldest are merged, so a window of $W$ values takes $O(\log W)$ memory.
    Every ``clock`` updates it tries each cut of the window between two buckets into an
    older part $W_0$ of $n_0$ values and a newer one $W_1$ of $n_1$, and
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

    _STATE = (*DriftDetector._STATE, "tick", "total", "variance", "sums", "pending")
    _DERIVED = (*DriftDetector._DERIVED, "tick")
    _LEGACY = ("variances",)  # the buckets' variances: no test reads them

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
        return self._count()

    @property
    def estimation(self) -> float:
        """The mean of the window (0 when it is empty)."""
        total = self._total
        for x in self._pending:  # in order, as they will be added
            total += x
        return total / self._count() if self._count() else 0.0

    def _reset(self) -> None:
        self._width: int = 0  # values in the buckets; the window's width adds the pending ones
        self._total: float = 0.0
        self._variance: float = 0.0  # the sum of squared deviations from the window's mean
        self._sums: list[list[float]] = [[]]  # row r: the sums of 2**r values, oldest first
        # NOTE: values wait here until the next multiple of `clock`: inserting them at once
        # is several times faster in Python and gives the same window, value for value.
        self._pending: list[float] = []
        self._due: int = self.clock  # how many pending values bring the next multiple of `clock`
        self._settled: float = 0.0  # see _settled_until

    def _count(self) -> int:
        return self._width + len(self._pending)

    def update(self, value: float) -> None:
        if value.__class__ is not float or value - value:  # x - x is 0.0 when x is finite
            value = self._as_number(value)
        if self.warning_detected:
            self._clear()
        pending = self._pending
        pending.append(value)
        if len(pending) == self._due:
            self._tick_clock()

    def _state_value(self, name: str) -> Any:
        return self._count() if name == "tick" else super()._state_value(name)

    def _resume(self, state: dict[str, Any]) -> None:
        tick = state["tick"]
        self._width = tick - len(self._pending)
        self._due = (tick // self.clock + 1) * self.clock - self._width
        self._settled = 0.0  # what a full test vouched for was about another window
        super()._resume(state)

    def _tick_clock(self) -> None:
        """Insert the pending values and, past the grace period, test the cuts."""
        self._insert_pending()
        self._due = self.clock
        if self._width > self.grace_period:
            drift, warning = self._test_cuts()
            if warning:
                self._signal(drift)

    def _insert_pending(self) -> None:
        """Add the pending values to the statistics and the newest row, then merge."""
        pending = self._pending
        width, total, variance = float(self._width), self._total, self._variance
        for x in pending:
            if width:  # Welford's update of the sum of squares, in River's order of operations
                deviation = x - total / width
                variance += width * deviation * deviation / (width + 1.0)
            width += 1.0
            total += x
        self._width, self._total, self._variance = int(width), total, variance
        self._sums[0] += pending
        pending.clear()
        self._merge()

    def _merge(self) -> None:
        """Merge the oldest buckets of each row, two by two, until it holds ``max_buckets`` or
        one less: what merging the two oldest whenever a row overflows gives, one by one."""
        sums, most = self._sums, self.max_buckets
        row = 0
        while len(sums[row]) > most:
            if row + 1 == len(sums):
                sums.append([])
            lower = sums[row]
            merged = 2 * ((len(lower) - most + 1) // 2)
            sums[row + 1] += map(add, lower[0:merged:2], lower[1:merged:2])
            del lower[:merged]
            row += 1

    def _test_cuts(self) -> tuple[bool, bool]:
        """Test the cuts: whether one passes the drift test, one the warning's.

        A cut passes the warning test only if its between-parts sum of squares, ``gap**2 *
        n0 * n1 / width``, is above ``level = 2 * spread * loose`` (``m >= 1 / n0 + 1 / n1``
        and the linear term is positive): a bound that costs a third of the test, so only
        the cuts it lets through take the test itself, in River's arithmetic. The older
        cuts, those :meth:`_settled_until` vouches for, are not tested at all.
        """
        width = float(self._width)
        spread = self._variance / width
        log_width = 2 * math.log(width)
        level = 2 * spread * math.log(log_width / self._warning_delta)
        settled = self._settled_until(spread, level)
        if settled:
            return self._test_newer_cuts(settled, spread, log_width, level)
        return self._test_every_cut(spread, log_width, level)

    def _test_every_cut(self, spread: float, log_width: float, level: float) -> tuple[bool, bool]:
        """Test each cut, oldest first, the window's sums taken in River's order: the bound
        is lowered by 1e-9 of itself, a thousand times the rounding of either side, so no
        cut the test would pass is left out. Then settle (:meth:`_settle`)."""
        # NOTE: counts are floats here (exact below 2**53): mixed int and float arithmetic
        # makes this loop, the slowest part of ADWIN, 15 % slower.
        width, least = float(self._width), float(self.min_window_length)
        bound, keep = level * width * (1 - 1e-9), self._settling_point()
        stop = width - least  # the cuts that leave fewer newer values are not tested
        n0, older, newer, largest = 0.0, 0.0, self._total, 0.0
        warning = False
        for row in range(len(self._sums) - 1, -1, -1):
            size = float(1 << row)
            for total in self._sums[row]:
                n0 += size
                if n0 > stop:
                    break
                older += total
                newer -= total
                n1 = width - n0
                gap = older / n0 - newer / n1
                statistic = gap * gap * n0 * n1
                if statistic > largest and n0 <= keep:
                    largest = statistic
                if statistic > bound and n0 >= least:
                    drift, warned = self._test_cut(n0, n1, abs(gap), spread, log_width)
                    if drift:
                        return True, True
                    warning = warning or warned
        self._settle(keep, largest / width)
        return False, warning

    def _test_newer_cuts(
        self, settled: float, spread: float, log_width: float, level: float
    ) -> tuple[bool, bool]:
        """Test the cuts after ``settled``. The rows up to it are summed whole, and the newer
        part is the window's total less the older one: sums that differ from River's by
        far less than the bound's margin of 1e-3 while the mean is within 1e4 standard
        deviations of 0 (:meth:`_settled_until`); a cut the bound lets through is tested
        in River's arithmetic (:meth:`_test_cut_at`)."""
        width, least, sums = float(self._width), float(self.min_window_length), self._sums
        bound, stop, total = level * width * (1 - 1e-3), width - least, self._total
        n0, older, first = 0.0, 0.0, len(sums) - 1
        while n0 + (1 << first) * len(sums[first]) <= settled:  # rows wholly settled
            n0 += (1 << first) * len(sums[first])
            older += sum(sums[first])
            first -= 1
        warning = False
        for row in range(first, -1, -1):
            size = float(1 << row)
            for bucket in sums[row]:
                n0 += size
                older += bucket
                if n0 <= settled:
                    continue
                if n0 > stop:
                    return False, warning
                n1 = width - n0
                gap = older / n0 - (total - older) / n1
                if gap * gap * n0 * n1 > bound and n0 >= least:
                    drift, warned = self._test_cut_at(n0, spread, log_width)
                    if drift:
                        return True, True
                    warning = warning or warned
        return False, warning

    def _test_cut_at(self, cut: float, spread: float, log_width: float) -> tuple[bool, bool]:
        """:meth:`_test_cut` of the cut after ``cut`` values, its sums taken in River's
        order."""
        sums = self._sums
        buckets = (
            (float(1 << row), total) for row in range(len(sums) - 1, -1, -1) for total in sums[row]
        )
        n0, older, newer = 0.0, 0.0, self._total
        for size, total in buckets:
            n0 += size
            older += total
            newer -= total
            if n0 == cut:
                break
        n1 = float(self._width) - n0
        return self._test_cut(n0, n1, abs(older / n0 - newer / n1), spread, log_width)

    def _settling_point(self) -> float:
        """The last cut with at least ``SETTLE * clock`` newer values (0: none): from there
        back, a full test records the largest statistic for :meth:`_settled_until`."""
        newer, least = 0, SETTLE * self.clock
        for row, sums in enumerate(self._sums):
            size = 1 << row
            if newer + size * len(sums) >= least:
                newer += size * -(-(least - newer) // size)  # the buckets it takes, rounded up
                return float(self._width - newer)
            newer += size * len(sums)
        return 0.0

    def _settle(self, point: float, statistic: float) -> None:
        """Remember a full test: the cuts up to ``point`` had a largest between-parts sum of
        squares ``statistic``, the window's mean being what it is now."""
        width = float(self._width)
        self._settled = point if point and width > point else 0.0
        if self._settled:
            self._settled_statistic = statistic
            self._settled_mean = self._total / width
            self._settled_gain = math.sqrt(width * (1 + width / (width - point)))

    def _settled_until(self, spread: float, level: float) -> float:
        """The newest cut position up to which no cut can pass the warning test now (0: test
        them all), from the last full test.

        A cut's values before it do not change, and those after it only grow in number, so
        its root sum of squares has grown by at most ``|mean - mean then| * sqrt(n0 + n0**2 /
        n1 then)``: at most ``gain * |mean - mean then|`` over the settled cuts. When even the
        largest then, grown so, stays below ``level`` with a margin of 1e-3 (far above the
        rounding, while the mean is within 1e4 standard deviations of 0), none of them can
        pass. Otherwise, or once ``RESETTLE * clock`` values came after the settled cuts,
        the next test is a full one, and settles anew.
        """
        mean, fresh = self._total / self._width, self._width - self._settled
        if (
            self._settled
            and fresh <= RESETTLE * self.clock
            and abs(mean) <= 1e4 * math.sqrt(spread)
        ):
            reach = math.sqrt(self._settled_statistic)
            reach += abs(mean - self._settled_mean) * self._settled_gain
            if reach * reach < level * (1 - 1e-3):
                return self._settled
        self._settled = 0.0
        return 0.0

    def _test_cut(
        self, n0: float, n1: float, gap: float, spread: float, log_width: float
    ) -> tuple[bool, bool]:
        """Whether the cut after ``n0`` values passes the drift test and the warning test."""
        offset = 1.0 - self.min_window_length
        m = 1.0 / (n0 + offset) + 1.0 / (n1 + offset)
        loose = math.log(log_width / self._warning_delta)
        if gap <= math.sqrt(2 * m * spread * loose) + 2 / 3 * loose * m:
            return False, False
        strict = math.log(log_width / self.delta)
        return gap > math.sqrt(2 * m * spread * strict) + 2 / 3 * strict * m, True

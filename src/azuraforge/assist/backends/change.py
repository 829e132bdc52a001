"""Whether a candidate's verdicts changed: a windowed exact binomial test.

The backend selector keeps every count of good and bad answers, which tells a small, lasting
difference apart (3.5 % against 7.5 % of code answers passing their tests) but never follows a
backend that changes. :class:`ChangeTest` watches one candidate's verdicts on one task: after
each, the last ``r`` verdicts (``r`` from 1 to ``window``) are set against every verdict before
them, and a change is declared when, for some ``r``, so few (or so many) good answers among the
last ``r`` would happen with probability under ``alpha`` at the earlier rate (an exact binomial
tail; the earlier rate is Laplace's, ``(good + 1) / (verdicts + 2)``, so a short or one-sided
history never claims certainty). The stream layer's drift detectors (ADWIN, Page-Hinkley) are
built for long streams of numbers; a candidate may have ten verdicts, and the exact tail is
right at any count.

Measured under no change (``tests/assist/backends/test_change.py`` holds these bars): of
400 streams of 200 verdicts, a change was declared in 0.25 % at a rate of 3.5 %, 2 % at 7.5 %,
17.5 % at 50 % and 9 % at 98 % (a run of bad answers at a high rate looks like a drop: the
price of seeing a real one within 3 answers, median; 7 at the 90th percentile, for a backend
that went from 98 % to 15 % good answers after 8 verdicts).
"""

from __future__ import annotations

import math
from collections import deque

from azuraforge.errors import InvalidParameterError

WINDOW = 10
"""The most recent verdicts set against the earlier ones."""
ALPHA = 1e-3
"""The tail probability under which fewer good answers among the recent verdicts are a
change (a backend that got worse)."""
RISE_ALPHA = 1e-5
"""The same for more good answers (a backend that got better), stricter: at the low rates
code answers pass their tests at, a short run of luck is common (at 1e-3, 9 to 15 % of
200-verdict streams at 3.5 % and 7.5 % declared one), and a rise missed costs little: the
candidate is still revisited and its counts rise."""
MIN_BEFORE = 3
"""Earlier verdicts needed before anything is tested."""


class ChangeTest:
    """Declares a change in one candidate's rate of good answers (see the module docstring).

    Parameters
    ----------
    window
        The longest run of recent verdicts tested against the earlier ones.
    alpha, rise_alpha
        The tail probabilities under which a drop and a rise are declared (for each ``r``).
    min_before
        Earlier verdicts needed before testing.
    good, bad
        Earlier verdicts already known (a selector's restored counts).

    Examples
    --------
    >>> test = ChangeTest()
    >>> [test.update(True) for _ in range(9)][-1]
    0
    >>> [test.update(False) for _ in range(3)]
    [0, 0, 3]
    >>> test.good, test.bad
    (0.0, 3.0)
    """

    def __init__(
        self,
        window: int = WINDOW,
        alpha: float = ALPHA,
        rise_alpha: float = RISE_ALPHA,
        min_before: int = MIN_BEFORE,
        good: float = 0.0,
        bad: float = 0.0,
    ) -> None:
        if window < 1 or min_before < 1:
            raise InvalidParameterError(
                f"window and min_before must be >= 1, got {window} and {min_before}"
            )
        for name, value in (("alpha", alpha), ("rise_alpha", rise_alpha)):
            if not 0.0 < value < 1.0:
                raise InvalidParameterError(f"{name} must be in (0, 1), got {value}")
        self.window, self.alpha, self.rise_alpha = window, alpha, rise_alpha
        self.min_before = min_before
        self._before = [max(0.0, good), max(0.0, bad)]
        self._recent: deque[bool] = deque()

    @property
    def good(self) -> float:
        """Good answers counted since the last change."""
        return self._before[0] + sum(self._recent)

    @property
    def bad(self) -> float:
        """Bad answers counted since the last change."""
        return self._before[1] + len(self._recent) - sum(self._recent)

    def update(self, success: bool) -> int:
        """Count one verdict; the number of recent verdicts that differ from the earlier ones
        when a change is declared (then only they are kept), else 0."""
        self._recent.append(bool(success))
        if len(self._recent) > self.window:
            self._before[0 if self._recent.popleft() else 1] += 1
        changed = self._changed()
        if changed:
            kept = list(self._recent)[-changed:]
            self._before, self._recent = [0.0, 0.0], deque(kept)
        return changed

    def _changed(self) -> int:
        recent = list(self._recent)
        for r in range(1, len(recent) + 1):
            earlier = recent[: len(recent) - r]
            good = self._before[0] + sum(earlier)
            total = self._before[0] + self._before[1] + len(earlier)
            if total < self.min_before:
                continue
            rate = (good + 1.0) / (total + 2.0)
            fewer, more = _tails(sum(recent[-r:]), r, rate)
            if fewer < self.alpha or more < self.rise_alpha:
                return r
        return 0


def _tails(k: int, n: int, p: float) -> tuple[float, float]:
    """P(X <= k) and P(X >= k) for X binomial with ``n`` trials of rate ``p``."""
    pmf = [math.comb(n, i) * p**i * (1.0 - p) ** (n - i) for i in range(n + 1)]
    return sum(pmf[: k + 1]), sum(pmf[k:])

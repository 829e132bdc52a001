"""Promotion by a sequential paired test: a candidate shadowing the champion replaces it only
when its per-event losses are lower, at a stated error rate, however often the test is read.

Both models predict the same events; each outcome gives a pair of losses and their difference
``d = champion's loss - candidate's loss`` (positive: the candidate did better). The test
bets against "the candidate is no better than the champion by more than ``margin``": its
wealth starts at 1 and is multiplied at each event by ``1 + lam * (d - margin)``, the bet
``lam`` chosen from the events before, never negative and never so large that one event could
take more than half the wealth: ``d`` is at least ``-bound``, the most a loss can exceed
another's. While the candidate's expected advantage is at most ``margin``, the wealth is then
a nonnegative supermartingale, whatever the losses' distribution and their dependence from
event to event, so by Ville's inequality it ever reaches ``1 / alpha`` with probability at
most ``alpha``: the candidate is promoted then, and the chance of a wrong promotion stays
below ``alpha`` whether the test is read after every event or once (a fixed-sample test read
every event promotes a no-better candidate far more often: docs/hub.md has the figures).
This is testing by betting (Shafer and Vovk; Waudby-Smith and Ramdas 2023, "Estimating means
of bounded random variables by betting"), with their aGRAPA bet. A mirror bet against "the
candidate is at least as good" ends a candidate that is worse.

The bound is what makes it valid, and it cannot be learned from the data: a candidate whose
rare losses are catastrophic looks better on every event until one comes. It also sets the
pace: the largest bet is ``0.5 / (bound + margin)``, so a loss bounded tightly (log-losses of
probabilities kept in [0.2, 0.8]: ``bound`` 1.39) decides several times sooner than a loose
one (probabilities in [0.01, 0.99]: 4.6).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from azuraforge.errors import InvalidParameterError

RUNNING, PROMOTE, KEEP, UNDECIDED = "running", "promote", "keep", "undecided"
"""The test's states: still testing; the candidate is better (promote it); it is worse (keep
the champion, end the candidate); ``max_events`` came first."""
_MOST_BET = 0.5
"""The largest bet, as a share of what one event can lose: the wealth never falls by more than
half in one event."""
_PRIOR_SPREAD = 1 / 6
"""The bet's prior standard deviation of the values, as a share of their range below zero
(worth one value: the first bets are small)."""


@dataclass(frozen=True)
class Decision:
    """Where a :class:`PairedTest` stands after an event."""

    state: str
    """:data:`RUNNING`, :data:`PROMOTE`, :data:`KEEP` or :data:`UNDECIDED`."""
    events: int
    """Pairs of losses seen."""
    mean_difference: float
    """Mean of ``champion's loss - candidate's loss`` so far."""
    evidence: float
    """The wealth of the bet on the candidate: it is promoted at ``1 / alpha``."""
    against: float
    """The wealth of the bet against it: it is ended at ``1 / alpha``."""


class _Bet:
    """One side's wealth, betting that the mean of ``x`` (never below ``-low``) is above
    zero: aGRAPA's bet, ``mean / (variance + mean^2)`` of the values before (with a prior of
    mean 0 and spread ``low * _PRIOR_SPREAD`` worth one value), capped at :data:`_MOST_BET`
    of what one value can lose."""

    def __init__(self, low: float) -> None:
        self.low = low
        self.log_wealth = 0.0
        self.count, self.total, self.squares = 0, 0.0, 0.0
        """Values seen, their sum and their squared deviations from their mean (Welford)."""

    @property
    def wealth(self) -> float:
        return math.exp(min(self.log_wealth, 700.0))

    def bet(self) -> float:
        mean = self.total / (self.count + 1)
        variance = ((self.low * _PRIOR_SPREAD) ** 2 + self.squares) / (self.count + 1)
        return 0.0 if mean <= 0 else min(_MOST_BET / self.low, mean / (variance + mean**2))

    def update(self, x: float) -> None:
        self.log_wealth += math.log1p(self.bet() * x)
        before = self.total / self.count if self.count else 0.0
        self.count += 1
        self.total += x
        self.squares += (x - before) * (x - self.total / self.count)


class PairedTest:
    """A sequential test of a candidate against the champion on paired per-event losses.

    Parameters
    ----------
    alpha
        The error rate stated: the most probability of promoting a candidate whose expected
        advantage is no more than ``margin`` (and of ending one that is at least as good),
        whenever and however often the test is read.
    bound
        The largest ``|d|`` there can be (``d``: the champion's loss minus the candidate's):
        for 0-1 losses, 1; for log-losses of probabilities kept in [p, 1 - p],
        :func:`log_loss_bound`. The test is valid only if no difference can exceed it; a
        tight bound decides sooner (see the module).
    margin
        How much lower (per event, on average) the candidate's loss must be to be promoted:
        0, any advantage.
    max_events
        Events after which a test still running ends :data:`UNDECIDED` (``None``: never).

    Raises
    ------
    InvalidParameterError
        For ``alpha`` outside (0, 1), a ``bound`` that is not positive, a negative
        ``margin`` or one not below ``bound``, or ``max_events`` below 1.

    Examples
    --------
    >>> test = PairedTest(alpha=0.05, bound=1.0)
    >>> for t in range(400):  # the candidate is right where the champion errs, 1 event in 4
    ...     decision = test.update(champion=float(t % 4 == 0), candidate=0.0)
    >>> decision.state, decision.events < 400
    ('promote', True)
    """

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        bound: float = 1.0,
        margin: float = 0.0,
        max_events: int | None = None,
    ) -> None:
        if not 0 < alpha < 1:
            raise InvalidParameterError(f"PairedTest: alpha must be in (0, 1), got {alpha!r}")
        if not (math.isfinite(bound) and bound > 0):
            raise InvalidParameterError(f"PairedTest: bound must be > 0, got {bound!r}")
        if not 0 <= margin < bound:
            raise InvalidParameterError(
                f"PairedTest: margin must be in [0, bound={bound:g}), got {margin!r}"
            )
        if max_events is not None and max_events < 1:
            raise InvalidParameterError(
                f"PairedTest: max_events must be >= 1 or None, got {max_events!r}"
            )
        self.alpha, self.bound, self.margin, self.max_events = alpha, bound, margin, max_events
        self._for = _Bet(bound + margin)  # on d - margin, never below -(bound + margin)
        self._against = _Bet(bound)  # on -d
        self._state = RUNNING
        self._total = 0.0

    @property
    def decision(self) -> Decision:
        """Where the test stands."""
        events = self._for.count
        return Decision(
            state=self._state,
            events=events,
            mean_difference=self._total / events if events else 0.0,
            evidence=self._for.wealth,
            against=self._against.wealth,
        )

    def update(self, champion: float, candidate: float) -> Decision:
        """Add one event's losses (the champion's and the candidate's on the same outcome);
        once the test has decided, it stays decided and takes no more.

        Raises
        ------
        InvalidParameterError
            For a loss that is not a finite number, or two that differ by more than the
            bound.
        """
        if self._state != RUNNING:
            return self.decision
        if not (math.isfinite(champion) and math.isfinite(candidate)):
            raise InvalidParameterError(
                f"PairedTest: losses must be finite numbers, got {champion!r} and {candidate!r}"
            )
        d = champion - candidate
        if abs(d) > self.bound * (1 + 1e-9):  # rounding aside
            raise InvalidParameterError(
                f"PairedTest: losses {champion!r} and {candidate!r} differ by more than the "
                f"bound {self.bound:g}; give the bound of the losses compared (for log-losses "
                "of probabilities kept in [p, 1 - p], log_loss_bound(p))"
            )
        self._total += d
        self._for.update(d - self.margin)
        self._against.update(-d)
        if self._for.wealth >= 1 / self.alpha:
            self._state = PROMOTE
        elif self._against.wealth >= 1 / self.alpha:
            self._state = KEEP
        elif self.max_events is not None and self._for.count >= self.max_events:
            self._state = UNDECIDED
        return self.decision

    def state_dict(self) -> dict[str, Any]:
        """The test's state as JSON-compatible values (a stream's checkpoint keeps it)."""
        return {
            "state": self._state,
            "total": self._total,
            "for": asdict(_BetState.of(self._for)),
            "against": asdict(_BetState.of(self._against)),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` (of a test made with the same arguments)."""
        self._state, self._total = str(state["state"]), float(state["total"])
        _BetState(**state["for"]).into(self._for)
        _BetState(**state["against"]).into(self._against)


@dataclass(frozen=True)
class _BetState:
    log_wealth: float
    count: int
    total: float
    squares: float

    @staticmethod
    def of(bet: _Bet) -> _BetState:
        return _BetState(bet.log_wealth, bet.count, bet.total, bet.squares)

    def into(self, bet: _Bet) -> None:
        bet.log_wealth, bet.count = self.log_wealth, self.count
        bet.total, bet.squares = self.total, self.squares


def log_loss_bound(floor: float) -> float:
    """The largest difference of two log-losses of probabilities kept in [floor, 1 - floor]
    (clip the probabilities so before computing the losses the test compares).

    >>> round(log_loss_bound(0.01), 4), round(log_loss_bound(0.2), 4)
    (4.5951, 1.3863)

    Raises
    ------
    InvalidParameterError
        For ``floor`` outside (0, 0.5).
    """
    if not 0 < floor < 0.5:
        raise InvalidParameterError(f"log_loss_bound: floor must be in (0, 0.5), got {floor!r}")
    return math.log((1 - floor) / floor)

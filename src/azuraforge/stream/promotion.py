"""Promotion by a sequential paired test: a candidate shadowing the champion replaces it only
when its per-event losses are lower, at a stated error rate, however often the test is read.

Both models predict the same events; each outcome gives a pair of losses and their difference
``d = champion's loss - candidate's loss`` (positive: the candidate did better). The test
bets against "the candidate is no better than the champion by more than ``margin``": its
wealth starts at 1 and is multiplied at each event by ``1 + lam * (d - margin)``, the bet
``lam`` chosen from the events before (never negative, never so large that one event could
take the wealth to zero). While the candidate's expected advantage is at most ``margin``, the
wealth is a nonnegative supermartingale, so by Ville's inequality it ever reaches
``1 / alpha`` with probability at most ``alpha``: the candidate is promoted then, and the
chance of a wrong promotion stays below ``alpha`` whether the test is read after every event
or once (a fixed-sample test read every event promotes a no-better candidate far more often:
docs/hub.md has the figures). This is testing by betting (Shafer and Vovk; Waudby-Smith and
Ramdas 2023, "Estimating means of bounded random variables by betting"), with their aGRAPA
bet. A mirror bet against "the candidate is at least as good" ends a candidate that is worse.

A bet is only safe on a bounded value: one event must not be able to take the wealth below
zero. The worst case (``bound``: for log-losses of probabilities kept in [0.01, 0.99], 4.6
nats) is far wider than what two comparable models' losses differ by (hundredths of a nat), and
a bet capped by it grows the wealth too slowly to decide in a useful time. So each event's
difference is clipped to a clip chosen before it is seen: :data:`CLIP_SPREADS` times the
root mean square of the differences so far (the worst case for the first
:data:`WARM_UP` events, and never above it), and clipped events are counted. The guarantee
is exact for the clipped differences' mean, whatever their distribution and dependence; when
champion and candidate are equally good in the sense that their losses could be swapped (the
same model, another seed), clipping changes nothing of that, and the error rate is
``alpha``. A candidate no better on average whose rare large wins were clipped away could be
promoted more often; ``clipped`` in the decision says how often clipping touched anything.
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
"""The largest bet, as a share of what one event can lose: wealth never falls by more than
half in one event."""
CLIP_SPREADS = 6.0
"""An event's difference is clipped to this many root mean squares of the ones before."""
WARM_UP = 30
"""Events clipped to the worst-case bound only, before the differences' spread is known."""


@dataclass(frozen=True)
class Decision:
    """Where a :class:`PairedTest` stands after an event."""

    state: str
    """:data:`RUNNING`, :data:`PROMOTE`, :data:`KEEP` or :data:`UNDECIDED`."""
    events: int
    """Pairs of losses seen."""
    mean_difference: float
    """Mean of ``champion's loss - candidate's loss`` so far (clipped to the bound)."""
    evidence: float
    """The wealth of the bet on the candidate: it is promoted at ``1 / alpha``."""
    against: float
    """The wealth of the bet against it: it is ended at ``1 / alpha``."""
    clipped: int
    """Differences clipped (beyond the clip of their event)."""


class _Bet:
    """One side's wealth, betting that the mean of ``x`` is above zero, each value coming
    with its lower limit ``low`` (known before it): aGRAPA's bet, ``mean / (variance +
    mean^2)`` of the values before (a prior of mean 0 and variance ``(low / CLIP_SPREADS)^2``
    worth one value), capped at :data:`_MOST_BET` of what the value can lose."""

    def __init__(self) -> None:
        self.log_wealth = 0.0
        self.count, self.total, self.squares = 0, 0.0, 0.0
        """Values seen, their sum and their squared deviations from their mean (Welford)."""

    @property
    def wealth(self) -> float:
        return math.exp(min(self.log_wealth, 700.0))

    def bet(self, low: float) -> float:
        mean = self.total / (self.count + 1)
        variance = ((low / CLIP_SPREADS) ** 2 + self.squares) / (self.count + 1)
        return 0.0 if mean <= 0 else min(_MOST_BET / low, mean / (variance + mean**2))

    def update(self, x: float, low: float) -> None:
        self.log_wealth += math.log1p(self.bet(low) * x)
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
        :func:`log_loss_bound`. Each difference is clipped to at most this (see the module).
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
        self._for, self._against = _Bet(), _Bet()  # on d - margin, on -d
        self._state = RUNNING
        self._total = self._squares = 0.0
        self._clipped = 0

    @property
    def clip(self) -> float:
        """What the next difference is clipped to (chosen before it is seen)."""
        events = self._for.count
        if events < WARM_UP:
            return self.bound
        spread = math.sqrt(self._squares / events)
        return min(self.bound, max(CLIP_SPREADS * spread, self.bound * 1e-6))

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
            clipped=self._clipped,
        )

    def update(self, champion: float, candidate: float) -> Decision:
        """Add one event's losses (the champion's and the candidate's on the same outcome);
        once the test has decided, it stays decided and takes no more.

        Raises
        ------
        InvalidParameterError
            For a loss that is not a finite number.
        """
        if self._state != RUNNING:
            return self.decision
        if not (math.isfinite(champion) and math.isfinite(candidate)):
            raise InvalidParameterError(
                f"PairedTest: losses must be finite numbers, got {champion!r} and {candidate!r}"
            )
        clip = self.clip
        d = champion - candidate
        self._squares += min(d * d, self.bound**2)
        if abs(d) > clip:
            d = math.copysign(clip, d)
            self._clipped += 1
        self._total += d
        self._for.update(d - self.margin, clip + self.margin)
        self._against.update(-d, clip)
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
            "squares": self._squares,
            "clipped": self._clipped,
            "for": asdict(_BetState.of(self._for)),
            "against": asdict(_BetState.of(self._against)),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict` (of a test made with the same arguments)."""
        self._state, self._total = str(state["state"]), float(state["total"])
        self._squares = float(state["squares"])
        self._clipped = int(state["clipped"])
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
    """The largest difference of two log-losses of probabilities kept in [floor, 1 - floor].

    >>> round(log_loss_bound(0.01), 4)
    4.5951
    """
    if not 0 < floor < 0.5:
        raise InvalidParameterError(f"log_loss_bound: floor must be in (0, 0.5), got {floor!r}")
    return math.log((1 - floor) / floor)

"""Calm and turbulent regimes of a price, told apart online by a two-state hidden Markov model
over its returns.

:class:`VolatilityRegime` is a :class:`~azuraforge.stream.features.Feature`: each value's
output ``regime`` is the filtered probability that the market is turbulent now, given the
returns so far (none from the future), usable by a learner as a feature and drawn as bands.

The model: a return ``r`` (less its running mean) is normal with variance ``var_calm`` or
``var_turbulent`` by a hidden state that stays put with probability ``stay`` each step. The
forward filter gives the state's probability after each return; the two variances are then
learned online (Cappé's online EM with forgetting: each state's weighted mean of squared
returns over about the last ``memory`` returns, weighted by the filtered probabilities), so
the model follows a market whose volatility drifts. The first ``warmup`` returns set the
starting variances (half and twice their variance). Where the learned variances are less
than ``min_ratio`` apart there is one regime: it is the calm one, at the pooled variance,
and the turbulent one is taken ``min_ratio`` above it, so that "turbulent" keeps its
meaning through a long quiet spell (split evenly, the probability would be noise).

>>> regime = VolatilityRegime(warmup=3)
>>> [round(regime.update(price).get("regime", -1), 2) for price in (100, 101, 100, 101, 100.5)]
[-1, -1, -1, 0.5, 0.47]
>>> round(regime.update(104.0)["regime"], 2)  # a move of 3.5 % after ones of 0.5 % to 1 %
0.93
"""

from __future__ import annotations

import math

import numpy as np

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.features import Feature

WARMUP = 50
"""The returns a :class:`VolatilityRegime` takes by default before its first output."""
_TINY = 1e-24
"""The least variance of a state (a price that does not move at all has none)."""


class VolatilityRegime(Feature):
    """The probability that a price's volatility is in its turbulent regime (``regime``).

    Parameters
    ----------
    stay
        Each step's chance that the regime does not change (0.99: about 100 steps a regime).
    memory
        About how many returns the learned variances weigh.
    warmup
        Returns before the first output.
    min_ratio
        The least ratio of the turbulent variance to the calm one (4: twice the volatility).

    References
    ----------
    Hamilton, J. D. (1989), "A new approach to the economic analysis of nonstationary time
    series and the business cycle", *Econometrica* 57(2): the two-state switching model.
    Cappé, O. (2011), "Online EM algorithm for hidden Markov models", *Journal of
    Computational and Graphical Statistics* 20(3): learning its parameters as it filters.
    """

    def __init__(
        self, stay: float = 0.99, memory: int = 500, warmup: int = WARMUP, min_ratio: float = 4.0
    ) -> None:
        if not 0.5 <= stay < 1:
            raise InvalidParameterError(f"VolatilityRegime: stay must be in [0.5, 1), got {stay}")
        for name, size, least in (("memory", memory, 10), ("warmup", warmup, 2)):
            if isinstance(size, bool) or not isinstance(size, int) or size < least:
                raise InvalidParameterError(
                    f"VolatilityRegime: {name} must be an integer >= {least}, got {size!r}"
                )
        if not min_ratio > 1:
            raise InvalidParameterError(
                f"VolatilityRegime: min_ratio must be above 1, got {min_ratio}"
            )
        self.stay, self.memory, self.warmup, self.min_ratio = stay, memory, warmup, min_ratio
        self._last: float | None = None
        self._first: list[float] = []  # the warm-up's returns
        self._mean = 0.0
        self._turbulent = 0.5  # the filtered probability
        self._weights = [0.5, 0.5]  # calm, turbulent: the forgetful sums of probabilities
        self._squares = [0.0, 0.0]  # ... and of probability x squared return

    @property
    def names(self) -> tuple[str, ...]:
        return ("regime",)

    @property
    def variances(self) -> tuple[float, float]:
        """The calm and turbulent variances learned so far (zeros while warming up)."""
        calm, turbulent = (s / w for s, w in zip(self._squares, self._weights, strict=True))
        return calm, turbulent

    def update(self, value: float) -> dict[str, float]:
        last, self._last = self._last, value
        if last is None:
            return {}
        change = value / last - 1
        if len(self._first) < self.warmup:
            self._first.append(change)
            if len(self._first) == self.warmup:
                self._start()
                return {"regime": self._turbulent}
            return {}
        self._filter(change)
        return {"regime": self._turbulent}

    def batch(self, values: np.ndarray) -> dict[str, np.ndarray]:
        fresh = VolatilityRegime(self.stay, self.memory, self.warmup, self.min_ratio)
        out = np.full(len(values), np.nan)
        for i, value in enumerate(np.asarray(values, dtype=np.float64)):
            out[i] = fresh.update(float(value)).get("regime", np.nan)
        return {"regime": out}

    def _start(self) -> None:
        returns = np.asarray(self._first)
        self._mean = float(returns.mean())
        variance = max(float(returns.var()), _TINY)
        self._squares = [0.25 * variance, variance]  # with weights 0.5: half and twice

    def _filter(self, change: float) -> None:
        """One step of the forward filter, then of the online EM."""
        rate = 1 / self.memory
        self._mean += rate * (change - self._mean)
        square = (change - self._mean) ** 2
        calm, turbulent = self._kept_apart(*self.variances)
        prior = self.stay * self._turbulent + (1 - self.stay) * (1 - self._turbulent)
        # The likelihoods' ratio in logs: a return of many calm deviations underflows both.
        log_ratio = 0.5 * (math.log(calm / turbulent) + square / calm - square / turbulent)
        odds = math.log(prior / (1 - prior)) + log_ratio
        # The prior's log-odds are at least log(0.01 / 0.99) and the ratio's at least half the
        # log of calm / turbulent (> 1e-24 / 1e24): exp(-odds) cannot overflow.
        self._turbulent = 1 / (1 + math.exp(-odds))
        for state, weight in enumerate((1 - self._turbulent, self._turbulent)):
            self._weights[state] += rate * (weight - self._weights[state])
            self._squares[state] += rate * (weight * square - self._squares[state])

    def _kept_apart(self, calm: float, turbulent: float) -> tuple[float, float]:
        """The two variances; where they are less than ``min_ratio`` apart there is one regime
        to see: the calm one at the pooled variance, the turbulent one ``min_ratio`` above."""
        calm, turbulent = max(calm, _TINY), max(turbulent, _TINY)
        if turbulent >= self.min_ratio * calm:
            return calm, turbulent
        pooled = max(sum(self._squares) / sum(self._weights), _TINY)
        return pooled, self.min_ratio * pooled

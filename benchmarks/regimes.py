"""The volatility regime detector (``azuraforge.stream.regime``), measured: how often it names
known regimes right beside a rolling standard deviation told the true threshold, how often
it calls a market with one regime turbulent, what its labels say about the next move on the
project's real streams, and whether the learners do better with it as a feature.

- **Known regimes.** Returns whose volatility switches between 0.5 % and 2 % by a hidden
  Markov chain that stays put with probability 0.99 (``seeds`` series of 6,000): the share of
  returns labelled right (probability above 0.5), and the events from a true switch to the
  label's, beside a rolling standard deviation of 20 returns above the geometric mean of the
  two true levels (a threshold the detector is not told) and beside "always calm".
- **One regime.** 100,000 normal returns, and as many Student-t (4 degrees of freedom, fat
  tails as in markets): the share labelled turbulent.
- **Real streams.** BTC hourly and S&P 500 daily: the share of events labelled turbulent, and
  the mean absolute *next* return after a turbulent label over that after a calm one (the
  labels use no future), beside the rolling standard deviation above its running median.
- **As a feature.** The stream library's Adam logistic regression learning the next direction
  test-then-train on each real stream with and without the regime among its features.

Usage::

    .venv/bin/python benchmarks/regimes.py [--quick] [--out docs/benchmarks.md] [--json PATH]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from azuraforge.learn.datasets.fetching import fetch
from azuraforge.stream import CsvReplay
from azuraforge.stream.direction import default_features, make_learner
from azuraforge.stream.online import DirectionLoop
from azuraforge.stream.regime import VolatilityRegime
from harness import environment_block, run_numpy_report

START, END = "<!-- regimes:start -->", "<!-- regimes:end -->"
CALM, TURBULENT, STAY = 0.005, 0.02, 0.99
WINDOW = 20
REAL = {"BTC hourly": ("btc-hourly", "close"), "S&P 500 daily": ("sp500-daily", "Close")}
SIZES = {
    "quick": {"seeds": 3, "stationary": 20_000, "events": 3000},
    "full": {"seeds": 40, "stationary": 100_000, "events": None},
}
"""Synthetic series, returns of one regime, and the real streams' first events (None: all)."""


def switching(events: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Prices whose returns' volatility switches by a hidden Markov chain; the prices and
    each price's true state (its return's: True for turbulent; the first is calm)."""
    rng = np.random.default_rng(seed)
    flips = rng.random(events) >= STAY
    flips[0] = False
    states = np.cumsum(flips) % 2 == 1
    returns = rng.normal(0.0, np.where(states, TURBULENT, CALM))
    return 100 * np.cumprod(1 + returns), states


def rolling_std(prices: np.ndarray) -> np.ndarray:
    """The std of the last :data:`WINDOW` returns at each price (NaN before)."""
    returns = np.diff(prices) / prices[:-1]
    out = np.full(len(prices), np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(returns, WINDOW)
    out[WINDOW:] = windows.std(axis=1)
    return out


def delays(labels: np.ndarray, states: np.ndarray) -> list[int]:
    """For each true switch, the events until the labels first agree with the new state
    (switches the labels never caught before the next one are left out)."""
    switches = np.flatnonzero(states[1:] != states[:-1]) + 1
    found = []
    for at, following in zip(switches, [*switches[1:], len(states)], strict=True):
        agree = np.flatnonzero(labels[at:following] == states[at])
        if len(agree):
            found.append(int(agree[0]))
    return found


def known_regimes(seeds: int) -> dict[str, Any]:
    detector: dict[str, list[float]] = {"accuracy": [], "delay": []}
    baseline: dict[str, list[float]] = {"accuracy": [], "delay": []}
    calm, micros = [], []
    for seed in range(seeds):
        prices, states = switching(6000, seed)
        started = time.perf_counter()
        probabilities = VolatilityRegime().batch(prices)["regime"]
        micros.append((time.perf_counter() - started) / len(prices) * 1e6)
        stds = rolling_std(prices)
        ready = ~np.isnan(probabilities) & ~np.isnan(stds)
        for found, labels in (
            (detector, probabilities > 0.5),
            (baseline, stds > np.sqrt(CALM * TURBULENT)),
        ):
            found["accuracy"].append(float((labels[ready] == states[ready]).mean()))
            found["delay"].append(statistics.median(delays(labels[ready], states[ready])))
        calm.append(float((~states[ready]).mean()))
    return {
        "detector": {k: statistics.median(v) for k, v in detector.items()},
        "rolling_std": {k: statistics.median(v) for k, v in baseline.items()},
        "always_calm": statistics.median(calm),
        "microseconds_per_event": statistics.median(micros),
    }


def one_regime(events: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    series = {
        "normal": rng.normal(0, 0.01, events),
        "student_t4": 0.01 * rng.standard_t(4, events) / np.sqrt(2),  # unit variance
    }
    found = {}
    for name, returns in series.items():
        labels = VolatilityRegime().batch(100 * np.cumprod(1 + returns))["regime"]
        found[name] = float(np.nanmean(labels > 0.5))
    return found


def real_streams(most: int | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, (dataset, column) in REAL.items():
        path = next(iter(fetch(dataset).values()))
        events = list(CsvReplay(path, columns=[column], price_column=column))[:most]
        prices = np.array([event.values[column] for event in events])
        after = np.abs(np.diff(prices) / prices[:-1])  # after[i]: the move from price i on
        probabilities = VolatilityRegime().batch(prices)["regime"][:-1]
        stds = rolling_std(prices)[:-1]
        medians = _running_medians(stds)
        found[name] = {
            "events": len(prices),
            "turbulent_share": float(np.nanmean(probabilities > 0.5)),
            "detector_ratio": _ratio(after, probabilities > 0.5, ~np.isnan(probabilities)),
            "rolling_std_ratio": _ratio(after, stds > medians, ~np.isnan(medians)),
            "accuracy": {
                regime: _direction_accuracy(events, column, regime) for regime in (False, True)
            },
        }
    return found


def _running_medians(values: np.ndarray) -> np.ndarray:
    """Each value's median of the values before it (NaN while there are none)."""
    out = np.full(len(values), np.nan)
    seen: list[float] = []
    for i, value in enumerate(values):
        if seen:
            out[i] = seen[len(seen) // 2]
        if not np.isnan(value):
            seen.insert(int(np.searchsorted(seen, value)), float(value))
    return out


def _ratio(after: np.ndarray, turbulent: np.ndarray, ready: np.ndarray) -> float:
    """The mean next absolute return after a turbulent label over that after a calm one."""
    return float(after[ready & turbulent].mean() / after[ready & ~turbulent].mean())


def _direction_accuracy(events: list[Any], column: str, regime: bool) -> float:
    loop = DirectionLoop(
        make_learner("logreg-adam"), name="learner", column=column,
        features=default_features(column, regime=regime),
    )  # fmt: skip
    for event in events:
        loop.step(event)
    return loop.scores()["learner/accuracy"]


def section(report: dict[str, Any]) -> str:
    results, size = report["results"], report["size"]
    known, one, real = results["known"], results["one_regime"], results["real"]
    lines = [
        START, "## The volatility regime detector: known regimes, one regime, real streams", "",
        f"Known regimes ({size['seeds']} series of 6,000 returns, volatility 0.5 % or 2 %, "
        "staying put with probability 0.99; medians):", "",
        "| labels | share right | events from a switch to the label's |",
        "| --- | ---: | ---: |",
        f"| `VolatilityRegime` (defaults) | {known['detector']['accuracy']:.3f} | "
        f"{known['detector']['delay']:.0f} |",
        f"| rolling std of {WINDOW} returns, told the true threshold | "
        f"{known['rolling_std']['accuracy']:.3f} | {known['rolling_std']['delay']:.0f} |",
        f"| always calm | {known['always_calm']:.3f} | - |", "",
        f"One regime ({size['stationary']:,} returns): labelled turbulent "
        f"{one['normal']:.1%} of normal returns, {one['student_t4']:.1%} of Student-t (4) ones. "
        f"Cost: {known['microseconds_per_event']:.1f} µs an event (one pass, pure Python).", "",
        "| stream | events | labelled turbulent | next move after turbulent / after calm | "
        "the same for rolling std above its running median | direction accuracy, learner "
        "without / with the regime feature |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]  # fmt: skip
    for name, at in real.items():
        lines.append(
            f"| {name} | {at['events']:,} | {at['turbulent_share']:.1%} | "
            f"{at['detector_ratio']:.2f} | {at['rolling_std_ratio']:.2f} | "
            f"{at['accuracy']['False']:.4f} / {at['accuracy']['True']:.4f} |"
        )
    lines += ["", f"Command: `{report['command']}`", "", environment_block(report["environment"]),
              END]  # fmt: skip
    return "\n".join(lines)


def measure(size: dict[str, Any]) -> dict[str, Any]:
    real = real_streams(size["events"])
    for at in real.values():
        at["accuracy"] = {str(k): v for k, v in at["accuracy"].items()}
    return {
        "known": known_regimes(size["seeds"]),
        "one_regime": one_regime(size["stationary"]),
        "real": real,
    }


def main(argv: list[str] | None = None) -> None:
    _, report = run_numpy_report(
        "regimes", __doc__.splitlines()[0], argv, SIZES, measure, section, (START, END)
    )
    share = report["results"]["known"]["detector"]["accuracy"]
    if share < 0.85:
        raise SystemExit(f"the detector named known regimes right only {share:.1%} of the time")


if __name__ == "__main__":
    main()

"""A synthetic price stream with a known shift: what tests and benchmarks of the hub's loop
need and no real series gives (a change at a known event)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

START = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
"""The first event's time."""


def shifted_prices(events: int, shift_at: int, *, keep: float = 0.8, seed: int = 0) -> list[float]:
    """Prices whose next direction repeats the last with probability ``keep`` before event
    ``shift_at`` and reverses it with that probability from then on (momentum, then mean
    reversion), each step 0.5 % to 1.5 % of the price.

    >>> prices = shifted_prices(1000, 500, keep=0.9, seed=1)
    >>> len(prices), all(p > 0 for p in prices)
    (1000, True)
    """
    rng = np.random.default_rng(seed)
    up, price, prices = True, 100.0, []
    for event in range(events):
        prices.append(price)
        same = rng.random() < keep
        up = up == same if event < shift_at else up != same
        step = rng.uniform(0.005, 0.015)
        price *= 1 + step if up else 1 - step
    return prices


def write_shifted_csv(
    path: Path, events: int, shift_at: int, *, keep: float = 0.8, seed: int = 0,
    every: float = 3600.0,
) -> Path:  # fmt: skip
    """:func:`shifted_prices` as a CSV of ``time`` (ISO 8601, ``every`` seconds apart) and
    ``close``; ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "close"])
        for event, price in enumerate(shifted_prices(events, shift_at, keep=keep, seed=seed)):
            stamp = datetime.fromtimestamp(START + event * every, UTC).isoformat()
            writer.writerow([stamp, f"{price:.6f}"])
    return path

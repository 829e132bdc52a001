"""Where ADWIN's time goes: CPU time per update of each stage, beside River's ADWIN.

Runs the drift stream of ``stream_vs_river.py`` (100,000 seeded values, the mean shifting
by 0.5 halfway) through ADWINs that stop after one more stage each: a loop around a
detector that does nothing, ours keeping the pending values only, then inserting them
(Welford's sums), then merging the buckets, then testing the cuts (ours whole), and River's
``drift.ADWIN``. The difference between two rows is the cost of a stage. CPU time
(``time.process_time``), the median of ``--repeats`` passes of each, taking turns.

Usage::

    .venv/bin/python benchmarks/adwin_stages.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from river import drift as river_drift

from azuraforge.stream.drift import ADWIN
from stream_vs_river import DETECTORS, NoDetector, drift_stream


class PendingOnly(ADWIN):
    """Keeps the values until each multiple of ``clock`` and drops them there."""

    def _tick_clock(self) -> None:
        self._pending.clear()


class Inserting(ADWIN):
    """Inserts the values into the window's sums, then empties the newest row."""

    def _merge(self) -> None:
        self._sums[0].clear()

    def _test_cuts(self) -> tuple[bool, bool]:
        return False, False


class Merging(ADWIN):
    """Inserts and merges; tests no cut."""

    def _test_cuts(self) -> tuple[bool, bool]:
        return False, False


STAGES: dict[str, Any] = {
    "loop, a detector that does nothing": NoDetector,
    "+ update: check the value, keep it pending": PendingOnly,
    "+ insert: Welford's sums, in River's order": Inserting,
    "+ merge the buckets": Merging,
    "+ test the cuts: ours `ADWIN`": ADWIN,
    "River `drift.ADWIN`": river_drift.ADWIN,
}


def cpu_per_update(make: Any, values: list[float]) -> float:
    """CPU µs per update of one pass: ``update`` then ``drift_detected``."""
    detector, found = make(**DETECTORS["ADWIN"]) if make is not NoDetector else make(), 0
    start = time.process_time()
    for value in values:
        detector.update(value)
        if detector.drift_detected:
            found += 1
    return (time.process_time() - start) / len(values) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="passes of each stage")
    args = parser.parse_args()
    values, _ = drift_stream(100_000)
    times: dict[str, list[float]] = {name: [] for name in STAGES}
    for turn in range(args.repeats):
        for name in list(STAGES)[:: 1 if turn % 2 == 0 else -1]:
            times[name].append(cpu_per_update(STAGES[name], values))
    print(f"load average before the last pass: {os.getloadavg()[0]:.2f}")
    print("| stage | CPU µs per update (median) |\n|---|---:|")
    for name, taken in times.items():
        print(f"| {name} | {statistics.median(taken):.3f} |")


if __name__ == "__main__":
    main()

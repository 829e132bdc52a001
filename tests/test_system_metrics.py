"""The system metrics sampler: what it samples, at which steps, how often, and that a
failure never reaches the run."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from azuraforge import system_metrics
from azuraforge.system_metrics import NAMES, PROCESS_RSS, PROCESS_THREADS, SystemSampler


def test_a_sampler_logs_every_metric_at_each_interval_until_stopped() -> None:
    logged: list[tuple[dict[str, float], int]] = []
    sampler = SystemSampler(lambda metrics, step: logged.append((metrics, step)), 0.1)
    with sampler:
        time.sleep(0.55)
    count = len(logged)
    time.sleep(0.25)
    assert 3 <= count <= 6 and len(logged) == count  # none after stop
    assert [step for _, step in logged] == list(range(count))
    assert all(set(metrics) == set(NAMES) for metrics, _ in logged)
    metrics = logged[-1][0]
    assert metrics[PROCESS_RSS] > 10  # this Python process, in MB
    assert metrics[PROCESS_THREADS] >= 2  # the main thread and the sampler's
    assert all(t.name != "system-metrics" for t in threading.enumerate())


def test_a_sampler_whose_log_raises_stops_saying_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def refuse(metrics: dict[str, float], step: int) -> None:
        calls.append(step)
        raise RuntimeError("the buffer is closed")

    with caplog.at_level(logging.WARNING, system_metrics.__name__), SystemSampler(refuse, 0.05):
        time.sleep(0.3)
    assert calls == [0]
    assert [r.getMessage() for r in caplog.records] == [
        "system metrics are not sampled: RuntimeError: the buffer is closed"
    ]


@pytest.mark.parametrize("interval", [0, -1.0, float("inf"), float("nan")])
def test_a_sampler_needs_an_interval_above_zero(interval: float) -> None:
    with pytest.raises(ValueError, match="interval must be a number of seconds above 0"):
        SystemSampler(lambda metrics, step: None, interval)

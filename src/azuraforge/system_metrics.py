"""System metrics of a run's process: CPU, memory and threads, sampled every few seconds
and logged among the run's metrics as ``system/...``, named as MLflow names its own.

The machine's figures keep MLflow's names (``mlflow.system_metrics``), so a chart or a
query written for MLflow's finds them; the process's own, which MLflow does not sample,
are named after them:

========================================== ===============================================
``system/cpu_utilization_percentage``      the machine's CPU use, 0-100 (MLflow's)
``system/system_memory_usage_megabytes``   the machine's memory in use, MB (MLflow's)
``system/system_memory_usage_percentage``  the same, as a share of its memory (MLflow's)
``system/process_cpu_utilization_percentage`` the run's process, 100 per core it keeps busy
``system/process_memory_rss_megabytes``    the run's process's resident memory, MB
``system/process_thread_count``            the run's process's threads
========================================== ===============================================

Megabytes are 10^6 bytes, as MLflow's. Each sample is logged at the next step (0, 1, 2...).
This module imports nothing but the standard library: ``psutil`` is imported when sampling
starts, so the platform's job kernel and ``azuraforge.track`` (a script's client) both use
:class:`SystemSampler` without a cost at import.

>>> sampler = SystemSampler(lambda metrics, step: None, interval=10.0)
>>> sorted(sampler.sample())[0]
'system/cpu_utilization_percentage'
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

_log = logging.getLogger(__name__)

PREFIX = "system/"
"""What every system metric's name starts with (MLflow's prefix)."""
CPU = "system/cpu_utilization_percentage"
MEMORY = "system/system_memory_usage_megabytes"
MEMORY_PERCENT = "system/system_memory_usage_percentage"
PROCESS_CPU = "system/process_cpu_utilization_percentage"
PROCESS_RSS = "system/process_memory_rss_megabytes"
PROCESS_THREADS = "system/process_thread_count"
NAMES = (CPU, MEMORY, MEMORY_PERCENT, PROCESS_CPU, PROCESS_RSS, PROCESS_THREADS)
"""Every metric a sample holds."""
DEFAULT_INTERVAL = 10.0
"""Seconds between two samples, as MLflow's default."""
MEGABYTE = 1e6

LogMetrics = Callable[[dict[str, float], int], None]
"""Where samples go: ``log(metrics, step)``, a run context's ``log_metrics``."""


class SystemSampler:
    """Samples the machine and the process ``pid`` (this one by default) every ``interval``
    seconds on a daemon thread once started, and hands each sample to ``log`` (which must
    only queue it: a run context's buffered ``log_metrics``), at steps 0, 1, 2...

    The first sample is logged ``interval`` seconds after :meth:`start` (CPU use is measured
    over the time since the previous sample), as MLflow does: a run shorter than
    ``interval`` logs none. Sampling never raises into the run: a
    failed sample (psutil missing, the process gone) is said once in the log and ends it.
    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Raises
    ------
    ValueError
        For an ``interval`` that is not a number of seconds above 0.
    """

    def __init__(self, log: LogMetrics, interval: float = DEFAULT_INTERVAL, *,
                 pid: int | None = None) -> None:  # fmt: skip
        if not (isinstance(interval, int | float) and 0 < interval < float("inf")):
            raise ValueError(f"interval must be a number of seconds above 0, got {interval!r}")
        self.log, self.interval, self.pid = log, float(interval), pid or os.getpid()
        self.samples = 0
        """How many samples were logged."""
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Any = None

    def sample(self) -> dict[str, float]:
        """One sample of every metric of :data:`NAMES` (CPU use since the previous one).

        Raises
        ------
        ImportError
            When psutil is not installed.
        """
        import psutil

        if self._process is None:
            self._process = psutil.Process(self.pid)
        process = self._process
        with process.oneshot():
            process_cpu = process.cpu_percent()
            rss = process.memory_info().rss
            threads = process.num_threads()
        memory = psutil.virtual_memory()
        return {
            CPU: psutil.cpu_percent(),
            MEMORY: round(memory.used / MEGABYTE, 1),
            MEMORY_PERCENT: round(memory.used / memory.total * 100, 1),
            PROCESS_CPU: process_cpu,
            PROCESS_RSS: round(rss / MEGABYTE, 1),
            PROCESS_THREADS: float(threads),
        }

    def start(self) -> SystemSampler:
        """Start sampling on a daemon thread (a first, unlogged sample starts the CPU
        measure); itself. Without psutil, the log says so and nothing is sampled."""
        if not self._sampled(log=False):
            return self
        self._thread = threading.Thread(target=self._loop, name="system-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop sampling and wait up to ``timeout`` seconds for the thread to end (a sample
        being logged is logged whole)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            if not self._sampled(log=True):
                return

    def _sampled(self, *, log: bool) -> bool:
        """Take a sample and, with ``log``, log it; whether sampling may go on."""
        try:
            metrics = self.sample()
            if log:
                self.log(metrics, self.samples)
                self.samples += 1
        except Exception as e:  # never into the run: once in the log, then no more samples
            _log.warning("system metrics are not sampled: %s: %s", type(e).__name__, e)
            self._stopped.set()
            return False
        return True

    def __enter__(self) -> SystemSampler:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

"""The run context: how a training run reports to whoever started it.

Apps never import the platform; they receive an object with this interface. The platform
implements it over its store and events; :class:`LocalContext` implements it in memory for
scripts, the CLI and tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class RunContext(Protocol):
    """What a run may do besides computing: log, save, report progress, notice cancellation.

    Implementations must be cheap to call once per batch (``should_stop``) and once per
    epoch (``log_metrics``, ``progress``).
    """

    output_dir: Path
    logger: logging.Logger
    show_progress: bool
    """Whether a person watches a terminal (then pipelines show a progress bar)."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Record metric values at ``step`` (an epoch, usually)."""

    def log_artifact(self, path: Path) -> None:
        """Record a file the run produced (report, plot, model directory)."""

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report how far the run is."""

    def should_stop(self) -> bool:
        """True once someone asked the run to stop; the run then ends cleanly and soon."""


@dataclass
class LocalContext:
    """A :class:`RunContext` kept in memory, for scripts, the CLI and tests.

    Examples
    --------
    >>> ctx = LocalContext(output_dir=Path("runs/example"))
    >>> ctx.log_metrics({"loss": 0.5}, step=1)
    >>> ctx.metrics
    [(1, {'loss': 0.5})]
    >>> ctx.cancel(); ctx.should_stop()
    True
    """

    output_dir: Path
    show_progress: bool = False
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("azuraforge.run"))
    metrics: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    artifacts: list[Path] = field(default_factory=list)
    last_progress: tuple[int, int, str] = (0, 0, "")
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Append ``metrics`` at ``step`` to :attr:`metrics`."""
        self.metrics.append((step, {k: float(v) for k, v in metrics.items()}))

    def log_artifact(self, path: Path) -> None:
        """Append ``path`` to :attr:`artifacts`."""
        self.artifacts.append(Path(path))

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Remember the latest progress report."""
        self.last_progress = (done, total, message)

    def should_stop(self) -> bool:
        """Whether :meth:`cancel` was called (from any thread)."""
        return self._stop.is_set()

    def cancel(self) -> None:
        """Ask the run to stop at its next check."""
        self._stop.set()

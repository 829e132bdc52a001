"""Callbacks: everything the training loop does besides training.

A callback overrides any of ``on_fit_start``, ``on_epoch_start``, ``on_batch_end``,
``on_epoch_end``, ``on_fit_end`` and ``on_fit_abort``; each receives the
:class:`~azuraforge.learn.Trainer` first. Setting ``trainer.stop_training`` ends the fit
after the current batch or epoch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azuraforge.core import load, save
from azuraforge.core.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.learn.context import RunContext

if TYPE_CHECKING:
    from azuraforge.learn.trainer import Trainer

Logs = dict[str, float]


class Callback:
    """Base class: every hook does nothing until overridden."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before each epoch (numbered from 1)."""

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Logs) -> None:
        """After each optimiser step; ``logs`` holds the batch ``loss``."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        """After each epoch; ``logs`` holds ``loss`` and any ``val_*`` values."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last epoch, also when stopped early."""

    def on_fit_abort(self, trainer: Trainer) -> None:
        """When the fit ends with an exception (the exception then propagates)."""


class _Best:
    """Tracks the best value of one logged metric."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if mode not in ("min", "max"):
            raise InvalidParameterError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, min_delta
        self.value = math.inf if mode == "min" else -math.inf

    def improved(self, logs: Logs) -> bool:
        """Whether ``logs[monitor]`` beats the best so far by ``min_delta`` (and record it)."""
        if self.monitor not in logs:
            raise NotFoundError(
                f"cannot monitor {self.monitor!r}: the epoch logged {sorted(logs)}; pass "
                "validation data to fit() to get val_* values"
            )
        value = logs[self.monitor]
        better = (
            value < self.value - self.min_delta
            if self.mode == "min"
            else value > self.value + self.min_delta
        )
        if better:
            self.value = value
        return better


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; optionally put back
    the best weights seen.

    Parameters
    ----------
    monitor
        Logged value to watch, e.g. ``"val_loss"``.
    patience
        Epochs without improvement before stopping.
    min_delta
        Smallest change that counts as an improvement.
    mode
        ``"min"`` if lower is better, ``"max"`` otherwise.
    restore_best_weights
        Load the weights of the best epoch when stopping or finishing.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "min",
        restore_best_weights: bool = True,
    ) -> None:
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode, self.restore_best_weights = mode, restore_best_weights

    def on_fit_start(self, trainer: Trainer) -> None:
        self._best = _Best(self.monitor, self.mode, self.min_delta)
        self._waited, self._best_state, self.best_epoch = 0, trainer.model.state_dict(), 0

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        if self._best.improved(logs):
            self._waited, self.best_epoch = 0, epoch
            self._best_state = trainer.model.state_dict()
            return
        self._waited += 1
        if self._waited >= self.patience:
            trainer.stop_training = True
            trainer.stop_reason = (
                f"early stop: {self.monitor} has not improved for {self.patience} epochs "
                f"(best {self._best.value:.6g} at epoch {self.best_epoch})"
            )

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best_weights and self.best_epoch:
            trainer.model.load_state_dict(self._best_state)


class ModelCheckpoint(Callback):
    """Save the model (architecture and weights, :func:`azuraforge.core.save`) whenever
    ``monitor`` improves; :meth:`load_best` reads it back."""

    def __init__(self, path: str | Path, monitor: str = "val_loss", mode: str = "min") -> None:
        self.path, self.monitor, self.mode = Path(path), monitor, mode
        self.best_epoch = 0

    def on_fit_start(self, trainer: Trainer) -> None:
        self._best = _Best(self.monitor, self.mode)
        self.best_epoch = 0

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        if self._best.improved(logs):
            self.saved_path = save(trainer.model, self.path)
            self.best_epoch = epoch

    def load_best(self) -> Any:
        """The best model saved so far."""
        if not self.best_epoch:
            raise NotFoundError(f"no checkpoint was written to {self.path} yet")
        return load(self.saved_path)


class LRSchedule(Callback):
    """Step a learning-rate scheduler once per epoch (``ReduceLROnPlateau`` gets
    ``logs[monitor]``)."""

    def __init__(self, scheduler: LRScheduler | ReduceLROnPlateau, monitor: str = "val_loss"):
        self.scheduler, self.monitor = scheduler, monitor

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        if isinstance(self.scheduler, ReduceLROnPlateau):
            if self.monitor not in logs:
                raise NotFoundError(
                    f"ReduceLROnPlateau monitors {self.monitor!r}, but the epoch logged "
                    f"{sorted(logs)}; pass validation data to fit() or monitor 'loss'"
                )
            self.scheduler.step(logs[self.monitor])
        else:
            self.scheduler.step()


class RunLogger(Callback):
    """Send every epoch's logs and progress to a run context, with a line in its log, and
    stop between batches when the context asks to (cancellation)."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Logs) -> None:
        if self.ctx.should_stop():
            trainer.stop_training, trainer.cancelled = True, True
            trainer.stop_reason = "cancelled"

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        self.ctx.log_metrics({**logs, "lr": trainer.optimizer.lr}, step=epoch)
        self.ctx.progress(epoch, trainer.epochs, f"epoch {epoch}/{trainer.epochs}")
        shown = "  ".join(f"{key} {value:.4g}" for key, value in logs.items())
        self.ctx.logger.info("epoch %d/%d  %s", epoch, trainer.epochs, shown)


class ProgressBar(Callback):
    """A Rich progress bar: epoch, batch, running loss and time left."""

    def on_fit_start(self, trainer: Trainer) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} batches"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("epoch 1", total=None, status="")

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self._progress.reset(
            self._task,
            total=trainer.batches_per_epoch,
            description=f"epoch {epoch}/{trainer.epochs}",
            status="",
        )
        self._running: list[float] = []

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Logs) -> None:
        self._running.append(logs["loss"])
        loss = sum(self._running[-50:]) / len(self._running[-50:])
        self._progress.update(self._task, completed=batch, status=f"loss {loss:.4g}")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs) -> None:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items())
        self._progress.update(self._task, status=shown)
        self._progress.console.print(f"epoch {epoch}/{trainer.epochs}  {shown}")

    def on_fit_end(self, trainer: Trainer) -> None:
        self._progress.stop()

    def on_fit_abort(self, trainer: Trainer) -> None:
        self._progress.stop()

"""`Trainer`: the training loop, kept short, with named callbacks for everything else."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from azuraforge.core import Tensor, nn, no_grad
from azuraforge.core.optim import Optimizer, clip_grad_norm_
from azuraforge.errors import InvalidParameterError
from azuraforge.learn.callbacks import Callback
from azuraforge.learn.loader import ArrayDataset, DataLoader

Data = DataLoader | tuple[np.ndarray, np.ndarray]
MetricFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class TrainingSummary:
    """How a fit ended: ``completed`` (all epochs, or an early stop) or ``cancelled``.

    Examples
    --------
    >>> TrainingSummary("cancelled", 2, 12, "cancelled").describe()
    'Cancelled during epoch 3 of 12, after 2 complete epochs: the model is only partly trained.'
    >>> TrainingSummary("completed", 7, 12, "early stop: val_loss has not improved").describe()
    'Trained 7 of 12 epochs (early stop: val_loss has not improved).'
    """

    status: Literal["completed", "cancelled"]
    epochs_completed: int
    epochs_planned: int
    stop_reason: str = ""

    def describe(self) -> str:
        """One sentence for reports and the command line."""
        done, planned = self.epochs_completed, self.epochs_planned
        if self.status == "cancelled":
            return (
                f"Cancelled during epoch {done + 1} of {planned}, after {done} complete epoch"
                f"{'' if done == 1 else 's'}: the model is only partly trained."
            )
        why = f" ({self.stop_reason})" if self.stop_reason else ""
        return f"Trained {done} of {planned} epochs{why}."


class Trainer:
    """Fits a model with a loss and an optimiser; callbacks add progress bars, early stopping,
    checkpoints, schedules, logging and cancellation.

    Parameters
    ----------
    model
        The module to train.
    loss
        A loss module or function ``loss(prediction, target) -> Tensor``.
    optimizer
        An optimiser over ``model.parameters()``.
    callbacks
        Called at the start and end of the fit, of each epoch and after each batch.
    batch_size, shuffle, seed
        How ``(x, y)`` arrays given to :meth:`fit` are batched; a :class:`DataLoader` given
        instead is used as it is.
    clip_grad_norm
        Clip the global gradient norm to this value before each step (``None``: no clipping).

    Examples
    --------
    >>> from azuraforge.core import manual_seed, optim
    >>> manual_seed(0)
    >>> model = nn.Linear(1, 1)
    >>> x = np.arange(8, dtype=np.float32)[:, None]
    >>> trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01))
    >>> history = trainer.fit((x, 2 * x), epochs=30)
    >>> round(history["loss"][-1], 4) < round(history["loss"][0], 4)
    True
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Callable[[Tensor, Any], Tensor],
        optimizer: Optimizer,
        callbacks: Sequence[Callback] = (),
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = 0,
        clip_grad_norm: float | None = None,
    ) -> None:
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.callbacks = list(callbacks)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.clip_grad_norm = clip_grad_norm
        self.stop_training = False
        self.stop_reason = ""
        self.cancelled = False
        self.epochs = 0
        self.epochs_completed = 0
        self.batches_per_epoch = 0
        self.history: dict[str, list[float]] = {}

    def fit(self, train: Data, val: Data | None = None, epochs: int = 1) -> dict[str, list[float]]:
        """Train for up to ``epochs`` epochs; returns the per-epoch history (``loss``, and
        ``val_loss`` plus any validation metrics when ``val`` is given)."""
        if not isinstance(epochs, int) or epochs < 1:
            raise InvalidParameterError(f"epochs must be an int >= 1, got {epochs!r}")
        loader = self._loader(train, shuffle=self.shuffle)
        self.stop_training, self.stop_reason, self.epochs = False, "", epochs
        self.cancelled, self.epochs_completed = False, 0
        self.batches_per_epoch = len(loader)
        self.history = {}
        self._call("on_fit_start")
        try:
            for epoch in range(1, epochs + 1):
                self._run_epoch(epoch, loader, val)
                if self.stop_training:
                    break
        except BaseException:
            self._call("on_fit_abort")
            raise
        self._call("on_fit_end")
        return self.history

    def _run_epoch(self, epoch: int, loader: DataLoader, val: Data | None) -> None:
        self._call("on_epoch_start", epoch)
        logs = {"loss": self._train_epoch(loader)}
        if val is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        self._call("on_epoch_end", epoch, logs)

    def _train_epoch(self, loader: DataLoader) -> float:
        self.model.train()
        total, rows = 0.0, 0
        batch = 0
        for batch, (x, y) in enumerate(loader, start=1):
            self.optimizer.zero_grad()
            loss = self.loss(self.model(x), y)
            loss.backward()
            if self.clip_grad_norm is not None:
                clip_grad_norm_(self.optimizer.params, self.clip_grad_norm)
            self.optimizer.step()
            total, rows = total + loss.item() * len(x), rows + len(x)
            self._call("on_batch_end", batch, {"loss": loss.item()})
            if self.stop_training:
                break
        if batch == len(loader):
            self.epochs_completed += 1
        return total / max(rows, 1)

    def summary(self) -> TrainingSummary:
        """How the last :meth:`fit` ended (cancelled, early stop, or all epochs). A cancel
        that arrives after the last batch of the last epoch changed nothing: completed."""
        if self.cancelled and self.epochs_completed < self.epochs:
            return TrainingSummary("cancelled", self.epochs_completed, self.epochs, "cancelled")
        reason = "" if self.cancelled else self.stop_reason
        return TrainingSummary("completed", self.epochs_completed, self.epochs, reason)

    def evaluate(
        self, data: Data, metrics: Mapping[str, MetricFn] | None = None
    ) -> dict[str, float]:
        """Mean loss over ``data`` in eval mode, plus ``metrics(y_true, y_pred)`` if given."""
        loader = self._loader(data, shuffle=False)
        predictions = self.predict(loader)
        targets = loader.dataset.y
        result = {"loss": float(self.loss(Tensor(predictions), targets).item())}
        for name, metric in (metrics or {}).items():
            result[name] = float(metric(targets, predictions))
        return result

    def predict(self, data: Data | np.ndarray) -> np.ndarray:
        """The model's outputs for every row, in eval mode and without a graph."""
        if isinstance(data, np.ndarray):
            return predict(self.model, data, self.batch_size)
        return predict(self.model, self._loader(data, shuffle=False).dataset.x, self.batch_size)

    def _loader(self, data: Data, shuffle: bool) -> DataLoader:
        if isinstance(data, DataLoader):
            return data
        if not isinstance(data, tuple) or len(data) != 2:
            raise InvalidParameterError(
                "data must be a DataLoader or an (x, y) tuple of arrays, got "
                f"{type(data).__name__}"
            )
        return DataLoader(ArrayDataset(*data), self.batch_size, shuffle=shuffle, seed=self.seed)

    def _call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)


def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``model``'s outputs for the rows of ``x``, in batches, in eval mode, without a graph.

    The same rows in the same batches give bit-identical outputs, which is how a saved model
    reproduces its test predictions exactly.
    """
    model.eval()
    with no_grad():
        outputs = [
            model(np.asarray(x[start : start + batch_size])).numpy()
            for start in range(0, len(x), batch_size)
        ]
    return np.concatenate(outputs) if outputs else np.empty((0,))

"""Callbacks: early stopping, checkpoints, schedules, run logging, cancellation, progress."""

import logging

import numpy as np
import pytest

from azuraforge.core import manual_seed, nn, optim
from azuraforge.errors import NotFoundError
from azuraforge.learn import (
    Callback,
    EarlyStopping,
    LocalContext,
    LRSchedule,
    ModelCheckpoint,
    ProgressBar,
    RunLogger,
    Trainer,
    TrainingSummary,
)


def _data(seed=0, n=64):
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, 1)).astype(np.float32)
    return x, (3 * x - 1).astype(np.float32)


def _trainer(callbacks, lr=0.05):
    manual_seed(0)
    model = nn.Linear(1, 1)
    return Trainer(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=lr), callbacks=callbacks)


def test_early_stopping_stops_and_restores_the_best_weights():
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    trainer = _trainer([stopper])
    noise = np.random.default_rng(5).normal(size=(64, 1)).astype(np.float32) * 50
    x, _ = _data(1)
    history = trainer.fit(_data(), val=(x, noise), epochs=100)  # validation can't improve long
    assert len(history["loss"]) < 100 and "early stop" in trainer.stop_reason
    best = int(np.argmin(history["val_loss"]))
    assert stopper.best_epoch == best + 1
    np.testing.assert_allclose(
        trainer.evaluate((x, noise))["loss"], history["val_loss"][best], rtol=1e-5
    )


def test_checkpoint_keeps_the_best_model(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "best", monitor="val_loss")
    trainer = _trainer([checkpoint])
    history = trainer.fit(_data(), val=_data(1), epochs=10)
    assert checkpoint.best_epoch == int(np.argmin(history["val_loss"])) + 1
    best = checkpoint.load_best()
    x, y = _data(1)
    loss = ((best(x).numpy() - y) ** 2).mean()
    assert loss == pytest.approx(min(history["val_loss"]), rel=1e-5)


def test_checkpoint_without_an_improvement_yet_says_so(tmp_path):
    with pytest.raises(NotFoundError, match="no checkpoint was written"):
        ModelCheckpoint(tmp_path / "none").load_best()


def test_monitoring_a_value_that_is_not_logged_is_explained():
    with pytest.raises(NotFoundError, match=r"cannot monitor 'val_loss'.*pass validation data"):
        _trainer([EarlyStopping()]).fit(_data(), epochs=2)


def test_schedules_step_once_per_epoch():
    trainer = _trainer([])
    trainer.callbacks.append(LRSchedule(optim.StepLR(trainer.optimizer, step_size=1, gamma=0.5)))
    trainer.fit(_data(), epochs=3)
    assert trainer.optimizer.lr == pytest.approx(0.05 / 8)
    plateau = _trainer([], lr=1e-9)  # too small to move the loss: a plateau
    plateau.callbacks.append(
        LRSchedule(optim.ReduceLROnPlateau(plateau.optimizer, patience=0), monitor="loss")
    )
    plateau.fit(_data(), epochs=3)
    assert plateau.optimizer.lr == pytest.approx(1e-11)


def test_run_logger_reports_each_epoch(tmp_path, caplog):
    ctx = LocalContext(output_dir=tmp_path)
    with caplog.at_level(logging.INFO, logger=ctx.logger.name):
        _trainer([RunLogger(ctx)]).fit(_data(), val=_data(1), epochs=3)
    assert [step for step, _ in ctx.metrics] == [1, 2, 3]
    assert set(ctx.metrics[0][1]) == {"loss", "val_loss", "lr"}
    assert ctx.last_progress == (3, 3, "epoch 3/3")
    # A line per epoch in the run's log: a finished run's Logs tab is not empty.
    lines = [r.getMessage() for r in caplog.records if r.name == ctx.logger.name]
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    loss = ctx.metrics[2][1]["loss"]
    assert f"loss {loss:.4g}" in lines[2] and "val_loss " in lines[2]


def test_cancellation_stops_between_batches(tmp_path):
    ctx = LocalContext(output_dir=tmp_path)

    class CancelAfterThreeBatches(Callback):
        def on_batch_end(self, trainer, batch, logs):
            if batch == 3:
                ctx.cancel()

    batches = []

    class Count(Callback):
        def on_batch_end(self, trainer, batch, logs):
            batches.append(batch)

    trainer = _trainer([CancelAfterThreeBatches(), RunLogger(ctx), Count()])
    history = trainer.fit(_data(n=320), epochs=5)
    assert trainer.stop_reason == "cancelled"
    assert batches == [1, 2, 3] and len(history["loss"]) == 1
    assert trainer.summary() == TrainingSummary("cancelled", 0, 5, "cancelled")


def test_progress_bar_prints_each_epoch(capsys):
    _trainer([ProgressBar()]).fit(_data(), epochs=2)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "loss" in out


def test_an_exception_during_fit_reaches_on_fit_abort_and_propagates():
    calls = []

    class Boom(Callback):
        def on_batch_end(self, trainer, batch, logs):
            raise RuntimeError("boom")

    class Watch(Callback):
        def on_fit_abort(self, trainer):
            calls.append("abort")

        def on_fit_end(self, trainer):
            calls.append("end")

    with pytest.raises(RuntimeError, match="boom"):
        _trainer([Watch(), Boom()]).fit(_data(), epochs=2)
    assert calls == ["abort"]

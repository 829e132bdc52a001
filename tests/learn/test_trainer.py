"""Trainer: the loop trains, evaluates and predicts; it is repeatable and validates input."""

import numpy as np
import pytest

from azuraforge.core import manual_seed, nn, optim
from azuraforge.errors import InvalidParameterError
from azuraforge.learn import ArrayDataset, Callback, DataLoader, Trainer, TrainingSummary


def _line_data(n=64, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, 1)).astype(np.float32)
    return x, 3 * x - 1


def _trainer(seed=0, **kwargs):
    manual_seed(seed)
    model = nn.Linear(1, 1)
    return Trainer(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=0.05), **kwargs)


def test_fit_lowers_the_loss_and_records_history():
    trainer = _trainer(batch_size=16)
    history = trainer.fit(_line_data(), val=_line_data(seed=1), epochs=40)
    assert set(history) == {"loss", "val_loss"} and len(history["loss"]) == 40
    assert history["loss"][-1] < history["loss"][0] / 20
    np.testing.assert_allclose(trainer.model.weight.data, [[3.0]], atol=0.1)


def test_same_seed_same_run():
    runs = [_trainer(seed=1).fit(_line_data(), epochs=5)["loss"] for _ in range(2)]
    assert runs[0] == runs[1]


def test_evaluate_with_metrics_and_predict():
    trainer = _trainer()
    trainer.fit(_line_data(), epochs=30)
    x, y = _line_data(seed=2)
    scores = trainer.evaluate((x, y), metrics={"mae": lambda t, p: np.abs(t - p).mean()})
    assert set(scores) == {"loss", "mae"} and scores["mae"] < 0.5
    assert trainer.predict(x).shape == (64, 1)
    assert not trainer.model.training  # predict leaves the model in eval mode


def test_a_dataloader_is_used_as_given():
    x, y = _line_data()
    loader = DataLoader(ArrayDataset(x, y), batch_size=8)
    seen = []

    class CountBatches(Callback):
        def on_batch_end(self, trainer, batch, logs):
            seen.append(batch)

    _trainer(callbacks=[CountBatches()]).fit(loader, epochs=1)
    assert seen == list(range(1, 9))


def test_gradient_clipping_bounds_every_step():
    norms = []

    class RecordNorm(Callback):
        def on_batch_end(self, trainer, batch, logs):
            norms.append(np.sqrt(sum((p.grad**2).sum() for p in trainer.model.parameters())))

    x, y = _line_data()
    _trainer(clip_grad_norm=0.01, callbacks=[RecordNorm()]).fit((x, 100 * y), epochs=1)
    assert max(norms) <= 0.01 + 1e-6


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidParameterError, match="epochs must be an int >= 1"):
        _trainer().fit(_line_data(), epochs=0)
    with pytest.raises(InvalidParameterError, match=r"an \(x, y\) tuple of arrays, got list"):
        _trainer().fit([1, 2, 3])


def test_summary_counts_complete_epochs_and_says_why_it_stopped():
    trainer = _trainer(batch_size=16)
    trainer.fit(_line_data(), epochs=3)
    assert trainer.summary() == TrainingSummary("completed", 3, 3)
    assert trainer.summary().describe() == "Trained 3 of 3 epochs."

    class StopMidEpoch(Callback):
        def on_batch_end(self, trainer, batch, logs):
            if len(trainer.history.get("loss", [])) == 1 and batch == 2:
                trainer.stop_training, trainer.stop_reason = True, "enough"

    trainer = _trainer(batch_size=16, callbacks=[StopMidEpoch()])
    trainer.fit(_line_data(), epochs=5)
    assert trainer.summary() == TrainingSummary("completed", 1, 5, "enough")


def test_a_cancel_after_the_last_batch_leaves_a_completed_run(tmp_path):
    from azuraforge.learn import LocalContext, RunLogger

    ctx = LocalContext(output_dir=tmp_path)

    class CancelAtTheVeryEnd(Callback):
        def on_batch_end(self, trainer, batch, logs):
            if batch == trainer.batches_per_epoch:
                ctx.cancel()

    trainer = _trainer(batch_size=16, callbacks=[CancelAtTheVeryEnd(), RunLogger(ctx)])
    trainer.fit(_line_data(), epochs=1)
    assert trainer.summary() == TrainingSummary("completed", 1, 1)


def test_the_model_converts_the_input_to_its_own_float_dtype():
    x = np.random.default_rng(0).uniform(-1, 1, size=(8, 3))
    manual_seed(0)
    model = nn.Linear(3, 2).to(np.float64)
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
    predictions = trainer.predict(x)
    assert predictions.dtype == np.float64
    np.testing.assert_array_equal(predictions, model(x).numpy())
    assert not np.array_equal(predictions, model(x.astype(np.float32)).numpy())
    trainer.fit((x, np.zeros((8, 2))), epochs=1)

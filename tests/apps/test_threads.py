"""Several runs in one worker process: two pipeline runs interleaved in threads give exactly
what each gives alone (each run owns its random state; nothing process-wide is switched)."""

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from azuraforge.apps.digits import DigitClassifier
from azuraforge.apps.weather import WeatherForecaster
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact

# Same batch counts for both seeds (patience >= epochs: no early stop), so the runs can take
# turns batch by batch; dropout makes the random stream matter in training too.
DIGITS = {"max_train": 800, "val_size": 200, "epochs": 2, "patience": 2, "channels": 4,
          "hidden_size": 16, "batch_size": 64}  # fmt: skip
WEATHER = {"max_rows": 1500, "epochs": 2, "patience": 2, "hidden_size": 8, "num_layers": 2,
           "dropout": 0.2, "batch_size": 64}  # fmt: skip


class TakingTurns(LocalContext):
    """A context that makes its run wait for the other run at every batch."""

    barrier: threading.Barrier | None = None

    def should_stop(self) -> bool:
        if self.barrier is not None:
            with contextlib.suppress(threading.BrokenBarrierError):  # the other run finished
                self.barrier.wait(timeout=10)
        return super().should_stop()


def _run(pipeline, settings, folder, barrier=None):
    ctx = TakingTurns(output_dir=folder)
    ctx.barrier = barrier
    result = pipeline().run(pipeline.make_config(settings), ctx)
    return result.metrics, ModelArtifact.load(result.artifact_dir).model.state_dict()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("pipeline", "settings"), [(DigitClassifier, DIGITS), (WeatherForecaster, WEATHER)]
)
def test_two_runs_interleaved_in_threads_match_each_alone(real_data, tmp_path, pipeline, settings):
    runs = [(pipeline, {**settings, "seed": 1}), (pipeline, {**settings, "seed": 2})]
    alone = [_run(p, s, tmp_path / f"alone-{i}") for i, (p, s) in enumerate(runs)]
    barrier = threading.Barrier(len(runs))
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = [
            pool.submit(_run, p, s, tmp_path / f"thread-{i}", barrier)
            for i, (p, s) in enumerate(runs)
        ]
        together = [future.result() for future in futures]
    assert alone[0][0] != alone[1][0]  # two different runs
    for (metrics, weights), (expected_metrics, expected_weights) in zip(
        together, alone, strict=True
    ):
        assert metrics == expected_metrics
        for name, value in weights.items():
            np.testing.assert_array_equal(value, expected_weights[name], err_msg=name)

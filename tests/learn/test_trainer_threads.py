"""Two trainings interleaved in two threads give what each gives alone.

Each run owns its random state (``use_generator(Generator(seed))`` for initialisation and
dropout, the Trainer's ``seed`` for shuffling), so the batches of one run landing between
the batches of the other change nothing, bit for bit.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from azuraforge.core import Generator, nn, optim, use_generator
from azuraforge.learn import Callback, Trainer

EPOCHS, ROWS, BATCH_SIZE = 3, 64, 8
SEEDS = (1, 2)


class TakeTurns(Callback):
    """Waits for the other run after every batch, so the two runs alternate batch by batch."""

    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier

    def on_batch_end(self, trainer, batch, logs):
        self.barrier.wait(timeout=30)


def train(seed: int, callbacks=()) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    data = np.random.default_rng(seed)
    x = data.normal(size=(ROWS, 4)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype=np.float32)
    with use_generator(Generator(seed)):
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
        optimizer = optim.Adam(model.parameters(), lr=0.01)
        trainer = Trainer(
            model, nn.MSELoss(), optimizer, callbacks, batch_size=BATCH_SIZE, seed=seed + 100
        )
        history = trainer.fit((x, y), epochs=EPOCHS)
    weights = {name: p.data.copy() for name, p in model.named_parameters()}
    return weights, history


def test_interleaved_runs_match_the_same_runs_done_alone():
    alone = [train(seed) for seed in SEEDS]
    turns = TakeTurns(threading.Barrier(len(SEEDS)))
    with ThreadPoolExecutor(max_workers=len(SEEDS)) as pool:
        futures = [pool.submit(train, seed, [turns]) for seed in SEEDS]
        interleaved = [future.result() for future in futures]

    assert alone[0][1]["loss"] != alone[1][1]["loss"]  # two different runs
    for (weights, history), (expected_weights, expected_history) in zip(
        interleaved, alone, strict=True
    ):
        assert history == expected_history
        assert weights.keys() == expected_weights.keys()
        for name, value in weights.items():
            np.testing.assert_array_equal(value, expected_weights[name], err_msg=name)

"""Train a small LSTM forecaster with the AzuraForge core and print its loss curve.

The task: predict the next value of a noisy sum of two sines from the previous 24 values.
The score is printed beside persistence (predict the last seen value), the naive baseline
any forecaster must beat. Run with ``make run`` or ``python examples/train_lstm.py``.
"""

import time

import numpy as np

from azuraforge.core import Tensor, manual_seed, nn, no_grad, optim


def make_windows(series: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows (n, length, 1) and the value right after each (n, 1)."""
    windows = np.lib.stride_tricks.sliding_window_view(series[:-1], length)
    return windows[..., None].astype(np.float32), series[length:, None].astype(np.float32)


class Forecaster(nn.Module):
    """LSTM over the window, then a linear head on the last hidden state."""

    def __init__(self, hidden: int = 32) -> None:
        self.lstm = nn.LSTM(1, hidden, num_layers=2)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.lstm(x))


def main(epochs: int = 15, batch_size: int = 64) -> None:
    manual_seed(0)
    rng = np.random.default_rng(0)
    t = np.arange(3000)
    series = np.sin(t / 12) + 0.5 * np.sin(t / 37) + 0.1 * rng.standard_normal(t.size)
    x, y = make_windows(series, 24)
    split = int(0.8 * len(x))  # chronological: the test part is the future
    model, loss_fn = Forecaster(), nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order, losses = rng.permutation(split), []
        for i in range(0, split, batch_size):
            batch = order[i : i + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(Tensor(x[batch])), y[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with no_grad():
            test_mse = loss_fn(model(Tensor(x[split:])), y[split:]).item()
        model.train()
        print(f"epoch {epoch:2d}  train loss {np.mean(losses):.4f}  test MSE {test_mse:.4f}")
    persistence = float(np.mean((x[split:, -1] - y[split:]) ** 2))
    print(
        f"\ntest MSE {test_mse:.4f}  vs persistence {persistence:.4f}  "
        f"(ratio {test_mse / persistence:.2f}; < 1 beats the baseline)  "
        f"trained in {time.perf_counter() - start:.1f} s"
    )


if __name__ == "__main__":
    main()

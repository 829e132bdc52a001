"""PNG plots for reports, drawn with matplotlib's file-only backend (no display needed).

Each function writes one figure to ``path`` and returns the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _figure(width: float = 8, height: float = 4) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")  # files only: works on servers and in CI
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=100)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def loss_curves(history: dict[str, list[float]], path: Path) -> Path:
    """Training and validation loss per epoch."""
    fig, ax = _figure()
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(range(1, len(history[key]) + 1), history[key], label=key, marker=".")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss", yscale="log")
    ax.legend()
    return _save(fig, path)


def actual_vs_predicted(
    times: np.ndarray,
    actual: np.ndarray,
    predicted: dict[str, np.ndarray],
    path: Path,
    last: int = 500,
) -> Path:
    """The last ``last`` points of the actual series and each prediction over time."""
    fig, ax = _figure(10, 4)
    ax.plot(times[-last:], actual[-last:], label="actual", color="black", linewidth=1.2)
    for name, values in predicted.items():
        ax.plot(times[-last:], values[-last:], label=name, linewidth=0.9, alpha=0.8)
    ax.set(title=f"Actual vs predicted (last {min(last, len(actual))} test points)")
    ax.legend()
    fig.autofmt_xdate()
    return _save(fig, path)


def scatter(actual: np.ndarray, predicted: np.ndarray, path: Path) -> Path:
    """True against predicted values with the y = x line."""
    fig, ax = _figure(5, 5)
    ax.scatter(actual, predicted, s=4, alpha=0.4)
    low, high = (
        float(min(actual.min(), predicted.min())),
        float(max(actual.max(), predicted.max())),
    )
    ax.plot([low, high], [low, high], color="red", linewidth=1, label="y = x")
    ax.set(xlabel="actual", ylabel="predicted", title="True vs predicted")
    ax.legend()
    return _save(fig, path)


def error_histogram(errors: np.ndarray, path: Path) -> Path:
    """Distribution of prediction errors (predicted - actual)."""
    fig, ax = _figure(6, 4)
    spread = np.ptp(errors) > 1e-9 * (1 + np.abs(errors).max())  # (nearly) constant: 1 bin
    ax.hist(errors, bins=60 if spread else 1, color="steelblue")
    ax.axvline(0, color="black", linewidth=1)
    ax.set(xlabel="error (predicted - actual)", ylabel="count", title="Error histogram")
    return _save(fig, path)


def residuals(times: np.ndarray, errors: np.ndarray, path: Path) -> Path:
    """Prediction errors over time."""
    fig, ax = _figure(10, 3.5)
    ax.plot(times, errors, linewidth=0.6)
    ax.axhline(0, color="black", linewidth=1)
    ax.set(title="Residuals over time", ylabel="predicted - actual")
    fig.autofmt_xdate()
    return _save(fig, path)


def confusion_matrix(matrix: np.ndarray, labels: list[str], path: Path) -> Path:
    """A confusion matrix with counts in the cells (rows: true class, columns: predicted)."""
    fig, ax = _figure(6, 5.5)
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(labels))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=labels, yticklabels=labels)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    threshold = matrix.max() / 2
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=7)
    return _save(fig, path)

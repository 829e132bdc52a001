"""PNG plots for reports, drawn on matplotlib figures of their own (no display needed).

Nothing here touches matplotlib's process-wide state: no ``matplotlib.use``, no pyplot.
Each figure is a :class:`matplotlib.figure.Figure` with its own Agg canvas, so plots can be
drawn from several threads at once and the backend a user chose is left alone.

Each plot comes as a pair: ``draw_<plot>(...)`` returns the figure (what tests inspect), and
``<plot>(..., path)`` writes it as a PNG to ``path`` and returns the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _new_axes(width: float, height: float) -> tuple[Figure, Axes]:
    # Imported here: matplotlib is an optional dependency and slow to import.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="tight")
    FigureCanvasAgg(figure)
    return figure, figure.subplots()


def save_png(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as a PNG to ``path`` (creating its folder); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def draw_loss_curves(history: dict[str, list[float]]) -> Figure:
    """Training and validation loss per epoch, on a log scale.

    Examples
    --------
    >>> figure = draw_loss_curves({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]})
    >>> [line.get_label() for line in figure.axes[0].get_lines()]
    ['loss', 'val_loss']
    """
    figure, ax = _new_axes(8, 4)
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(range(1, len(history[key]) + 1), history[key], label=key, marker=".")
    ax.set(xlabel="epoch", ylabel="loss", title="Loss", yscale="log")
    ax.legend()
    return figure


def loss_curves(history: dict[str, list[float]], path: Path) -> Path:
    """Write :func:`draw_loss_curves` to ``path``."""
    return save_png(draw_loss_curves(history), path)


def draw_actual_vs_predicted(
    times: np.ndarray, actual: np.ndarray, predicted: dict[str, np.ndarray], last: int = 500
) -> Figure:
    """The last ``last`` points of the actual series and of each prediction over time."""
    figure, ax = _new_axes(10, 4)
    ax.plot(times[-last:], actual[-last:], label="actual", color="black", linewidth=1.2)
    for name, values in predicted.items():
        ax.plot(times[-last:], values[-last:], label=name, linewidth=0.9, alpha=0.8)
    ax.set(title=f"Actual vs predicted (last {min(last, len(actual))} test points)")
    ax.legend()
    figure.autofmt_xdate()
    return figure


def actual_vs_predicted(
    times: np.ndarray,
    actual: np.ndarray,
    predicted: dict[str, np.ndarray],
    path: Path,
    last: int = 500,
) -> Path:
    """Write :func:`draw_actual_vs_predicted` to ``path``."""
    return save_png(draw_actual_vs_predicted(times, actual, predicted, last), path)


def draw_scatter(actual: np.ndarray, predicted: np.ndarray) -> Figure:
    """True against predicted values, with the y = x line across the range of both."""
    figure, ax = _new_axes(5, 5)
    ax.scatter(actual, predicted, s=4, alpha=0.4)
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="red", linewidth=1, label="y = x")
    ax.set(xlabel="actual", ylabel="predicted", title="True vs predicted")
    ax.legend()
    return figure


def scatter(actual: np.ndarray, predicted: np.ndarray, path: Path) -> Path:
    """Write :func:`draw_scatter` to ``path``."""
    return save_png(draw_scatter(actual, predicted), path)


def draw_error_histogram(errors: np.ndarray) -> Figure:
    """Distribution of prediction errors (predicted - actual) in 60 bins, 1 if all equal."""
    figure, ax = _new_axes(6, 4)
    spread = np.ptp(errors) > 1e-9 * (1 + np.abs(errors).max())  # (nearly) constant: 1 bin
    ax.hist(errors, bins=60 if spread else 1, color="steelblue")
    ax.axvline(0, color="black", linewidth=1)
    ax.set(xlabel="error (predicted - actual)", ylabel="count", title="Error histogram")
    return figure


def error_histogram(errors: np.ndarray, path: Path) -> Path:
    """Write :func:`draw_error_histogram` to ``path``."""
    return save_png(draw_error_histogram(errors), path)


def draw_residuals(times: np.ndarray, errors: np.ndarray) -> Figure:
    """Prediction errors over time, with the zero line."""
    figure, ax = _new_axes(10, 3.5)
    ax.plot(times, errors, linewidth=0.6)
    ax.axhline(0, color="black", linewidth=1)
    ax.set(title="Residuals over time", ylabel="predicted - actual")
    figure.autofmt_xdate()
    return figure


def residuals(times: np.ndarray, errors: np.ndarray, path: Path) -> Path:
    """Write :func:`draw_residuals` to ``path``."""
    return save_png(draw_residuals(times, errors), path)


def draw_confusion_matrix(matrix: np.ndarray, labels: list[str]) -> Figure:
    """A confusion matrix with counts in the cells (rows: true class, columns: predicted)."""
    figure, ax = _new_axes(6, 5.5)
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(labels))
    ax.set(xticks=ticks, yticks=ticks, xticklabels=labels, yticklabels=labels)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    threshold = matrix.max() / 2
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=7)
    return figure


def confusion_matrix(matrix: np.ndarray, labels: list[str], path: Path) -> Path:
    """Write :func:`draw_confusion_matrix` to ``path``."""
    return save_png(draw_confusion_matrix(matrix, labels), path)

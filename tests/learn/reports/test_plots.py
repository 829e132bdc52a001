"""Each plot shows the data it is given, writes a real PNG, and leaves matplotlib's state alone."""

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from azuraforge.learn.reports import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def series():
    times = np.arange("2024-01-01T00", "2024-01-03T00", dtype="datetime64[h]")
    actual = np.sin(np.arange(len(times)) / 5)
    return times, actual, actual + 0.1


def only_axes(figure):
    (ax,) = figure.axes
    return ax


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_loss_curves_show_each_loss_per_epoch():
    history = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.2, 0.7, 0.6]}
    ax = only_axes(plots.draw_loss_curves(history))
    lines = lines_by_label(ax)
    assert lines.keys() == {"loss", "val_loss"}
    for key, line in lines.items():
        assert list(line.get_xdata()) == [1, 2, 3]
        assert list(line.get_ydata()) == history[key]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Loss", "epoch", "loss")
    assert ax.get_yscale() == "log"


def test_loss_curves_without_validation_show_the_training_loss_only():
    ax = only_axes(plots.draw_loss_curves({"loss": [0.3, 0.2]}))
    assert list(lines_by_label(ax)) == ["loss"]


def test_actual_vs_predicted_shows_the_last_points_of_every_series(series):
    times, actual, predicted = series
    ax = only_axes(plots.draw_actual_vs_predicted(times, actual, {"model": predicted}, last=10))
    lines = lines_by_label(ax)
    assert list(lines) == ["actual", "model"]
    for line, values in [(lines["actual"], actual), (lines["model"], predicted)]:
        np.testing.assert_array_equal(line.get_xdata(), times[-10:])
        np.testing.assert_array_equal(line.get_ydata(), values[-10:])
    assert ax.get_title() == "Actual vs predicted (last 10 test points)"


def test_actual_vs_predicted_counts_only_the_points_there_are(series):
    times, actual, predicted = series
    ax = only_axes(plots.draw_actual_vs_predicted(times, actual, {"model": predicted}))
    assert len(lines_by_label(ax)["actual"].get_ydata()) == len(actual) == 48
    assert ax.get_title() == "Actual vs predicted (last 48 test points)"


def test_scatter_shows_each_pair_and_the_identity_line_across_the_data():
    actual, predicted = np.array([1.0, 2.0, 5.0]), np.array([-1.0, 2.5, 4.0])
    ax = only_axes(plots.draw_scatter(actual, predicted))
    (points,) = ax.collections
    np.testing.assert_array_equal(points.get_offsets(), np.column_stack([actual, predicted]))
    identity = lines_by_label(ax)["y = x"]
    assert list(identity.get_xdata()) == list(identity.get_ydata()) == [-1.0, 5.0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        "actual",
        "predicted",
        "True vs predicted",
    )


def test_error_histogram_counts_every_error():
    errors = np.random.default_rng(0).normal(size=500)
    ax = only_axes(plots.draw_error_histogram(errors))
    heights = [bar.get_height() for bar in ax.patches]
    assert len(heights) == 60 and sum(heights) == 500
    assert ax.get_title() == "Error histogram" and ax.get_ylabel() == "count"
    (zero,) = ax.get_lines()
    assert list(zero.get_xdata()) == [0, 0]


def test_equal_errors_fill_one_bar():
    ax = only_axes(plots.draw_error_histogram(np.full(7, 0.25)))
    assert [bar.get_height() for bar in ax.patches] == [7]


def test_residuals_show_each_error_at_its_time(series):
    times, actual, predicted = series
    ax = only_axes(plots.draw_residuals(times, predicted - actual))
    errors, zero = ax.get_lines()
    np.testing.assert_array_equal(errors.get_xdata(), times)
    np.testing.assert_array_equal(errors.get_ydata(), predicted - actual)
    assert list(zero.get_ydata()) == [0, 0]
    assert ax.get_title() == "Residuals over time"


def test_confusion_matrix_shows_the_counts_in_their_cells():
    matrix = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 9]])
    ax = only_axes(plots.draw_confusion_matrix(matrix, ["a", "b", "c"]))
    (image,) = ax.get_images()
    np.testing.assert_array_equal(image.get_array(), matrix)
    cells = {text.get_position(): text.get_text() for text in ax.texts}
    assert cells == {(j, i): str(matrix[i, j]) for i in range(3) for j in range(3)}
    assert [label.get_text() for label in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["a", "b", "c"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    white = {text.get_text() for text in ax.texts if text.get_color() == "white"}
    assert white == {"5", "7", "9"}  # the counts above half the largest, on dark cells


@pytest.mark.parametrize(
    "write",
    [
        lambda s, p: plots.loss_curves({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, p),
        lambda s, p: plots.actual_vs_predicted(s[0], s[1], {"model": s[2]}, p),
        lambda s, p: plots.scatter(s[1], s[2], p),
        lambda s, p: plots.error_histogram(s[2] - s[1], p),
        lambda s, p: plots.residuals(s[0], s[2] - s[1], p),
        lambda s, p: plots.confusion_matrix(np.eye(3, dtype=int) * 5, ["a", "b", "c"], p),
    ],
)
def test_plot_writes_a_png_and_returns_its_path(series, tmp_path, write):
    path = tmp_path / "figures" / "plot.png"
    assert write(series, path) == path
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000


def test_plots_drawn_in_threads_at_once_match_plots_drawn_one_by_one(series, tmp_path):
    times, actual, predicted = series

    def write(name):
        return plots.residuals(times, predicted - actual, tmp_path / f"{name}.png").read_bytes()

    alone = write("alone")
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(write, range(8)))
    assert together == [alone] * 8


# Run in a fresh interpreter: this one may have imported pyplot for another test.
LEAVES_MATPLOTLIB_ALONE = """
import sys
from pathlib import Path

import matplotlib
import numpy as np

from azuraforge.learn.reports import plots

folder = Path(sys.argv[1])
times = np.arange("2024-01-01", "2024-01-11", dtype="datetime64[D]")
values = np.linspace(0.0, 1.0, 10)
plots.loss_curves({"loss": [1.0, 0.5]}, folder / "loss.png")
plots.actual_vs_predicted(times, values, {"model": values}, folder / "series.png")
plots.scatter(values, values, folder / "scatter.png")
plots.error_histogram(values, folder / "errors.png")
plots.residuals(times, values, folder / "residuals.png")
plots.confusion_matrix(np.eye(2, dtype=int), ["a", "b"], folder / "confusion.png")
print("pyplot imported:", "matplotlib.pyplot" in sys.modules)
print("backend:", matplotlib.get_backend())
"""


def test_plotting_neither_imports_pyplot_nor_changes_the_backend(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LEAVES_MATPLOTLIB_ALONE), str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "svg"},
        check=True,
    )
    assert result.stdout.splitlines() == ["pyplot imported: False", "backend: svg"]
    assert len(list(tmp_path.glob("*.png"))) == 6

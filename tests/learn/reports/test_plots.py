"""Every plot writes a real PNG file."""

import numpy as np
import pytest

from azuraforge.learn.reports import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def series():
    times = np.arange("2024-01-01T00", "2024-01-03T00", dtype="datetime64[h]")
    actual = np.sin(np.arange(len(times)) / 5)
    return times, actual, actual + 0.1


@pytest.mark.parametrize(
    "draw",
    [
        lambda s, p: plots.loss_curves({"loss": [1.0, 0.5], "val_loss": [1.2, 0.7]}, p),
        lambda s, p: plots.actual_vs_predicted(s[0], s[1], {"model": s[2]}, p),
        lambda s, p: plots.scatter(s[1], s[2], p),
        lambda s, p: plots.error_histogram(s[2] - s[1], p),
        lambda s, p: plots.residuals(s[0], s[2] - s[1], p),
        lambda s, p: plots.confusion_matrix(np.eye(3, dtype=int) * 5, ["a", "b", "c"], p),
    ],
)
def test_plot_writes_a_png(series, tmp_path, draw):
    path = draw(series, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 2000

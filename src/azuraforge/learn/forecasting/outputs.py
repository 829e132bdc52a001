"""What a forecasting run writes: the test predictions as CSV and the Markdown report
(with its plots)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from azuraforge.learn.datasets import write_csv
from azuraforge.learn.reports import Report, plots


def write_predictions(path: Path, times: np.ndarray, columns: Mapping[str, np.ndarray]) -> Path:
    """One row per time: ``time`` then each column (the actual value, the model's forecast,
    each baseline's), at full precision.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     columns = {"actual": np.array([1.5, 2.0]), "model": np.array([1.0, 2.5])}
    ...     path = write_predictions(pathlib.Path(folder) / "p.csv", np.array([1, 2]), columns)
    ...     print(path.read_text())
    time,actual,model
    1,1.5,1.0
    2,2.0,2.5
    <BLANKLINE>
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        write_csv(f, {"time": times, **columns})
    return path


def forecast_report(
    directory: Path,
    title: str,
    summary: str,
    metrics: Mapping[str, Mapping[str, float]],
    times: np.ndarray,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    history: dict[str, list[float]] | None = None,
) -> Report:
    """The report of a forecast, not yet written (``Report.write`` puts it in
    ``directory/report.md``; a pipeline's ``finish`` does). It holds the ``summary``
    paragraph, the test table (the model beside each baseline) and the plots, drawn now
    under ``directory/plots``: loss curves (when ``history`` is given), actual vs every
    forecast over time, true vs predicted, the model's error histogram and its residuals.

    ``forecasts`` holds the model's forecasts under ``"model"``, then each baseline's.
    """
    report = Report(directory, title)
    report.text(summary)
    report.table("Test set (model beside each baseline)", metrics)
    predicted = forecasts["model"]
    errors = predicted - actual
    figures = directory / "plots"
    over_time = figures / "actual_vs_predicted.png"
    drawn = [] if history is None else [
        ("Training and validation loss", plots.loss_curves(history, figures / "loss.png"))
    ]  # fmt: skip
    drawn += [
        ("Actual vs predicted",
         plots.actual_vs_predicted(times, actual, dict(forecasts), over_time)),
        ("True vs predicted", plots.scatter(actual, predicted, figures / "scatter.png")),
        ("Error histogram", plots.error_histogram(errors, figures / "errors.png")),
        ("Residuals over time", plots.residuals(times, errors, figures / "residuals.png")),
    ]  # fmt: skip
    for caption, path in drawn:
        report.image(caption, path)
    return report

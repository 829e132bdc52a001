"""The predictions CSV and the forecast report."""

import csv

import numpy as np

from azuraforge.learn.forecasting.outputs import forecast_report, write_predictions

TIMES = np.arange("2024-01-01", "2024-01-31", dtype="datetime64[D]")
ACTUAL = np.linspace(0.0, 3.0, len(TIMES))
FORECASTS = {"model": ACTUAL + 0.1, "persistence": ACTUAL - 0.3}


def test_predictions_round_trip_at_full_precision(tmp_path):
    path = write_predictions(tmp_path / "out" / "p.csv", TIMES, {"actual": ACTUAL, **FORECASTS})
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["time"] == "2024-01-01" and len(rows) == len(TIMES)
    np.testing.assert_array_equal([float(r["model"]) for r in rows], FORECASTS["model"])


def test_report_holds_summary_table_and_plots(tmp_path):
    metrics = {"MAE": {"model": 0.1, "persistence": 0.3}}
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}
    report = forecast_report(
        tmp_path, "demo", "A summary.", metrics, TIMES, ACTUAL, FORECASTS, history
    )
    text = report.write().read_text()
    assert text.startswith("# demo") and "A summary." in text and "| MAE | 0.1 | 0.3 |" in text
    for name in ("loss", "actual_vs_predicted", "scatter", "errors", "residuals"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000


def test_report_without_history_has_no_loss_plot(tmp_path):
    metrics = {"MAE": {"model": 0.1}}
    forecast_report(tmp_path, "demo", "", metrics, TIMES, ACTUAL, {"model": ACTUAL})
    assert not (tmp_path / "plots" / "loss.png").exists()

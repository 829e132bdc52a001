"""The Markdown report: tables with baselines, images and text."""

import math

from azuraforge.learn.reports import Report, metric_table


def test_metric_table_puts_every_baseline_beside_the_model():
    table = metric_table(
        {"MAE": {"model": 1.0, "persistence": 2.0}, "R2": {"model": 0.9, "drift": math.nan}}
    )
    assert table.splitlines() == [
        "| metric | model | persistence | drift |",
        "|---|---|---|---|",
        "| MAE | 1 | 2 | n/a |",
        "| R2 | 0.9 | n/a | n/a |",
    ]


def test_report_writes_sections_in_order_with_relative_image_links(tmp_path):
    report = Report(tmp_path, "Weather forecaster")
    report.text("Chronological split 70/10/20.")
    report.table("Test set", {"MAE": {"model": 1.0}})
    (tmp_path / "plots").mkdir()
    report.image("Loss", tmp_path / "plots" / "loss.png")
    text = report.write().read_text()
    assert text.startswith("# Weather forecaster\n")
    assert text.index("Chronological") < text.index("## Test set") < text.index("![Loss]")
    assert "(plots/loss.png)" in text

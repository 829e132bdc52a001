"""weather-forecaster end to end on a slice of the real Beijing data."""

import csv

import numpy as np
import pytest

from azuraforge.apps.weather import WeatherForecaster
from azuraforge.errors import DataFormatError, InvalidParameterError
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.datasets import fetch

SLICE = {"max_rows": 3000, "epochs": 3, "hidden_size": 32, "seed": 0}


@pytest.fixture(scope="module")
def run(tmp_path_factory, real_data):
    directory = tmp_path_factory.mktemp("weather")
    pipeline = WeatherForecaster()
    result = pipeline.run(pipeline.make_config(SLICE), LocalContext(output_dir=directory))
    return pipeline, result, directory


def test_beats_persistence_on_the_slice(run):
    _, result, _ = run
    mae = result.metrics["MAE"]
    assert mae["model"] < mae["persistence"] < mae["same hour yesterday"]
    assert result.metrics["RelativeMAE vs persistence"]["model"] < 0.95


def test_report_plots_and_artifact_exist(run):
    _, result, directory = run
    text = result.report_path.read_text()
    assert "| MAE |" in text and "persistence" in text
    for name in ("loss", "actual_vs_predicted", "scatter", "errors", "residuals"):
        assert (directory / "plots" / f"{name}.png").stat().st_size > 2000
    assert (result.artifact_dir / "model.npz").exists()


def test_artifact_predicts_the_test_rows_again_exactly_from_raw_csv(run, tmp_path):
    pipeline, result, directory = run
    with (directory / "test_predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    expected = np.array([float(r["model"]) for r in rows])
    source = fetch("beijing-hourly")["beijing_hourly_2010_2014.csv"].read_text().splitlines()
    artifact = ModelArtifact.load(result.artifact_dir)
    lookback = artifact.config["sequence_length"] - 1 + artifact.config["horizon"]
    first_test_row = SLICE["max_rows"] - len(rows)  # data rows count from 0 after the header
    raw = [source[0], *source[1 + first_test_row - lookback : 1 + SLICE["max_rows"]]]
    (tmp_path / "recent.csv").write_text("\n".join(raw) + "\n")
    forecasts = pipeline.predict(artifact, tmp_path / "recent.csv")
    # One forecast per window: those ending before the last row match the test predictions
    # bit for bit; the last `horizon` ones look past the end of the input.
    np.testing.assert_array_equal(forecasts["forecast"][: len(expected)], expected)
    assert len(forecasts["forecast"]) == len(expected) + artifact.config["horizon"]
    assert str(forecasts["last_input_time"][-1]) == rows[-1]["time"]


def test_bad_settings_are_refused():
    with pytest.raises(InvalidParameterError, match="horizon"):
        WeatherForecaster.make_config({"horizon": 0})
    with pytest.raises(InvalidParameterError, match="unknown setting 'epoch'"):
        WeatherForecaster.make_config({"epoch": 3})


def test_input_with_missing_hours_is_refused(real_data, tmp_path):
    source = fetch("beijing-hourly")["beijing_hourly_2010_2014.csv"].read_text().splitlines()
    gappy = [source[0], *source[1:40], *source[45:100]]  # five hours missing
    (tmp_path / "gappy.csv").write_text("\n".join(gappy) + "\n")
    pipeline = WeatherForecaster()
    gap = r"line 41 .*: 2010-01-02T20 follows 2010-01-02T14, but hourly rows must be one step"
    with pytest.raises(DataFormatError, match=gap):
        pipeline.load_frame(pipeline.make_config({}), source=tmp_path / "gappy.csv")

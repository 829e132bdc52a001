"""The forecasting protocol: the test part cannot influence anything fitted or chosen."""

from dataclasses import replace

import numpy as np
import pytest

from azuraforge.apps.stocks import StockPredictor
from azuraforge.apps.weather import WeatherForecaster
from azuraforge.errors import InvalidParameterError
from azuraforge.learn import LocalContext
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.learn.datasets import fetch

SETTINGS = {"max_rows": 1500, "epochs": 1, "hidden_size": 8, "horizon": 3}


class PoisonedTest(WeatherForecaster):
    """The weather data with the test part (last 20 %) replaced by nonsense."""

    def load_frame(self, config, source=None):
        frame = super().load_frame(config, source)
        rows = config.max_rows
        start = round(rows * (config.train_fraction + config.val_fraction))
        target, features = frame.target.copy(), frame.features.copy()
        target[start:rows] = target[start:rows] * 1.5 + 3
        features[start:rows] = features[start:rows] * 2 + 1
        return replace(frame, features=features, target=target)


def _fitted(pipeline, tmp_path):
    config = pipeline.make_config(SETTINGS)
    result = pipeline.run(config, LocalContext(output_dir=tmp_path))
    artifact = ModelArtifact.load(result.artifact_dir)
    return result, artifact


def test_changing_the_test_part_changes_nothing_fitted_or_chosen(tmp_path, real_data):
    clean, clean_artifact = _fitted(WeatherForecaster(), tmp_path / "clean")
    poisoned, poisoned_artifact = _fitted(PoisonedTest(), tmp_path / "poisoned")
    for name, value in clean_artifact.model.state_dict().items():
        np.testing.assert_array_equal(poisoned_artifact.model.state_dict()[name], value)
    for key in ("features", "target"):
        assert (
            clean_artifact.preprocessing[key].state_dict()
            == poisoned_artifact.preprocessing[key].state_dict()
        )
    assert clean_artifact.chosen_settings["blend"] == poisoned_artifact.chosen_settings["blend"]
    assert clean_artifact.data_fingerprint == poisoned_artifact.data_fingerprint
    assert clean.metrics["MAE"]["model"] != poisoned.metrics["MAE"]["model"]


def test_a_baseline_that_would_reach_before_the_data_is_left_out_and_said(tmp_path, real_data):
    pipeline = WeatherForecaster()
    config = pipeline.make_config(
        {"max_rows": 200, "train_fraction": 0.05, "val_fraction": 0.05, "sequence_length": 2,
         "epochs": 1}
    )  # fmt: skip
    result = pipeline.run(config, LocalContext(output_dir=tmp_path))
    assert list(result.metrics["MAE"]) == ["model", "persistence"]
    report = result.report_path.read_text()
    assert "The 'same hour yesterday' baseline is left out: it reads 24 rows back, and the " in (
        report
    )


def test_a_validation_part_is_required():
    with pytest.raises(InvalidParameterError, match="val_fraction"):
        WeatherForecaster.make_config({"val_fraction": 0})


def test_too_few_rows_to_predict_counts_the_files_rows_not_the_returns(tmp_path, real_data):
    pipeline = StockPredictor()
    settings = {"max_rows": 400, "epochs": 1, "hidden_size": 4, "sequence_length": 10}
    result = pipeline.run(pipeline.make_config(settings), LocalContext(output_dir=tmp_path))
    prices = fetch("nvda-daily")["NVDA_daily_1999_2014.csv"].read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(prices[:11]) + "\n")  # 10 days: 9 returns
    artifact = ModelArtifact.load(result.artifact_dir)
    with pytest.raises(
        InvalidParameterError, match=r"has 10 data rows; the model needs at least 11"
    ):
        pipeline.predict(artifact, short)
    enough = tmp_path / "enough.csv"
    enough.write_text("\n".join(prices[:12]) + "\n")
    assert len(pipeline.predict(artifact, enough)["forecast"]) == 1


def test_a_blend_set_by_the_user_is_reported_as_such(tmp_path, real_data):
    pipeline = WeatherForecaster()
    config = pipeline.make_config({**SETTINGS, "max_rows": 600, "blend": 0.5})
    result = pipeline.run(config, LocalContext(output_dir=tmp_path))
    report = result.report_path.read_text()
    assert "blend 0.50 (set by the user)" in report and "chosen on" not in report
    assert result.notes[0].endswith("blend 0.50 (set by the user)")

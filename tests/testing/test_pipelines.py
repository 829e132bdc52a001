"""check_pipeline: the built-in pipelines and a plugin keep the contract; broken ones are
caught with messages that say what to fix."""

import numpy as np
import pytest
from pydantic import Field

from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.apps.digits import DigitClassifier
from azuraforge.apps.stocks import StockPredictor
from azuraforge.apps.weather import WeatherForecaster
from azuraforge.learn.datasets import fetch, load_mnist
from azuraforge.testing import PipelineContractError, check_pipeline


def _head(path, rows, target):
    """The header and the first ``rows`` data lines of a real CSV."""
    lines = path.read_text().splitlines()[: rows + 1]
    target.write_text("\n".join(lines) + "\n")
    return target


@pytest.mark.slow
def test_weather_forecaster_keeps_the_contract(real_data, tmp_path):
    beijing = fetch("beijing-hourly")["beijing_hourly_2010_2014.csv"]
    check_pipeline(
        WeatherForecaster,
        # blend=1: a forecast from the model alone, so predict's use of it is checked too
        {"max_rows": 1500, "epochs": 1, "hidden_size": 8, "blend": 1},
        inputs=_head(beijing, 100, tmp_path / "hours.csv"),
        workdir=tmp_path,
    )


@pytest.mark.slow
def test_stock_predictor_keeps_the_contract(real_data, tmp_path):
    nvda = fetch("nvda-daily")["NVDA_daily_1999_2014.csv"]
    check_pipeline(
        StockPredictor,
        {"max_rows": 1500, "epochs": 1, "hidden_size": 8, "start": "1982-04-20", "blend": 1},
        inputs=_head(nvda, 80, tmp_path / "days.csv"),
        workdir=tmp_path,
    )


@pytest.mark.slow
def test_digit_classifier_keeps_the_contract(real_data, tmp_path):
    images = load_mnist().test_images[:20].reshape(20, -1)
    pixels = tmp_path / "pixels.csv"
    pixels.write_text("\n".join(",".join(map(str, row)) for row in images) + "\n")
    settings = {"max_train": 1000, "val_size": 200, "epochs": 1, "channels": 4, "hidden_size": 8}
    check_pipeline(DigitClassifier, settings, inputs=pixels, workdir=tmp_path)


def test_a_plugin_from_another_distribution_keeps_the_contract(plugin_distribution, tmp_path):
    plugin_distribution({"constant": "fakeplugin:Constant"})
    from fakeplugin import Constant

    with pytest.raises(PipelineContractError) as caught:
        check_pipeline(Constant, {"epochs": 2}, workdir=tmp_path)
    # It keeps every rule but two: its settings are undocumented and it saves no artifact
    # although it supports predict.
    assert "settings without a description: value, epochs" in str(caught.value)
    assert "supports predict but the run saved no artifact_dir" in str(caught.value)


class CarelessConfig(PipelineConfig):
    epochs: int = Field(0, ge=1, description="Epochs.")
    rows: int = Field(description="Rows to read (required).")


class Careless(Pipeline[CarelessConfig]):
    """Breaks the rules a careless plugin breaks: no default, no baseline, no progress,
    ignores cancellation."""

    name = "Careless Pipeline"
    description = "Two lines\nof description."
    Config = CarelessConfig

    def run(self, config, ctx):
        return RunResult(metrics={"MAE": {"model": 1.0}})


def test_a_careless_pipeline_is_told_everything_it_must_fix(tmp_path):
    with pytest.raises(PipelineContractError) as caught:
        check_pipeline(Careless, {"rows": 10}, workdir=tmp_path)
    message = str(caught.value)
    assert message.startswith("pipeline 'Careless Pipeline' breaks the contract:")
    assert "declaration: name must be lower-case letters" in message
    assert "defaults: the defaults do not validate" in message and "epochs" in message
    assert "run: the run logged no metrics through ctx.log_metrics" in message


class HonestConfig(PipelineConfig):
    epochs: int = Field(2, description="Epochs.")
    ragged: bool = Field(False, description="Return columns of different lengths.")
    cancellable: bool = Field(True, description="Honour ctx.should_stop().")
    baseline: bool = Field(True, description="Score a baseline beside the model.")
    ignores_model: bool = Field(False, description="Predict without the saved model.")


class Checked(Pipeline[HonestConfig]):
    """Keeps the contract, unless a setting tells it to break one rule."""

    name = "checked"
    description = "A pipeline that keeps the contract unless told otherwise."
    Config = HonestConfig

    def run(self, config, ctx):
        from azuraforge.core import nn
        from azuraforge.learn import TrainingSummary
        from azuraforge.learn.artifact import ModelArtifact

        done = 0
        for epoch in range(1, config.epochs + 1):
            if config.cancellable and ctx.should_stop():
                break
            ctx.log_metrics({"loss": 1.0 / epoch}, step=epoch)
            done = epoch
        metrics = {"MAE": {"model": 1.0, **({"persistence": 2.0} if config.baseline else {})}}
        status = "cancelled" if config.cancellable and ctx.should_stop() else "completed"
        training = TrainingSummary(status, done, config.epochs)
        artifact = ModelArtifact(
            model=nn.Linear(1, 1),
            config=config.model_dump(mode="json"),
            metrics=metrics,
            pipeline=self.name,
            training=training,
        )
        directory = artifact.save(ctx.output_dir / "artifact")
        return RunResult(metrics=metrics, artifact_dir=directory, training=training)

    def predict(self, artifact, inputs):
        from azuraforge.learn import predict

        x = np.loadtxt(inputs, ndmin=2, dtype=np.float32)
        values = predict(artifact.model, x)[:, 0]
        if artifact.config["ignores_model"]:
            values = np.zeros(len(x))
        ragged = artifact.config["ragged"]
        return {"row": np.arange(len(x)), "value": np.append(values, [0.0] * ragged)}


def test_a_pipeline_that_keeps_the_contract_passes(tmp_path):
    (tmp_path / "rows.csv").write_text("1\n2\n3\n")
    check_pipeline(Checked, {}, inputs=tmp_path / "rows.csv", workdir=tmp_path)


@pytest.mark.parametrize(
    ("settings", "inputs", "problem"),
    [
        ({"ragged": True}, True, "predict: predict must return named 1-D columns of one length"),
        ({"ignores_model": True}, True, "predict: predict gives the same values when the saved"),
        ({"cancellable": False}, True, "cancellation: a run whose ctx.should_stop() is true"),
        ({"baseline": False}, True, "run: metric 'MAE' has columns ['model']: it needs"),
        ({}, False, "predict: the pipeline supports predict: pass inputs="),
        (
            {"epochs": "many"},
            True,
            "the given settings: raised InvalidParameterError: bad settings for checked: epochs",
        ),
    ],
)
def test_each_broken_rule_is_named(tmp_path, settings, inputs, problem):
    (tmp_path / "rows.csv").write_text("1\n2\n3\n")
    with pytest.raises(PipelineContractError, match=r"breaks the contract") as caught:
        check_pipeline(
            Checked, settings, inputs=tmp_path / "rows.csv" if inputs else None, workdir=tmp_path
        )
    assert problem in str(caught.value)
    assert len(str(caught.value).splitlines()) == 2  # exactly one rule broken


def test_required_settings_must_be_given_to_the_check(tmp_path):
    with pytest.raises(PipelineContractError, match="lack the required rows"):
        check_pipeline(Careless, {}, workdir=tmp_path)

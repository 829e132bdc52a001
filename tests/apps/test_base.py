"""The pipeline contract: settings are validated with one readable message."""

import pytest

from azuraforge.apps.base import (
    Pipeline,
    PipelineConfig,
    RunResult,
    TrainingConfig,
    TrainingPipeline,
)
from azuraforge.core import manual_seed, nn
from azuraforge.core.random import generator
from azuraforge.errors import InvalidParameterError, PluginError
from azuraforge.learn.datasets import read_csv


class Tiny(Pipeline):
    name = "tiny"

    class Config(PipelineConfig):
        epochs: int = 3
        rate: float = 0.1

    def run(self, config, ctx):
        return RunResult(metrics={})


def test_settings_are_coerced_and_validated():
    assert Tiny.make_config({"epochs": "5"}).epochs == 5
    assert Tiny.make_config().rate == 0.1


def test_unknown_and_invalid_settings_read_clearly():
    with pytest.raises(
        InvalidParameterError, match=r"unknown setting 'epochz' \(settings: epochs, rate\)"
    ):
        Tiny.make_config({"epochz": 3})
    with pytest.raises(InvalidParameterError, match=r"epochs: .*integer.*\(got 'many'\)"):
        Tiny.make_config({"epochs": "many"})


def test_predict_is_optional():
    with pytest.raises(PluginError, match="does not support predict"):
        Tiny().predict(None, None)


class InitialWeight(TrainingPipeline[TrainingConfig]):
    name = "initial-weight"
    Config = TrainingConfig

    def train_and_score(self, config, ctx):
        return RunResult(metrics={"weight": {"model": float(nn.Linear(1, 1).weight.item())}})


def test_a_training_run_draws_from_its_own_seeded_generator():
    manual_seed(0)
    outside = generator().random()
    manual_seed(0)
    runs = [InitialWeight().run(InitialWeight.make_config({"seed": s}), None) for s in (1, 1, 2)]
    assert runs[0].metrics == runs[1].metrics != runs[2].metrics
    assert generator().random() == outside  # the process's draws are left alone


class Doubler(Tiny):
    """A third-party pipeline that defines only ``predict`` (a file of column x)."""

    name = "doubler"

    def predict(self, artifact, inputs):
        return {"y": read_csv(inputs).numbers("x") * 2}


def test_a_pipeline_without_a_series_predicts_rows_with_no_history():
    columns, history = Doubler().predict_rows_with_history(None, [{"x": 1}, {"x": 2.5}])
    assert columns["y"].tolist() == [2.0, 5.0] and history is None
    with pytest.raises(InvalidParameterError, match="does not forecast a horizon"):
        Doubler().predict_rows_with_history(None, [{"x": 1}], horizon=1)

"""The pipeline contract: settings are validated with one readable message."""

import pytest

from azuraforge.apps.base import Pipeline, PipelineConfig, RunResult
from azuraforge.errors import InvalidParameterError, PluginError


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

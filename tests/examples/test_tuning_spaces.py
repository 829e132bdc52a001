"""The search spaces under examples/tuning are valid for the pipeline their header names."""

from __future__ import annotations

from pathlib import Path

import yaml

from azuraforge.apps import get_pipeline
from azuraforge.platform.services.studies import parse_space

SPACES = Path(__file__).parents[2] / "examples" / "tuning"


def test_weather_24h_space_is_valid_for_the_weather_forecaster() -> None:
    space = yaml.safe_load((SPACES / "weather_24h_space.yaml").read_text())
    parsed = parse_space(get_pipeline("weather-forecaster"), {"horizon": 24}, space)
    assert set(parsed) == {
        "sequence_length", "hidden_size", "num_layers", "learning_rate", "dropout", "batch_size"
    }  # fmt: skip
    assert parsed["learning_rate"]["log"] is True

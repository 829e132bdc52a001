"""Search spaces: the accepted forms, and each bad entry named by its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from azuraforge.apps import get_pipeline
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.services.studies import distributions, grid_of, parse_space
from azuraforge.platform.services.validation import ConfigError


@pytest.fixture
def pipeline(quadratic: Path) -> Any:
    return get_pipeline("quadratic")


def test_ranges_choices_and_the_list_shorthand_become_optuna_distributions(pipeline: Any):
    space = parse_space(pipeline, {}, {
        "x": {"type": "float", "low": 0.01, "high": 1, "log": True},
        "steps": {"type": "int", "low": 2, "high": 8, "step": 2},
        "shape": ["bowl", "cup"],
    })  # fmt: skip
    assert space["x"] == {"type": "float", "low": 0.01, "high": 1.0, "log": True, "step": None}
    made = distributions(space)
    assert made["x"] == FloatDistribution(0.01, 1.0, log=True)
    assert made["steps"] == IntDistribution(2, 8, step=2)
    assert made["shape"] == CategoricalDistribution(["bowl", "cup"])


@pytest.mark.parametrize(
    ("entry", "path", "words"),
    [
        ({"nope": [1, 2]}, ["nope"], "not a setting of quadratic"),
        ({"x": {"type": "gaussian"}}, ["x", "type"], "float, int or categorical"),
        ({"x": {"type": "float", "low": 0}}, ["x", "high"], "needs a number"),
        ({"x": {"type": "float", "low": 1, "high": 0}}, ["x", "high"], "at least low"),
        ({"x": {"type": "float", "low": 0, "high": 1, "log": True}}, ["x", "low"], "above 0"),
        ({"x": {"type": "float", "low": 0.1, "high": 1, "log": True, "step": 0.1}},
         ["x", "step"], "cannot be combined"),
        ({"steps": {"type": "int", "low": 1.5, "high": 3}}, ["steps", "low"], "an integer"),
        ({"x": {"type": "float", "low": 0, "high": 1, "size": 3}}, ["x", "size"], "unknown"),
        ({"shape": {"type": "categorical", "choices": []}}, ["shape", "choices"], "non-empty"),
        ({"shape": [["a"]]}, ["shape", "choices", 0], "a choice is"),
        ({"x": {"type": "float", "low": -20, "high": 1}}, ["x", "low"], "greater than or equal"),
        ({"steps": [1, 0]}, ["steps", "choices", 1], "greater than or equal"),
        ({"x": 3}, ["x"], "or a list of choices"),
        ({}, [], "at least one setting"),
    ],
)  # fmt: skip
def test_each_bad_entry_is_named_by_its_path(
    pipeline: Any, entry: dict[str, Any], path: list[Any], words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_space(pipeline, {}, entry)
    assert raised.value.field == "space"
    [(loc, message)] = raised.value.problems
    assert list(loc) == path and words in message


def test_a_grid_needs_finite_choices_and_lists_every_value() -> None:
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None}}
    with pytest.raises(ConfigError, match="x: the grid sampler needs finite choices"):
        grid_of(space)
    space["x"]["step"] = 0.25
    assert grid_of(space) == {"x": [0.0, 0.25, 0.5, 0.75, 1.0]}


def test_a_grid_over_the_limit_is_refused() -> None:
    space = {k: {"type": "int", "low": 1, "high": 100, "log": False, "step": None} for k in "abc"}
    with pytest.raises(ConfigError, match="1,000,000 combinations"):
        grid_of(space)


def test_a_file_settings_choices_must_be_files_of_the_data_folder(tmp_path: Path):
    """A categorical's choices opened any file: a trial read ``../../etc/shadow``."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("date,x\n")
    forecaster = get_pipeline("forecaster")
    base = {"csv": "a.csv", "target": "x"}
    space = {"csv": {"type": "categorical", "choices": ["a.csv", "../../etc/shadow"]}}
    with pytest.raises(ConfigError) as caught:
        parse_space(forecaster, base, space, DataFolder(data))
    assert [loc for loc, _ in caught.value.problems] == [("csv", "choices", 1)]
    assert "'../../etc/shadow' is not a file of the server's data folder" in str(caught.value)

"""A study's search space: its entries checked against the pipeline's config and written in
full (:func:`parse_space`), as Optuna's distributions (:func:`distributions`) and, for the
grid sampler, as every value of each setting (:func:`grid_of`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from azuraforge.apps.base import Pipeline
from azuraforge.platform.jobs.files import DataFolder
from azuraforge.platform.services.validation import ConfigError, validate_config

MAX_GRID = 100_000
"""Most combinations a grid study may enumerate (Optuna's grid sampler lists them all)."""
_SCALARS = (str, int, float, bool, type(None))


def parse_space(
    pipeline: type[Pipeline[Any]],
    base_config: Mapping[str, Any],
    space: Mapping[str, Any],
    data_folder: DataFolder | None = None,
) -> dict[str, dict[str, Any]]:
    """The search space in its full form: ``{"lr": {"type": "float", "low": 1e-4,
    "high": 0.1, "log": True, "step": None}, "layers": {"type": "categorical", "choices":
    [1, 2]}}``; a bare list is a categorical's choices. Every key must be a setting of the
    pipeline, and every bound and choice a value the pipeline accepts over ``base_config``
    (a file setting's choices files of ``data_folder``, as :func:`validate_config` checks).

    >>> from azuraforge.apps import get_pipeline
    >>> parse_space(get_pipeline("weather-forecaster"), {}, {"hidden_size": [8, 16]})
    {'hidden_size': {'type': 'categorical', 'choices': [8, 16]}}

    Raises
    ------
    ConfigError
        Naming each bad entry by its path (``space.lr.low``).
    """
    if not space:
        raise ConfigError(
            "search space", [((), "needs at least one setting to search")], field="space"
        )
    problems: list[tuple[tuple[str | int, ...], str]] = []
    parsed = {}
    filled = with_first_values(pipeline, base_config, space)
    for key, entry in space.items():
        found = _entry_problems(pipeline, key, entry)
        if not found:
            parsed[key] = _full(entry)
            found = _value_problems(pipeline, filled, key, parsed[key], data_folder)
        problems += found
    if problems:
        raise ConfigError("search space", problems, field="space")
    return parsed


def with_first_values(
    pipeline: type[Pipeline[Any]], base_config: Mapping[str, Any], space: Mapping[str, Any]
) -> dict[str, Any]:
    """``base_config`` with each setting of ``pipeline`` that the space searches and the base
    lacks set to the space's first value (a choice, or the low bound): a required setting may
    come from the space alone. A key that is no setting is left to :func:`parse_space`.

    >>> from azuraforge.apps import get_pipeline
    >>> weather = get_pipeline("weather-forecaster")
    >>> with_first_values(weather, {"epochs": 2}, {"hidden_size": [8, 16], "nope": [1]})
    {'hidden_size': 8, 'epochs': 2}
    """
    settings = pipeline.Config.model_fields
    firsts = {key: _first_value(entry) for key, entry in space.items() if key in settings}
    kept = {key: value for key, value in firsts.items() if value is not None}
    return {**kept, **base_config}


def _first_value(entry: Any) -> Any:
    """The first value of a space entry in any form, or None for one too malformed to have
    one (:func:`parse_space` names what is wrong with it)."""
    if isinstance(entry, Mapping):
        choices = entry.get("choices")
        entry = choices if isinstance(choices, list) else [entry.get("low")]
    return entry[0] if isinstance(entry, list) and entry else None


def _entry_problems(
    pipeline: type[Pipeline[Any]], key: str, entry: Any
) -> list[tuple[tuple[str | int, ...], str]]:
    fields = pipeline.Config.model_fields
    if key not in fields:
        return [((key,), f"not a setting of {pipeline.name}; settings: {', '.join(fields)}")]
    if isinstance(entry, list):
        entry = {"type": "categorical", "choices": entry}
    if not isinstance(entry, Mapping):
        shape = "{type: float|int, low, high[, log][, step]}, {type: categorical, choices}"
        return [((key,), f"needs {shape} or a list of choices, got {entry!r}")]
    kind = entry.get("type")
    if kind == "categorical":
        return _categorical_problems(key, entry)
    if kind in ("float", "int"):
        return _range_problems(key, entry, int if kind == "int" else float)
    return [((key, "type"), f"must be float, int or categorical, got {kind!r}")]


def _categorical_problems(key: str, entry: Mapping[str, Any]) -> list[Any]:
    unknown = sorted(set(entry) - {"type", "choices"})
    if unknown:
        return [((key, unknown[0]), "unknown key of a categorical (it takes choices)")]
    choices = entry.get("choices")
    if not isinstance(choices, list) or not choices:
        return [((key, "choices"), "needs a non-empty list of values")]
    bad = [i for i, c in enumerate(choices) if not isinstance(c, _SCALARS)]
    if bad:
        return [((key, "choices", bad[0]), "a choice is a number, text, true/false or null")]
    return []


def _range_problems(key: str, entry: Mapping[str, Any], kind: type) -> list[Any]:
    unknown = sorted(set(entry) - {"type", "low", "high", "log", "step"})
    if unknown:
        return [((key, unknown[0]), "unknown key of a range (it takes low, high, log, step)")]
    return _range_type_problems(key, entry, kind) or _range_order_problems(key, entry)


def _range_type_problems(key: str, entry: Mapping[str, Any], kind: type) -> list[Any]:
    """Each of a range's values of the wrong type."""
    problems = []
    for bound in ("low", "high"):
        value = entry.get(bound)
        if not _number(value, kind):
            problems.append(
                (
                    (key, bound),
                    f"needs {'an integer' if kind is int else 'a number'}, got {value!r}",
                )
            )
    step, log = entry.get("step"), entry.get("log", False)
    if step is not None and not (_number(step, kind) and step > 0):
        problems.append(((key, "step"), f"must be a positive {kind.__name__}, got {step!r}"))
    if not isinstance(log, bool):
        problems.append(((key, "log"), f"must be true or false, got {log!r}"))
    return problems


def _range_order_problems(key: str, entry: Mapping[str, Any]) -> list[Any]:
    """The first way a range's values, each of its type, do not go together."""
    step, log = entry.get("step"), entry.get("log", False)
    if entry["low"] > entry["high"]:
        return [((key, "high"), f"must be at least low ({entry['low']}), got {entry['high']}")]
    if log and entry["low"] <= 0:
        return [((key, "low"), f"must be above 0 on a log scale, got {entry['low']}")]
    if log and step is not None:
        return [((key, "step"), "cannot be combined with log: true")]
    return []


def _number(value: Any, kind: type) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) if kind is int else math.isfinite(value)


def _full(entry: Any) -> dict[str, Any]:
    if isinstance(entry, list):
        return {"type": "categorical", "choices": list(entry)}
    if entry["type"] == "categorical":
        return {"type": "categorical", "choices": list(entry["choices"])}
    cast = int if entry["type"] == "int" else float
    step = entry.get("step")
    return {
        "type": entry["type"],
        "low": cast(entry["low"]),
        "high": cast(entry["high"]),
        "log": bool(entry.get("log", False)),
        "step": None if step is None else cast(step),
    }


def _value_problems(
    pipeline: type[Pipeline[Any]],
    base_config: Mapping[str, Any],
    key: str,
    entry: Mapping[str, Any],
    data_folder: DataFolder | None,
) -> list[tuple[tuple[str | int, ...], str]]:
    """Each bound or choice the pipeline refuses, as the config check words it."""
    candidates: list[tuple[tuple[str | int, ...], Any]]
    if entry["type"] == "categorical":
        candidates = [(("choices", i), c) for i, c in enumerate(entry["choices"])]
    else:
        candidates = [(("low",), entry["low"]), (("high",), entry["high"])]
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for where, value in candidates:
        try:
            validate_config(pipeline, {**base_config, key: value}, data_folder)
        except ConfigError as e:
            messages = [msg for loc, msg in e.problems if loc[:1] == (key,)] or [str(e)]
            problems.append(((key, *where), messages[0]))
    return problems


def distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, BaseDistribution]:
    """Optuna's distributions of a parsed space (:func:`parse_space`).

    >>> distributions({"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True,
    ...                       "step": None}})
    {'lr': FloatDistribution(high=0.1, log=True, low=0.001, step=None)}
    """
    made: dict[str, BaseDistribution] = {}
    for key, entry in space.items():
        if entry["type"] == "categorical":
            made[key] = CategoricalDistribution(entry["choices"])
        elif entry["type"] == "int":
            made[key] = IntDistribution(
                entry["low"], entry["high"], log=entry["log"], step=entry["step"] or 1
            )
        else:
            made[key] = FloatDistribution(
                entry["low"], entry["high"], log=entry["log"], step=entry["step"]
            )
    return made


def grid_of(space: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Every value of each setting, for the grid sampler: choices, int ranges, and float
    ranges with a step.

    >>> grid_of({"a": {"type": "int", "low": 1, "high": 5, "log": False, "step": 2},
    ...          "b": {"type": "float", "low": 0.0, "high": 0.2, "log": False, "step": 0.1}})
    {'a': [1, 3, 5], 'b': [0.0, 0.1, 0.2]}

    Raises
    ------
    ConfigError
        For a float range without a step (its values are not finite), or a grid over
        :data:`MAX_GRID` combinations.
    """
    grid: dict[str, list[Any]] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for key, entry in space.items():
        if entry["type"] == "categorical":
            grid[key] = list(entry["choices"])
        elif entry["type"] == "int":
            grid[key] = list(range(entry["low"], entry["high"] + 1, entry["step"] or 1))
        elif entry["step"] is not None:
            count = math.floor((entry["high"] - entry["low"]) / entry["step"] + 1e-9) + 1
            grid[key] = [round(entry["low"] + i * entry["step"], 12) for i in range(count)]
        else:
            message = (
                "the grid sampler needs finite choices: give this float range a step, or choices"
            )
            problems.append(((key,), message))
    if problems:
        raise ConfigError("search space", problems, field="space")
    size = math.prod(len(values) for values in grid.values())
    if size > MAX_GRID:
        raise ConfigError(
            "search space",
            [((), f"the grid has {size:,} combinations; at most {MAX_GRID:,}")],
            field="space",
        )
    return grid

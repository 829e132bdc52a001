"""What a run's config, a grid of configs and a submission's name must be, checked where they
enter (the API, the CLI, studies, streams): a config against its pipeline's settings, each file
setting inside the project's data folder, a grid's values and size. A refusal is a
:class:`ConfigError` naming each field by its path.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from azuraforge.apps.base import Pipeline
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.jobs.files import DataFolder, OutsideDataFolderError, file_settings

MAX_BATCH = 1000
"""The most runs one submission (a grid) makes."""
MAX_NAME = 200 - len(f"-{MAX_BATCH}")
"""A submission's name: its batch's runs are named ``name-1``... ``name-1000``, each at most
200 characters as the store keeps them."""
SEED_RANGE = (-(2**31), 2**31 - 1)
"""The store keeps a config's ``seed`` in a 32-bit integer column (on PostgreSQL)."""
_Settings = TypeVar("_Settings", bound=BaseModel)


class ConfigError(InvalidParameterError):
    """A config its pipeline refuses, or a grid that cannot be expanded (``field="grid"``);
    ``problems`` lists ``(path, message)`` pairs, each path inside ``field``; ``what`` starts
    the message (``bad config for weather-forecaster: ...``, ``bad grid: ...``)."""

    def __init__(
        self,
        what: str,
        problems: Sequence[tuple[tuple[str | int, ...], str]],
        *,
        field: str = "config",
    ) -> None:
        shown = "; ".join(
            f"{'.'.join(map(str, loc))}: {msg}" if loc else msg for loc, msg in problems
        )
        super().__init__(f"bad {what}: {shown}")
        self.problems, self.field = problems, field


def validate_config(
    pipeline: type[Pipeline[Any]],
    settings: Mapping[str, Any],
    data_folder: DataFolder | None = None,
) -> dict[str, Any]:
    """``settings`` completed with the pipeline's defaults, as JSON-ready values; with
    ``data_folder`` (the project's), each file setting must name a file there or a
    registered dataset, and is kept relative to the folder
    (:meth:`~azuraforge.platform.jobs.files.DataFolder.confine`).
    Every config, grid combination, study base config and search-space value a request
    brings passes here.

    Raises
    ------
    ConfigError
        Naming each refused field by its path.
    """
    config = validate_settings(
        pipeline.Config, f"config for {pipeline.name}", settings, data_folder
    )
    return config.model_dump(mode="json")


def validate_settings(
    model: type[_Settings],
    what: str,
    settings: Mapping[str, Any],
    data_folder: DataFolder | None = None,
) -> _Settings:
    """``settings`` made a ``model`` (a pipeline's config, a stream's), checked as
    :func:`validate_config` checks them, each file setting relative to ``data_folder``;
    ``what`` names them in errors. Validate a config once, where it enters, and pass this
    object on."""
    try:
        # As JSON, strictly: a value of another JSON type than the setting's is refused
        # (true for 1, "3" for 3), as the OpenAPI of the pipeline's settings says.
        given = json.dumps(as_json_numbers(dict(settings)))
        config = model.model_validate_json(given, strict=True)
    except ValidationError as e:
        raise ConfigError(
            what, [(tuple(err["loc"]), _message(err)) for err in e.errors()]
        ) from None
    _check_seed(model, config, what)
    if data_folder is None:
        return config
    return _confined(model, config, data_folder, what)


def _check_seed(model: type[BaseModel], config: BaseModel, what: str) -> None:
    """Refuse a ``seed`` setting the store cannot keep (not 32 bits)."""
    seed = getattr(config, "seed", None) if "seed" in model.model_fields else None
    if isinstance(seed, int) and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        low, high = SEED_RANGE
        message = f"must be between {low} and {high} (the store keeps a 32-bit seed), got {seed}"
        raise ConfigError(what, [(("seed",), message)])


def _confined(
    model: type[_Settings], config: _Settings, data_folder: DataFolder, what: str
) -> _Settings:
    """``config`` with each file setting a file of ``data_folder`` (:meth:`DataFolder.confine`),
    or refused naming each that is not."""
    try:
        confined = data_folder.confine(model, config.model_dump(mode="json"))
    except OutsideDataFolderError as e:
        raise ConfigError(what, e.problems) from None
    kept = {name: confined[name] for name in file_settings(model)}
    return config.model_copy(update={k: Path(v) for k, v in kept.items() if v is not None})


def check_grid(
    pipeline: type[Pipeline[Any]], grid: Mapping[str, Any], data_folder: DataFolder | None = None
) -> None:
    """Refuse a grid value its setting refuses (another JSON type, out of its range) or,
    with ``data_folder``, a file setting's value naming no file there: each at its place in
    the grid (``grid.epochs.1``), not in the configs it makes, which are checked again."""
    fields = pipeline.Config.model_fields
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name, values in grid.items():
        if name not in fields:
            problems.append(((name,), "unknown setting"))
            continue
        if not isinstance(values, list):
            continue  # expand_grid says so
        field = fields[name]
        annotated: Any = Annotated[field.annotation, field]  # the setting, constraints too
        setting: TypeAdapter[Any] = TypeAdapter(annotated)
        for index, value in enumerate(values):
            try:
                setting.validate_json(json.dumps(as_json_numbers(value)), strict=True)
            except ValidationError as e:
                problems += [((name, index, *err["loc"]), _message(err)) for err in e.errors()]
    if data_folder is not None and not problems:
        problems = _grid_files_outside(pipeline, grid, data_folder)
    if problems:
        raise ConfigError("grid", problems, field="grid")


def _grid_files_outside(
    pipeline: type[Pipeline[Any]], grid: Mapping[str, Any], folder: DataFolder
) -> list[tuple[tuple[str | int, ...], str]]:
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name in file_settings(pipeline.Config):
        values = grid.get(name)
        for index, value in enumerate(values if isinstance(values, list) else []):
            try:
                folder.confine(pipeline.Config, {name: value})
            except OutsideDataFolderError as e:
                problems += [((name, index), message) for _, message in e.problems]
    return problems


def as_json_numbers(value: Any) -> Any:
    """``value`` with each whole float an int, in lists and objects too: JSON has one kind
    of number, and 3.0 is as much an integer as 3 (JSON Schema says so).

    >>> as_json_numbers({"epochs": 3.0, "lr": [0.5, 2.0], "on": True})
    {'epochs': 3, 'lr': [0.5, 2], 'on': True}
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [as_json_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json_numbers(item) for key, item in value.items()}
    return value


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown setting"
    if error["type"] == "missing":
        return "required"
    if error["type"] == "value_error" and not error["loc"]:  # a rule across settings
        return str(error["ctx"]["error"])
    return f"{error['msg']} (got {error.get('input')!r})"


def expand_grid(
    config: Mapping[str, Any], grid: Mapping[str, Sequence[Any]]
) -> list[dict[str, Any]]:
    """One config per combination of the ``grid``'s value lists, over ``config``.

    >>> expand_grid({"epochs": 2}, {"lr": [0.1, 0.01], "batch": [32]})
    [{'epochs': 2, 'lr': 0.1, 'batch': 32}, {'epochs': 2, 'lr': 0.01, 'batch': 32}]
    """
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            problems = [((key,), "needs a non-empty list of values")]
            raise ConfigError("grid", problems, field="grid")
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_BATCH:
        raise ConfigError("grid", [((), f"makes {size} runs; at most {MAX_BATCH}")], field="grid")
    keys = list(grid)
    return [
        {**config, **dict(zip(keys, combination, strict=True))}
        for combination in itertools.product(*(grid[k] for k in keys))
    ]

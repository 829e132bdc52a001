"""Submitting experiments: validate a config against its pipeline, expand a grid, queue, notify.

The API and the CLI both submit through here, so a config is checked the same way wherever
it comes from, and a run's row is committed before any transport hears of it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from azuraforge.apps import get_pipeline
from azuraforge.apps.base import Pipeline
from azuraforge.errors import InvalidParameterError
from azuraforge.platform.jobs.transport import Transport
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentRecord, Store

MAX_BATCH = 1000
SEED_RANGE = (-(2**31), 2**31 - 1)
"""The store keeps a config's ``seed`` in a 32-bit integer column (on PostgreSQL)."""


class ConfigError(InvalidParameterError):
    """A config its pipeline refuses; ``problems`` lists ``(field path, message)`` pairs."""

    def __init__(self, pipeline: str, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        shown = "; ".join(f"{'.'.join(map(str, loc)) or 'config'}: {msg}" for loc, msg in problems)
        super().__init__(f"bad config for {pipeline}: {shown}")
        self.problems = problems


def validate_config(pipeline: type[Pipeline[Any]], settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` completed with the pipeline's defaults, as JSON-ready values.

    Raises
    ------
    ConfigError
        Naming each refused field by its path.
    """
    try:
        config = pipeline.Config(**dict(settings))
    except ValidationError as e:
        problems = [(tuple(err["loc"]), _message(err)) for err in e.errors()]
        raise ConfigError(pipeline.name, problems) from None
    settings = config.model_dump(mode="json")
    seed = settings.get("seed")
    if isinstance(seed, int) and not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        low, high = SEED_RANGE
        message = f"must be between {low} and {high} (the store keeps a 32-bit seed), got {seed}"
        raise ConfigError(pipeline.name, [(("seed",), message)])
    return settings


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown setting"
    if error["type"] == "missing":
        return "required"
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
            raise ConfigError("grid", [(("grid", key), "needs a non-empty list of values")])
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_BATCH:
        raise ConfigError("grid", [(("grid",), f"makes {size} runs; at most {MAX_BATCH}")])
    keys = list(grid)
    return [
        {**config, **dict(zip(keys, combination, strict=True))}
        for combination in itertools.product(*(grid[k] for k in keys))
    ]


def submit(
    store: Store,
    transport: Transport,
    pipeline_name: str,
    config: Mapping[str, Any],
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    name: str | None = None,
    project: str = DEFAULT_PROJECT,
) -> list[ExperimentRecord]:
    """Validate and queue one run (or one per grid combination, sharing a batch id).

    Every config is validated before anything is stored, so a bad grid value queues nothing.
    """
    pipeline = get_pipeline(pipeline_name)
    configs = expand_grid(config, grid) if grid else [dict(config)]
    validated = [validate_config(pipeline, c) for c in configs]
    batch_id = uuid.uuid4().hex[:12] if grid else None
    requeue = bool(getattr(pipeline, "requeue_lost", False))
    records = []
    for index, settings in enumerate(validated):
        run_name = name if len(validated) == 1 else (f"{name}-{index + 1}" if name else None)
        records.append(
            store.create_experiment(
                pipeline_name,
                settings,
                name=run_name,
                project=project,
                batch_id=batch_id,
                requeue_lost=requeue,
            )
        )
    for record in records:
        transport.submit(record.id)
    return records

"""``/compare``: several runs side by side (curves, config diff, parallel coordinates)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import WithJsonSchema

from azuraforge.platform.api.access import READ
from azuraforge.platform.api.deps import MAX_EXPERIMENT_ID, RunsAndCompareDep, invalid_query
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.compare import (
    ComparisonPublic,
)
from azuraforge.platform.services.compare import (
    DEFAULT_POINTS,
    MAX_KEYS,
    MAX_POINTS,
    MAX_RUNS,
    RUN_IDS,
    Selection,
    SelectionError,
    compare,
    parse_ids,
)

router = APIRouter(prefix="/compare", tags=["compare"])
ERRORS = error_responses(404, 422)


Names = Annotated[
    list[str] | None,
    Query(description=f"Metric names (at most {MAX_KEYS}); repeat or comma-separate."),
]


@router.get("", dependencies=[READ], response_model=ComparisonPublic, responses=ERRORS)
def compare_runs(
    store: RunsAndCompareDep,
    experiments: Annotated[
        # Declared, and checked by parse_ids: its 422 says which id is wrong.
        list[Annotated[str, WithJsonSchema({"type": "string", "pattern": f"^{RUN_IDS}$"})]] | None,
        Query(description=f"Run ids (at most {MAX_RUNS}); repeat or comma-separate."),
    ] = None,
    batch: Annotated[
        str | None,
        Query(min_length=1, max_length=40, description="A batch id (a grid's runs)."),
    ] = None,
    study: Annotated[
        int | None, Query(ge=1, le=MAX_EXPERIMENT_ID, description="A study id (its trials).")
    ] = None,
    points: Annotated[
        int, Query(ge=2, le=MAX_POINTS, description="Most points per run and metric.")
    ] = DEFAULT_POINTS,
    metrics: Names = None,
    keys: Names = None,
    scores: Annotated[
        list[str] | None,
        Query(description=f"Scores as axes too (at most {MAX_KEYS}); repeat or comma-separate."),
    ] = None,
) -> ComparisonPublic:
    """Compare up to 100 runs named by exactly one of `experiments`, `batch` or `study`:
    each metric's curve per run by step (downsampled, extremes kept), the config keys whose
    values differ, and parallel-coordinates data (varying parameters, then the last value of
    `metrics`, by default those the runs share, then each of `scores`: numbers of the runs'
    results such as `metrics.MAE.model`). Runs of every status are included; a value a run
    lacks is null."""
    try:
        selection = Selection(experiments=parse_ids(experiments or []), batch=batch, study=study)
        comparison = compare(
            store,
            selection,
            points=points,
            metrics=_names(metrics),
            keys=_names(keys),
            scores=_names(scores),
        )
    except SelectionError as e:
        raise invalid_query(e) from None
    return ComparisonPublic.of(comparison)


def _names(values: list[str] | None) -> list[str]:
    return [n.strip() for value in values or [] for n in value.split(",") if n.strip()]

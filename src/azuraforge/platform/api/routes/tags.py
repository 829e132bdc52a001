"""A run's tags: ``PUT /runs/{id}/tags/{key}`` sets one (body ``{"value": ...}``),
``DELETE`` removes it; any run's, whatever its status, by a role that writes (editor, admin).
A run's JSON shows them as ``tags``; the run list keeps runs with a tag
(``GET /runs?tag=key:value``). Served as the other run routes are (:mod:`.runs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from azuraforge.platform.api.access import WRITE
from azuraforge.platform.api.deps import ExperimentId, RunsDep
from azuraforge.platform.api.schemas.common import error_responses
from azuraforge.platform.api.schemas.tags import (
    TagSet,
    TagsPublic,
)
from azuraforge.platform.store.tags import MAX_TAG_KEY

router = APIRouter()
ERRORS = error_responses()
TagKey = Annotated[str, Path(min_length=1, max_length=MAX_TAG_KEY, description="The tag's key.")]


@router.put(
    "/{experiment_id}/tags/{key:path}",
    dependencies=[WRITE],
    response_model=TagsPublic,
    responses=ERRORS,
)
def set_tag(experiment_id: ExperimentId, key: TagKey, body: TagSet, store: RunsDep) -> TagsPublic:
    """Set the run's tag ``key`` to ``value`` (a key it has gets the new value)."""
    store.set_run_tags(experiment_id, {key: body.value})
    return TagsPublic(experiment_id=experiment_id, tags=store.get_run_tags(experiment_id))


@router.delete(
    "/{experiment_id}/tags/{key:path}",
    dependencies=[WRITE],
    response_model=TagsPublic,
    responses=ERRORS,
)
def delete_tag(experiment_id: ExperimentId, key: TagKey, store: RunsDep) -> TagsPublic:
    """Delete the run's tag ``key`` (404 when it has none so named)."""
    store.delete_run_tag(experiment_id, key)
    return TagsPublic(experiment_id=experiment_id, tags=store.get_run_tags(experiment_id))

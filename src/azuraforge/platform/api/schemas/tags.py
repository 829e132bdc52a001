"""Bodies of a run's tags (:mod:`~azuraforge.platform.api.routes.tags`): the value a tag is
set to, and the run's tags after the change."""

from __future__ import annotations

from pydantic import BaseModel, Field

from azuraforge.platform.store.tags import MAX_TAG_VALUE


class TagSet(BaseModel):
    """The value a tag is set to."""

    value: str = Field(max_length=MAX_TAG_VALUE)


class TagsPublic(BaseModel):
    """A run's tags after the change."""

    experiment_id: int
    tags: dict[str, str]

"""What the stream routes share: a stream's id in a path, the bound of an event's index,
and the errors their OpenAPI declares."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from azuraforge.platform.api.deps import MAX_EXPERIMENT_ID
from azuraforge.platform.api.schemas.common import error_responses

ERRORS = error_responses()


StreamId = Annotated[int, Path(ge=1, le=MAX_EXPERIMENT_ID, description="A stream's id.")]


MAX_EVENT = 2**31 - 1

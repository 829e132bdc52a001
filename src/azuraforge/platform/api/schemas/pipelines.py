"""The answers of ``/pipelines`` (:mod:`~azuraforge.platform.api.routes.pipelines`): each
installed pipeline, its settings' schema and defaults."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PipelinePublic(BaseModel):
    name: str
    description: str
    distribution: str
    config_schema: dict[str, Any] | None
    defaults: dict[str, Any] | None
    error: str | None = Field(None, description="Why the plugin cannot be used, if it cannot.")


class PipelinesPublic(BaseModel):
    data: list[PipelinePublic]

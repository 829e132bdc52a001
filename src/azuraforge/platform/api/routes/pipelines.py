"""``/pipelines``: the installed pipelines with the JSON Schema of their config."""

from __future__ import annotations

from fastapi import APIRouter

from azuraforge.apps import discover
from azuraforge.platform.api.access import READ
from azuraforge.platform.api.schemas.pipelines import PipelinePublic, PipelinesPublic

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


@router.get("", dependencies=[READ], response_model=PipelinesPublic)
def list_pipelines() -> PipelinesPublic:
    """Every declared pipeline: name, description, config schema and defaults, or why it
    cannot be used."""
    data = []
    for name, plugin in sorted(discover().items()):
        pipeline = plugin.pipeline
        schema = pipeline.Config.model_json_schema() if pipeline else None
        defaults = None
        if pipeline is not None:
            defaults = {
                key: field.get_default(call_default_factory=True)
                for key, field in pipeline.Config.model_fields.items()
                if not field.is_required()
            }
        data.append(
            PipelinePublic(
                name=name,
                description=pipeline.description if pipeline else "",
                distribution=plugin.distribution,
                config_schema=schema,
                defaults=defaults,
                error=plugin.error or None,
            )
        )
    return PipelinesPublic(data=data)

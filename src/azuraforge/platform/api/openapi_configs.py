"""The bodies that carry a pipeline's settings (a submission, a study), declared per installed
pipeline: a ``oneOf`` keyed on ``pipeline`` (a ``const``), each branch with the JSON schema
of that pipeline's ``Config``. A setting the ``Config`` requires may come from ``config`` or
from ``grid`` (a submission), from ``config`` or ``space`` (a study).

What JSON Schema cannot say stays the API's to check, and its 422 names it: a file setting
names a file of the data folder; a pipeline's own rules across settings; a grid of at most
1,000 runs; a grid's values and a search entry's of their setting's type (one schema serves
every setting's) and a range's low at most its high.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azuraforge.apps.base import Pipeline
from azuraforge.platform.services.validation import SEED_RANGE

JsonSchema = dict[str, Any]
SCALAR: JsonSchema = {"type": ["string", "number", "boolean", "null"]}
"""A search space's choice: what a config setting can be, no list or object."""
CHOICES: JsonSchema = {"type": "array", "minItems": 1, "items": SCALAR}
SEARCH_ENTRY_NAME = "SearchEntry"
SEARCH_ENTRY: JsonSchema = {
    "title": SEARCH_ENTRY_NAME,
    "description": "How a study searches one setting: its choices (a list, or a categorical), "
    "or an int or float range. Each value must be one the setting takes (a range, of a "
    "number setting; low at most high; log above 0): a 422 names the one that is not.",
    "anyOf": [
        CHOICES,
        {
            "type": "object",
            "properties": {"type": {"const": "categorical"}, "choices": CHOICES},
            "required": ["type", "choices"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "type": {"enum": ["int", "float"]},
                "low": {"type": "number"},
                "high": {"type": "number"},
                "log": {"type": "boolean"},
                "step": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]},
            },
            "required": ["type", "low", "high"],
            "additionalProperties": False,
        },
    ],
}
"""A search-space entry, one schema for every setting of every pipeline: declaring each
setting's entries with its own type multiplied the schema (and the requests that check it)
by the number of settings."""


@dataclass(frozen=True)
class Settings:
    """A pipeline's settings as JSON Schema: each setting's schema, the required ones, and
    the definitions their references point to (under ``components/schemas``)."""

    name: str
    fields: dict[str, JsonSchema]
    required: list[str]
    definitions: dict[str, JsonSchema]

    @classmethod
    def of(cls, pipeline: type[Pipeline[Any]]) -> Settings:
        """``pipeline``'s ``Config``, its seed bounded as the store keeps it."""
        prefix = f"{pipeline.name}."
        schema = pipeline.Config.model_json_schema(
            ref_template=f"#/components/schemas/{prefix}{{model}}"
        )
        fields = dict(schema.get("properties", {}))
        if fields.get("seed", {}).get("type") == "integer":
            low, high = SEED_RANGE
            seed = fields["seed"]
            fields["seed"] = {
                **seed,
                "minimum": max(seed.get("minimum", low), low),
                "maximum": min(seed.get("maximum", high), high),
            }
        definitions = {prefix + k: v for k, v in schema.get("$defs", {}).items()}
        return cls(pipeline.name, fields, list(schema.get("required", [])), definitions)

    def config(self) -> JsonSchema:
        """Settings to pass, none required (a required one may come from elsewhere)."""
        return {"type": "object", "properties": self.fields, "additionalProperties": False}

    def given(self, *sources: str) -> list[JsonSchema]:
        """Each required setting named in one of the body's ``sources`` (objects)."""
        return [
            {
                "anyOf": [
                    {
                        "properties": {source: {"type": "object", "required": [setting]}},
                        "required": [source],
                    }
                    for source in sources
                ]
            }
            for setting in self.required
        ]


def submission(settings: Settings, base: JsonSchema) -> JsonSchema:
    """The body of ``POST /runs`` for one pipeline: ``base`` (the pipeline-free
    body), with its config typed and its grid naming the pipeline's settings, each a
    non-empty list of values (a list setting's values are lists)."""
    grid = {
        "type": "object",
        "propertyNames": {"enum": sorted(settings.fields)},
        "additionalProperties": {"type": "array", "minItems": 1},
    }
    properties = {
        **base["properties"],
        "pipeline": {"const": settings.name},
        "config": settings.config(),
        "grid": {"anyOf": [grid, {"type": "null"}]},
    }
    return branch(properties, ["pipeline"], settings.given("config", "grid"))


def study(settings: Settings, base: JsonSchema) -> JsonSchema:
    """The body of ``POST /studies`` for one pipeline: ``base``, with its base config typed
    and its space naming the pipeline's settings, each searched as a :data:`SEARCH_ENTRY`."""
    space = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": base["properties"]["space"].get("maxProperties", 100),
        "propertyNames": {"enum": sorted(settings.fields)},
        "additionalProperties": {"$ref": f"#/components/schemas/{SEARCH_ENTRY_NAME}"},
    }
    properties = {
        **base["properties"],
        "pipeline": {"const": settings.name},
        "config": settings.config(),
        "space": space,
    }
    return branch(properties, ["pipeline", "space"], settings.given("config", "space"))


def branch(
    properties: Mapping[str, JsonSchema], required: list[str], rules: list[JsonSchema]
) -> JsonSchema:
    """An object of ``properties`` only, ``required`` present, and every one of ``rules``."""
    schema: JsonSchema = {
        "type": "object",
        "properties": dict(properties),
        "required": required,
        "additionalProperties": False,
    }
    if rules:
        schema["allOf"] = rules
    return schema


def declare(openapi: dict[str, Any], pipelines: Mapping[str, type[Pipeline[Any]]]) -> None:
    """Declare the submission and study bodies of ``openapi`` per pipeline of
    ``pipelines`` (those that can be used), with their settings' definitions."""
    if not pipelines:
        return
    components = openapi["components"]["schemas"]
    every = [Settings.of(pipeline) for _, pipeline in sorted(pipelines.items())]
    for settings in every:
        components.update(settings.definitions)
    components[SEARCH_ENTRY_NAME] = copy.deepcopy(SEARCH_ENTRY)
    for component, body in (("ExperimentCreate", submission), ("StudyCreate", study)):
        base = components[component]
        components[component] = {
            "title": base.get("title", component),
            "description": base.get("description", ""),
            "oneOf": [body(settings, base) for settings in every],
        }

"""The OpenAPI the API serves, built live: FastAPI's, with what it cannot say of itself.

- A rule such as "exactly one of ``experiments``, ``batch`` and ``study``" or "``metric_min``
  needs ``metric``" is not a property of one parameter. OpenAPI declares it on an object
  parameter of ``style: form, explode: true``: its properties are sent as query parameters of
  their own, exactly as a client sends them today, and its schema says which go together.
- The keys runs can be sorted by (the columns, and ``metric:<key>`` of each metric logged)
  and each installed pipeline's settings (:mod:`~azuraforge.platform.api.openapi_configs`)
  are read when ``/openapi.json`` is fetched.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from azuraforge.apps import discover
from azuraforge.errors import CredentialError, NotFoundError
from azuraforge.platform.api import openapi_configs
from azuraforge.platform.api.access import api_routes, caller, declared_permission, session_cookie
from azuraforge.platform.api.routes import runs
from azuraforge.platform.store.experiment_query import SORTABLE

JsonSchema = dict[str, Any]


@dataclass(frozen=True)
class QueryGroup:
    """Query parameters of one operation declared as one object parameter ``name``, whose
    schema ``rule`` makes from theirs (by parameter name, each as one query value)."""

    path: str
    method: str
    name: str
    members: tuple[str, ...]
    required: bool
    rule: Callable[[dict[str, JsonSchema]], JsonSchema]
    description: str

    def apply(self, openapi: dict[str, Any], prefix: str) -> None:
        """Replace the members by the group in ``openapi``'s operation (under ``prefix``)."""
        operation = openapi["paths"][prefix + self.path][self.method]
        parameters = operation["parameters"]
        members = {
            p["name"]: one_value(p["schema"])
            for p in parameters
            if p["in"] == "query" and p["name"] in self.members
        }
        assert set(members) == set(self.members), f"{self.path}: {sorted(members)}"
        kept = [p for p in parameters if not (p["in"] == "query" and p["name"] in members)]
        group = {
            "name": self.name,
            "in": "query",
            "required": self.required,
            "style": "form",
            "explode": True,
            "description": self.description,
            "schema": self.rule(members),
        }
        operation["parameters"] = [*kept, group]


def query_parameters(openapi: dict[str, Any]) -> list[dict[str, Any]]:
    """Every query parameter of every operation of ``openapi``."""
    return [
        parameter
        for operations in openapi["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


def without_null(schema: JsonSchema) -> JsonSchema:
    """A query parameter's schema without FastAPI's ``null`` option: a query string cannot
    send null (an absent parameter takes its default), and a schema that says it can makes
    a client believe ``?keys=`` or ``?keys=true`` could mean one.

    Examples
    --------
    >>> without_null({"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None})
    {'type': 'integer'}
    """
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    if len(options) != 1 or "anyOf" not in schema:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**options[0], **rest}


def one_value(schema: JsonSchema) -> JsonSchema:
    """The schema of one query value of a parameter: not null, one item of a list."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    (value,) = options
    return dict(value.get("items", value)) if value.get("type") == "array" else dict(value)


def exactly_one(members: dict[str, JsonSchema]) -> JsonSchema:
    """An object of exactly one of ``members``. Other query parameters are not named: the
    API reads only its own."""
    return {
        "type": "object",
        "properties": members,
        "oneOf": [{"required": [name]} for name in members],
    }


def ranged_metric(members: dict[str, JsonSchema]) -> JsonSchema:
    """``metric`` alone, or a bound (``metric_min``, ``metric_max``) with a ``metric`` to
    filter on."""
    bounds = {name: schema for name, schema in members.items() if name != "metric"}
    named = {**members["metric"], "minLength": 1}
    return {
        "type": "object",
        "properties": members,
        "anyOf": [
            {"not": {"anyOf": [{"required": [name]} for name in bounds]}},
            {"properties": {"metric": named}, "required": ["metric"]},
        ],
    }


RUN_LISTS = (runs.PATH, runs.DEPRECATED_PATH)
"""The run list's path, and its deprecated alias."""
GROUPS = (
    QueryGroup(
        path="/compare",
        method="get",
        name="selection",
        members=("experiments", "batch", "study"),
        required=True,
        rule=exactly_one,
        description="The runs to compare: exactly one of experiments (ids, comma-separated), "
        "batch or study, each a query parameter of its own.",
    ),
    *(
        QueryGroup(
            path=path,
            method="get",
            name="metric_filter",
            members=("metric", "metric_min", "metric_max"),
            required=False,
            rule=ranged_metric,
            description="Runs whose metric's last value is within bounds: metric_min and "
            "metric_max need metric, each a query parameter of its own.",
        )
        for path in RUN_LISTS
    ),
)


REFUSED_EVERYWHERE = (
    "Text holding a NUL character, in a query parameter or anywhere in a JSON body (keys "
    "too), and NaN or Infinity in a JSON body are refused (422) before any route runs: the "
    "databases do not store them alike. A query parameter that takes one value, sent more "
    "than once, is refused too (422)."
)
"""What every operation refuses (:func:`~azuraforge.platform.api.deps.checked_input`), said
once in the OpenAPI's description rather than as a pattern on each of its strings."""


def install(app: FastAPI, prefix: str) -> None:
    """Serve ``app``'s OpenAPI live: FastAPI's, with the query rules of :data:`GROUPS`
    (paths under ``prefix``) declared, and, as they are when it is fetched, the metric keys
    runs can be sorted by and the settings of each installed pipeline."""
    fastapi_openapi = app.openapi

    @functools.cache
    def static() -> dict[str, Any]:
        schema = fastapi_openapi()
        schema["info"]["description"] += " " + REFUSED_EVERYWHERE
        for parameter in query_parameters(schema):
            parameter["schema"] = without_null(parameter["schema"])
        for group in GROUPS:
            group.apply(schema, prefix)
        declare_refusals(schema, app)
        return schema

    def openapi(project: str | None = None) -> dict[str, Any]:
        live = copy.deepcopy(static())
        store = app.state.store
        keys = store.list_metric_keys(project) if project is not None else []
        scores = store.list_score_names(project) if project is not None else []
        declare_sort_keys(live, prefix, keys, scores)
        usable = {name: plugin.pipeline for name, plugin in discover().items() if plugin.pipeline}
        openapi_configs.declare(live, usable)
        return live

    def openapi_json(request: Request) -> JSONResponse:
        """The live OpenAPI; the metric keys runs sort by are the caller's project's (none
        without a credential, or with a run's own, which reads nothing: another project's
        names do not leak)."""
        try:
            who = caller(request)
        except (CredentialError, NotFoundError):
            who = None
        project = None if who is None or who.run is not None else who.project
        return JSONResponse(openapi(project))

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_api_route("/openapi.json", openapi_json, include_in_schema=False)


REFUSALS = {
    "401": "No valid credential: sign in, or send a token (Authorization: Bearer af_...).",
    "403": "The credential's role in the project does not allow this.",
}


def security_schemes(app: FastAPI) -> dict[str, dict[str, str]]:
    """The two credentials: an API token, and the session cookie of this server."""
    return {
        "token": {"type": "http", "scheme": "bearer", "description": "An API token, af_..."},
        "session": {"type": "apiKey", "in": "cookie", "name": session_cookie(app),
                    "description": "The dashboard's session, from POST /auth/login."},
    }  # fmt: skip


def declare_refusals(openapi: dict[str, Any], app: FastAPI) -> None:
    """The credentials every operation but the public ones needs (a token or the session),
    and their 401 and 403 (each route's declared permission,
    :mod:`~azuraforge.platform.api.access`), said once here, not per route."""
    openapi["components"]["securitySchemes"] = schemes = security_schemes(app)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}}
    for route in api_routes(app):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        if declared_permission(route) in (None, "public"):
            continue
        for method in route.methods or ():
            operation = openapi["paths"][route.path_format][method.lower()]
            operation["security"] = [{name: []} for name in schemes]
            responses = operation["responses"]
            for code, description in REFUSALS.items():
                responses.setdefault(code, {"description": description, "content": error})


def declare_sort_keys(
    openapi: dict[str, Any], prefix: str, metrics: list[str], scores: list[str]
) -> None:
    """The runs' sort keys as an enum: the columns, ``metric:<key>`` for each metric some
    run logged (``metrics``) and ``score:<name>`` for each score some run has (``scores``)."""
    ranked = [*(f"metric:{key}" for key in metrics), *(f"score:{name}" for name in scores)]
    for path in RUN_LISTS:
        operation = openapi["paths"][prefix + path]["get"]
        (sort,) = (p for p in operation["parameters"] if p["name"] == "sort")
        sort["schema"]["enum"] = [*SORTABLE, *ranked]
        sort["description"] = sort["schema"]["description"] = (
            "A column, metric:<key> by a metric's last value, or score:<name> by a number of "
            "the run's result. The keys listed are those some run had when this OpenAPI was "
            "fetched; another is a 422 naming them."
        )

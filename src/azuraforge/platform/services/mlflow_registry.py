"""MLflow's model registry (``registered-models``, ``model-versions``) over AzuraForge's own
(:mod:`~azuraforge.platform.services.registry`): one registry, two APIs.

- An MLflow registered model is a model of the caller's project's registry, its description
  and tags its own; an MLflow model version is a version of it: ``create_model_version``
  copies the files its source names (``runs:/<run>/<path>``, ``models:/m-<id>``,
  ``models:/<name>/<version>``, ``mlflow-artifacts:/<experiment>/<run>/artifacts/<path>``)
  to the version's own blob prefix, as registering a run's model does, its ``pipeline``
  ``"mlflow"``. A version holding an MLflow model (``MLmodel`` at its root) is registered
  only in a project that allows MLflow models (their pickles run code where they load).
- An MLflow alias is an alias of the registry: each set or delete is a move kept in its
  history (by the caller's user, rolled back with ``POST /api/v1/models/{name}/aliases/
  {alias}/rollback``), which MLflow's own registry does not keep.
- A version made on the dashboard is an MLflow version too (its source is its download URI).
- A version's files are read through MLflow's artifact proxy at ``registry/<name>/
  <version>`` (:func:`download_uri`), so ``models:/NAME/1`` and ``models:/NAME@alias`` load.

What the registry keeps differently is kept as it keeps it: no version an alias points to is
deleted (409 naming the aliases), nor a model while it has aliases; stages are not kept
(``current_stage`` is ``"None"``; MLflow deprecated them for aliases).
"""

from __future__ import annotations

import functools
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlparse

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.run_files import run_key, run_prefix
from azuraforge.platform.services.mlflow_api import PIPELINE, run_id_of
from azuraforge.platform.services.mlflow_artifacts import REGISTRY, ArtifactPlace, locate
from azuraforge.platform.services.mlflow_models import logged_model_folder
from azuraforge.platform.services.project_settings import check_mlflow_models_allowed
from azuraforge.platform.services.registry import (
    MODELS,
    blob_digest,
    check_alias,
    check_model_name,
)
from azuraforge.platform.store import ModelRecord, ModelVersionRecord, Store
from azuraforge.platform.store.mlflow_models import TAG
from azuraforge.platform.store.registry import VersionMlflow

Json = dict[str, Any]
STAGE = "None"
"""The stage of every version (MLflow's stages are deprecated; aliases replace them)."""
STAGES = ("None", "Staging", "Production", "Archived")
MAX_TAG_KEY = 250
MAX_TAG_VALUE = 100_000
"""MLflow's limits of a registry tag's key and value."""
MODELS_PAGE = (100, 1000)
VERSIONS_PAGE = (10_000, 200_000)
"""The default and largest ``max_results`` of a search (MLflow's)."""
MLMODEL = "MLmodel"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
PROMPT_TAG = "mlflow.prompt.is_prompt"
"""The tag of a logged model naming the registry versions made from it."""
_INVALID_SOURCE = (
    "Invalid model version source: '{}'. If supplying a source as an http, https, local file "
    "path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided "
    "without relative path references present. Please provide an absolute path."
)


# -- reading requests -----------------------------------------------------------------------


def checked_name(name: str | None, field: str = "name") -> str:
    """A model's name sent to MLflow's API: present (MLflow's words), and one the registry
    can keep (:func:`~azuraforge.platform.services.registry.check_model_name`)."""
    if name is None or not name.strip():
        raise InvalidParameterError(f"Missing value for required parameter '{field}'.")
    return check_model_name(name)


def version_number(text: str | int | None) -> int:
    """The version number MLflow's client sends as a string (MLflow's words when not one)."""
    try:
        return int(str(text))
    except ValueError:
        raise InvalidParameterError(
            f"Parameter 'version' must be an integer, got '{text}'."
        ) from None


def checked_alias(alias: str) -> str:
    """An alias to set: not ``latest`` nor ``v<digits>`` (MLflow reserves them, its words),
    and one the registry can keep (:func:`~azuraforge.platform.services.registry.check_alias`)."""
    if alias.lower() == "latest":
        raise InvalidParameterError("'latest' alias name (case insensitive) is reserved.")
    if re.fullmatch(r"[vV][0-9]+", alias):
        raise InvalidParameterError(f"Version alias name '{alias}' is reserved.")
    return check_alias(alias)


def checked_key(key: str) -> str:
    """A registry tag's key: present, within MLflow's limit."""
    if not key.strip():
        raise InvalidParameterError("Missing value for required parameter 'key'.")
    if len(key) > MAX_TAG_KEY:
        raise InvalidParameterError(
            f"a registry tag's key holds at most {MAX_TAG_KEY} characters, got {len(key)}"
        )
    return key


def checked_tag(key: str, value: str) -> tuple[str, str]:
    """A registry tag within MLflow's limits."""
    if len(value) > MAX_TAG_VALUE:
        raise InvalidParameterError(
            f"a registry tag's value holds at most {MAX_TAG_VALUE} characters, got {len(value)}"
        )
    return checked_key(key), value


# -- lookups in MLflow's words --------------------------------------------------------------


def get_model(store: Store, name: str, project: str) -> ModelRecord:
    """The project's model ``name`` (``Registered Model with name=... not found``)."""
    found = store.find_model(name, project=project)
    if found is None:
        raise NotFoundError(f"Registered Model with name={name} not found")
    return found


def get_version(store: Store, name: str, version: int, project: str) -> ModelVersionRecord:
    """Version ``version`` of the project's model ``name`` (MLflow's words when none)."""
    get_model(store, name, project)
    if store.resolve_version_id(name, version, project=project) is None:
        raise NotFoundError(f"Model Version (name={name}, version={version}) not found")
    return store.get_version(name, version, project=project)


def version_by_alias(store: Store, name: str, alias: str, project: str) -> ModelVersionRecord:
    """The version ``alias`` points to now; ``latest``: the latest version (as MLflow)."""
    get_model(store, name, project)
    if alias.lower() == "latest":
        if store.resolve_version_id(name, project=project) is None:
            raise NotFoundError(f"Latest version not found for model {name}.")
        return store.get_version(name, project=project)
    version = store.find_alias(name, alias, project=project)
    if version is None:  # MLflow's code for it, not RESOURCE_DOES_NOT_EXIST
        raise InvalidParameterError(f"Registered model alias {alias} not found.")
    return store.get_version(name, version, project=project)


def latest_versions(
    store: Store, name: str, stages: Sequence[str], project: str
) -> list[ModelVersionRecord]:
    """The latest version, when ``stages`` is empty or names ``None`` (every version's)."""
    canonical = {stage.lower(): stage for stage in STAGES}
    for stage in stages:
        if stage.lower() not in canonical:
            raise InvalidParameterError(
                f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(STAGES)}."
            )
    get_model(store, name, project)
    wanted = not stages or any(stage.lower() == STAGE.lower() for stage in stages)
    if not wanted or store.resolve_version_id(name, project=project) is None:
        return []
    return [store.get_version(name, project=project)]


# -- answers --------------------------------------------------------------------------------


def download_uri(model: str, version: int) -> str:
    """Where MLflow's client reads a version's files: the artifact proxy's path to them."""
    return f"mlflow-artifacts:/{REGISTRY}/{model}/{version}"


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _tags(tags: dict[str, Any]) -> list[Json]:
    """MLflow's tag list (a value the registry's own API set that is not text: its JSON)."""
    return [{"key": key, "value": value if isinstance(value, str) else json.dumps(value)}
            for key, value in sorted(tags.items())]  # fmt: skip


def version_json(record: ModelVersionRecord, fields: VersionMlflow | None = None) -> Json:
    """A version as MLflow's ``ModelVersion`` (JSON)."""
    fields = fields or VersionMlflow()
    answer: Json = {
        "name": record.model,
        "version": str(record.version),
        "creation_timestamp": _ms(record.created_at),
        "last_updated_timestamp": _ms(fields.updated_at or record.created_at),
        "user_id": record.created_by,
        "current_stage": STAGE,
        "description": record.description,
        "source": fields.source or download_uri(record.model, record.version),
        "status": "READY",
        "tags": _tags(fields.tags),
        "aliases": list(record.aliases),
    }
    if record.source_experiment_id is not None:
        answer["run_id"] = str(record.source_experiment_id)
    if fields.model_id:
        answer["model_id"] = fields.model_id
    return answer


def versions_json(store: Store, records: Sequence[ModelVersionRecord], project: str) -> list[Json]:
    """The versions as MLflow's, each with what MLflow's registry keeps of it."""
    fields = store.find_versions_mlflow([r.id for r in records], project=project)
    return [version_json(record, fields.get(record.id)) for record in records]


def models_json(store: Store, records: Sequence[ModelRecord], project: str) -> list[Json]:
    """The models as MLflow's ``RegisteredModel``, each with its latest version."""
    latest: dict[str, ModelVersionRecord] = {}
    for version in store.list_all_versions(models=[r.name for r in records], project=project):
        latest.setdefault(version.model, version)  # newest first
    answers = versions_json(store, list(latest.values()), project)
    by_model = {answer["name"]: answer for answer in answers}
    return [
        {
            "name": record.name,
            "creation_timestamp": _ms(record.created_at),
            "last_updated_timestamp": _ms(record.updated_at),
            "description": record.description,
            "latest_versions": [by_model[record.name]] if record.name in by_model else [],
            "tags": _tags(record.tags),
            "aliases": [
                {"alias": alias, "version": str(version)}
                for alias, version in sorted(record.aliases.items())
            ],
        }
        for record in records
    ]


# -- making a version -----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFiles:
    """The files a version's source names (a blob prefix) and where they came from."""

    prefix: str
    run_id: int | None = None
    run_name: str = ""
    config: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


def create_version(
    store: Store,
    blobs: BlobStore,
    name: str,
    source: str,
    *,
    model_id: str = "",
    tags: dict[str, str] | None = None,
    description: str = "",
    actor: str,
    project: str,
) -> ModelVersionRecord:
    """The next version of the project's model ``name``, its files copied from ``source``
    (:func:`source_files`) to a blob prefix of its own, its pipeline ``"mlflow"``.

    Raises
    ------
    NotFoundError
        If there is no such model, or the source names a run, logged model or version the
        project lacks.
    InvalidParameterError
        For a source of another form (a path on the server's disk is never read).
    PermissionDeniedError
        If the files are an MLflow model and the project does not allow MLflow models.
    """
    get_model(store, name, project)
    files = source_files(store, source, project)
    model_id = model_id or _logged_model_id(source)
    if model_id:
        logged_model_folder(store, project, model_id)  # or NotFoundError
    target = f"{MODELS}/{name}/{uuid.uuid4().hex[:12]}"
    try:
        blobs.copy_prefix(files.prefix, target)
        if blobs.exists(f"{target}/{MLMODEL}"):
            check_mlflow_models_allowed(store, project)
        made = store.create_version(
            name, pipeline=PIPELINE, artifact_path=target,
            artifact_digest=blob_digest(blobs, target), source_experiment_id=files.run_id,
            source_experiment_name=files.run_name, metrics=files.metrics or {},
            config=files.config or {}, data_fingerprint="", description=description,
            created_by=actor, project=project,
            mlflow=VersionMlflow(source, model_id, dict(tags or {})),
        )  # fmt: skip
    except BaseException:
        blobs.delete_prefix(target)
        raise
    if model_id:
        _link_logged_model(store, model_id, made, project)
    return made


def _link_logged_model(
    store: Store, model_id: str, version: ModelVersionRecord, project: str
) -> None:
    """Name ``version`` in the ``mlflow.modelVersions`` tag of the logged model it was made
    from, as MLflow's server does."""
    found = store.get_logged_model(model_id, project=project, allow_deleted=True)
    entry = {"name": version.model, "version": version.version}
    held = json.loads(found.tags.get(MODEL_VERSIONS_TAG, "[]"))
    if entry not in held:
        store.set_logged_model_values(
            model_id, TAG, {MODEL_VERSIONS_TAG: json.dumps([*held, entry])}, project=project
        )


def source_files(store: Store, source: str, project: str) -> SourceFiles:
    """The files ``source`` names in the caller's project (``store``, a project's):

    - ``runs:/<run id>/<path>``: that folder of an MLflow run's files;
    - ``models:/m-<id>``: a logged model's folder among its run's files;
    - ``models:/<name>/<version>``: a version of the registry;
    - ``mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`` (a run's ``artifact_uri`` and
      what lies below it; a logged model's ``artifact_location``) or ``.../registry/<name>/
      <version>``: what MLflow's artifact proxy serves there.

    Raises
    ------
    InvalidParameterError
        For a ``..`` or NUL in the source, or a source of another form.
    """
    if not source:
        raise InvalidParameterError("Missing value for required parameter 'source'.")
    _check_relative(source)
    scheme = source.partition(":")[0]
    reader = _READERS.get(scheme)
    if reader is None:
        raise InvalidParameterError(
            f"Invalid model version source: '{source[:300]}'. This server copies a version's "
            "files from runs:/<run id>/<path>, models:/<model id>, models:/<name>/<version> "
            "or mlflow-artifacts:/ sources; a path of the server's disk is never read"
        )
    return reader(store, source, project)


def _check_relative(source: str) -> None:
    """Refuse a ``..`` name or a NUL, however quoted (MLflow's check and words)."""
    unquoted = source
    while (once := unquote_plus(unquoted)) != unquoted:
        unquoted = once
    if "\x00" in unquoted or ".." in unquoted.split("/"):
        raise InvalidParameterError(_INVALID_SOURCE.format(source[:300]))


def _from_runs(store: Store, source: str, project: str) -> SourceFiles:
    run, _, path = source.removeprefix("runs:").lstrip("/").partition("/")
    return _place_files(store, ArtifactPlace(path.strip("/"), run_id=run_id_of(run)))


def _from_artifacts(store: Store, source: str, project: str) -> SourceFiles:
    return _place_files(store, locate(store, urlparse(source).path))


def _from_models(store: Store, source: str, project: str) -> SourceFiles:
    name, _, version = source.removeprefix("models:").strip("/").partition("/")
    if not version and name.startswith("m-"):
        run_id, folder = logged_model_folder(store, project, name)
        return _place_files(store, ArtifactPlace(folder, run_id=run_id))
    if not version.isdecimal():
        raise InvalidParameterError(
            f"Invalid model version source: '{source[:300]}'. A models:/ source names a "
            "logged model (models:/m-<id>) or a registered version (models:/<name>/<version>)"
        )
    record = get_version(store, checked_name(name), version_number(version), project)
    return SourceFiles(
        record.artifact_path, record.source_experiment_id, record.source_experiment_name,
        record.config, record.metrics,
    )  # fmt: skip


def _place_files(store: Store, place: ArtifactPlace) -> SourceFiles:
    """The files at ``place`` (a run's folder, or a registry version's)."""
    if place.run_id is None:
        inside = f"/{place.inside}" if place.inside else ""
        return SourceFiles(f"{place.prefix}{inside}")
    found = store.get_mlflow_run(place.run_id)
    prefix = run_key(place.run_id, place.inside) if place.inside else run_prefix(place.run_id)
    metrics = {key: value for key, (value, _, _) in found.latest.items() if math.isfinite(value)}
    return SourceFiles(prefix, place.run_id, found.run.name, dict(found.run.config), metrics)


_READERS: dict[str, Callable[[Store, str, str], SourceFiles]] = {
    "runs": _from_runs,
    "models": _from_models,
    "mlflow-artifacts": _from_artifacts,
}


def _logged_model_id(source: str) -> str:
    """The logged model a ``models:/m-<id>`` source names, else ``""``."""
    found = re.fullmatch(r"models:/+(m-[0-9a-f]+)/*", source)
    return found.group(1) if found else ""


# -- searches -------------------------------------------------------------------------------

MODEL_KEYS = ("name",)
VERSION_KEYS = ("name", "run_id", "source_path", "version_number")
MODEL_ORDER: dict[str, Callable[[ModelRecord], Any]] = {
    "name": lambda m: m.name,
    "creation_timestamp": lambda m: m.created_at,
    "timestamp": lambda m: m.created_at,
    "last_updated_timestamp": lambda m: m.updated_at,
}
VERSION_ORDER: dict[str, Callable[[Json], Any]] = {
    "name": lambda v: v["name"],
    "version_number": lambda v: int(v["version"]),
    "creation_timestamp": lambda v: v["creation_timestamp"],
    "timestamp": lambda v: v["creation_timestamp"],
    "last_updated_timestamp": lambda v: v["last_updated_timestamp"],
    "run_id": lambda v: v.get("run_id", ""),
}


def search_models(
    store: Store, filter_text: str | None, order_by: Sequence[str], project: str
) -> list[ModelRecord]:
    """The project's models that meet the filter (on ``name`` and tags), in that order
    (default: by name)."""
    conditions = parse_filter(filter_text, MODEL_KEYS)
    records, _ = store.list_models(project=project, limit=2**31 - 1)
    kept = [r for r in records if matches(conditions, functools.partial(_model_value, r))]
    return ordered(kept, order_by or ["name ASC"], MODEL_ORDER)


def _model_value(record: ModelRecord, condition: Condition) -> Any:
    if condition.tag is not None:
        return _tag_value(record.tags, condition.tag)
    return record.name


def _tag_value(tags: dict[str, Any], key: str) -> Any:
    """The tag ``key``'s value; ``None`` when missing, but for the prompt tag, which MLflow's
    client adds to each search to leave prompts out (``!= 'true'``): none is a prompt here."""
    return tags.get(key, "false" if key == PROMPT_TAG else None)


def search_versions(
    store: Store, filter_text: str | None, order_by: Sequence[str], project: str
) -> list[Json]:
    """The project's versions (as MLflow's) that meet the filter (on ``name``, ``run_id``,
    ``source_path``, ``version_number`` and tags), in that order (default: by name, newest
    first)."""
    conditions = parse_filter(filter_text, VERSION_KEYS)
    names = [c.value for c in conditions if c.key == "name" and c.op == "=" and c.tag is None]
    models = [str(names[0])] if names else None
    answers = versions_json(store, store.list_all_versions(models=models, project=project),
                            project)  # fmt: skip
    kept = [v for v in answers if matches(conditions, functools.partial(_version_value, v))]
    return ordered(kept, [*order_by, "name ASC", "version_number DESC"], VERSION_ORDER)


def _version_value(answer: Json, condition: Condition) -> Any:
    if condition.tag is not None:
        return _tag_value({t["key"]: t["value"] for t in answer["tags"]}, condition.tag)
    if condition.key == "version_number":
        return int(answer["version"])
    return answer.get({"source_path": "source"}.get(condition.key, condition.key))


def ordered(
    items: list[Any], order_by: Sequence[str], keys: dict[str, Callable[[Any], Any]]
) -> list[Any]:
    """``items`` sorted by the clauses of ``order_by`` (``"name ASC"``, ``"version_number
    DESC"``...), the first the most significant.

    Raises
    ------
    InvalidParameterError
        Naming a key not ordered by.
    """
    for clause in reversed(order_by):
        key, _, direction = clause.strip().partition(" ")
        key = key.removeprefix("attributes.").removeprefix("attribute.").strip("`")
        if key not in keys or direction.strip().upper() not in ("", "ASC", "DESC"):
            raise InvalidParameterError(
                f"Invalid order by key '{clause}' specified. Valid keys are "
                f"'{set(keys)}' with ASC or DESC"
            )
        items = sorted(items, key=keys[key], reverse=direction.strip().upper() == "DESC")
    return items


@dataclass(frozen=True)
class Condition:
    """One comparison of a registry search's filter: ``key`` (``name``, ``run_id``,
    ``source_path``, ``version_number``, or ``tags.<key>`` as ``("tag", key)``)."""

    key: str
    tag: str | None
    op: str
    value: str | int | tuple[str, ...]


_CONDITION = re.compile(
    r"\s*(?P<key>(?:tags?|attributes?)\.(?:`[^`]+`|\"[^\"]+\"|[\w.-]+)|`[^`]+`|[\w]+)\s*"
    r"(?P<op>!=|<=|>=|=|<|>|\bNOT\s+I?LIKE\b|\bI?LIKE\b|\bNOT\s+IN\b|\bIN\b)\s*"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\([^)]*\)|-?[0-9]+)\s*",
    re.IGNORECASE,
)
_AND = re.compile(r"AND\b", re.IGNORECASE)


def parse_filter(text: str | None, keys: Sequence[str]) -> list[Condition]:
    """The comparisons of a registry search's filter, joined by ``AND`` (``name LIKE 'w%'
    AND tags.team = 'x'``), on ``keys`` and tags.

    Raises
    ------
    InvalidParameterError
        Naming what could not be read, or a key not searched.
    """
    conditions: list[Condition] = []
    at, text = 0, (text or "").strip()
    while at < len(text):
        found = _CONDITION.match(text, at)
        if found is None:
            raise InvalidParameterError(
                f"Invalid filter '{text[:300]}': cannot read from '{text[at : at + 40]}'; "
                "compare name, tags.<key> (and, for versions, run_id, source_path, "
                "version_number) with =, !=, LIKE, ILIKE or IN, joined by AND"
            )
        conditions.append(_condition(found, keys))
        at = found.end()
        joined = _AND.match(text, at)
        if joined is None and at < len(text):
            raise InvalidParameterError(f"Invalid filter '{text[:300]}': expected AND at {at}")
        at = joined.end() if joined else at
    return conditions


def _condition(found: re.Match[str], keys: Sequence[str]) -> Condition:
    entity, dot, key = found["key"].partition(".")
    if not dot:
        entity, key = "attribute", entity
    key = key.strip('`"')
    op = " ".join(found["op"].upper().split())
    value = _value(found["value"])
    if entity.lower() in ("tag", "tags"):
        return Condition("tag", key, op, value)
    if key not in keys:
        raise InvalidParameterError(
            f"Invalid attribute key '{key}' specified. Valid keys are '{set(keys)}'"
        )
    return Condition(key, None, op, value)


def _value(text: str) -> str | int | tuple[str, ...]:
    if text[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text[0] == "(":
        items = re.findall(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", text)
        return tuple(single or double for single, double in items)
    return int(text)


def matches(conditions: Iterable[Condition], value_of: Callable[[Condition], Any]) -> bool:
    """Whether the values ``value_of`` reads meet every condition (a missing tag meets
    none)."""
    return all(_meets(value_of(c), c) for c in conditions)


def _meets(value: Any, condition: Condition) -> bool:
    op, wanted = condition.op, condition.value
    if value is None:
        return False
    if op in ("IN", "NOT IN"):
        listed = wanted if isinstance(wanted, tuple) else (str(wanted),)
        return (str(value) in listed) == (op == "IN")
    if op.endswith("LIKE"):
        pattern = re.escape(str(wanted)).replace("%", ".*").replace("_", ".")
        flags = re.IGNORECASE | re.DOTALL if "ILIKE" in op else re.DOTALL
        return bool(re.fullmatch(pattern, str(value), flags)) != op.startswith("NOT")
    if op in ("=", "!="):
        return (str(value) == str(wanted)) == (op == "=")
    if not isinstance(value, int) or not isinstance(wanted, int):
        raise InvalidParameterError(
            f"Invalid comparator '{op}' for '{condition.tag or condition.key}': only "
            "version_number compares with <, <=, > or >="
        )
    return _ORDERS[op](value, wanted)


_ORDERS: dict[str, Callable[[int, int], bool]] = {
    "<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__,
}  # fmt: skip

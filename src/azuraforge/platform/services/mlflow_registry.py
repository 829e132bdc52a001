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

import json
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote_plus, urlparse

from azuraforge.errors import InvalidParameterError, NotFoundError
from azuraforge.platform.blobs import BlobStore
from azuraforge.platform.jobs.run_files import run_key, run_prefix
from azuraforge.platform.services.mlflow_api import PIPELINE, run_id_of
from azuraforge.platform.services.mlflow_artifacts import (
    REGISTRY,
    ArtifactPlace,
    ArtifactPlaces,
    inside_path,
    locate,
)
from azuraforge.platform.services.mlflow_models import logged_model_folder
from azuraforge.platform.services.project_settings import check_mlflow_models_allowed
from azuraforge.platform.services.registry import (
    MODELS,
    blob_digest,
    check_alias,
    check_model_name,
)
from azuraforge.platform.store import ModelRecord, ModelVersionRecord
from azuraforge.platform.store.interfaces import (
    MlflowGroups,
    MlflowModels,
    ProjectSettings,
    Registry,
)
from azuraforge.platform.store.mlflow_models import TAG
from azuraforge.platform.store.registry import VersionMlflow

Json = dict[str, Any]
STAGE = "None"
"""The stage of every version (MLflow's stages are deprecated; aliases replace them)."""
STAGES = ("None", "Staging", "Production", "Archived")
MAX_TAG_KEY = 250
MAX_TAG_VALUE = 100_000
"""MLflow's limits of a registry tag's key and value."""
MLMODEL = "MLmodel"
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
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
    """The version number MLflow's client sends as a string (MLflow's words when not one).

    >>> version_number("3")
    3
    >>> version_number("three")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: Parameter 'version' must be an integer, got 'three'.
    """
    try:
        return int(str(text))
    except ValueError:
        raise InvalidParameterError(
            f"Parameter 'version' must be an integer, got '{text}'."
        ) from None


def checked_alias(alias: str) -> str:
    """An alias to set: not ``latest`` nor ``v<digits>`` (MLflow reserves them, its words),
    and one the registry can keep (:func:`~azuraforge.platform.services.registry.check_alias`)."""
    alias = named_alias(alias)
    if alias.lower() == "latest":
        raise InvalidParameterError("'latest' alias name (case insensitive) is reserved.")
    if re.fullmatch(r"[vV][0-9]+", alias):
        raise InvalidParameterError(f"Version alias name '{alias}' is reserved.")
    return check_alias(alias)


def named_alias(alias: str) -> str:
    """``alias`` if not empty (MLflow's words)."""
    if not alias:
        raise InvalidParameterError("Registered model alias name cannot be empty.")
    return alias


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


def get_model(store: Registry, name: str, project: str) -> ModelRecord:
    """The project's model ``name`` (``Registered Model with name=... not found``)."""
    found = store.find_model(name, project=project)
    if found is None:
        raise NotFoundError(f"Registered Model with name={name} not found")
    return found


def get_version(store: Registry, name: str, version: int, project: str) -> ModelVersionRecord:
    """Version ``version`` of the project's model ``name`` (MLflow's words when none)."""
    get_model(store, name, project)
    if store.resolve_version_id(name, version, project=project) is None:
        raise NotFoundError(f"Model Version (name={name}, version={version}) not found")
    return store.get_version(name, version, project=project)


def version_by_alias(store: Registry, name: str, alias: str, project: str) -> ModelVersionRecord:
    """The version ``alias`` points to now; ``latest``: the latest version (as MLflow)."""
    get_model(store, name, project)
    if named_alias(alias).lower() == "latest":
        if store.resolve_version_id(name, project=project) is None:
            raise NotFoundError(f"Latest version not found for model {name}.")
        return store.get_version(name, project=project)
    version = store.find_alias(name, alias, project=project)
    if version is None:  # MLflow's code for it, not RESOURCE_DOES_NOT_EXIST
        raise InvalidParameterError(f"Registered model alias {alias} not found.")
    return store.get_version(name, version, project=project)


def latest_versions(
    store: Registry, name: str, stages: Sequence[str], project: str
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
    """Where MLflow's client reads a version's files: the artifact proxy's path to them.

    >>> download_uri("weather", 3)
    'mlflow-artifacts:/registry/weather/3'
    """
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


def versions_json(
    store: Registry, records: Sequence[ModelVersionRecord], project: str
) -> list[Json]:
    """The versions as MLflow's, each with what MLflow's registry keeps of it."""
    fields = store.find_versions_mlflow([r.id for r in records], project=project)
    return [version_json(record, fields.get(record.id)) for record in records]


def models_json(store: Registry, records: Sequence[ModelRecord], project: str) -> list[Json]:
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


class SourceStores(ArtifactPlaces, MlflowModels, Protocol):
    """What :func:`source_files` reads: runs' and versions' places, logged models."""


class VersionSources(SourceStores, ProjectSettings, Protocol):
    """What :func:`create_version` uses: its source's files, the registry, the project's
    settings (whether logged models may be registered)."""


def create_version(
    store: VersionSources,
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
    store: MlflowModels, model_id: str, version: ModelVersionRecord, project: str
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


def source_files(store: SourceStores, source: str, project: str) -> SourceFiles:
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


def _from_runs(store: MlflowGroups, source: str, project: str) -> SourceFiles:
    run, _, path = source.removeprefix("runs:").lstrip("/").partition("/")
    return _place_files(store, ArtifactPlace(inside_path(path), run_id=run_id_of(run)))


def _from_artifacts(store: SourceStores, source: str, project: str) -> SourceFiles:
    return _place_files(store, locate(store, urlparse(source).path))


def _from_models(store: SourceStores, source: str, project: str) -> SourceFiles:
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


def _place_files(store: MlflowGroups, place: ArtifactPlace) -> SourceFiles:
    """The files at ``place`` (a run's folder, or a registry version's)."""
    if place.run_id is None:
        inside = f"/{place.inside}" if place.inside else ""
        return SourceFiles(f"{place.prefix}{inside}")
    found = store.get_mlflow_run(place.run_id)
    prefix = run_key(place.run_id, place.inside) if place.inside else run_prefix(place.run_id)
    metrics = {key: value for key, (value, _, _) in found.latest.items() if math.isfinite(value)}
    return SourceFiles(prefix, place.run_id, found.run.name, dict(found.run.config), metrics)


_READERS: dict[str, Callable[[SourceStores, str, str], SourceFiles]] = {
    "runs": _from_runs,
    "models": _from_models,
    "mlflow-artifacts": _from_artifacts,
}


def _logged_model_id(source: str) -> str:
    """The logged model a ``models:/m-<id>`` source names, else ``""``."""
    found = re.fullmatch(r"models:/+(m-[0-9a-f]+)/*", source)
    return found.group(1) if found else ""

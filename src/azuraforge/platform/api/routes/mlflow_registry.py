"""MLflow's model registry API (``/api/2.0/mlflow/registered-models/...``,
``/api/2.0/mlflow/model-versions/...``) over AzuraForge's registry
(:mod:`~azuraforge.platform.services.mlflow_registry`): an unchanged ``mlflow`` script's
``register_model``, aliases and ``models:/`` loads, on the caller's project's registry, the
one the dashboard shows. Reads need a role that reads, writes one that writes, deletions one
that manages (as the registry's own API); every write is in the audit log, every alias move
in the alias's history. Errors answer in MLflow's form. Not in the OpenAPI: MLflow's own
reference describes these calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from azuraforge.errors import ConflictError
from azuraforge.platform.api.access import MANAGE, READ, WRITE, Manager, Reader, Writer
from azuraforge.platform.api.deps import BlobsDep, RegistryDep, VersionSourcesDep
from azuraforge.platform.api.schemas.mlflow_registry import (
    AliasIn,
    AliasSet,
    LatestVersions,
    ModelIn,
    ModelRename,
    ModelTag,
    ModelUpdate,
    RegisteredModelCreate,
    RegistryTagIn,
    VersionCreate,
    VersionIn,
    VersionTag,
    VersionUpdate,
)
from azuraforge.platform.services import registry
from azuraforge.platform.services.mlflow_api import (
    AlreadyExistsError,
    NotServedError,
)
from azuraforge.platform.services.mlflow_registry import (
    checked_alias,
    checked_key,
    checked_name,
    checked_tag,
    create_version,
    download_uri,
    get_model,
    get_version,
    latest_versions,
    models_json,
    named_alias,
    version_by_alias,
    version_number,
    versions_json,
)
from azuraforge.platform.services.mlflow_registry_search import (
    MODELS_PAGE,
    VERSIONS_PAGE,
    Search,
    search_models,
    search_versions,
)

MLFLOW = "/api/2.0/mlflow"
MODELS = f"{MLFLOW}/registered-models"
VERSIONS = f"{MLFLOW}/model-versions"
router = APIRouter(include_in_schema=False)
Json = dict[str, Any]
Text = Annotated[str, Query(max_length=1000)]
MOVED_BY_MLFLOW = "set through MLflow's API"
"""The reason an alias move made by MLflow's client is recorded with."""


def _tags(tags: list[RegistryTagIn]) -> dict[str, str]:
    return dict(checked_tag(tag.key, tag.value) for tag in tags)


def _search(
    filter_text: Annotated[str, Query(alias="filter", max_length=1000)] = "",
    max_results: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    order_by: Annotated[list[str] | None, Query(max_length=10)] = None,
    token: Annotated[str | None, Query(alias="page_token", max_length=200)] = None,
) -> Search:
    return Search(filter_text, max_results, order_by or [], token)


SearchDep = Annotated[Search, Depends(_search)]


# -- registered models ----------------------------------------------------------------------


@router.post(f"{MODELS}/create", dependencies=[WRITE])
def create_registered_model(body: RegisteredModelCreate, store: RegistryDep, who: Writer) -> Json:
    """A new model of the caller's project's registry (``RESOURCE_ALREADY_EXISTS`` when
    named so already: ``mlflow.register_model`` then adds a version to it)."""
    name = checked_name(body.name)
    try:
        made = store.create_model(
            name, description=body.description, tags=_tags(body.tags), project=who.project
        )
    except ConflictError:
        raise AlreadyExistsError(f"Registered Model (name={name}) already exists.") from None
    return {"registered_model": models_json(store, [made], who.project)[0]}


@router.get(f"{MODELS}/get", dependencies=[READ])
def get_registered_model(store: RegistryDep, who: Reader, name: Text = "") -> Json:
    """One model, with its latest version, tags and aliases."""
    found = get_model(store, checked_name(name), who.project)
    return {"registered_model": models_json(store, [found], who.project)[0]}


@router.get(f"{MODELS}/search", dependencies=[READ])
def search_registered_models(search: SearchDep, store: RegistryDep, who: Reader) -> Json:
    """The caller's project's models meeting the filter (``name``, ``tags.<key>``; ``=``,
    ``!=``, ``LIKE``, ``ILIKE``), by name unless ordered, a page at a time."""
    found = search_models(store, search.filter_text, search.order_by, who.project)
    page, more = search.page(found, MODELS_PAGE)
    return {"registered_models": models_json(store, page, who.project), **more}


@router.patch(f"{MODELS}/update", dependencies=[WRITE])
def update_registered_model(body: ModelUpdate, store: RegistryDep, who: Writer) -> Json:
    """Set a model's description."""
    name = checked_name(body.name)
    get_model(store, name, who.project)
    changed = store.update_model(name, description=body.description, project=who.project)
    return {"registered_model": models_json(store, [changed], who.project)[0]}


@router.post(f"{MODELS}/rename", dependencies=[WRITE])
def rename_registered_model(body: ModelRename, store: RegistryDep, who: Writer) -> Json:
    """Rename a model; its versions, aliases and their history stay its own."""
    name, new_name = checked_name(body.name), checked_name(body.new_name, "new_name")
    get_model(store, name, who.project)
    try:
        changed = store.update_model(name, new_name=new_name, project=who.project)
    except ConflictError:
        raise AlreadyExistsError(f"Registered Model (name={new_name}) already exists.") from None
    return {"registered_model": models_json(store, [changed], who.project)[0]}


@router.delete(f"{MODELS}/delete", dependencies=[MANAGE])
def delete_registered_model(
    body: ModelIn, store: RegistryDep, blobs: BlobsDep, who: Manager
) -> Json:
    """Delete a model that has no alias, with its versions and their files (409 naming its
    aliases otherwise)."""
    name = checked_name(body.name)
    get_model(store, name, who.project)
    for version in store.delete_model(name, project=who.project):
        blobs.delete_prefix(version.artifact_path)
    return {}


@router.post(f"{MODELS}/set-tag", dependencies=[WRITE])
def set_registered_model_tag(body: ModelTag, store: RegistryDep, who: Writer) -> Json:
    """Set a tag of a model."""
    name = checked_name(body.name)
    get_model(store, name, who.project)
    store.update_model(name, tags=dict([checked_tag(body.key, body.value)]), project=who.project)
    return {}


@router.delete(f"{MODELS}/delete-tag", dependencies=[WRITE])
def delete_registered_model_tag(body: ModelTag, store: RegistryDep, who: Writer) -> Json:
    """Delete a tag of a model (none so named: nothing changes, as in MLflow)."""
    name = checked_name(body.name)
    get_model(store, name, who.project)
    store.update_model(name, tags={checked_key(body.key): None}, project=who.project)
    return {}


@router.post(f"{MODELS}/get-latest-versions", dependencies=[READ])
def get_latest_versions(body: LatestVersions, store: RegistryDep, who: Reader) -> Json:
    """The model's latest version (every version's stage is ``None``)."""
    found = latest_versions(store, checked_name(body.name), body.stages, who.project)
    return {"model_versions": versions_json(store, found, who.project)}


# -- aliases: moves of the registry's aliases, kept in their history --------------------------


@router.post(f"{MODELS}/alias", dependencies=[WRITE])
def set_registered_model_alias(body: AliasSet, store: RegistryDep, who: Writer) -> Json:
    """Point an alias at a version: a move of the registry's alias, kept in its history as
    made by the caller's user."""
    name, alias = checked_name(body.name), checked_alias(body.alias)
    number = version_number(body.version)
    get_version(store, name, number, who.project)
    registry.move_alias(store, name, alias, number, actor=who.user, reason=MOVED_BY_MLFLOW,
                        project=who.project)  # fmt: skip
    return {}


@router.delete(f"{MODELS}/alias", dependencies=[WRITE])
def delete_registered_model_alias(body: AliasIn, store: RegistryDep, who: Writer) -> Json:
    """Remove an alias, recorded as a move to no version (none so named: nothing changes,
    as in MLflow)."""
    name, alias = checked_name(body.name), registry.check_alias(named_alias(body.alias))
    get_model(store, name, who.project)
    if store.find_alias(name, alias, project=who.project) is not None:
        registry.move_alias(store, name, alias, None, actor=who.user, reason=MOVED_BY_MLFLOW,
                            project=who.project)  # fmt: skip
    return {}


@router.get(f"{MODELS}/alias", dependencies=[READ])
def get_model_version_by_alias(
    store: RegistryDep, who: Reader, name: Text = "", alias: Text = ""
) -> Json:
    """The version an alias points to now (``latest``: the latest version)."""
    found = version_by_alias(store, checked_name(name), alias, who.project)
    return {"model_version": versions_json(store, [found], who.project)[0]}


# -- model versions -------------------------------------------------------------------------


@router.post(f"{VERSIONS}/create", dependencies=[WRITE])
def create_model_version(
    body: VersionCreate, store: VersionSourcesDep, blobs: BlobsDep, who: Writer
) -> Json:
    """The next version of a model, its files copied from the source (a run's folder, a
    logged model, a registered version) to its own, as the dashboard's registering does."""
    made = create_version(
        store, blobs, checked_name(body.name), body.source, model_id=body.model_id or "",
        tags=_tags(body.tags), description=body.description, actor=who.user,
        project=who.project,
    )  # fmt: skip
    return {"model_version": versions_json(store, [made], who.project)[0]}


@router.get(f"{VERSIONS}/get", dependencies=[READ])
def get_model_version(
    store: RegistryDep, who: Reader, name: Text = "", version: Text = ""
) -> Json:
    """One version (one made on the dashboard too)."""
    found = get_version(store, checked_name(name), version_number(version), who.project)
    return {"model_version": versions_json(store, [found], who.project)[0]}


@router.get(f"{VERSIONS}/search", dependencies=[READ])
def search_model_versions(search: SearchDep, store: RegistryDep, who: Reader) -> Json:
    """The caller's project's versions meeting the filter (``name``, ``run_id``,
    ``source_path``, ``version_number``, ``tags.<key>``), by name and newest first unless
    ordered, a page at a time."""
    found = search_versions(store, search.filter_text, search.order_by, who.project)
    page, more = search.page(found, VERSIONS_PAGE)
    return {"model_versions": page, **more}


@router.patch(f"{VERSIONS}/update", dependencies=[WRITE])
def update_model_version(body: VersionUpdate, store: RegistryDep, who: Writer) -> Json:
    """Set a version's description (its files never change)."""
    name, number = checked_name(body.name), version_number(body.version)
    get_version(store, name, number, who.project)
    changed = store.update_version(name, number, description=body.description, project=who.project)
    return {"model_version": versions_json(store, [changed], who.project)[0]}


@router.delete(f"{VERSIONS}/delete", dependencies=[MANAGE])
def delete_model_version(
    body: VersionIn, store: RegistryDep, blobs: BlobsDep, who: Manager
) -> Json:
    """Delete a version no alias points to, with its files (409 naming the aliases)."""
    name, number = checked_name(body.name), version_number(body.version)
    get_version(store, name, number, who.project)
    registry.delete_version(store, blobs, name, number, project=who.project)
    return {}


@router.post(f"{VERSIONS}/set-tag", dependencies=[WRITE])
def set_model_version_tag(body: VersionTag, store: RegistryDep, who: Writer) -> Json:
    """Set a tag of a version."""
    name, number = checked_name(body.name), version_number(body.version)
    get_version(store, name, number, who.project)
    key, value = checked_tag(body.key, body.value)
    store.update_version(name, number, tags={key: value}, project=who.project)
    return {}


@router.delete(f"{VERSIONS}/delete-tag", dependencies=[WRITE])
def delete_model_version_tag(body: VersionTag, store: RegistryDep, who: Writer) -> Json:
    """Delete a tag of a version (none so named: nothing changes, as in MLflow)."""
    name, number = checked_name(body.name), version_number(body.version)
    get_version(store, name, number, who.project)
    store.update_version(name, number, tags={checked_key(body.key): None},
                         project=who.project)  # fmt: skip
    return {}


@router.get(f"{VERSIONS}/get-download-uri", dependencies=[READ])
def get_model_version_download_uri(
    store: RegistryDep, who: Reader, name: Text = "", version: Text = ""
) -> Json:
    """Where the version's files are read: ``mlflow-artifacts:/registry/<name>/<version>``,
    the artifact proxy's read-only path to them."""
    found = get_version(store, checked_name(name), version_number(version), who.project)
    return {"artifact_uri": download_uri(found.model, found.version)}


@router.post(f"{VERSIONS}/transition-stage", dependencies=[WRITE])
def transition_model_version_stage() -> Json:
    """Not served: MLflow deprecated stages for aliases, which this registry keeps with
    their history."""
    raise NotServedError(
        "model version stages are not kept: MLflow deprecated them (2.9) for aliases; set an "
        "alias instead (MlflowClient().set_registered_model_alias(name, 'champion', "
        "version)), whose every move this server keeps, rolled back in one call"
    )

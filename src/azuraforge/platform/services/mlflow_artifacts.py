"""Where an artifact path of MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/
artifacts/<path>``) points, through one resolving function (:func:`locate`):

- ``<experiment's location>/<run id>/artifacts[/<path>]``, a run's ``artifact_uri`` (its
  experiment's ``artifact_location``, by default ``mlflow-artifacts:/<its id>``): that run's
  files (listed, downloaded, and uploaded to while it runs);
- ``registry/<model>/<version>[/<path>]``: the files of a version of AzuraForge's registry
  (the blob prefix in its ``artifact_path``), listed and downloaded, never written: what
  ``mlflow.pyfunc.load_model("models:/NAME/1")`` reads once the registry answers
  ``mlflow-artifacts:/registry/NAME/1`` as its download URI.

A path is read inside its files alone: ``.`` and empty names are dropped (MLflow's client
lists ``.`` and then asks for ``./docs/a.txt``), a ``..`` name is refused with MLflow's
``Invalid path``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from azuraforge.errors import InvalidParameterError, NotFoundError, PermissionDeniedError
from azuraforge.platform.blobs import BlobStore, blob_key
from azuraforge.platform.jobs.run_files import run_key
from azuraforge.platform.services.mlflow_api import run_id_of
from azuraforge.platform.services.registry import MODEL_NAME
from azuraforge.platform.store.interfaces import Metrics, MlflowGroups, Registry
from azuraforge.platform.store.mlflow import ARTIFACTS

REGISTRY = "registry"
"""The first name of a path into a registry version's files."""
_VERSION = re.compile(r"[1-9][0-9]{0,8}")
_MODEL = re.compile(MODEL_NAME)


@dataclass(frozen=True)
class ArtifactPlace:
    """The files an artifact path names: a run's (``run_id``) or a registry version's
    (``prefix``, read-only), and the path ``inside`` them (``""``: their root)."""

    inside: str
    run_id: int | None = None
    prefix: str = ""


def inside_path(path: str) -> str:
    """``path`` read inside a folder of files: ``.`` and empty names dropped.

    >>> inside_path("./docs//notes.txt"), inside_path(".")
    ('docs/notes.txt', '')

    Raises
    ------
    InvalidParameterError
        ``Invalid path`` (MLflow's words) for a ``..`` name.
    """
    names = [name for name in path.split("/") if name not in ("", ".")]
    if ".." in names:
        raise InvalidParameterError("Invalid path")
    return "/".join(names)


class ArtifactPlaces(MlflowGroups, Registry, Protocol):
    """What :func:`locate` reads: MLflow's runs and the registry's versions."""


class ArtifactFiles(ArtifactPlaces, Metrics, Protocol):
    """The places of files and the files a run's rows list: a folder located and listed."""


def locate(store: ArtifactPlaces, path: str) -> ArtifactPlace:
    """The files ``path`` names in the caller's project (``store``, a project's).

    Raises
    ------
    NotFoundError
        For a path of another shape, or naming a run, model or version the project lacks.
    InvalidParameterError
        For a ``..`` name.
    """
    parts = [name for name in path.split("/") if name not in ("", ".")]
    if parts[:1] == [REGISTRY]:
        return _registry_place(store, parts[1:])
    if len(parts) < 3 or parts[2] != "artifacts":
        raise NotFoundError(
            f"no files at {path[:200]!r}: a run's are at <experiment id>/<run id>/artifacts, "
            "a registry version's at registry/<model>/<version>"
        )
    run_id = run_id_of(parts[1])
    found = store.get_mlflow_run(run_id)
    if found.experiment.artifact_location != f"{ARTIFACTS}{parts[0]}":
        raise NotFoundError(f"Run with id={run_id} not found in experiment {parts[0][:40]!r}")
    return ArtifactPlace(inside_path("/".join(parts[3:])), run_id=run_id)


def _registry_place(store: Registry, parts: list[str]) -> ArtifactPlace:
    if len(parts) < 2:
        raise NotFoundError(
            f"no registry version at {'/'.join([REGISTRY, *parts])[:200]!r}: its files "
            "are at registry/<model>/<version>"
        )
    return version_place(store, parts[0], parts[1], "/".join(parts[2:]))


def version_place(store: Registry, model: str, version: str, path: str) -> ArtifactPlace:
    """The file or folder ``path`` of the caller's project's registry version ``model``
    ``version`` (as MLflow sends them, text).

    Raises
    ------
    NotFoundError
        For a model or version the project lacks.
    InvalidParameterError
        For a ``..`` name in ``path``.
    """
    inside = inside_path(path)
    if not _MODEL.fullmatch(model) or not _VERSION.fullmatch(version):
        raise NotFoundError(
            f"no registry version {model[:100]!r} {version[:20]!r}: a model's name and a "
            "version's number (1, 2...)"
        )
    found = store.get_version(model, int(version))
    return ArtifactPlace(inside, prefix=found.artifact_path)


def writable_run(place: ArtifactPlace) -> int:
    """The run whose files ``place`` is in, to upload into.

    Raises
    ------
    PermissionDeniedError
        For a registry version's files: they are read-only.
    """
    if place.run_id is None:
        raise PermissionDeniedError(
            "a registry version's files are read-only: upload to a run's files, then "
            "register the run"
        )
    return place.run_id


def file_key(place: ArtifactPlace) -> str:
    """The blob key of the file at ``place``.

    Raises
    ------
    NotFoundError
        For the root of the files (a folder, not a file).
    """
    if not place.inside:
        raise NotFoundError("a folder is listed, not downloaded: name a file in it")
    if place.run_id is not None:
        return run_key(place.run_id, place.inside)
    return blob_key(f"{place.prefix}/{place.inside}")


def list_folder(store: Metrics, blobs: BlobStore, place: ArtifactPlace) -> list[dict[str, Any]]:
    """The files and folders right inside ``place``, by name, as MLflow's proxy lists them
    (``path`` the name alone, ``file_size`` of a file)."""
    start = f"{place.inside}/" if place.inside else ""
    files: dict[str, dict[str, Any]] = {}
    for path, size, is_dir in _entries(store, blobs, place):
        if not path.startswith(start) or path == place.inside:
            continue
        name, below, _ = path[len(start) :].partition("/")
        if below or is_dir:
            files.setdefault(name, {"path": name, "is_dir": True})
        else:
            files[name] = {"path": name, "is_dir": False, "file_size": size}
    return [files[name] for name in sorted(files)]


def _entries(
    store: Metrics, blobs: BlobStore, place: ArtifactPlace
) -> list[tuple[str, int | None, bool]]:
    """``(path, size, is_dir)`` of every file (and folder a run recorded) of the place's
    files, paths relative to their root."""
    if place.run_id is not None:
        return [(a.path, a.size, a.is_dir) for a in store.list_artifacts(place.run_id)]
    below = f"{place.prefix}/{place.inside}" if place.inside else place.prefix
    return [
        (key[len(place.prefix) + 1 :], blobs.size(key), False) for key in blobs.list_keys(below)
    ]

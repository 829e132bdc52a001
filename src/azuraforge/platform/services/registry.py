"""The model registry: register a completed run's artifact as an immutable version, move
aliases (every move kept, rollback in one call), resolve references, load versions checked.

A reference names a model version three ways: ``name@alias`` (where the alias points now),
``name/3`` (version 3) and ``name`` (the latest version). The API and the CLI both go
through here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azuraforge.errors import (
    ConflictError,
    InvalidParameterError,
    ReferenceNotFoundError,
)
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import (
    DEFAULT_PROJECT,
    AliasMoveRecord,
    ExperimentRecord,
    ModelVersionRecord,
    Store,
)
from azuraforge.platform.store.states import COMPLETED, PREDICTION

MODEL_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
"""A model's name: letters, digits, ``_``, ``.`` and ``-`` (not first)..."""
MAX_MODEL_NAME = 200
"""...at most this many (the API's OpenAPI declares both)."""
ALIAS = r"[A-Za-z0-9_-]*[A-Za-z_-][A-Za-z0-9_-]*"
"""An alias: letters, digits, ``-`` and ``_``, not only digits (``name@3`` reads as a
version)..."""
MAX_ALIAS = 100
"""...at most this many."""
VERSION = r"0*[1-9][0-9]*"
"""A version number in a reference (a number no version has is a 404, not a 400)."""
REFERENCE = rf"({MODEL_NAME})(?:@({ALIAS})|/({VERSION}))?"
"""``name``, ``name@alias`` or ``name/3``."""
_NAME = re.compile(MODEL_NAME)
_ALIAS = re.compile(ALIAS)
_REFERENCE = re.compile(REFERENCE)
DEFAULT_ACTOR = "api"
STREAM_SNAPSHOT = "stream"
"""The ``pipeline`` of a version that is a stream's learner as it stood (not a run's model)."""


def check_model_name(name: str) -> str:
    """``name`` if it can name a model: letters, digits, ``_``, ``.`` and ``-`` (not first).

    >>> check_model_name("weather@prod")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: model name 'weather@prod' may hold only letters, digits, '_', '.' and '-' (not first), at most 200 characters
    """  # noqa: E501
    if not _NAME.fullmatch(name) or len(name) > MAX_MODEL_NAME:
        raise InvalidParameterError(
            f"model name {name!r} may hold only letters, digits, '_', '.' and '-' (not first), "
            "at most 200 characters"
        )
    return name


def check_alias(alias: str) -> str:
    """``alias`` if it can name an alias: letters, digits, ``-`` and ``_``, not only digits
    (``name@3`` would read as a version).

    >>> check_alias("champion")
    'champion'
    >>> check_alias("42")
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: alias '42' is only digits, which reads as a version number; use a name such as 'v42' or 'champion'
    """  # noqa: E501
    if alias.isdecimal() and alias.isascii():
        raise InvalidParameterError(
            f"alias {alias!r} is only digits, which reads as a version number; use a name such "
            f"as 'v{alias}' or 'champion'"
        )
    if not _ALIAS.fullmatch(alias) or len(alias) > MAX_ALIAS:
        raise InvalidParameterError(
            f"alias {alias!r} may hold only letters, digits, '-' and '_' (1 to 100 of them)"
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model version: ``name@alias``, ``name/version`` or ``name`` (the
    latest version).

    Examples
    --------
    >>> ModelRef.parse("weather@champion")
    ModelRef(name='weather', version=None, alias='champion')
    >>> str(ModelRef.parse("weather/3")), str(ModelRef.parse("weather"))
    ('weather/3', 'weather')
    """

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, ref: str) -> ModelRef:
        """Read ``ref`` (:data:`REFERENCE`); :class:`InvalidParameterError` says the three
        forms. A name, alias or version longer or larger than any can be reads, and names
        nothing: looking it up is a 404."""
        match = _REFERENCE.fullmatch(ref)
        if match is None:
            name, at, alias = ref.partition("@")
            if at:  # say which part is wrong
                check_model_name(name)
                check_alias(alias)
            raise InvalidParameterError(
                f"model reference {ref!r}: after '/' comes a version number (1, 2...); name a "
                "version as name/3, an alias as name@champion, the latest version as name"
            )
        name, alias, number = match.groups()
        return cls(name, version=None if number is None else int(number), alias=alias)

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name if self.version is None else f"{self.name}/{self.version}"


def resolve(store: Store, ref: ModelRef, project: str = DEFAULT_PROJECT) -> ModelVersionRecord:
    """The version ``ref`` names now (:class:`NotFoundError` says what exists)."""
    version = ref.version
    if ref.alias is not None:
        version = store.get_alias(ref.name, ref.alias, project=project)
    return store.get_version(ref.name, version, project=project)


def register_version(
    store: Store,
    settings: Settings,
    model: str,
    experiment: int | str,
    *,
    description: str = "",
    actor: str = DEFAULT_ACTOR,
    project: str = DEFAULT_PROJECT,
) -> ModelVersionRecord:
    """Copy the artifact of a completed run (by id or name) into the registry as the next
    version of ``model``, read-only, with the SHA-256 of its files.

    Raises
    ------
    NotFoundError
        If there is no model ``model``.
    ReferenceNotFoundError
        If there is no run ``experiment`` (by id or name).
    ConflictError
        If the run has not completed or saved no artifact.
    """
    store.get_model(model, project=project)
    run = _source_run(store, experiment, project)
    source = _artifact_folder(settings, run)
    meta = _artifact_meta(source)
    relative = f"{model}/{uuid.uuid4().hex[:12]}"
    target = settings.models_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.part")
    try:
        shutil.copytree(source, staging)
        staging.rename(target)
        make_read_only(target)
        return store.create_version(
            model,
            pipeline=run.pipeline,
            artifact_path=relative,
            artifact_digest=folder_digest(target),
            source_experiment_id=run.id,
            source_experiment_name=run.name,
            metrics=meta.get("metrics") or (run.result or {}).get("metrics") or {},
            config=meta.get("config") or run.config,
            data_fingerprint=str(meta.get("data_fingerprint", "")),
            description=description,
            created_by=actor,
            project=project,
        )
    except BaseException:
        remove_folder(staging)
        remove_folder(target)
        raise


def _source_run(store: Store, experiment: int | str, project: str) -> ExperimentRecord:
    if isinstance(experiment, str):
        found = store.find_experiment_id(experiment, project=project)
        if found is None:
            raise ReferenceNotFoundError(
                f"no experiment named {experiment!r} in project {project!r}"
            )
        experiment = found
    run = store.find_experiment(experiment, project=project)
    if run is None:
        raise ReferenceNotFoundError(f"experiment {experiment} not found in project {project!r}")
    if run.kind == PREDICTION:
        raise ConflictError(f"experiment {run.id} is a prediction job, not a training run")
    if run.status != COMPLETED:
        raise ConflictError(
            f"experiment {run.id} ({run.name}) is {run.status}; only a completed run's model "
            "can be registered"
        )
    return run


def _artifact_folder(settings: Settings, run: ExperimentRecord) -> Path:
    """The run's artifact folder (its result's ``artifact_dir``, inside its run folder)."""
    saved = (run.result or {}).get("artifact_dir")
    if not saved:
        raise ConflictError(
            f"experiment {run.id} ({run.name}, pipeline {run.pipeline}) saved no model "
            "artifact; only a run that saved one can be registered"
        )
    run_dir = settings.run_dir(run.id, run.output_dir).resolve()
    folder = (run_dir / str(saved)).resolve()
    if not folder.is_relative_to(run_dir) or not (folder / "artifact.json").is_file():
        public = f"experiment {run.id}: its artifact {saved!r} is not in its run folder"
        raise ConflictError(
            f"{public} {run_dir} any more (deleted or moved); register another run",
            public=f"{public} any more (deleted or moved); register another run",
        )
    return folder


def _artifact_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / "artifact.json").read_text())
    except (OSError, ValueError) as e:
        raise ConflictError(
            f"{folder / 'artifact.json'} cannot be read: {e}",
            public="the run's artifact.json cannot be read; register another run",
        ) from None
    return meta if isinstance(meta, dict) else {}


def folder_digest(folder: Path) -> str:
    """SHA-256 over the relative path and the bytes of every file below ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def make_read_only(folder: Path) -> None:
    """Make ``folder`` and everything below it read-only (a version's files never change)."""
    for path in [*folder.rglob("*"), folder]:
        mode = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
        os.chmod(path, mode | (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH if path.is_dir() else 0))


def remove_folder(folder: Path) -> None:
    """Delete ``folder`` (read-only copies included); nothing if it does not exist."""
    if not folder.exists():
        return
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(folder, ignore_errors=True)


def version_folder(settings: Settings, version: ModelVersionRecord) -> Path:
    """Where ``version`` keeps its copy of the artifact."""
    return settings.models_dir / version.artifact_path


def load_version(settings: Settings, version: ModelVersionRecord) -> ModelArtifact:
    """The artifact of ``version``, after checking its files against the recorded digest.

    Raises
    ------
    ConflictError
        If a file was changed, added or removed since registration (it would predict
        something else than what was registered).
    """
    if version.pipeline == STREAM_SNAPSHOT:
        raise ConflictError(
            f"model {version.model} version {version.version} is a snapshot of a stream's "
            f"learner (stream {version.source_experiment_id}): a stream's predictions come "
            "from the stream; the version keeps its state and the events it learned from"
        )
    return ModelArtifact.load(checked_folder(settings, version))


def checked_folder(settings: Settings, version: ModelVersionRecord) -> Path:
    """The folder of ``version``'s files, after checking them against the recorded digest.

    Raises
    ------
    ConflictError
        If the folder is gone, or a file was changed, added or removed since registration.
    """
    folder = version_folder(settings, version)
    which = f"model {version.model} version {version.version}: its files"
    if not folder.is_dir():
        fix = "are gone; delete the version and register it again from its run"
        raise ConflictError(f"{which} at {folder} {fix}", public=f"{which} {fix}")
    found = folder_digest(folder)
    if found != version.artifact_digest:
        fix = (
            f"changed since registration (SHA-256 {found[:12]}..., registered "
            f"{version.artifact_digest[:12]}...); it is not used; restore them, or delete the "
            "version and register it again from its run"
        )
        raise ConflictError(f"{which} at {folder} {fix}", public=f"{which} {fix}")
    return folder


def delete_version(
    store: Store, settings: Settings, model: str, version: int, project: str = DEFAULT_PROJECT
) -> ModelVersionRecord:
    """Delete a version no alias points to, with its files (409 names the aliases)."""
    record = store.delete_version(model, version, project=project)
    remove_folder(version_folder(settings, record))
    return record


def move_alias(
    store: Store,
    model: str,
    alias: str,
    version: int | None,
    *,
    actor: str = DEFAULT_ACTOR,
    reason: str = "",
    project: str = DEFAULT_PROJECT,
) -> AliasMoveRecord | None:
    """Point ``alias`` at ``version`` (``None``: remove it), recording who, when and why;
    ``None`` when it already points there."""
    return store.set_alias(
        model, check_alias(alias), version, actor=actor or DEFAULT_ACTOR, reason=reason,
        project=project,
    )  # fmt: skip


def rollback_alias(
    store: Store,
    model: str,
    alias: str,
    *,
    actor: str = DEFAULT_ACTOR,
    reason: str = "",
    project: str = DEFAULT_PROJECT,
) -> AliasMoveRecord:
    """Point ``alias`` back at the version it pointed to before its last move (a rollback
    of a rollback goes forward again), recorded as a move with ``rollback=True``.

    Raises
    ------
    ConflictError
        If the alias has no earlier version (it was just created), or that version was
        deleted since.
    """
    last = store.last_alias_move(model, check_alias(alias), project=project)
    if last.from_version is None:
        raise ConflictError(
            f"alias {model}@{alias} has no earlier version to roll back to: it was created "
            f"pointing at version {last.to_version}; move it with PUT instead"
        )
    if store.resolve_version_id(model, last.from_version, project=project) is None:
        raise ConflictError(
            f"alias {model}@{alias} pointed to version {last.from_version} before, which was "
            "deleted since; move it to an existing version with PUT instead"
        )
    move = store.set_alias(
        model, alias, last.from_version, actor=actor or DEFAULT_ACTOR, reason=reason,
        rollback=True, project=project,
    )  # fmt: skip
    if move is None:  # moved back there meanwhile by someone else
        raise ConflictError(f"alias {model}@{alias} already points to version {last.from_version}")
    return move

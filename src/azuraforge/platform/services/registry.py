"""The model registry: register a completed run's artifact as an immutable version (its files
copied, in the blob store, to a prefix of the version's own), move aliases (every move kept,
rollback in one call), resolve references, load versions checked (from this machine's copy of
their files, made on first use).

A reference names a model version three ways: ``name@alias`` (where the alias points now),
``name/3`` (version 3) and ``name`` (the latest version). The API and the CLI both go
through here.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azuraforge.assist.adapters.registry import ADAPTER_PIPELINE, EXPERT_MODEL
from azuraforge.errors import (
    ConflictError,
    InvalidParameterError,
    NotFoundError,
    ReferenceNotFoundError,
)
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.platform.blobs import CHUNK_BYTES, BlobCache, BlobStore
from azuraforge.platform.jobs.run_files import run_key
from azuraforge.platform.store import (
    DEFAULT_PROJECT,
    AliasMoveRecord,
    ExperimentRecord,
    ModelVersionRecord,
)
from azuraforge.platform.store.interfaces import Registry, RunsAndRegistry
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
MODELS = "models"
"""The prefix below which the registry keeps its versions' files, each under its own."""
CHAMPION = "champion"
"""The alias of the adapter version an expert answers through."""


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


def resolve(store: Registry, ref: ModelRef, project: str = DEFAULT_PROJECT) -> ModelVersionRecord:
    """The version ``ref`` names now (:class:`NotFoundError` says what exists)."""
    version = ref.version
    if ref.alias is not None:
        version = store.get_alias(ref.name, ref.alias, project=project)
    return store.get_version(ref.name, version, project=project)


def expert_champion(store: Registry, expert: str, project: str) -> ModelVersionRecord | None:
    """The adapter version the ``champion`` alias of the project's model ``expert-<expert>``
    names, the one the chat answers through (read at each call: a moved alias answers the
    next message); none without such a model, alias, or an adapter there."""
    try:
        version = resolve(store, ModelRef(EXPERT_MODEL.format(expert), alias=CHAMPION), project)
    except NotFoundError:
        return None
    return version if version.pipeline == ADAPTER_PIPELINE else None


def model_made_if_new(
    store: Registry, name: str, *, description: str = "", project: str = DEFAULT_PROJECT
) -> None:
    """Make the project's model ``name`` unless it exists (another process making it at the
    same moment is no error: the versions go into that one)."""
    if store.find_model(name, project=project) is None:
        with suppress(ConflictError):
            store.create_model(name, description=description, project=project)


EXPERT_DESCRIPTION = "the chat's adapters of an expert"
"""The description of an expert's model (``expert-<name>``) made by its first version."""


def register_version(
    store: RunsAndRegistry,
    blobs: BlobStore,
    model: str,
    experiment: int | str,
    *,
    description: str = "",
    actor: str = DEFAULT_ACTOR,
    project: str = DEFAULT_PROJECT,
) -> ModelVersionRecord:
    """Copy the artifact of a completed run (by id or name) into the registry as the next
    version of ``model``, with the SHA-256 of its files: its blobs are copied (on the object
    store's server, where it is one) to a prefix of the version's own,
    ``models/<model>/<12 hex digits>``, which nothing writes again. The version's pipeline,
    which serves it, is the one its ``artifact.json`` names (a tracked run's model names its
    own: the run's is its script's), else the run's.

    Raises
    ------
    NotFoundError
        If there is no model ``model``.
    ReferenceNotFoundError
        If there is no run ``experiment`` (by id or name).
    ConflictError
        If the run has not completed or kept no artifact.
    """
    store.get_model(model, project=project)
    run = _source_run(store, experiment, project)
    source = _artifact_prefix(run)
    meta = _artifact_meta(blobs, run, source)
    target = f"{MODELS}/{model}/{uuid.uuid4().hex[:12]}"
    try:
        blobs.copy_prefix(source, target)
        return store.create_version(
            model,
            pipeline=str(meta.get("pipeline") or run.pipeline),
            artifact_path=target,
            artifact_digest=blob_digest(blobs, target),
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
        blobs.delete_prefix(target)
        raise


def _source_run(store: RunsAndRegistry, experiment: int | str, project: str) -> ExperimentRecord:
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


def _artifact_prefix(run: ExperimentRecord) -> str:
    """The prefix of the run's artifact among its files (its result's ``artifact_dir``)."""
    saved = (run.result or {}).get("artifact_dir")
    if not saved:
        raise ConflictError(
            f"experiment {run.id} ({run.name}, pipeline {run.pipeline}) saved no model "
            "artifact; only a run that saved one can be registered"
        )
    try:
        return run_key(run.id, str(saved))
    except (InvalidParameterError, NotFoundError):  # a folder outside its own: never kept
        raise ConflictError(
            f"experiment {run.id}: its artifact {saved!r} is not among its files; register "
            "another run"
        ) from None


def _artifact_meta(blobs: BlobStore, run: ExperimentRecord, prefix: str) -> dict[str, Any]:
    """The run's ``artifact.json``."""
    try:
        meta = json.loads(blobs.get_bytes(f"{prefix}/artifact.json"))
    except NotFoundError:
        public = f"experiment {run.id}: its artifact {prefix!r} has no artifact.json"
        raise ConflictError(
            f"{public} in {blobs.describe()} (deleted, or kept nowhere); register another run",
            public=f"{public} (deleted, or kept nowhere); register another run",
        ) from None
    except ValueError as e:
        raise ConflictError(
            f"experiment {run.id}: its {prefix}/artifact.json cannot be read: {e}; register "
            "another run"
        ) from None
    return meta if isinstance(meta, dict) else {}


def folder_digest(folder: Path) -> str:
    """SHA-256 over the relative path and the bytes of every file below ``folder`` (a copy of
    a version's files; the same as :func:`blob_digest` of the blobs it was copied from)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return _digest((p.relative_to(folder).as_posix(), _file_chunks(p)) for p in files)


def blob_digest(blobs: BlobStore, prefix: str) -> str:
    """SHA-256 over the path below ``prefix`` and the bytes of every blob below it, read a
    chunk at a time, in the order :func:`folder_digest` takes a copy's files (by path
    component, as paths sort): the same value.

    Examples
    --------
    >>> import tempfile
    >>> from azuraforge.platform.blobs import BlobCache, LocalBlobs
    >>> blobs = LocalBlobs(tempfile.mkdtemp())
    >>> for key in ("v/a/b", "v/a-c"):
    ...     blobs.put_bytes(key, key.encode())
    >>> copy = BlobCache(blobs, tempfile.mkdtemp()).folder("v")
    >>> blob_digest(blobs, "v") == folder_digest(copy)
    True
    """
    keys = sorted(blobs.list_keys(prefix), key=lambda key: key.split("/"))
    return _digest((key[len(prefix) + 1 :], blobs.iter_chunks(key)) for key in keys)


def _digest(files: Iterable[tuple[str, Iterable[bytes]]]) -> str:
    digest = hashlib.sha256()
    for name, chunks in files:
        digest.update(name.encode() + b"\0")
        for chunk in chunks:
            digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(CHUNK_BYTES), b"")


def load_version(cache: BlobCache, version: ModelVersionRecord) -> ModelArtifact:
    """The artifact of ``version``, from this machine's copy of its files (made on first
    use), after checking them against the recorded digest.

    Raises
    ------
    ConflictError
        If its files are gone, or were changed, added or removed since registration (it
        would predict something else than what was registered).
    """
    if version.pipeline == STREAM_SNAPSHOT:
        raise ConflictError(
            f"model {version.model} version {version.version} is a snapshot of a stream's "
            f"learner (stream {version.source_experiment_id}): a stream's predictions come "
            "from the stream; the version keeps its state and the events it learned from"
        )
    if version.pipeline == ADAPTER_PIPELINE:
        raise ConflictError(
            f"model {version.model} version {version.version} is a LoRA adapter of the "
            "assistant: chat with it (POST /api/v1/chat), it predicts nothing"
        )
    return ModelArtifact.load(checked_folder(cache, version))


def checked_folder(cache: BlobCache, version: ModelVersionRecord) -> Path:
    """This machine's copy of ``version``'s files, after checking them against the recorded
    digest.

    Raises
    ------
    ConflictError
        If the version's files are gone, or a file was changed, added or removed since
        registration.
    """
    which = f"model {version.model} version {version.version}: its files"
    try:
        folder = cache.folder(version.artifact_path)
    except NotFoundError:
        fix = "are gone; delete the version and register it again from its run"
        where = cache.blobs.describe(version.artifact_path)
        raise ConflictError(f"{which} at {where} {fix}", public=f"{which} {fix}") from None
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
    store: Registry, blobs: BlobStore, model: str, version: int, project: str = DEFAULT_PROJECT
) -> ModelVersionRecord:
    """Delete a version no alias points to, with its files (409 names the aliases)."""
    record = store.delete_version(model, version, project=project)
    blobs.delete_prefix(record.artifact_path)
    return record


def move_alias(
    store: Registry,
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
    store: Registry,
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

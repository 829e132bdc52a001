"""A stream's champions in the registry: each promotion makes versions of the two models as
they stood (the promoted one and the one it replaced) in a model named after the stream, and
moves its ``champion`` alias with the test's evidence; a rollback moves the alias back.

The stream's job writes a promotion's snapshots into its lineage row, with the checkpoint
that follows it; ``azuraforge serve`` (:func:`register_changes`, beside the alerts, on the
server holding the streams' duty) makes the versions and alias moves from the committed rows
and records the version in the row, so a promotion is registered once, whatever restarts came
between: a learner's version is made once per stream (the registry returns the one made
before), and the alias moves are made with the record of the version, only by the first
process to record it (compare and set), should two ever register at once. A version's
``config`` names the stream and the learner, the events it learned from and the retrain run
that trained it (if one did); its files, in the blob store below a prefix of its own that
nothing writes again, are ``snapshot.json`` (the learner's kind and state), its digest
recorded.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from azuraforge.errors import ConflictError, NotFoundError
from azuraforge.platform.blobs import BlobCache, BlobStore
from azuraforge.platform.services.registry import (
    DEFAULT_ACTOR,
    MODELS,
    STREAM_SNAPSHOT,
    blob_digest,
    checked_folder,
)
from azuraforge.platform.services.streams.config import stream_config
from azuraforge.platform.services.streams.readings import SavedLearner, restored
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.platform.store.interfaces import Registry
from azuraforge.platform.store.registry_aliases import AliasStep
from azuraforge.platform.store.streams import ChangeRecord

_log = logging.getLogger(__name__)
ALIAS = "champion"
NOT_REGISTERED = 0
"""The version a change records when the stream's model name belongs to another model."""
SNAPSHOT_FILE = "snapshot.json"
"""The file of a registered snapshot version holding the learner as it stood."""


def register_changes(
    store: Store, blobs: BlobStore, *, held: Callable[[], bool] = lambda: True
) -> int:
    """Register every promotion and rollback not registered yet, while ``held`` says this
    process holds the streams' duty; how many this call registered (not those another
    process registered meanwhile: each is registered once)."""
    done = 0
    for change in store.list_unregistered_changes():
        if not held():
            break
        record = store.find_experiment(change.experiment_id)
        if record is None:
            continue
        try:
            version, moves = _register(store, blobs, record, change)
        except ConflictError as e:
            _log.error("stream %d (%s): its champions are not registered: %s", record.id,
                       record.name, e)  # fmt: skip
            version, moves = NOT_REGISTERED, []
        done += store.set_change_version(change.id, version, moves=moves)
    return done


def _register(
    store: Registry, blobs: BlobStore, record: ExperimentRecord, change: ChangeRecord
) -> tuple[int, list[AliasStep]]:
    """The version ``change`` moves the stream's champion to (made if it has none), and the
    alias moves that registering it makes."""
    model = _model(store, record)
    reason = f"{change.kind} at event {change.event}: {change.reason}" + _evidence(change)
    moved = AliasStep(model, ALIAS, 0, change.actor or DEFAULT_ACTOR, reason, record.project)
    if change.kind == "rollback":
        back = _find_version(store, record, model, change.model)
        if back is None:
            raise ConflictError(f"{change.model} has no version: its promotion was not registered")
        return back, [replace(moved, version=back)]
    snapshots = change.snapshots or {}
    old, new = (_version(store, blobs, record, model, snapshots[name])
                for name in (str(change.other), change.model))  # fmt: skip
    first = f"stream {record.id}'s champion before its first promotion"
    before = replace(moved, version=old, actor="loop", reason=first, first=True)
    return new, [before, replace(moved, version=new)]


def _model(store: Registry, record: ExperimentRecord) -> str:
    """The registry's model named after the stream, made on its first promotion (by one
    process, should two make it at once); a model of that name that is not the stream's is
    refused."""
    found = store.find_model(record.name, project=record.project)
    if found is None:
        try:
            found = store.create_model(
                record.name, description=f"the champions of stream {record.id}",
                tags={"stream": record.id}, project=record.project,
            )  # fmt: skip
        except ConflictError:  # another process made it first
            found = store.get_model(record.name, project=record.project)
    if found.tags.get("stream") != record.id:
        raise ConflictError(f"the model {record.name!r} is not stream {record.id}'s")
    return record.name


def _find_version(
    store: Registry, record: ExperimentRecord, model: str, learner: str
) -> int | None:
    offset = 0
    while True:
        page, total = store.list_versions(model, project=record.project, offset=offset, limit=200)
        for version in page:
            if version.config.get("learner") == learner:
                return version.version
        offset += len(page)
        if not page or offset >= total:
            return None


def _version(
    store: Registry,
    blobs: BlobStore,
    record: ExperimentRecord,
    model: str,
    snapshot: dict[str, Any],
) -> int:
    """The version of the learner of ``snapshot`` (made, with its files, if it has none:
    once, should two processes make it at once)."""
    found = _find_version(store, record, model, snapshot["name"])
    if found is not None:
        return found
    target = f"{MODELS}/{model}/{uuid.uuid4().hex[:12]}"
    try:
        blobs.put_bytes(f"{target}/{SNAPSHOT_FILE}", json.dumps(snapshot, sort_keys=True).encode())
        window = {k: snapshot[k] for k in ("learned_from", "learned_to", "warmed_on")}
        trained = f", trained by run {snapshot['run']}" if snapshot.get("run") else ""
        version = store.create_version(
            model, pipeline=STREAM_SNAPSHOT, artifact_path=target,
            artifact_digest=blob_digest(blobs, target), source_experiment_id=record.id,
            source_experiment_name=record.name, metrics={},
            config={"stream": record.id, "learner": snapshot["name"], "kind": snapshot["kind"],
                    "run": snapshot.get("run"), **window},
            data_fingerprint="",
            description=f"{snapshot['name']} of stream {record.id}, learned from events "
            f"{window['learned_from']} to {window['learned_to']}{trained}",
            created_by="loop", project=record.project, unique_by=("stream", "learner"),
        )  # fmt: skip
    except BaseException:
        blobs.delete_prefix(target)
        raise
    if version.artifact_path != target:  # another process made it first: its files stay
        blobs.delete_prefix(target)
    return version.version


def version_learner(
    store: Registry, cache: BlobCache, record: ExperimentRecord, version: int
) -> SavedLearner:
    """The learner that version ``version`` of the stream ``record``'s model keeps (a past
    champion, or the one it replaced), read from this machine's copy of its files
    (``cache``) after checking them against their digest.

    Raises
    ------
    NotFoundError
        If the model has no such version, or it is not a snapshot of this stream's.
    ConflictError
        If its files are gone or changed.
    """
    found = store.get_version(record.name, version, project=record.project)
    if found.pipeline != STREAM_SNAPSHOT or found.config.get("stream") != record.id:
        raise NotFoundError(
            f"version {version} of model {record.name!r} is not a learner of stream {record.id}"
        )
    snapshot = json.loads((checked_folder(cache, found) / SNAPSHOT_FILE).read_text())
    seed = stream_config(record).seed
    return restored(
        snapshot["name"], snapshot["kind"], snapshot["state"], seed, int(snapshot["learned_to"])
    )


def _evidence(change: ChangeRecord) -> str:
    found = change.evidence
    if "evidence" not in found:
        return ""
    pairs, mean = found["events"], found["mean_difference"]
    return (f" (evidence {found['evidence']:.3g} against {found['against']:.3g} after "
            f"{pairs:.0f} pairs, mean difference {mean:+.4f})")  # fmt: skip

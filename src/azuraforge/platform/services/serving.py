"""Models loaded for serving in the API process, and where the references they serve point.

:class:`ModelServer` keeps up to ``model_cache_size`` loaded versions (least recently used
dropped first), keyed by version id, and remembers which version each reference served
(``name@alias``, ``name/3``, ``name``) resolves to. A request for a reference it knows costs
no query, no file read and no load. A thread re-resolves the references in use every
``alias_refresh`` seconds; when an alias moved, it loads the new version first and only then
switches the reference to it, so requests are answered by the old version until the new one
is ready, and by the new one within about ``alias_refresh`` plus its load time. A version's
files are copied from the blob store to this machine once (``settings.cache_dir``) and
loaded from that copy. A version of MLflow's format is loaded in a process of its own
(:mod:`~azuraforge.platform.services.mlflow_serving`), stopped when it leaves the cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from azuraforge.apps import Pipeline, get_pipeline
from azuraforge.errors import AzuraForgeError, StoreUnavailableError
from azuraforge.learn.artifact import ModelArtifact
from azuraforge.platform.blobs import BlobCache, BlobStore
from azuraforge.platform.services.mlflow_serving import (
    MLFLOW_PIPELINE,
    MlflowModel,
    load_mlflow_model,
)
from azuraforge.platform.services.registry import ModelRef, load_version, resolve
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import (
    DEFAULT_PROJECT,
    ModelVersionRecord,
    Store,
    is_unavailable,
)
from azuraforge.platform.store.scope import ProjectStore

_log = logging.getLogger(__name__)
IDLE_SECONDS = 60.0
"""A reference not requested for this long is no longer re-resolved (its next request
resolves it again)."""


@dataclass(frozen=True)
class LoadedModel:
    """A version ready to predict: its record, its pipeline and its artifact."""

    version: ModelVersionRecord
    pipeline: Pipeline[Any]
    artifact: ModelArtifact


Served = LoadedModel | MlflowModel
"""A version ready to predict: AzuraForge's own (in this process) or MLflow's (in its own)."""


@dataclass
class _Target:
    """The version a reference resolved to, when that was checked and when last used."""

    version_id: int
    checked_at: float
    used_at: float


class ModelServer:
    """Loaded model versions and the versions references resolve to (see the module).

    :meth:`cached` is the hot path: no I/O, safe to call on an event loop. :meth:`get` may
    query the store and load a version: call it from a worker thread. Both are thread safe.
    """

    def __init__(self, store: Store, settings: Settings, blobs: BlobStore) -> None:
        self.store, self.settings = store, settings
        self.cache = BlobCache(blobs, settings.cache_dir)
        """This machine's copies of the versions' files, read once: a version is loaded
        from its copy (checked against its digest)."""
        self._loaded: OrderedDict[int, Served] = OrderedDict()
        self._targets: dict[tuple[str, ModelRef], _Target] = {}
        """Where each project's references pointed when last looked at."""
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        # A reference whose refresher fell this far behind is resolved again by a request:
        # a refresher thread starved of the GIL by a busy event loop must not hold a moved
        # alias on its old version past the 1 s a switch may take.
        self._stale_after = 2 * settings.alias_refresh

    def reconfigure(self, settings: Settings) -> None:
        """Run on a newer version of the live settings: ``alias_refresh`` from the next
        check, ``max_predict_rows`` and ``predict_batch_wait`` from the next request."""
        self.settings, self._stale_after = settings, 2 * settings.alias_refresh

    def cached(
        self, ref: ModelRef, project: str = DEFAULT_PROJECT, *, fresh: bool = True
    ) -> Served | None:
        """The model ``ref`` serves in ``project`` when it is known and loaded (and, with
        ``fresh``, checked within the last two ``alias_refresh``), else ``None``."""
        now = time.monotonic()
        with self._lock:
            target = self._targets.get((project, ref))
            if target is None or (fresh and now - target.checked_at > self._stale_after):
                return None
            loaded = self._loaded.get(target.version_id)
            if loaded is None:
                return None
            target.used_at = now
            self._loaded.move_to_end(target.version_id)
            return loaded

    def get(self, ref: ModelRef, project: str = DEFAULT_PROJECT) -> Served:
        """The model ``ref`` serves in ``project`` (its models only), resolved and loaded if
        needed.

        Raises
        ------
        NotFoundError
            Naming what exists, when ``ref`` names no version.
        ConflictError
            When the version's files changed since registration, or (MLflow's format) it
            needs a package not installed here.
        PermissionDeniedError
            For a version of MLflow's format, while the project does not allow them.
        """
        loaded = self.cached(ref, project)
        if loaded is not None:
            return loaded
        key = (project, ref)
        try:
            version_id, number = self._resolve(key)
        except StoreUnavailableError:
            known = self.cached(ref, project, fresh=False)
            if known is None:
                raise
            return known  # the store is down: serve what the reference resolved to last
        loaded = self._load(project, ref.name, number, version_id)
        now = time.monotonic()
        with self._lock:
            self._targets[key] = _Target(version_id, now, now)
        self._start_refresher()
        return loaded

    def close(self) -> None:
        """Stop re-resolving references and the processes of MLflow models (the other loaded
        models stay until collected)."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(5)
        with self._lock:
            loaded = list(self._loaded.values())
        _close(loaded)

    def _resolve(self, key: tuple[str, ModelRef]) -> tuple[int, int]:
        project, ref = key
        if ref.alias is not None:
            found = self.store.resolve_alias_id(ref.name, ref.alias, project=project)
        else:
            found = self.store.resolve_version_id(ref.name, ref.version, project=project)
        if found is None:
            resolve(ProjectStore(self.store, project), ref)  # NotFoundError: why
            found = self._resolve(key)  # created meanwhile
        return found

    def _load(self, project: str, model: str, number: int, version_id: int) -> Served:
        with self._lock:
            if version_id in self._loaded:
                return self._loaded[version_id]
        with self._load_lock:  # one load at a time: concurrent requests wait for it
            with self._lock:
                if version_id in self._loaded:
                    return self._loaded[version_id]
            version = self.store.get_version(model, number, project=project)
            loaded = self._loaded_version(version, project)
            dropped = []
            with self._lock:
                self._loaded[version_id] = loaded
                while len(self._loaded) > self.settings.model_cache_size:
                    dropped.append(self._loaded.popitem(last=False)[1])
            _close(dropped)  # outside the lock: each waits for the request it answers
            return loaded

    def _loaded_version(self, version: ModelVersionRecord, project: str) -> Served:
        if version.pipeline == MLFLOW_PIPELINE:
            return load_mlflow_model(self.store, self.cache, version, project)
        artifact = load_version(self.cache, version)
        return LoadedModel(version, get_pipeline(version.pipeline)(), artifact)

    def _start_refresher(self) -> None:
        with self._lock:
            if self._refresher is not None or self._stop.is_set():
                return
            self._refresher = threading.Thread(
                target=self._refresh_loop, name="azuraforge-model-refresh", daemon=True
            )
            self._refresher.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.settings.alias_refresh):
            with self._lock:
                targets = list(self._targets.items())
            for key, target in targets:
                self._refresh(key, target)

    def _refresh(self, key: tuple[str, ModelRef], target: _Target) -> None:
        """Check where a project's reference points; load a new version before switching
        to it."""
        now = time.monotonic()
        if now - target.used_at > IDLE_SECONDS:
            with self._lock:
                self._targets.pop(key, None)
            return
        project, ref = key
        try:
            version_id, number = self._resolve(key)
            if version_id != target.version_id:
                self._load(project, ref.name, number, version_id)
        except AzuraForgeError as e:
            if is_unavailable(e):  # keep serving what was resolved last
                target.checked_at = now
                _log.warning("cannot check where %s points now: %s", ref, e)
                return
            with self._lock:  # gone (or broken): the next request says why
                self._targets.pop(key, None)
            return
        target.version_id, target.checked_at = version_id, now


def _close(models: list[Served]) -> None:
    """Stop the processes of the MLflow models among ``models``."""
    for model in models:
        if isinstance(model, MlflowModel):
            model.close()

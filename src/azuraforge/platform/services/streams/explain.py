"""Which features a stream's learner leans on over a window of its events: permutation
importance (:mod:`azuraforge.stream.explain`) of the champion (or another of its learners)
as its last checkpoint holds it, or of a past champion as a registry version keeps it, on
the examples the stream's features make of the source's events in the window, each with the
direction ``horizon`` events later."""

from __future__ import annotations

from itertools import islice
from typing import Any, Protocol

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.blobs import BlobCache, BlobStore
from azuraforge.platform.jobs.files import DataFolder, data_folder_of
from azuraforge.platform.services.streams.config import StreamConfig, stream_config
from azuraforge.platform.services.streams.readings import saved_learner
from azuraforge.platform.services.streams.registry import version_learner
from azuraforge.platform.services.streams.sources import source_path
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.interfaces import DataFiles, Registry, RunLeases
from azuraforge.stream.base import Features
from azuraforge.stream.explain import permutation_importance

MOST_EVENTS = 5000
"""The widest window explained in one request (its cost grows with events x features)."""


class LearnerSources(RunLeases, Registry, DataFiles, Protocol):
    """What :func:`explain` reads: a stream's checkpoint, its registry model's versions and
    the project's data files."""


def explain(
    store: LearnerSources, settings: Settings, blobs: BlobStore, record: ExperimentRecord, *,
    start: int, end: int,
    learner: str | None = None, version: int | None = None, repeats: int = 3,
) -> dict[str, Any]:  # fmt: skip
    """The importance of each feature to ``learner`` (the champion by default), or to the
    learner that ``version`` of the stream's registry model keeps, over the events ``start``
    to ``end`` (excluded) of the stream ``record``.

    Raises
    ------
    ConflictError
        Before the stream's first checkpoint.
    NotFoundError
        If the stream has no learner ``learner`` now (names those it has).
    InvalidParameterError
        For a window that is empty, wider than :data:`MOST_EVENTS`, or leaves fewer than 2
        examples.
    """
    if not 0 <= start < end or end - start > MOST_EVENTS:
        raise InvalidParameterError(
            f"the window must hold 1 to {MOST_EVENTS} events (start < end), got {start} to {end}"
        )
    config = stream_config(record)
    if learner is not None and version is not None:
        raise InvalidParameterError("give a learner or a version, not both")
    if version is None:
        saved = saved_learner(store, record, learner)
    else:
        saved = version_learner(store, BlobCache(blobs, settings.cache_dir), record, version)
    folder = data_folder_of(settings, record.project, blobs, store)
    examples = _examples(config, folder, start, end)
    if len(examples) < 2:
        raise InvalidParameterError(
            f"events {start} to {end} make {len(examples)} example(s) (the features are ready "
            f"after {config.ready_after} events, the outcome comes horizon events later): "
            "widen the window"
        )
    base, found = permutation_importance(saved.model, examples, repeats=repeats, seed=0)
    return {
        "learner": saved.name, "kind": saved.kind, "version": version, "start": start,
        "end": end,
        "examples": len(examples), "log_loss": base,
        "importances": [{"feature": f.feature, "mean": f.mean, "spread": f.spread} for f in found],
    }  # fmt: skip


def _examples(
    config: StreamConfig, folder: DataFolder, start: int, end: int
) -> list[tuple[Features, bool]]:
    """The stream's examples made at events ``start`` to ``end`` of its source (a file of
    ``folder``, its project's, or a dataset): the features then, and whether the price was
    higher ``horizon`` events later (those whose outcome came)."""
    path = source_path(config, folder.open)
    price = config.price_column
    events = list(islice(config.replay(path), end + config.horizon))
    features, found = config.features(), []
    for index, event in enumerate(events[:end]):
        x = features.update(event)
        later = index + config.horizon
        if index >= start and later < len(events) and len(x) == len(features.names):
            found.append((x, events[later].values[price] > event.values[price]))
    return found

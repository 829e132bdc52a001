"""Predictions from a stream's champion over HTTP: the probability that the price is higher
``horizon`` steps after the last of the prices a request sends, by the champion as the
stream's last checkpoint holds it.

The champion is read from the checkpoint at most once every :data:`FRESH_SECONDS` seconds
per stream and API process, and kept (its learner rebuilt from its kind and state): a
request reads nothing (:meth:`StreamServer.cached`) and costs the features of its prices,
computed at once over them, and one prediction. Once the kept champion is older, the first
request to see it so starts one thread that reads the checkpoint again, and every request
is answered by the kept champion until the thread replaced it: no request waits for a
read, and one read is made, not one per request. The stream's job keeps learning
meanwhile: a prediction is the champion of a checkpoint at most that old plus one read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from azuraforge.errors import InvalidParameterError
from azuraforge.platform.services.streams.config import FEATURES_READY, StreamConfig, stream_config
from azuraforge.platform.services.streams.job import find_stream
from azuraforge.platform.services.streams.readings import saved_learner
from azuraforge.platform.store import Store
from azuraforge.platform.store.scope import ProjectStore
from azuraforge.stream.base import Classifier

_log = logging.getLogger(__name__)
MIN_CLOSES = FEATURES_READY
"""The fewest prices a prediction may give (a stream with the regime feature needs more)."""
FRESH_SECONDS = 1.0
"""The oldest a kept champion may be before the checkpoint is read again."""


@dataclass(frozen=True)
class Champion:
    """A stream's champion as a checkpoint held it."""

    name: str
    model: Classifier
    config: StreamConfig
    events: int
    """The events the stream had taken at that checkpoint."""
    read_at: float
    project: str
    """The stream's project: only its requests are answered."""

    def predict(self, closes: Sequence[float]) -> float:
        """Its probability that the price is higher ``horizon`` steps after the last of
        ``closes`` (oldest first).

        Raises
        ------
        InvalidParameterError
            When ``closes`` are too few for the features, or one is not finite and positive.
        """
        prices = np.asarray(closes, dtype=float)
        bad = np.flatnonzero(~(np.isfinite(prices) & (prices > 0)))
        if len(bad):
            raise InvalidParameterError(
                f"closes[{bad[0]}] is {closes[bad[0]]!r}; prices must be finite and > 0"
            )
        if len(prices) < self.config.ready_after:
            raise InvalidParameterError(
                f"{len(prices)} closes are too few: this stream's features need "
                f"{self.config.ready_after} or more"
            )
        columns = self.config.features().batch(prices)
        x = {name: float(values[-1]) for name, values in columns.items()}
        return float(self.model.predict_proba_one(x).get(True, 0.0))


class StreamServer:
    """Each stream's champion, read from its checkpoint and kept for :data:`FRESH_SECONDS`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._champions: dict[int, Champion] = {}
        self._reading: set[int] = set()
        """The streams whose checkpoint a thread is reading again."""
        self._lock = threading.Lock()

    def cached(self, stream_id: int, project: str) -> Champion | None:
        """The champion of ``project``'s stream ``stream_id`` if one is kept (no I/O: safe on
        an event loop); when it was read :data:`FRESH_SECONDS` ago or more, a thread reads
        the checkpoint again meanwhile (one at a time per stream)."""
        with self._lock:
            kept = self._champions.get(stream_id)
            if kept is None or kept.project != project:
                return None
            stale = time.monotonic() - kept.read_at >= FRESH_SECONDS
            if not stale or stream_id in self._reading:
                return kept
            self._reading.add(stream_id)
        reader = threading.Thread(
            target=self._read_again, args=(stream_id, project), name="stream-champion"
        )
        reader.daemon = True
        reader.start()
        return kept

    def _read_again(self, stream_id: int, project: str) -> None:
        """Replace the kept champion by the checkpoint's; if it cannot be read (the stream
        deleted, the store down), forget it, so that the next request reads it itself and
        gets the error."""
        try:
            self.get(stream_id, project)
        except Exception as e:  # the next request's own read says what went wrong
            _log.info("stream %d: its champion could not be read again: %s", stream_id, e)
            with self._lock:
                self._champions.pop(stream_id, None)
        finally:
            with self._lock:
                self._reading.discard(stream_id)

    def get(self, stream_id: int, project: str) -> Champion:
        """The champion of ``project``'s stream ``stream_id``, read from its last checkpoint
        (and kept).

        Raises
        ------
        NotFoundError
            If ``project`` has no stream ``stream_id``.
        ConflictError
            Before the stream's first checkpoint.
        """
        store = ProjectStore(self.store, project)
        record = find_stream(store, stream_id)
        saved = saved_learner(store, record)
        config = stream_config(record)
        champion = Champion(saved.name, saved.model, config, saved.events, time.monotonic(),
                            project)  # fmt: skip
        with self._lock:
            self._champions[record.id] = champion
        return champion

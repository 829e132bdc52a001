"""Predictions from a stream's champion over HTTP: the probability that the price is higher
``horizon`` steps after the last of the prices a request sends, by the champion as the
stream's last checkpoint holds it.

The champion is read from the checkpoint at most once every :data:`FRESH_SECONDS` seconds
per stream and API process, and kept (its learner rebuilt from its kind and state); a request
in between costs the features of its prices and one prediction. The stream's job keeps
learning meanwhile: a prediction is the champion of a checkpoint at most that old.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from azuraforge.errors import ConflictError, InvalidParameterError
from azuraforge.platform.services.streams import StreamConfig
from azuraforge.platform.store import ExperimentRecord, Store
from azuraforge.stream.base import Classifier, Event
from azuraforge.stream.direction import default_features, make_learner
from azuraforge.stream.online import from_json
from azuraforge.stream.shadow import CHAMPION

MIN_CLOSES = 25
"""The fewest prices the default features are all ready after."""
FRESH_SECONDS = 1.0
"""The oldest a cached champion may be before the checkpoint is read again."""


@dataclass(frozen=True)
class Champion:
    """A stream's champion as a checkpoint held it."""

    name: str
    model: Classifier
    column: str
    events: int
    """The events the stream had taken at that checkpoint."""
    read_at: float


class StreamServer:
    """Each stream's champion, read from its checkpoint and kept for :data:`FRESH_SECONDS`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._champions: dict[int, Champion] = {}
        self._lock = threading.Lock()

    def predict(self, record: ExperimentRecord, closes: Sequence[float]) -> tuple[Champion, float]:
        """The champion and its probability that the price is higher ``horizon`` steps after
        the last of ``closes`` (oldest first).

        Raises
        ------
        ConflictError
            Before the stream's first checkpoint.
        InvalidParameterError
            When ``closes`` are too few for the features, or not all positive.
        """
        champion = self._champion(record)
        features = default_features(champion.column)
        x: dict[str, float] = {}
        for index, close in enumerate(closes):
            if not (math.isfinite(close) and close > 0):
                raise InvalidParameterError(
                    f"closes[{index}] is {close!r}; prices must be finite and > 0"
                )
            x = features.update(Event(time=float(index), values={champion.column: close}))
        if len(x) != len(features.names):
            raise InvalidParameterError(
                f"{len(closes)} closes are too few: the features (returns over 24 steps, "
                f"RSI(14), Bollinger(20)) need {MIN_CLOSES} or more"
            )
        return champion, float(champion.model.predict_proba_one(x).get(True, 0.0))

    def _champion(self, record: ExperimentRecord) -> Champion:
        now = time.monotonic()
        with self._lock:
            kept = self._champions.get(record.id)
        if kept is not None and now - kept.read_at < FRESH_SECONDS:
            return kept
        state = self.store.load_checkpoint(record.id)
        if state is None or "shadow" not in state:
            raise ConflictError(f"stream {record.id} saved no checkpoint yet; ask again soon")
        config = StreamConfig.model_validate(record.config)
        name = state["shadow"]["roles"][CHAMPION]
        model = make_learner(state["shadow"]["kinds"][name], config.seed)
        model.load_state_dict(from_json(state["models"][name]))
        champion = Champion(name, model, config.price_column, int(state["events"]), now)
        with self._lock:
            self._champions[record.id] = champion
        return champion

"""What a stream runs: :class:`StreamConfig`, its source, learner, pace, checkpoints,
candidates' rules, alerts and how the kernel keeps it going, checked once where a request
gives it (:func:`~.job.start_stream`), stored as its JSON on the stream's row and read back
from there by :func:`stream_config`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from azuraforge.platform.services.streams.retrain import MIN_OUTCOMES as MIN_RETRAIN_OUTCOMES
from azuraforge.platform.services.streams.tuning import MIN_TUNING_OUTCOMES
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.states import RESTART_HISTORY
from azuraforge.stream import CsvReplay
from azuraforge.stream.base import MOST_SKIPPED
from azuraforge.stream.direction import TUNABLE, default_features
from azuraforge.stream.features import FeatureSet
from azuraforge.stream.regime import WARMUP as REGIME_WARMUP
from azuraforge.stream.shadow import ShadowRules

FEATURES_READY = 25
"""The prices after which the default features are all ready (returns over 24 steps)."""


class StreamConfig(BaseModel):
    """What a stream runs: its source, its learner and task, its pace and checkpoints, and
    how the kernel keeps it going."""

    model_config = ConfigDict(extra="forbid")

    source: Path | None = Field(
        None, description="A registered dataset's name (btc-hourly, sp500-daily) or a CSV "
        "file of the project's data folder, replayed oldest first; this or url."
    )  # fmt: skip
    url: str | None = Field(
        None, min_length=10, max_length=500, description="An http:// or https:// address "
        "polled every poll_interval seconds for new rows (JSON objects or CSV with a header; "
        "rows seen before are passed over), at or below one of the server's stream_urls; "
        "this or source."
    )  # fmt: skip
    plugin: str | None = Field(
        None, max_length=100, description="A source of the azuraforge.sources entry points "
        "(an installed package's feed or queue) that the server's stream_sources allow, by "
        "name; this, source or url."
    )  # fmt: skip
    plugin_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict, max_length=50, description="The plugin source's keyword "
        "arguments."
    )  # fmt: skip
    poll_interval: float = Field(60.0, ge=1, le=86_400, description="Seconds between polls.")
    time_column: str | None = Field(
        None, max_length=200, description="The rows' time column or field, a CSV's or a "
        "url's (None: found by its name: unix, timestamp, time, datetime, date)."
    )  # fmt: skip
    price_column: str = Field("close", description="The price whose direction is learned.")
    max_bad_rows: float = Field(
        MOST_SKIPPED, ge=0, le=1, description="The share of its source's rows that may be "
        "skipped as unusable (no number, no time, a price not above 0, a wrong width; a "
        "repeated time is not counted) before the stream fails saying which: at its start for "
        "a replayed file, at each checkpoint for a followed or polled one."
    )  # fmt: skip
    learner: Literal["logreg-sgd", "logreg-adam", "mlp", "ensemble"] = Field(
        "logreg-adam", description="The first champion, an online learner (the trivial rules "
        "run beside it); candidates are fresh ones of its kind unless a retrain names another."
    )  # fmt: skip
    seed: int = Field(0, description="Seeds the learner.")
    horizon: int = Field(
        1, ge=1, le=10_000, description="Predict the direction this many events ahead."
    )
    window: int = Field(1000, ge=1, le=100_000, description="Outcomes the recent scores cover.")
    speed: float | None = Field(
        None, gt=0, description="Seconds of event time a second (None: as fast as it reads)."
    )
    follow: bool = Field(
        False, description="Follow a data-folder CSV as rows are appended to it (tail -F): "
        "its rows first, then each new one as it is written, until the stream is stopped."
    )  # fmt: skip
    regime_feature: bool = Field(
        False, description="Give the learners the probability that the price's volatility is "
        "in its turbulent regime (a two-state hidden Markov model over its returns) as a "
        "feature. The regime is charted either way."
    )  # fmt: skip
    max_events: int | None = Field(None, ge=1, description="Stop after this many events.")
    checkpoint_every: int = Field(
        100, ge=10, le=1_000_000, description="Events between checkpoints (and metric points)."
    )
    memory_limit: int | None = Field(
        None, gt=0, description="Bytes of its process's own memory past which it restarts."
    )
    restart_every: float | None = Field(
        None, ge=1.0, description="Seconds after which it restarts (at an event boundary)."
    )
    max_restarts: int = Field(5, ge=0, description="Crashes in a row before it fails.")
    drift: Literal["adwin", "page-hinkley", "ddm"] | None = Field(
        "adwin", description="The detector on the champion's errors whose alarm opens a "
        "candidate (None: none)."
    )  # fmt: skip
    retrain_every: int | None = Field(
        None, ge=1, description="Events after which a candidate opens if none did (None: no "
        "schedule)."
    )  # fmt: skip
    tune_every: int | None = Field(
        None, ge=100, description="Events between two tunings of the stream's learner on the "
        "last `warm` outcomes (an Optuna study of `tune_trials` trials) whose best opens as "
        "the candidate when none is in shadow (None: never; the ensemble is not tuned)."
    )  # fmt: skip
    tune_trials: int = Field(20, ge=2, le=200, description="Trials of each tuning.")
    retrain_as: Literal["learner", "run"] = Field(
        "learner", description="How a candidate is trained: `learner`, a fresh online "
        "learner warmed on the last `warm` outcomes in the stream's process; `run`, a "
        "retrain run on a worker (passes over those outcomes, scored on the newest, early "
        "stopped; its metrics on its page) whose learner opens as the candidate when it ends."
    )  # fmt: skip
    retrain_epochs: int = Field(
        20, ge=1, le=500, description="Most passes of a retrain run over the outcomes."
    )
    retrain_timeout: float = Field(
        900.0, ge=10, le=86_400, description="Seconds a retrain run may take, queued or "
        "running, before it is cancelled and the retrain recorded as failed (no other "
        "candidate opens meanwhile)."
    )  # fmt: skip
    warm: int = Field(
        500, ge=1, le=100_000, description="The last outcomes a candidate learns before it "
        "predicts."
    )  # fmt: skip
    alpha: float = Field(
        0.05, gt=0, le=0.5, description="The promotion test's error rate (and the rollback "
        "test's): the most chance of promoting a candidate that is no better."
    )  # fmt: skip
    floor: float = Field(
        0.4, gt=0, lt=0.5, description="The tests compare log-losses of probabilities kept "
        "in [floor, 1 - floor]."
    )  # fmt: skip
    margin: float = Field(
        0.0, ge=0, le=0.1, description="How much lower (nats an event) a candidate's mean "
        "loss must be to be promoted."
    )  # fmt: skip
    shadow_events: int = Field(
        5000, ge=10, description="Events after which a candidate still undecided is dropped."
    )
    rollback_events: int = Field(
        5000, ge=10, description="Events after a promotion during which rollback is armed."
    )

    alert_accuracy_below: float | None = Field(
        None, gt=0, lt=1, description="Alert when the champion's accuracy over the last "
        "`window` outcomes is below this (None: never)."
    )  # fmt: skip
    alert_on_drift: bool = Field(
        True, description="Alert while a candidate opened by a drift is in shadow."
    )
    alert_on_worker_lost: bool = Field(
        True, description="Alert while the stream waits for a worker after losing its own."
    )
    alert_restarts: int | None = Field(
        3, ge=1, le=RESTART_HISTORY,
        description="Alert when it restarted this often in the last hour (None: never).",
    )  # fmt: skip
    alert_lag_above: float | None = Field(
        None, gt=0, description="Alert when a running stream saved no checkpoint for this "
        "many seconds (None: never)."
    )  # fmt: skip
    alert_for: float = Field(
        0.0, ge=0, le=86_400, description="Seconds a rule's condition must hold before its "
        "alert fires (pending until then)."
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_source(self) -> StreamConfig:
        if [self.source, self.url, self.plugin].count(None) != 2:
            raise ValueError(
                "give exactly one of source (a dataset or a data-folder CSV), url or plugin"
            )
        if self.plugin_options and self.plugin is None:
            raise ValueError("plugin_options are a plugin source's: name the plugin")
        self._check_learning()
        if self.source is None and (self.follow or self.speed is not None):
            raise ValueError("follow and speed are a source's: a url's or a plugin's rows "
                             "come when they come")  # fmt: skip
        return self

    def _check_learning(self) -> None:
        """Refuse a tuning of a learner it cannot tune, and a retrain run or a tuning with
        fewer outcomes kept than it needs."""
        if self.tune_every is not None and self.learner not in TUNABLE:
            raise ValueError(f"tune_every tunes {', '.join(TUNABLE)}, not {self.learner}")
        if self.retrain_as == "run" and self.warm < MIN_RETRAIN_OUTCOMES:
            raise ValueError(
                f"a retrain run needs {MIN_RETRAIN_OUTCOMES} kept outcomes or more: warm is "
                f"{self.warm}"
            )
        if self.tune_every is not None and self.warm < MIN_TUNING_OUTCOMES:
            raise ValueError(
                f"a tuning needs {MIN_TUNING_OUTCOMES} kept outcomes or more: warm is {self.warm}"
            )

    def replay(self, path: Path) -> CsvReplay:
        """The CSV file ``path`` of its source, replayed as its events."""
        price = self.price_column
        return CsvReplay(path, columns=[price], price_column=price, time_column=self.time_column)

    def features(self) -> FeatureSet:
        """What its learners see of each event."""
        return default_features(self.price_column, regime=self.regime_feature)

    @property
    def ready_after(self) -> int:
        """The prices after which its features are all ready."""
        return max(FEATURES_READY, REGIME_WARMUP + 1 if self.regime_feature else 0)

    def rules(self) -> ShadowRules:
        """The loop's rules of this config."""
        return ShadowRules(
            drift=self.drift, every=self.retrain_every, warm=self.warm, alpha=self.alpha,
            floor=self.floor, margin=self.margin, shadow_events=self.shadow_events,
            rollback_events=self.rollback_events, trained_out=self.retrain_as == "run",
        )  # fmt: skip


def stream_config(record: ExperimentRecord) -> StreamConfig:
    """The config of the stream ``record``, read back from its row (where it was stored
    once checked)."""
    return StreamConfig.model_validate(record.config)

"""Streams as supervised jobs, the job kind ``stream``: a replayed price series learned one
event at a time for as long as it runs, resumed from its last checkpoint after any restart.

A stream's job runs :class:`~azuraforge.stream.online.DirectionLoop` over its source's
events: the learner and the trivial rules predict each next direction, are scored when it is
known, and learn. Every ``checkpoint_every`` events the job logs the running scores as metric
points and saves the loop's state as its checkpoint, in the transaction of those points
(:meth:`~azuraforge.platform.jobs.context.StoreContext.save_checkpoint`), with the position
in the source: a job that restarts (its worker died, a memory limit, a scheduled restart, a
crash) re-reads the events before that position, loads the state, and goes on; no prediction
is scored twice and none is lost. The kernel restarts it (:class:`RestartPolicy` from the
config) and fails it, with its history of crashes, when it keeps crashing.

Sources for now: a registered dataset (``btc-hourly``, ``sp500-daily``...) or a CSV file of
the data folder, replayed as fast as it reads or at ``speed`` seconds of event time a second.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from azuraforge.errors import (
    ConflictError,
    DataFormatError,
    InvalidParameterError,
    NotFoundError,
    PluginError,
)
from azuraforge.learn.datasets import DATASETS, dataset_file
from azuraforge.learn.datasets.csvfiles import column_key
from azuraforge.platform.jobs.context import StoreContext
from azuraforge.platform.jobs.kinds import JobKind, RestartPolicy
from azuraforge.platform.jobs.transport import Transport, make_transport
from azuraforge.platform.services.experiments import ConfigError, send, validate_settings
from azuraforge.platform.services.stream_retrain import MIN_OUTCOMES as MIN_RETRAIN_OUTCOMES
from azuraforge.platform.services.stream_retrain import Retrainer
from azuraforge.platform.services.stream_tuning import tune
from azuraforge.platform.settings import Settings
from azuraforge.platform.store import DEFAULT_PROJECT, ExperimentRecord, Store, is_unavailable
from azuraforge.platform.store.metrics import Outcome
from azuraforge.platform.store.states import CANCELLED, COMPLETED, RESTART_HISTORY, RUNNING
from azuraforge.platform.store.streams import DONE, REFUSED, Answer, TriggerRecord
from azuraforge.stream import CsvReplay, Event
from azuraforge.stream.backtest import Backtest, backtest, net_returns, periods_per_year
from azuraforge.stream.base import Classifier, Source
from azuraforge.stream.direction import TUNABLE, default_features, make_learner
from azuraforge.stream.features import FeatureSet
from azuraforge.stream.live import LiveSource
from azuraforge.stream.online import Scored, from_json, headline
from azuraforge.stream.polling import HttpPoller
from azuraforge.stream.regime import WARMUP as REGIME_WARMUP
from azuraforge.stream.regime import VolatilityRegime
from azuraforge.stream.registry import get_source
from azuraforge.stream.shadow import CHAMPION, Change, ShadowLoop, ShadowRules
from azuraforge.stream.sources import header_of
from azuraforge.stream.tail import FileTail

STREAM = "stream"
"""The job kind's name."""
EQUITY_POINTS = 400
"""The most points of an equity curve :func:`trading_scores` gives."""
PACE_CHECKPOINTS = 10
"""The last checkpoints whose event counts give a stream's events a second."""
TURBULENT = "regime/turbulent"
"""The metric of the mean probability that the price's volatility was turbulent (its
:class:`~azuraforge.stream.regime.VolatilityRegime`) over the events since the last
checkpoint: the charts' regime bands."""
POLL_KEPT = 500
"""The last events a polled stream's checkpoint keeps: a restart warms its features on them
(the url no longer gives older rows)."""
TUNING_SECONDS = 30.0
"""The longest a tuning holds its stream's events up: the trials run by then count."""
MIN_TUNING_OUTCOMES = 50
"""The fewest kept outcomes a tuning runs on."""
BUILT_IN_SOURCES = ("csv-replay", "file-tail", "http-poller")
"""The sources a stream names by its source, follow and url (with their checks), never as a
plugin."""
FEATURES_READY = 25
"""The prices after which the default features are all ready (returns over 24 steps)."""
_PACE_SLICE = 0.2
"""Seconds a paced stream sleeps between two looks for a stop."""
_TRIGGER_POLL = 1.0
"""Seconds between two looks for a stream's pending triggers."""
_MAX_BEHIND = 1.0
"""Seconds a paced stream may fall behind its pace before it counts the pace again."""


class StreamConfig(BaseModel):
    """What a stream runs: its source, its learner and task, its pace and checkpoints, and
    how the kernel keeps it going."""

    model_config = ConfigDict(extra="forbid")

    source: Path | None = Field(
        None, description="A registered dataset's name (btc-hourly, sp500-daily) or a CSV "
        "file of the data folder, replayed oldest first; this or url."
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
        if self.source is None and (self.follow or self.speed is not None):
            raise ValueError("follow and speed are a source's: a url's or a plugin's rows "
                             "come when they come")  # fmt: skip
        return self

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


def start_stream(
    store: Store,
    transport: Transport,
    settings: Settings,
    config: Mapping[str, Any],
    *,
    name: str | None = None,
    project: str = DEFAULT_PROJECT,
) -> ExperimentRecord:
    """Validate a stream's ``config`` (:class:`StreamConfig`; its source a registered dataset
    or a file of the data folder), store its job and send it to a worker; the job's row.

    Raises
    ------
    ConfigError
        Naming each refused field by its path.
    ConflictError
        If ``name`` is taken in the project.
    """
    checked = validate_settings(StreamConfig, "stream config", config, settings.data_dir)
    try:
        if checked["url"] is not None:
            check_url(checked["url"], settings.stream_urls)
        if checked["plugin"] is not None:
            made = plugin_source(StreamConfig.model_validate(checked), settings.stream_sources)
            if isinstance(made, LiveSource):  # made to check its options only
                made.stop()
    except InvalidParameterError as e:
        field = "url" if checked["url"] is not None else "plugin"
        raise ConfigError("stream config", [((field,), str(e))]) from None
    _check_follow(checked)
    _check_columns(checked, settings.data_dir)
    transport.check()
    record = store.create_experiment(
        STREAM, checked, name=name or f"stream-{uuid.uuid4().hex[:8]}", project=project,
        kind=STREAM, requeue_lost=True,
    )  # fmt: skip
    return send(store, transport, record)


class WindowTrading(NamedTuple):
    """What :func:`trading_scores` finds: each model's figures, buy and hold's (``None`` with
    no step), and each one's equity curve, thinned (``"buy and hold"`` included)."""

    models: dict[str, dict[str, float | None]]
    market: dict[str, float | None] | None
    equity: dict[str, tuple[list[float], list[float]]]


def trading_scores(
    gains: Mapping[str, list[tuple[float, float, float]]], *, cost: float
) -> WindowTrading:
    """Each model's trading figures over its predictions ``gains`` (of
    :meth:`~azuraforge.platform.store.Store.outcome_gains`: long when it gave up 50 % or
    more, flat otherwise, net of ``cost`` a change; :mod:`azuraforge.stream.backtest`), its win
    rate (the share of its long steps the price rose), and buy and hold's figures over the
    same steps; each one's equity curve (event times and values, at most
    :data:`EQUITY_POINTS` of them)."""
    found: dict[str, dict[str, float | None]] = {}
    equity: dict[str, tuple[list[float], list[float]]] = {}
    market: dict[str, float | None] | None = None
    for model, rows in gains.items():
        times, probabilities, returns = (np.asarray(column) for column in zip(*rows, strict=True))
        yearly = periods_per_year(times)
        long = (probabilities >= 0.5).astype(float)
        won = returns[long == 1.0] > 0
        figures = _figures(backtest(model, returns, long, cost=cost, periods_per_year=yearly))
        found[model] = {**figures, "win_rate": float(won.mean()) if len(won) else None}
        equity[model] = _thinned(times, net_returns(returns, long, cost=cost))
        if market is None:
            held = np.ones_like(returns)
            market = _figures(backtest("buy and hold", returns, held, cost=cost,
                                       periods_per_year=yearly))  # fmt: skip
            equity["buy and hold"] = _thinned(times, net_returns(returns, held, cost=cost))
    return WindowTrading(found, market, equity)


def _thinned(times: np.ndarray, net: np.ndarray) -> tuple[list[float], list[float]]:
    """The equity curve of ``net`` returns at ``times``, at most :data:`EQUITY_POINTS`
    points (evenly spaced, the last kept)."""
    curve = np.cumprod(1.0 + net)
    kept = np.unique(np.linspace(len(curve) - 1, 0, EQUITY_POINTS).round().astype(int))
    return times[kept].tolist(), curve[kept].tolist()


def _figures(result: Backtest) -> dict[str, float | None]:
    """A backtest's figures, ``None`` for one it could not compute (NaN)."""
    values = {"total_return": result.total_return, "sharpe": result.sharpe,
              "max_drawdown": result.max_drawdown, "exposure": result.exposure,
              "steps": float(result.steps)}  # fmt: skip
    return {k: (v if math.isfinite(v) else None) for k, v in values.items()}


class Pace(NamedTuple):
    """How a stream keeps up: seconds since its last checkpoint (or since its process
    started: a restart re-reads first) while it runs, and events a second over its last
    checkpoints in this process (``None`` for what cannot be said)."""

    lag: float | None
    events_per_second: float | None


def pace(store: Store, record: ExperimentRecord, now: float) -> Pace:
    """The stream ``record``'s :class:`Pace` at ``now``, from its last
    :data:`PACE_CHECKPOINTS` checkpoints' event counts."""
    started = record.started_at or now
    points = store.get_last_points(record.id, "events", PACE_CHECKPOINTS)
    since = max(points[-1][2] if points else 0.0, started)
    lag = now - since if record.status == RUNNING else None
    ours = [(value, when) for _, value, when in points if when >= started]
    rate = None
    if len(ours) >= 2 and ours[-1][1] > ours[0][1]:
        rate = (ours[-1][0] - ours[0][0]) / (ours[-1][1] - ours[0][1])
    return Pace(lag, rate)


def check_url(url: str, allowed: Sequence[str]) -> None:
    """Refuse ``url`` unless it is one of the ``allowed`` addresses or below one: the same
    scheme, host and port (a default port as written or not), its path theirs or under it
    (with no ``..``, ``;`` or ``%`` that a server could read as another path), and their
    query when they give one.

    Raises
    ------
    InvalidParameterError
        Saying so, without listing the allowed addresses.

    >>> check_url("https://api.example.org/v1/candles?pair=BTC", ["https://api.example.org/v1"])
    >>> check_url("https://api.example.org.evil.net/v1", ["https://api.example.org/v1"])
    Traceback (most recent call last):
    ...
    azuraforge.errors.InvalidParameterError: https://api.example.org.evil.net/v1 is not at or below one of the server's stream_urls
    """  # noqa: E501
    wanted = _address(url)
    plain = wanted is not None and not re.search(r"[;%\\]", wanted[2])
    if wanted is not None and plain and ".." not in wanted[2].split("/"):
        for base in filter(None, map(_address, allowed)):
            root = base[2].rstrip("/")
            same = wanted[:2] == base[:2] and (not base[3] or wanted[3] == base[3])
            if same and (wanted[2] == root or wanted[2].startswith(root + "/")):
                return
    none = "" if allowed else " (it sets none: no stream may poll)"
    raise InvalidParameterError(f"{url} is not at or below one of the server's stream_urls{none}")


def _allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether :func:`check_url` lets ``url`` through (a redirect's target, say)."""
    try:
        check_url(url, allowed)
    except InvalidParameterError:
        return False
    return True


def _address(url: str) -> tuple[str, str, str, str] | None:
    """``url``'s scheme, host and port (``host:443``), path and query; None when it does not
    parse as an http or https address without user info."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a bad port or IPv6 address
        return None
    if port is None or not parts.hostname or parts.username is not None:
        return None
    return parts.scheme, f"{parts.hostname}:{port}", parts.path, parts.query


def plugin_source(config: StreamConfig, allowed: Sequence[str]) -> Source:
    """The plugin source ``config`` names, made with its options (a source's constructor
    starts no I/O: its iteration does), if the server's ``allowed`` names it.

    Raises
    ------
    InvalidParameterError
        For a built-in source (a stream's source, follow and url keep their own checks), one
        not allowed or not installed, or options it refuses.
    """
    name = str(config.plugin)
    if name in BUILT_IN_SOURCES:
        raise InvalidParameterError(
            f"{name} is built in: give a source (and follow) or a url, which keep their checks"
        )
    if name not in allowed:
        none = "" if allowed else " (it sets none)"
        raise InvalidParameterError(f"{name!r} is not one of the server's stream_sources{none}")
    try:
        kind = get_source(name)
    except (NotFoundError, PluginError):
        raise InvalidParameterError(f"source {name!r} is not installed or does not load") from None
    if issubclass(kind, (CsvReplay, FileTail, HttpPoller)):  # their checks go around otherwise
        raise InvalidParameterError(f"{name} is a built-in source under another name")
    try:
        return kind(**config.plugin_options)
    except Exception as e:  # a package's code, given a request's options: any refusal is a 4xx
        raise InvalidParameterError(f"plugin_options: {name} refused them: {e}") from None


def find_stream(store: Store, stream_id: int) -> ExperimentRecord:
    """The stream with this id.

    Raises
    ------
    NotFoundError
        For any other id, a job of another kind's included (its existence is not a stream's).
    """
    record = store.find_experiment(stream_id)
    if record is None or record.kind != STREAM:
        raise NotFoundError(f"stream {stream_id} not found")
    return record


def _check_follow(config: Mapping[str, Any]) -> None:
    """Refuse ``follow`` on a registered dataset (a file that does not grow) or with a
    ``speed`` (a followed file comes at its own pace)."""
    if not config["follow"]:
        return
    if str(config["source"]) in DATASETS:
        problem = "a registered dataset does not grow: follow a CSV of the data folder"
        raise ConfigError("stream config", [(("follow",), problem)])
    if config["speed"] is not None:
        problem = "speed paces a replay; a followed file's rows come when they are written"
        raise ConfigError("stream config", [(("speed",), problem)])


def _check_columns(config: dict[str, Any], data_folder: Path) -> None:
    """Refuse a data-folder CSV whose header has no ``price_column`` (or no ``time_column``,
    when one is named), naming the columns it has; one it has in another case or spacing
    (``close`` for ``Close``) is set to the header's spelling, the name its events carry. A
    registered dataset is not read here (it may need fetching): a wrong column fails its
    job, whose error names the columns."""
    source = str(config["source"])
    if config["source"] is None or source in DATASETS:
        return
    try:
        try:  # the header is found as the replay finds it: by its time column when named
            names = header_of(data_folder / source, source, config["time_column"])
        except DataFormatError:
            if config["time_column"] is None:
                raise
            names = header_of(data_folder / source, source)  # to name the columns it has
    except DataFormatError as e:
        raise ConfigError("stream config", [(("source",), str(e))]) from None
    spelled = {column_key(name): name for name in names}
    for setting in ("price_column", "time_column"):
        column = config[setting]
        if column is None:
            continue
        if column_key(column) not in spelled:
            message = f"{source} has no column {column!r}; its columns: {', '.join(names)}"
            raise ConfigError("stream config", [((setting,), message)])
        config[setting] = spelled[column_key(column)]


class StreamKind(JobKind):
    """The job kind ``stream``: :func:`run_stream`, kept going by the kernel."""

    name = STREAM

    def restart_policy(self, record: ExperimentRecord) -> RestartPolicy:
        config = StreamConfig.model_validate(record.config)
        return RestartPolicy(
            memory_limit=config.memory_limit,
            restart_every=config.restart_every,
            max_restarts=config.max_restarts,
        )

    def run(
        self, store: Store, record: ExperimentRecord, settings: Settings, ctx: StoreContext
    ) -> tuple[str, dict[str, Any]]:
        return run_stream(record, ctx, settings)


def run_stream(
    record: ExperimentRecord, ctx: StoreContext, settings: Settings
) -> tuple[str, dict[str, Any]]:
    """Run the stream ``record`` from its checkpoint (or its start) until its source ends,
    ``max_events``, or its job is asked to stop (a ``url`` or a ``plugin`` checked against
    ``settings`` again); its status and result (events, scored predictions, the champion's
    scores). Its retrain runs (``retrain_as: run``) go through ``settings``' transport."""
    config = StreamConfig.model_validate(record.config)
    control = _Control()
    if config.retrain_as == "run":
        control.retrainer = Retrainer(
            ctx.store, make_transport(settings), record, epochs=config.retrain_epochs,
            seed=config.seed, timeout=config.retrain_timeout,
        )  # fmt: skip
    source, live = _source(config, ctx, settings, control)
    try:
        return _learn(config, ctx, (iter(source), live), control)
    finally:
        if isinstance(source, LiveSource):  # ended by max_events or a crash: not left polling
            source.stop()


def _learn(
    config: StreamConfig, ctx: StoreContext, source: tuple[Iterator[Event], bool],
    control: _Control,
) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """:func:`run_stream`'s loop over the source's events (``live``: gone once taken)."""
    events, live = source
    shadow = ShadowLoop(
        lambda kind, number: make_learner(kind, config.seed + number - 1), config.learner,
        config.rules(), column=config.price_column, horizon=config.horizon,
        window=config.window, features=config.features(),
    )  # fmt: skip
    regime = VolatilityRegime()  # charted whether or not the learners see it
    state = ctx.load_checkpoint()
    control.paused = bool(state and state.get("paused"))
    if state is not None:
        events = _warm(config, shadow, regime, (events, live), state, control)
        shadow.load_state_dict(state)
        ctx.logger.info("resumed at event %d (%d predictions scored)", shadow.events,
                        shadow.loop.scored)  # fmt: skip
    pacer = _Pacer(config.speed, ctx.should_stop)
    triggers = _Triggers(ctx)
    status, started = COMPLETED, shadow.events
    saved, batch = started, _Batch()  # the position of the last checkpoint; what came since

    def idle() -> None:  # while a live source waits for rows: its triggers wait for none
        nonlocal saved, batch
        batch.look(shadow, triggers, control)
        if batch.changes or batch.answers:
            saved, batch = _save(shadow, ctx, batch, control), _Batch()

    control.idle = idle
    # Ended as soon as its last event is taken: a polled source may send no other.
    last = config.max_events if config.max_events is not None else math.inf
    for event in events if shadow.events < last else ():
        # Each process takes one event at least: a restart asked for while it re-read its
        # source (a restart_every shorter than that) still makes progress.
        if shadow.events > started and (ctx.should_stop() or not pacer.wait(event)):
            status = CANCELLED
            break
        if control.paused:  # by a trigger taken while the source waited
            saved, batch = _hold(shadow, ctx, triggers, control, (saved, batch))
        scored, changes = shadow.step(event)
        changes += tuned_candidate(config, shadow)
        price = event.values[config.price_column]
        batch.regime += regime.update(price).values()
        if live:
            control.kept.append((event.time, price))
        batch.outcomes += _rows(scored)
        batch.record(shadow, changes, control)
        batch.look(shadow, triggers, control)
        if batch.changes or batch.answers or shadow.events % config.checkpoint_every == 0:
            saved, batch = _save(shadow, ctx, batch, control), _Batch()
        if control.paused:
            saved, batch = _hold(shadow, ctx, triggers, control, (saved, batch))
            pacer.restart()  # a resumed replay goes on at its speed, not in a burst
        if shadow.events >= last:
            break
    if status == COMPLETED and ctx.should_stop():  # a followed file, stopped while idle
        status = CANCELLED
    if control.retrainer is not None and _ended(status, ctx):
        batch.record(shadow, control.retrainer.finish(shadow), control)
    for trigger in triggers.due(now=True):  # asked as it ended: said so, not left pending
        batch.answers.append(Answer(trigger.id, REFUSED, shadow.last_event, "the stream ended"))
    if shadow.events != saved or batch.answers or batch.changes:
        _save(shadow, ctx, batch, control)
    scores = shadow.scores()
    return status, {"events": shadow.events, "scored": shadow.loop.scored,
                    "champion": shadow.champion, **headline(scores, CHAMPION)}  # fmt: skip


def _ended(status: str, ctx: StoreContext) -> bool:
    """Whether the stream ended for good: its source ended, or someone stopped it (not a
    restart, which a cancel request tells apart)."""
    if status == COMPLETED:
        return True
    try:
        return status == CANCELLED and ctx.store.cancel_requested(ctx.lease.experiment_id)
    except Exception as e:
        if not is_unavailable(e):
            raise
        return False


def tuned_candidate(config: StreamConfig, shadow: ShadowLoop) -> list[Change]:
    """The candidate a tuning opened, when one is due at this event and may open."""
    due = config.tune_every is not None and shadow.events % config.tune_every == 0
    if not (due and shadow.open_to_candidates() and shadow.loop.kept >= MIN_TUNING_OUTCOMES):
        return []
    found = tune(config.learner, shadow.loop.examples, trials=config.tune_trials,
                 floor=config.floor, seed=config.seed + shadow.events,
                 seconds=TUNING_SECONDS)  # fmt: skip
    return [shadow.retrain(kind=found.kind, actor="tuning", reason=found.reason())]


def _warm(
    config: StreamConfig, shadow: ShadowLoop, regime: VolatilityRegime,
    source: tuple[Iterator[Event], bool], state: dict[str, Any], control: _Control,
) -> Iterator[Event]:  # fmt: skip
    """Warm ``shadow`` and ``regime`` on the events before the checkpoint ``state``: a file's
    read again; a ``live`` source's (a url's, a live plugin's), gone from it, stand in the
    last ones the checkpoint kept. The events after the checkpoint."""
    price = config.price_column
    events, live = source
    before: Iterable[Event] = islice(events, state["events"])
    if live:
        control.kept.extend((t, p) for t, p in state.get("kept", []))
        before = [Event(t, {price: p}) for t, p in control.kept]
        shadow.skip(state["events"] - len(control.kept))
        last = control.kept[-1][0] if control.kept else -math.inf
        events = (event for event in events if event.time > last)
    for event in before:
        shadow.warm(event)
        regime.update(event.values[price])
    return events


def _hold(
    shadow: ShadowLoop, ctx: StoreContext, triggers: _Triggers, control: _Control,
    since: tuple[int, _Batch],
) -> tuple[int, _Batch]:  # fmt: skip
    """While the stream is paused and not asked to stop: take its triggers, saving a
    checkpoint after each look that did something; the position saved and what came since
    (``since``: as they were)."""
    saved, batch = since
    while control.paused and not ctx.should_stop():
        time.sleep(_PACE_SLICE)
        batch.look(shadow, triggers, control)
        if batch.changes or batch.answers:
            saved, batch = _save(shadow, ctx, batch, control), _Batch()
    return saved, batch


class _Batch:
    """What the stream did since its last checkpoint: scored predictions, the loop's
    changes, its answers to triggers."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.changes: list[dict[str, Any]] = []
        self.answers: list[Answer] = []
        self.regime: list[float] = []  # each event's probability of the turbulent regime

    def record(
        self, shadow: ShadowLoop, changes: list[Change], control: _Control,
        trigger: int | None = None,
    ) -> list[Change]:  # fmt: skip
        """Keep ``changes`` (made for ``trigger``), a retrain's sent to its run first; as
        kept."""
        if control.retrainer is not None:
            retrainer = control.retrainer
            changes = [sent for change in changes for sent in retrainer.send(shadow, change)]
        self.changes += [_change_row(change, trigger) for change in changes]
        return changes

    def look(self, shadow: ShadowLoop, triggers: _Triggers, control: _Control) -> None:
        """Take the triggers due, and the candidate of a retrain run that ended."""
        for trigger in triggers.due():
            self.take(shadow, trigger, control)
        if control.retrainer is not None:
            self.record(shadow, control.retrainer.look(shadow), control)

    def take(self, shadow: ShadowLoop, trigger: TriggerRecord, control: _Control) -> None:
        """Carry out ``trigger`` on ``shadow``: its answer, and its change if it made one."""
        try:
            done = _ACTIONS[trigger.action](shadow, trigger, control)
        except ConflictError as e:
            self.answers.append(Answer(trigger.id, REFUSED, shadow.last_event, str(e)))
            return
        if isinstance(done, Change):
            kept = self.record(shadow, [done], control, trigger.id)
            done = "; ".join(f"{c.kind} {c.model}" + (f" as run {c.run}" if c.run else "")
                             for c in kept)  # fmt: skip
        self.answers.append(Answer(trigger.id, DONE, shadow.last_event, done))


@dataclass
class _Control:
    """What a stream's process keeps besides its loop: whether a trigger paused it, a live
    stream's last :data:`POLL_KEPT` events (time, price) for its checkpoint, what the
    loop does while a live source waits for rows (``idle``: take the triggers), and what
    sends its retrains to runs (``retrain_as: run``)."""

    paused: bool = False
    kept: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=POLL_KEPT))
    idle: Callable[[], None] = lambda: None
    retrainer: Retrainer | None = None

    def pause(self, *_: Any) -> str:
        if self.paused:
            raise ConflictError("the stream is paused already; resume it")
        self.paused = True
        return "paused: no event is taken until a resume (triggers still are)"

    def resume(self, *_: Any) -> str:
        if not self.paused:
            raise ConflictError("the stream is not paused")
        self.paused = False
        return "resumed"


_ACTIONS: dict[str, Callable[[ShadowLoop, TriggerRecord, _Control], Change | str]] = {
    "retrain": lambda shadow, t, _: shadow.retrain(kind=t.learner, actor=t.actor, reason=t.reason),
    "promote": lambda shadow, t, _: shadow.promote(actor=t.actor, reason=t.reason),
    "rollback": lambda shadow, t, _: shadow.rollback(actor=t.actor, reason=t.reason),
    "checkpoint": lambda *_: "checkpoint saved",  # the save that follows is the answer
    "pause": lambda _, t, control: control.pause(),
    "resume": lambda _, t, control: control.resume(),
}
"""What each trigger does: the change it made to the loop, or what it did."""
ACTIONS = tuple(_ACTIONS)
"""The triggers a stream takes."""


class _Triggers:
    """The stream's pending triggers, looked for at most once every :data:`_TRIGGER_POLL`
    seconds (at an event boundary), each given once: its answer is stored with the next
    checkpoint, which may still be on its way at the next look."""

    def __init__(self, ctx: StoreContext) -> None:
        self.ctx, self._next = ctx, 0.0
        self._taken: set[int] = set()

    def due(self, *, now: bool = False) -> list[TriggerRecord]:
        """The triggers not yet taken (none before the next look is due, unless ``now``; none
        while the store is unreachable: they wait for the next look)."""
        clock = time.monotonic()
        if clock < self._next and not now:
            return []
        self._next = clock + _TRIGGER_POLL
        try:
            found = self.ctx.store.list_triggers(self.ctx.lease.experiment_id, pending=True)
        except Exception as e:
            if not is_unavailable(e):
                raise
            return []
        fresh = [trigger for trigger in found if trigger.id not in self._taken]
        self._taken.update(trigger.id for trigger in fresh)
        return fresh


@dataclass(frozen=True)
class SavedLearner:
    """One of a stream's learners as its last checkpoint held it."""

    name: str
    kind: str
    model: Classifier
    events: int
    """The events the stream had taken at that checkpoint."""


def saved_learner(store: Store, record: ExperimentRecord, name: str | None = None) -> SavedLearner:
    """The learner ``name`` of the stream ``record`` (its champion by default), rebuilt from
    its last checkpoint.

    Raises
    ------
    ConflictError
        Before the stream's first checkpoint.
    NotFoundError
        If the stream holds no learner ``name`` now (names those it holds).
    """
    state = store.load_checkpoint(record.id)
    if state is None or "shadow" not in state:
        raise ConflictError(f"stream {record.id} saved no checkpoint yet; ask again soon")
    kinds = state["shadow"]["kinds"]
    name = name or state["shadow"]["roles"][CHAMPION]
    if name not in kinds:
        raise NotFoundError(
            f"stream {record.id} has no learner {name!r} now; it has {', '.join(kinds)}"
        )
    seed = StreamConfig.model_validate(record.config).seed
    return restored(name, kinds[name], state["models"][name], seed, int(state["events"]))


def restored(name: str, kind: str, state: Any, seed: int, events: int) -> SavedLearner:
    """The learner ``name`` of ``kind`` rebuilt from its saved ``state`` (JSON)."""
    model = make_learner(kind, seed)
    model.load_state_dict(from_json(state))
    return SavedLearner(name, kind, model, events)


def source_path(
    config: StreamConfig,
    open_files: Callable[[type[BaseModel], Mapping[str, Any]], dict[str, Any]],
) -> Path:
    """The file of the stream's source: a registered dataset's, or the data folder's CSV
    (``open_files``: a data folder's check, :meth:`DataFolder.open` or the job's)."""
    if config.source is None:
        raise ConflictError(
            f"a stream of a {'url' if config.url else 'plugin'} keeps none of its past rows to "
            "read again: this needs a stream of a dataset or a data-folder CSV"
        )
    source = str(config.source)
    if source in DATASETS:
        return dataset_file(source)
    return Path(open_files(StreamConfig, {"source": source})["source"])


def _source(
    config: StreamConfig, ctx: StoreContext, settings: Settings, control: _Control
) -> tuple[Source, bool]:
    """The stream's source (replayed, followed as the file grows, polled from the url, or a
    plugin's), and whether its events are live: gone once taken."""
    price = config.price_column
    if config.plugin is not None:
        made = plugin_source(config, settings.stream_sources)
        if isinstance(made, LiveSource):
            threading.Thread(target=_stop_when_asked, args=(made, ctx), daemon=True).start()
        return made, isinstance(made, LiveSource)
    if config.url is not None:
        check_url(config.url, settings.stream_urls)
        live: LiveSource = HttpPoller(
            config.url, interval=config.poll_interval, time_column=config.time_column,
            columns=[price], price_column=price,
            sleep=lambda seconds: _nap(seconds, live, ctx, control),
            allow_redirect=lambda target: _allowed(target, settings.stream_urls),
        )  # fmt: skip
        return live, True
    path = source_path(config, ctx.open_files)
    if not config.follow:
        return config.replay(path), False
    live = FileTail(path, columns=[price], price_column=price, time_column=config.time_column,
                    poll_interval=_PACE_SLICE,
                    sleep=lambda seconds: _nap(seconds, live, ctx, control))  # fmt: skip
    return live, False  # read again from its start by a restart


def _stop_when_asked(source: LiveSource, ctx: StoreContext) -> None:
    """Stop a live plugin source once the job is asked to stop (seen within
    :data:`_PACE_SLICE`), or once it stopped by itself."""
    while not source.stopped:
        if ctx.should_stop():
            source.stop()
            return
        time.sleep(_PACE_SLICE)


def _nap(seconds: float, source: LiveSource, ctx: StoreContext, control: _Control) -> None:
    """Wait ``seconds`` for a live source's next look, the stream's triggers taken meanwhile
    (``control.idle``), stopping the source once the job is asked to stop (seen within
    :data:`_PACE_SLICE`)."""
    due = time.monotonic() + seconds
    while not ctx.should_stop():
        control.idle()
        left = due - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, _PACE_SLICE))
    source.stop()


def _save(shadow: ShadowLoop, ctx: StoreContext, batch: _Batch, control: _Control) -> int:
    """The running scores, the counts of events and scored predictions and the regime since
    the last checkpoint (:data:`TURBULENT`) as metric points, then the loop's state as the
    checkpoint that comes after them, with what it did since the last one (scored
    predictions, changes, answers to triggers: stored as rows); the position saved."""
    counts = {"events": float(shadow.events), "scored": float(shadow.loop.scored)}
    if batch.regime:
        counts[TURBULENT] = sum(batch.regime) / len(batch.regime)
    ctx.log_metrics({**shadow.scores(), **counts}, step=shadow.events)
    state = {**shadow.state_dict(), "paused": control.paused}
    if control.kept:
        state["kept"] = list(control.kept)
    ctx.save_checkpoint(state, batch.outcomes, batch.changes, batch.answers)
    return shadow.events


def _change_row(change: Change, trigger_id: int | None = None) -> dict[str, Any]:
    """``change`` as a row of the stream's lineage."""
    return {**asdict(change), "trigger_id": trigger_id}


def _rows(scored: list[Scored]) -> list[Outcome]:
    """Each model's row of each scored prediction."""
    return [
        (s.event, s.time, model, probability, s.up, s.losses[model], s.gain)
        for s in scored
        for model, probability in s.probabilities.items()
    ]


class _Pacer:
    """Waits so that events come at ``speed`` seconds of event time a wall second (nothing
    for ``None``), from the first event it is given; a wait ends early once ``stopping()``.
    Fallen behind by more than :data:`_MAX_BEHIND` (a busy machine, a slow store), it counts
    the pace again from the late event: the replay goes on at its speed, not in a burst that
    would misstate the stream's pace and lag."""

    def __init__(self, speed: float | None, stopping: Callable[[], bool]) -> None:
        self.speed, self.stopping = speed, stopping
        self._start: tuple[float, float] | None = None

    def restart(self) -> None:
        """Count the pace again from the next event (after a pause)."""
        self._start = None

    def wait(self, event: Event) -> bool:
        """Wait for ``event``'s time; whether it came (not a stop first)."""
        if self.speed is None:
            return True
        if self._start is None:
            self._start = (time.monotonic(), event.time)
            return True
        wall, first = self._start
        due = wall + (event.time - first) / self.speed
        if time.monotonic() - due > _MAX_BEHIND:
            self._start = (time.monotonic(), event.time)
            return True
        while (left := due - time.monotonic()) > 0:
            if self.stopping():
                return False
            time.sleep(min(left, _PACE_SLICE))
        return True

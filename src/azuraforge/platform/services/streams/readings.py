"""What the API reads of a stream besides its rows: its pace (lag and events a second), its
window's trading figures beside buy and hold, and its learners as its last checkpoint held
them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from azuraforge.errors import ConflictError, NotFoundError
from azuraforge.platform.services.streams.config import stream_config
from azuraforge.platform.store import ExperimentRecord
from azuraforge.platform.store.interfaces import Metrics, RunLeases
from azuraforge.platform.store.states import RUNNING
from azuraforge.stream.backtest import Backtest, backtest, net_returns, periods_per_year
from azuraforge.stream.base import Classifier
from azuraforge.stream.direction import make_learner
from azuraforge.stream.online import from_json
from azuraforge.stream.shadow import CHAMPION

EQUITY_POINTS = 400
"""The most points of an equity curve :func:`trading_scores` gives."""
PACE_CHECKPOINTS = 10
"""The last checkpoints whose event counts give a stream's events a second."""


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


def pace(store: Metrics, record: ExperimentRecord, now: float) -> Pace:
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


@dataclass(frozen=True)
class SavedLearner:
    """One of a stream's learners as its last checkpoint held it."""

    name: str
    kind: str
    model: Classifier
    events: int
    """The events the stream had taken at that checkpoint."""


def saved_learner(
    store: RunLeases, record: ExperimentRecord, name: str | None = None
) -> SavedLearner:
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
    seed = stream_config(record).seed
    return restored(name, kinds[name], state["models"][name], seed, int(state["events"]))


def restored(name: str, kind: str, state: Any, seed: int, events: int) -> SavedLearner:
    """The learner ``name`` of ``kind`` rebuilt from its saved ``state`` (JSON)."""
    model = make_learner(kind, seed)
    model.load_state_dict(from_json(state))
    return SavedLearner(name, kind, model, events)

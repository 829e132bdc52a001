"""The backtest's figures by hand, the Q-learning agent and the weighted ensemble, and the
direction task built from events."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from azuraforge.errors import DataFormatError, InvalidParameterError
from azuraforge.stream import Event, LogisticRegression
from azuraforge.stream.agents import QLearningAgent
from azuraforge.stream.backtest import backtest, periods_per_year
from azuraforge.stream.baselines import Constant
from azuraforge.stream.direction import direction_task, run_direction
from azuraforge.stream.ensemble import WeightedEnsemble
from azuraforge.testing.learners import check_learner


def test_backtest_figures_by_hand() -> None:
    r = np.array([0.10, -0.20, 0.05, 0.10])
    held = np.array([1, 0, 1, 1])
    result = backtest("x", r, held, cost=0.01, periods_per_year=4)
    net = np.array([0.10 - 0.01, 0.0 - 0.01, 0.05 - 0.01, 0.10])
    equity = np.cumprod(1 + net)
    assert result.total_return == pytest.approx(equity[-1] - 1)
    assert result.sharpe == pytest.approx(net.mean() / net.std(ddof=1) * 2)
    assert result.max_drawdown == pytest.approx(1 - equity[1] / equity[0])
    assert result.turnover == pytest.approx(3.0)  # three changes in one year of four steps
    assert result.exposure == 0.75
    hold = backtest("hold", r, np.ones(4), cost=0.01, periods_per_year=4)
    assert hold.total_return == pytest.approx(np.prod(1 + r) * (1 - 0.01 / 1.1) - 1, rel=0.01)


def test_backtest_refuses_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match="positions must be 1"):
        backtest("x", np.zeros(2), np.array([0.5, 1]), cost=0, periods_per_year=1)
    with pytest.raises(InvalidParameterError, match=r"cost must be in \[0, 1\), got 2"):
        backtest("x", np.zeros(2), np.zeros(2), cost=2, periods_per_year=1)
    with pytest.raises(InvalidParameterError, match=r"\(3,\) asset returns but \(2,\) positions"):
        backtest("x", np.zeros(3), np.zeros(2), cost=0, periods_per_year=1)


def test_periods_per_year_of_hourly_and_daily_times() -> None:
    hours = np.arange(0, 24 * 3600 * 100, 3600.0)
    assert periods_per_year(hours) == pytest.approx(8766, rel=1e-3)


def test_agent_learns_to_stay_out_of_a_falling_market_and_restores_exactly() -> None:
    agent = QLearningAgent({"trend": [0.0]}, epsilon=0.3, epsilon_decay=0.99, cost=0.001, seed=1)
    x = {"trend": -1.0}
    for _ in range(300):
        agent.act(x)
        agent.learn(-0.01, x)
    twin = QLearningAgent({"trend": [0.0]}, epsilon=0.3, epsilon_decay=0.99, cost=0.001, seed=1)
    twin.load_state_dict(copy.deepcopy(agent.state_dict()))
    actions = []
    for _ in range(50):
        actions.append(agent.act(x))
        assert twin.act(x) == actions[-1]
        assert agent.learn(-0.01, x) == twin.learn(-0.01, x)
    assert np.mean(actions) < 0.1
    with pytest.raises(InvalidParameterError, match="epsilon must be in"):
        QLearningAgent({"a": [0.0]}, epsilon=2)


def test_ensemble_follows_the_better_member() -> None:
    ensemble = WeightedEnsemble(
        {"up": Constant(True), "model": LogisticRegression()}, window=50, eta=0.5
    )
    for t in range(200):
        ensemble.learn_one({"a": 1.0}, t % 10 != 0)  # mostly up
    assert ensemble.weights["up"] > ensemble.weights["model"] or ensemble.weights["model"] > 0.5
    check_learner(
        lambda: WeightedEnsemble({"a": LogisticRegression(), "b": LogisticRegression(lr=0.1)})
    )


def _events(closes):
    return [Event(3600.0 * t, {"Close": c}) for t, c in enumerate(closes)]


def test_direction_task_labels_the_next_step_and_knows_when() -> None:
    closes = 100 + np.cumsum(np.random.default_rng(0).normal(size=200))
    task = direction_task(_events(closes))
    first = task.examples[0]
    start = int(first.time / 3600)
    assert first.y == (closes[start + 1] > closes[start])
    assert first.known_at == first.time + 3600
    assert task.returns[0] == pytest.approx(closes[start + 1] / closes[start] - 1)
    assert all(len(e.x) == 9 for e in task.examples)  # six returns, RSI, %B, bandwidth
    with pytest.raises(DataFormatError, match="no close price column"):
        direction_task([Event(0.0, {"price": 1.0})])
    with pytest.raises(DataFormatError, match="no example: 5 events"):
        direction_task(_events(closes[:5]))


def test_run_direction_reports_every_model_beside_the_rules() -> None:
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, size=700)))
    report = run_direction(direction_task(_events(closes)), cost=0.001)
    names = {row.name for row in report.last_share}
    assert {"logreg-sgd", "mlp", "ensemble", "always up", "opposite of last"} <= names
    assert report.chosen in {"logreg-sgd", "logreg-adam", "mlp", "ensemble"}
    assert report.backtests[0].name == "buy and hold"
    assert math.isnan(next(r.log_loss for r in report.last_share if r.name == "always up"))
    assert report.periods_per_year == pytest.approx(8766, rel=1e-3)

"""The next-step direction of a price, learned online and judged honestly: the task built
from a source's events, the learners and the trivial rules run test-then-train side by side,
the best learner chosen on the first 70 % of outcomes only, and scores and a backtest net of
costs reported on the last 20 % and the last year beside the rules and buy and hold.

``azuraforge stream replay`` runs this; ``docs/results.md`` holds its figures on real data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from azuraforge.errors import DataFormatError, InvalidParameterError
from azuraforge.learn.datasets.csvfiles import column_key
from azuraforge.stream.agents import QLearningAgent
from azuraforge.stream.backtest import SECONDS_PER_YEAR, Backtest, backtest, periods_per_year
from azuraforge.stream.base import Classifier, Event
from azuraforge.stream.baselines import Constant, LastLabel, Majority
from azuraforge.stream.compose import Pipeline
from azuraforge.stream.ensemble import WeightedEnsemble
from azuraforge.stream.evaluate import PROBABILITY_FLOOR, Example, Prequential
from azuraforge.stream.features import RSI, Bollinger, Feature, FeatureSet, Returns
from azuraforge.stream.linear_model import LogisticRegression
from azuraforge.stream.neural_net import MLPClassifier
from azuraforge.stream.preprocessing import StandardScaler
from azuraforge.stream.regime import VolatilityRegime

SELECTION_SHARE = 0.7
"""The best learner is chosen on this first share of outcomes."""
TEST_SHARE = 0.2
"""Scores are reported on this last share of outcomes (and on the last year)."""


def default_features(column: str = "close", *, regime: bool = False) -> FeatureSet:
    """Scale-free features of a price: returns over 1 to 24 steps, RSI(14), Bollinger(20),
    and with ``regime`` the probability that its volatility is turbulent
    (:class:`~azuraforge.stream.regime.VolatilityRegime`)."""
    features: list[Feature] = [Returns([1, 2, 3, 6, 12, 24]), RSI(14), Bollinger(20, 2.0)]
    return FeatureSet(column, [*features, VolatilityRegime()] if regime else features)


def default_learners(seed: int = 0) -> dict[str, Classifier]:
    """The learners compared: logistic regressions by SGD and Adam, an MLP on the core, and
    a performance-weighted ensemble of fresh copies of the three."""
    learners = {kind: _learner(kind, seed, {}) for kind in TUNABLE}
    members = {name: model.clone() for name, model in learners.items()}
    learners["ensemble"] = WeightedEnsemble(members, window=500, eta=0.05)
    return learners


TUNABLE: dict[str, dict[str, tuple[float, float, float]]] = {
    "logreg-sgd": {"lr": (1e-4, 0.01, 0.3)},
    "logreg-adam": {"lr": (1e-5, 0.001, 0.03), "l2": (1e-6, 0.001, 0.1)},
    "mlp": {"lr": (1e-5, 0.001, 0.03)},
}
"""The learners whose settings may be tuned: each setting's least, default and greatest value
(tuned on a log scale)."""


_MAKERS: dict[str, Callable[[int, dict[str, float]], Classifier]] = {
    "logreg-sgd": lambda seed, s: LogisticRegression(lr=s["lr"]),
    "logreg-adam": lambda seed, s: LogisticRegression(optimizer="adam", lr=s["lr"], l2=s["l2"]),
    "mlp": lambda seed, s: MLPClassifier(hidden=(8,), lr=s["lr"], seed=seed),
}
"""Each tunable kind's model, given a seed and its settings (behind a scaler)."""


def _learner(kind: str, seed: int, settings: Mapping[str, float]) -> Classifier:
    """A fresh learner of the tunable ``kind`` with ``settings`` (its defaults otherwise)."""
    chosen = {name: settings.get(name, default) for name, (_, default, _) in TUNABLE[kind].items()}
    return Pipeline(StandardScaler(), _MAKERS[kind](seed, chosen))


def tuned_kind(kind: str, settings: Mapping[str, float]) -> str:
    """The kind :func:`make_learner` reads as ``kind`` with ``settings`` (4 significant
    digits each).

    >>> tuned_kind("logreg-adam", {"lr": 0.0031234, "l2": 1e-05})
    'logreg-adam(l2=1e-05,lr=0.003123)'
    """
    values = ",".join(f"{name}={settings[name]:.4g}" for name in sorted(settings))
    return f"{kind}({values})"


def baseline_rules() -> dict[str, Classifier]:
    """The trivial rules every learner is shown beside."""
    return {
        "always up": Constant(True),
        "same as last": LastLabel(),
        "opposite of last": LastLabel(flip=True),
        "majority so far": Majority(),
    }


RULE_NAMES = tuple(baseline_rules())
"""The trivial rules' names in their order, as a stream's scores carry them (made once, not per
score; the order breaks a tie for :func:`~azuraforge.stream.online.best_rule`)."""


def has_log_loss(name: str) -> bool:
    """Whether the model ``name`` of a stream's scores (a trivial rule by its name, a learner
    as ``{kind}-{number}``) gives probabilities, and so has a log-loss: a trivial rule says up
    or down for certain, and its "log-loss" would measure only the floor its certainty is
    clipped to (15 to 20 nats), not how well it weighs its chances.

    >>> has_log_loss("logreg-adam-1"), has_log_loss("always up"), has_log_loss("same as last-2")
    (True, False, False)
    """
    return name not in RULE_NAMES and name.rsplit("-", 1)[0] not in RULE_NAMES


LEARNERS = ("logreg-sgd", "logreg-adam", "mlp", "ensemble", *baseline_rules())
"""What :func:`make_learner` makes: a learner of :func:`default_learners` or a trivial rule
(a rule as a stream's candidate asks whether it does better than the champion now)."""


def make_learner(kind: str, seed: int = 0) -> Classifier:
    """A fresh learner of ``kind`` (one of :data:`LEARNERS`, or a :data:`TUNABLE` one with
    settings of its own, as :func:`tuned_kind` writes it), seeded by ``seed``.

    >>> make_learner("always up").predict_proba_one({})
    {True: 1.0, False: 0.0}
    >>> make_learner("logreg-adam(l2=1e-05,lr=0.003)").steps[-1].lr
    0.003
    """
    base, _, listed = kind.partition("(")
    if listed:
        return _learner(base, seed, _settings(kind, base, listed))
    if kind not in LEARNERS:
        raise InvalidParameterError(
            f"make_learner: kind must be one of {', '.join(LEARNERS)}, got {kind!r}"
        )
    rules = baseline_rules()
    return rules[kind] if kind in rules else default_learners(seed)[kind]


def _settings(kind: str, base: str, listed: str) -> dict[str, float]:
    """The settings ``listed`` in a tuned ``kind`` (``lr=0.003,l2=1e-05)``), each checked."""
    ranges = TUNABLE.get(base)
    if ranges is None or not listed.endswith(")"):
        raise InvalidParameterError(
            f"make_learner: {kind!r} is not a tunable kind ({', '.join(TUNABLE)}) with its "
            "settings in brackets, as tuned_kind writes it"
        )
    found: dict[str, float] = {}
    for pair in listed[:-1].split(","):
        name, _, text = pair.partition("=")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if name not in ranges or not ranges[name][0] <= value <= ranges[name][2]:
            limits = ", ".join(f"{n} in [{lo:g}, {hi:g}]" for n, (lo, _, hi) in ranges.items())
            raise InvalidParameterError(f"make_learner: {kind!r}: {base} takes {limits}")
        found[name] = value
    return found


def price_column(event: Event) -> str:
    """The event's closing price column: the one named ``close`` in any case or spacing.

    Raises
    ------
    DataFormatError
        If it has none, naming the columns it has.
    """
    for name in event.values:
        if column_key(name) == "close":
            return name
    raise DataFormatError(
        f"no close price column in the events (line {event.line}); they have "
        f"{', '.join(event.values)}"
    )


@dataclass
class Task:
    """Examples of the direction ``horizon`` steps ahead, each with the asset's return over
    those steps (for the backtest)."""

    examples: list[Example]
    returns: np.ndarray
    times: np.ndarray


def direction_task(
    events: Iterable[Event], features: FeatureSet | None = None, horizon: int = 1
) -> Task:
    """The task of predicting whether the price is higher ``horizon`` events later, from
    ``features`` (default: :func:`default_features` of the close).

        An example is made at each event once every feature is ready; its outcome is known at
        the time of the event ``horizon`` later.

        Raises
        ------
        DataFormatError
            If the events leave no example (fewer than the features' warm-up).
    """
    rows: list[tuple[float, dict[str, float], float]] = []
    for event in events:
        features = features or default_features(price_column(event))
        x = features.update(event)
        rows.append((event.time, x, event.values[features.column]))
    if features is None:
        raise DataFormatError("no example: the source gave no event")
    wanted = len(features.names)
    examples, returns = [], []
    for (time, x, price), (later, _, future) in zip(rows, rows[horizon:], strict=False):
        if len(x) == wanted and all(math.isfinite(v) for v in x.values()):
            examples.append(Example(time, x, future > price, known_at=later))
            returns.append(future / price - 1.0)
    if not examples:
        raise DataFormatError(
            f"no example: {len(rows)} events are fewer than the features' warm-up plus {horizon}"
        )
    return Task(examples, np.array(returns), np.array([e.time for e in examples]))


@dataclass
class Row:
    """One model's scores on one span: accuracy with its standard error, log-loss."""

    name: str
    accuracy: float
    standard_error: float
    log_loss: float
    count: int


@dataclass
class DirectionReport:
    """What :func:`run_direction` found; every table has the rules beside the learners."""

    chosen: str
    selection: list[Row]
    last_share: list[Row]
    last_year: list[Row]
    backtests: list[Backtest]
    cost: float
    periods_per_year: float
    events: int


def _rows(
    run: Prequential, keep: Callable[[np.ndarray], np.ndarray], rules: set[str]
) -> list[Row]:
    rows = []
    for name, log in run.logs.items():
        _, p, y = log.arrays()
        mask = keep(np.arange(len(p)))
        p, y = p[mask], y[mask].astype(bool)
        correct = (p > 0.5) == y
        accuracy = float(correct.mean()) if len(p) else math.nan
        error = math.sqrt(accuracy * (1 - accuracy) / len(p)) if len(p) else math.nan
        clipped = np.clip(np.where(y, p, 1 - p), PROBABILITY_FLOOR, 1.0)
        loss = math.nan if name in rules else float(-np.log(clipped).mean())
        rows.append(Row(name, accuracy, error, loss, len(p)))
    return rows


def _agent_positions(task: Task, cost: float, seed: int) -> np.ndarray:
    """The Q-learning agent's positions, learning each step's reward when it is known."""
    agent = QLearningAgent(
        {"rsi_14": [30.0, 50.0, 70.0], "bb_pct_b": [0.0, 0.5, 1.0], "return_1": [0.0]},
        cost=cost,
        seed=seed,
    )
    positions = np.zeros(len(task.examples))
    for at, example in enumerate(task.examples):
        if at:
            agent.learn(float(task.returns[at - 1]), example.x)
        positions[at] = agent.act(example.x)
    return positions


def run_direction(
    task: Task,
    learners: Mapping[str, Classifier] | None = None,
    *,
    cost: float = 0.001,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> DirectionReport:
    """Test-then-train every learner and rule over ``task``, choose the best learner on the
    first 70 % of outcomes, score all on the last 20 % and the last year, and backtest the
    last 20 % net of ``cost`` per position change beside buy and hold."""
    total = len(task.examples)
    selection_end, test_start = int(SELECTION_SHARE * total), int((1 - TEST_SHARE) * total)
    if not 0 < selection_end <= test_start < total:
        raise DataFormatError(
            f"only {total} example(s): too few to choose a learner on the first "
            f"{SELECTION_SHARE:.0%} and score it on the last {TEST_SHARE:.0%}; give a longer "
            "series"
        )
    learners = dict(learners or default_learners(seed))
    rules = baseline_rules()
    run = Prequential({**learners, **rules})
    for done, example in enumerate(task.examples, 1):
        run.step(example)
        if progress and (done % 1000 == 0 or done == total):
            progress(done, total)
    run.finish()
    year_start = int(np.searchsorted(task.times, task.times[-1] - SECONDS_PER_YEAR))
    names = set(rules)
    selection = _rows(run, lambda i: i < selection_end, names)
    chosen = max((r for r in selection if r.name in learners), key=lambda r: r.accuracy).name
    per_year = periods_per_year(task.times)
    return DirectionReport(
        chosen=chosen,
        selection=selection,
        last_share=_rows(run, lambda i: i >= test_start, names),
        last_year=_rows(run, lambda i: i >= year_start, names),
        backtests=_backtests(run, task, chosen, test_start, cost, per_year, seed),
        cost=cost,
        periods_per_year=per_year,
        events=total,
    )


BUY_AND_HOLD = "buy and hold"
"""The backtest every strategy is compared with."""


def _backtests(
    run: Prequential, task: Task, chosen: str, start: int, cost: float, per_year: float, seed: int
) -> list[Backtest]:
    returns = task.returns[start:]
    signals = {
        BUY_AND_HOLD: np.ones(len(returns)),
        f"{chosen} (chosen)": np.array(run.logs[chosen].predictions[start:]) > 0.5,
        "same as last": np.array(run.logs["same as last"].predictions[start:]) > 0.5,
        "opposite of last": np.array(run.logs["opposite of last"].predictions[start:]) > 0.5,
        "q-learning agent": _agent_positions(task, cost, seed)[start:],
    }
    return [
        backtest(
            name, returns, np.asarray(held, dtype=float), cost=cost, periods_per_year=per_year
        )
        for name, held in signals.items()
    ]

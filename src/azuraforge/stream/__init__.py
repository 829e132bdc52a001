"""Continuous learning, the library: sources of events (``sources``, ``tail``, ``polling``,
plugins in ``registry``), incremental features, online learners, prequential evaluation with
label delay (``evaluate``), a backtest beside the trivial rules (``backtest``,
``baselines``), drift detectors (``drift``), a Q-learning agent (``agents``), a weighted
ensemble (``ensemble``) and atomic checkpoints (``checkpoints``).

Imports ``learn`` and ``core``, never the platform (the platform runs streams as a service)::

    from azuraforge.stream import CsvReplay

    replay = CsvReplay("prices.csv", speed=3600)  # an hour of event time a second
    for event in replay:
        print(event.when, event.values["close"])
    print(*replay.report.lines(), sep="\\n")      # what the file held that was skipped or fixed
"""

from azuraforge.stream.adapters import RiverClassifier, RiverRegressor
from azuraforge.stream.base import (
    Classifier,
    Event,
    Learner,
    Regressor,
    Source,
    SourceReport,
    Transformer,
)
from azuraforge.stream.compose import Pipeline
from azuraforge.stream.features import (
    MACD,
    RSI,
    Bollinger,
    Feature,
    FeatureSet,
    Returns,
    Rolling,
)
from azuraforge.stream.linear_model import LinearRegression, LogisticRegression
from azuraforge.stream.neural_net import MLPClassifier, MLPRegressor
from azuraforge.stream.polling import HttpPoller
from azuraforge.stream.preprocessing import StandardScaler
from azuraforge.stream.registry import get_source
from azuraforge.stream.sources import CsvReplay
from azuraforge.stream.tail import FileTail

__all__ = [
    "MACD",
    "RSI",
    "Bollinger",
    "Classifier",
    "CsvReplay",
    "Event",
    "Feature",
    "FeatureSet",
    "FileTail",
    "HttpPoller",
    "Learner",
    "LinearRegression",
    "LogisticRegression",
    "MLPClassifier",
    "MLPRegressor",
    "Pipeline",
    "Regressor",
    "Returns",
    "RiverClassifier",
    "RiverRegressor",
    "Rolling",
    "Source",
    "SourceReport",
    "StandardScaler",
    "Transformer",
    "get_source",
]

"""Chaining learners: transformers first, a model last, used as one learner."""

from __future__ import annotations

from typing import Any

import numpy as np

from azuraforge.errors import InvalidParameterError
from azuraforge.stream.base import (
    Classifier,
    Columns,
    Features,
    Learner,
    Regressor,
    Transformer,
)


class Pipeline(Classifier):
    """Transformers, then a final learner, as one learner (River's ``Pipeline``).

    ``learn_one`` lets each transformer learn from the event and then transform it (so the
    event's own statistics count, as in River), and the final learner learns from the
    result; predictions transform with what was learned so far and learn nothing. Works
    with a classifier or a regressor last; ``predict_proba_one`` needs a classifier.

    Examples
    --------
    >>> from azuraforge.stream import LogisticRegression, StandardScaler
    >>> model = Pipeline(StandardScaler(), LogisticRegression())
    >>> model.learn_one({"rsi": 70.0}, False)
    >>> model.predict_one({"rsi": 30.0})  # one event: the intercept leans to False
    False
    """

    def __init__(self, *steps: Learner) -> None:
        if not steps or not all(isinstance(s, Transformer) for s in steps[:-1]):
            raise InvalidParameterError(
                "Pipeline: needs transformers then one learner, got "
                f"{[type(s).__name__ for s in steps]}"
            )
        self.steps = steps
        self.transformers = [s for s in steps[:-1] if isinstance(s, Transformer)]
        self.final = steps[-1]

    def params(self) -> dict[str, Any]:
        return {"steps": self.steps}

    def clone(self) -> Pipeline:
        return Pipeline(*(step.clone() for step in self.steps))

    def __repr__(self) -> str:
        return " | ".join(map(repr, self.steps))

    def _transform(self, x: Features) -> Features:
        for step in self.transformers:
            x = step.transform_one(x)
        return x

    def learn_one(self, x: Features, y: Any = None) -> None:
        for step in self.transformers:
            step.learn_one(x)
            x = step.transform_one(x)
        self.final.learn_one(x, y)

    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        return self._classifier().predict_proba_one(self._transform(x))

    def _classifier(self) -> Classifier:
        if not isinstance(self.final, Classifier):
            raise InvalidParameterError(
                f"Pipeline: {type(self.final).__name__} predicts numbers, not probabilities"
            )
        return self.final

    def predict_one(self, x: Features) -> Any:
        return self._predictor().predict_one(self._transform(x))

    def _predictor(self) -> Classifier | Regressor:
        if not isinstance(self.final, Classifier | Regressor):
            raise InvalidParameterError(
                f"Pipeline: its last step, {type(self.final).__name__}, does not predict"
            )
        return self.final

    def _transform_many(self, X: Columns) -> Columns:
        for step in self.transformers:
            X = step.transform_many(X)
        return X

    def learn_many(self, X: Columns, y: Any = None) -> None:
        for step in self.transformers:
            step.learn_many(X)
            X = step.transform_many(X)
        self.final.learn_many(X, y)

    def predict_proba_many(self, X: Columns) -> np.ndarray:
        return self._classifier().predict_proba_many(self._transform_many(X))

    def predict_many(self, X: Columns) -> np.ndarray:
        return self._predictor().predict_many(self._transform_many(X))

    def state_dict(self) -> dict[str, Any]:
        return {"steps": [step.state_dict() for step in self.steps]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["steps"]) != len(self.steps):
            raise InvalidParameterError(
                f"Pipeline.load_state_dict: state of {len(state['steps'])} steps for a "
                f"pipeline of {len(self.steps)}"
            )
        for step, saved in zip(self.steps, state["steps"], strict=True):
            step.load_state_dict(saved)

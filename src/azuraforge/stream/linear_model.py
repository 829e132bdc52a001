"""Online linear models: logistic regression (a label, ``True``/``False``) and linear
regression (a number), trained by SGD or Adam one event at a time or one batch at a time.

The weights are kept by feature name, so an event may bring a feature not seen before (its
weight starts at 0) or lack one (read as 0), as River's linear models allow. A batch
(``learn_many``) is one step on the mean gradient of its events, taken by the core's
optimiser (:class:`azuraforge.core.optim.SGD` or :class:`~azuraforge.core.optim.Adam`) on the
weights as a tensor. One event (``learn_one``) is the same step written out over a list of
floats in plain Python, because a tensor per event costs more than the arithmetic: the
tests hold the two to the same numbers.
"""

from __future__ import annotations

import math
import operator
from abc import abstractmethod
from typing import Any

import numpy as np

from azuraforge.core import Tensor
from azuraforge.core.optim import SGD, Adam
from azuraforge.core.validation import check_non_negative
from azuraforge.errors import InvalidParameterError
from azuraforge.learn.metrics.base import check_option
from azuraforge.stream.base import (
    Classifier,
    Columns,
    Features,
    Learner,
    Regressor,
    matrix_of,
    targets_of,
)

OPTIMIZERS = ("sgd", "adam")
BETAS = (0.9, 0.999)
"""Adam's decay rates for the first and second moments (the core's and PyTorch's defaults)."""
EPS = 1e-8
"""Adam's term added to the denominator."""
LOGIT_LIMIT = 700.0
"""``exp`` of more than this overflows a float: the sigmoid's input is clipped to it."""


def sigmoid(z: float) -> float:
    """``1 / (1 + e^-z)`` for one float, without overflow."""
    z = min(max(z, -LOGIT_LIMIT), LOGIT_LIMIT)
    return 1.0 / (1.0 + math.exp(-z))


class _LinearModel(Learner):
    """Weights by feature name and an intercept, stepped by SGD or Adam on a loss whose
    gradient with respect to the linear output is :meth:`_gradient`."""

    def __init__(
        self,
        optimizer: str = "sgd",
        lr: float = 0.01,
        l2: float = 0.0,
        clip_gradient: float = 1e12,
    ) -> None:
        name = type(self).__name__
        check_option(name, "optimizer", optimizer, OPTIMIZERS)
        check_non_negative(name, lr=lr, l2=l2, clip_gradient=clip_gradient)
        self.optimizer, self.lr, self.l2, self.clip_gradient = optimizer, lr, l2, clip_gradient
        self.features: list[str] = []
        self._known: set[str] = set()
        self._weights: list[float] = [0.0]  # the features' weights, then the intercept's
        self._moments: list[list[float]] = [[0.0], [0.0]]  # Adam's first and second
        self._steps = 0

    @abstractmethod
    def _gradient(self, output: float, y: Any) -> float:
        """d loss / d linear output, for one event."""

    @abstractmethod
    def _gradients(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        """d loss / d linear output, for a batch (``y`` as floats: labels as 1 and 0)."""

    def _inputs(self, x: Features) -> list[float]:
        """``x`` in the weights' order, then 1 for the intercept; new names get weights."""
        if x.keys() != self._known:
            self._add_features([name for name in x if name not in self._known])
            return [float(x.get(name, 0.0)) for name in self.features] + [1.0]
        return [*map(x.__getitem__, self.features), 1.0]

    def _read(self, x: Features) -> list[float]:
        """``x`` in the weights' order without learning new names (a prediction changes
        nothing): features never seen have weight 0 and are left out."""
        if x.keys() == self._known:
            return [*map(x.__getitem__, self.features), 1.0]
        return [float(x.get(name, 0.0)) for name in self.features] + [1.0]

    def _add_features(self, names: list[str]) -> None:
        at = len(self.features)
        self.features += names
        self._known.update(names)
        for values in (self._weights, *self._moments):
            values[at:at] = [0.0] * len(names)

    def _output(self, inputs: list[float]) -> float:
        return float(sum(map(operator.mul, self._weights, inputs)))

    def _learn(self, inputs: list[float], y: Any) -> None:
        g, limit = self._gradient(self._output(inputs), y), self.clip_gradient
        if not -limit <= g <= limit:  # two comparisons cost a fifth of min(max(...))
            g = limit if g > 0 else -limit
        if self.optimizer == "sgd" and not self.l2:
            lr = self.lr
            self._weights = [w - lr * (g * v) for w, v in zip(self._weights, inputs, strict=True)]
            return
        l2 = self.l2
        grads = [g * v + l2 * w for v, w in zip(inputs, self._weights, strict=True)]
        grads[-1] = g  # no penalty on the intercept
        if self.optimizer == "sgd":
            lr = self.lr
            self._weights = [w - lr * d for w, d in zip(self._weights, grads, strict=True)]
        else:
            self._adam_one(grads)

    def _adam_one(self, grads: list[float]) -> None:
        """The core's :class:`~azuraforge.core.optim.Adam` update, on lists of floats."""
        (b1, b2), self._steps = BETAS, self._steps + 1
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(self._moments[0], grads, strict=True)]
        v = [
            b2 * vi + (1 - b2) * (gi * gi) for vi, gi in zip(self._moments[1], grads, strict=True)
        ]
        step = self.lr / (1 - b1**self._steps)
        scale = 1 / math.sqrt(1 - b2**self._steps)
        self._weights = [
            w - step * (mi / (math.sqrt(vi) * scale + EPS))
            for w, mi, vi in zip(self._weights, m, v, strict=True)
        ]
        self._moments = [m, v]

    def learn_one(self, x: Features, y: Any = None) -> None:
        """One step on the loss of one event."""
        self._learn(self._inputs(x), y)

    def _matrix(self, X: Columns, learn: bool) -> np.ndarray:
        """The batch's inputs in the weights' order, a column of 1s last; when learning,
        new names get weights, otherwise they are left out."""
        if learn:
            self._add_features([name for name in X if name not in self._known])
        return np.column_stack(
            [matrix_of(X, self.features), np.ones(len(X[next(iter(X))]) if len(X) else 0)]
        )

    def _outputs(self, X: Columns) -> np.ndarray:
        outputs: np.ndarray = self._matrix(X, learn=False) @ np.array(self._weights)
        return outputs

    def learn_many(self, X: Columns, y: Any = None) -> None:
        """One step of the core's optimiser on the mean loss of a batch of events."""
        matrix = self._matrix(X, learn=True)
        targets = targets_of(type(self).__name__, matrix, y)
        if not len(targets):
            return
        weights = Tensor(np.array(self._weights), requires_grad=True, dtype=np.float64)
        limit = self.clip_gradient
        g = np.clip(self._gradients(matrix @ weights.data, targets), -limit, limit)
        weights.grad = matrix.T @ g / len(targets) + self.l2 * weights.data
        weights.grad[-1] -= self.l2 * weights.data[-1]
        self._core_step(weights)
        self._weights = weights.data.tolist()

    def _core_step(self, weights: Tensor) -> None:
        if self.optimizer == "sgd":
            SGD([weights], lr=self.lr).step()
            return
        adam = Adam([weights], lr=self.lr, betas=BETAS, eps=EPS)
        if self._steps:
            adam.state[0].update(
                step=self._steps,
                exp_avg=np.array(self._moments[0]),
                exp_avg_sq=np.array(self._moments[1]),
            )
        adam.step()
        self._steps = adam.state[0]["step"]
        self._moments = [adam.state[0]["exp_avg"].tolist(), adam.state[0]["exp_avg_sq"].tolist()]

    @property
    def weights(self) -> dict[str, float]:
        """The features' weights by name."""
        return dict(zip(self.features, self._weights, strict=False))

    @property
    def intercept(self) -> float:
        return self._weights[-1]

    def state_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "weights": np.array(self._weights),
            "moments": np.array(self._moments),
            "steps": self._steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        weights = np.asarray(state["weights"], dtype=float)
        moments = np.asarray(state["moments"], dtype=float)
        if weights.shape != (len(state["features"]) + 1,) or moments.shape != (2, len(weights)):
            raise InvalidParameterError(
                f"{type(self).__name__}.load_state_dict: {len(state['features'])} features "
                f"but weights of shape {weights.shape} and moments of shape {moments.shape}"
            )
        self.features = list(state["features"])
        self._known = set(self.features)
        self._weights = weights.tolist()
        self._moments = moments.tolist()
        self._steps = int(state["steps"])


def sigmoids(z: np.ndarray) -> np.ndarray:
    """:func:`sigmoid` of each value."""
    p: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -LOGIT_LIMIT, LOGIT_LIMIT)))
    return p


class LogisticRegression(_LinearModel, Classifier):
    """Online logistic regression of a ``True``/``False`` label, on the log-loss.

    Parameters
    ----------
    optimizer
        ``"sgd"`` (plain gradient steps, River's default) or ``"adam"``.
    lr
        The learning rate.
    l2
        L2 penalty on the weights (not the intercept), added to the gradient.
    clip_gradient
        The gradient of the loss with respect to the output is clipped to ± this.

    Examples
    --------
    >>> model = LogisticRegression(lr=0.5)
    >>> for _ in range(20):
    ...     model.learn_one({"x": 1.0}, True)
    ...     model.learn_one({"x": -1.0}, False)
    >>> model.predict_one({"x": 2.0}), round(model.predict_proba_one({"x": 2.0})[True], 3)
    (True, 0.997)
    """

    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        p = sigmoid(self._output(self._read(x)))
        return {False: 1.0 - p, True: p}

    def predict_proba_many(self, X: Columns) -> np.ndarray:
        """The probability of ``True`` for each event of a batch."""
        return sigmoids(self._outputs(X))

    def predict_many(self, X: Columns) -> np.ndarray:
        """The most probable label of each event (``True`` where p > 0.5)."""
        labels: np.ndarray = self.predict_proba_many(X) > 0.5
        return labels

    def _gradient(self, output: float, y: Any) -> float:
        return sigmoid(output) - (1.0 if y else 0.0)

    def _gradients(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        gradients: np.ndarray = sigmoids(outputs) - y
        return gradients


class LinearRegression(_LinearModel, Regressor):
    """Online linear regression of a number, on the squared error (River's and the core's
    ``mse_loss``: the gradient is ``2 x (prediction - y)``).

    Parameters are those of :class:`LogisticRegression`.

    Examples
    --------
    >>> model = LinearRegression(lr=0.1)
    >>> for i in range(500):
    ...     x = (i % 10) / 10
    ...     model.learn_one({"x": x}, 3 * x + 1)
    >>> round(model.predict_one({"x": 0.5}), 1)
    2.5
    """

    def predict_one(self, x: Features) -> float:
        return self._output(self._read(x))

    def predict_many(self, X: Columns) -> np.ndarray:
        """The predicted number for each event of a batch."""
        return self._outputs(X)

    def _gradient(self, output: float, y: Any) -> float:
        return 2.0 * (output - float(y))

    def _gradients(self, outputs: np.ndarray, y: np.ndarray) -> np.ndarray:
        gradients: np.ndarray = 2.0 * (outputs - y)
        return gradients

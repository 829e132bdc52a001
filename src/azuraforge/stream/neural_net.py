"""A small multi-layer perceptron on the core, learning online: a core ``Sequential`` of
``Linear`` layers and an activation, its loss differentiated by the core's autograd and
stepped by the core's Adam or SGD, one event or one batch per step.

It is built at the first ``learn_one``/``learn_many``, when the features are known, and keeps
those features: a later event's missing feature reads as 0, and a new one is ignored (its
name is kept in :attr:`MLP.ignored`).
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from typing import Any

import numpy as np

from azuraforge.core import Generator, Tensor, nn, no_grad, use_generator
from azuraforge.core.functional import binary_cross_entropy_with_logits, mse_loss
from azuraforge.core.optim import SGD, Adam
from azuraforge.core.validation import check_positive
from azuraforge.learn.metrics.base import check_option
from azuraforge.stream.base import (
    Classifier,
    Columns,
    Features,
    Learner,
    Regressor,
    check_number,
    matrix_of,
    targets_of,
)
from azuraforge.stream.linear_model import OPTIMIZERS, sigmoid, sigmoids

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class _MLP(Learner):
    def __init__(
        self,
        hidden: tuple[int, ...] = (16,),
        activation: str = "tanh",
        optimizer: str = "adam",
        lr: float = 1e-3,
        seed: int = 0,
    ) -> None:
        name = type(self).__name__
        check_option(name, "activation", activation, tuple(ACTIVATIONS))
        check_option(name, "optimizer", optimizer, OPTIMIZERS)
        check_positive(name, **{f"hidden[{at}]": size for at, size in enumerate(hidden)})
        check_number(self, "lr", lr, lambda v: v > 0, "a number above 0")
        self.hidden, self.activation, self.optimizer = tuple(hidden), activation, optimizer
        self.lr, self.seed = lr, seed
        self.features: list[str] = []
        self.ignored: set[str] = set()
        self._net: nn.Sequential | None = None
        self._optimizer: SGD | Adam | None = None

    def _build(self, names: list[str]) -> nn.Sequential:
        self.features = list(names)
        sizes = [len(names), *self.hidden]
        layers: list[nn.Module] = []
        with use_generator(Generator(self.seed)):
            for n_in, n_out in itertools.pairwise(sizes):
                layers += [nn.Linear(n_in, n_out), ACTIVATIONS[self.activation]()]
            layers.append(nn.Linear(sizes[-1], 1))
        net = nn.Sequential(*layers)
        kind = SGD if self.optimizer == "sgd" else Adam
        self._net, self._optimizer = net, kind(net.parameters(), lr=self.lr)
        return net

    def _row(self, x: Features) -> np.ndarray:
        return np.array([[x.get(name, 0.0) for name in self.features]])

    def _note_ignored(self, names: Any) -> None:
        self.ignored.update(name for name in names if name not in self.features)

    def _scores(self, matrix: np.ndarray) -> np.ndarray:
        """The network's raw outputs, one per row (0 before it is built)."""
        if self._net is None:
            return np.zeros(len(matrix))
        with no_grad():
            scores: np.ndarray = self._net(Tensor(matrix)).data[:, 0]
        return scores

    def _step(self, matrix: np.ndarray, y: np.ndarray) -> None:
        net, optimizer = self._net, self._optimizer
        assert net is not None and optimizer is not None
        optimizer.zero_grad()
        self._loss(net(Tensor(matrix))[:, 0], y).backward()
        optimizer.step()

    @abstractmethod
    def _loss(self, scores: Tensor, y: np.ndarray) -> Tensor:
        """The loss of the network's raw outputs for outcomes ``y``."""

    def learn_one(self, x: Features, y: Any = None) -> None:
        if self._net is None:
            self._build(list(x))
        self._note_ignored(x)
        self._step(self._row(x), np.array([float(y)]))

    def learn_many(self, X: Columns, y: Any = None) -> None:
        if self._net is None:
            self._build(list(X))
        self._note_ignored(X)
        matrix = matrix_of(X, self.features)
        targets = targets_of(type(self).__name__, matrix, y)
        if len(targets):
            self._step(matrix, targets)

    def state_dict(self) -> dict[str, Any]:
        if self._net is None or self._optimizer is None:
            return {"features": []}
        return {
            "features": list(self.features),
            "weights": self._net.state_dict(),
            "optimizer": self._optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state["features"]:
            self.features, self._net, self._optimizer = [], None, None
            return
        net = self._build(list(state["features"]))
        net.load_state_dict(state["weights"])
        assert self._optimizer is not None
        self._optimizer.load_state_dict(state["optimizer"])


class MLPClassifier(_MLP, Classifier):
    """A small MLP on the core for a ``True``/``False`` label, on the log-loss.

    Parameters
    ----------
    hidden
        The sizes of the hidden layers.
    activation
        ``"tanh"`` or ``"relu"`` after each hidden layer.
    optimizer
        ``"adam"`` or ``"sgd"`` (the core's).
    lr
        The learning rate.
    seed
        Seeds the initial weights.

    Examples
    --------
    >>> model = MLPClassifier(hidden=(8,), lr=0.05)
    >>> for _ in range(100):
    ...     model.learn_many({"x": [1.0, -1.0]}, [True, False])
    >>> model.predict_one({"x": 1.0}), model.predict_one({"x": -1.0})
    (True, False)
    """

    def _loss(self, scores: Tensor, y: np.ndarray) -> Tensor:
        return binary_cross_entropy_with_logits(scores, y)

    def predict_proba_one(self, x: Features) -> dict[Any, float]:
        p = sigmoid(float(self._scores(self._row(x))[0]))
        return {False: 1.0 - p, True: p}

    def predict_proba_many(self, X: Columns) -> np.ndarray:
        return sigmoids(self._scores(matrix_of(X, self.features)))

    def predict_many(self, X: Columns) -> np.ndarray:
        labels: np.ndarray = self.predict_proba_many(X) > 0.5
        return labels


class MLPRegressor(_MLP, Regressor):
    """A small MLP on the core for a number, on the squared error. Parameters are those of
    :class:`MLPClassifier`."""

    def _loss(self, scores: Tensor, y: np.ndarray) -> Tensor:
        return mse_loss(scores, y)

    def predict_one(self, x: Features) -> float:
        return float(self._scores(self._row(x))[0])

    def predict_many(self, X: Columns) -> np.ndarray:
        return self._scores(matrix_of(X, self.features))

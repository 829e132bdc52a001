"""Classification metrics: accuracy, precision, recall, F1 and the confusion matrix.

Labels may be ints, strings or any sortable values. Without ``labels``, the classes are the
ones seen so far in ``y_true`` or ``y_pred``, in sorted order, as scikit-learn does.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.metrics.base import (
    Metric,
    check_finite,
    check_option,
    one_pair,
    params_of,
    same_shape,
    score,
)

__all__ = [
    "F1",
    "Accuracy",
    "ConfusionMatrix",
    "Precision",
    "Recall",
    "accuracy",
    "confusion_matrix",
    "f1",
    "precision",
    "recall",
]

AVERAGES = ("macro", "micro", "weighted")


def _label_pairs(what: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> list[np.ndarray]:
    pairs = same_shape(what, y_true=y_true, y_pred=y_pred)
    for name, values in zip(("y_true", "y_pred"), pairs, strict=True):
        check_finite(what, name, values)
    return [values.ravel() for values in pairs]


def _class_list(what: str, labels: Sequence[Hashable] | None) -> list[Any]:
    if labels is None:
        return []
    classes = list(labels)
    if not classes or len(set(classes)) != len(classes):
        raise InvalidParameterError(
            f"{what}: labels must be a non-empty sequence of distinct classes, got {labels!r}"
        )
    return classes


class ConfusionMatrix:
    """Counts of (true class, predicted class) pairs; rows are true, columns predicted.

    Updated like a metric (``update``, ``update_many``, ``reset``), but ``get()`` returns
    the matrix, an int64 array of shape (classes, classes), so it is not a :class:`Metric`
    (whose value is one number). ``classes`` gives the label of each row and column.

    Parameters
    ----------
    labels
        The classes, in the order of the rows and columns. A class not seen yet still gets
        its row; a label outside ``labels`` raises. ``None`` (default): the classes seen
        in ``y_true`` or ``y_pred``, sorted.

    Raises
    ------
    InvalidParameterError
        If ``labels`` is empty or repeats a class, or an update brings a label outside it.

    Examples
    --------
    >>> cm = ConfusionMatrix()
    >>> cm.update_many(["cat", "dog", "dog", "cat", "dog"], ["cat", "dog", "cat", "cat", "dog"])
    >>> cm
    ConfusionMatrix (rows: true, columns: predicted)
         cat  dog
    cat    2    0
    dog    1    2
    >>> cm.get()
    array([[2, 0],
           [1, 2]])
    >>> cm.classes
    ['cat', 'dog']
    """

    def __init__(self, labels: Sequence[Hashable] | None = None) -> None:
        _class_list(type(self).__name__, labels)
        self.labels = labels
        self.reset()

    def reset(self) -> None:
        """Forget every pair seen; the classes given as ``labels`` stay."""
        self._classes = _class_list(type(self).__name__, self.labels)
        self._index = {c: i for i, c in enumerate(self._classes)}
        self._counts = np.zeros((len(self._classes),) * 2, dtype=np.int64)

    @property
    def classes(self) -> list[Any]:
        """The label of each row and column."""
        return list(self._classes)

    def update(self, y_true: Any, y_pred: Any) -> None:
        """Add one (true label, predicted label) pair."""
        self.update_many(*one_pair(type(self).__name__, y_true, y_pred))

    def update_many(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        """Add arrays of true and predicted labels (same shape, flattened)."""
        self._add(type(self).__name__, y_true, y_pred)

    def get(self) -> np.ndarray:
        """A copy of the counts, rows true and columns predicted, in ``classes`` order."""
        return self._counts.copy()

    def clone(self) -> ConfusionMatrix:
        """An empty matrix with the same ``labels``."""
        return type(self)(**params_of(self))

    def _add(self, what: str, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        t, p = _label_pairs(what, y_true, y_pred)
        if not t.size:
            return
        found, inverse = np.unique(np.concatenate([t, p]), return_inverse=True)
        self._learn(what, found.tolist())
        codes = np.array([self._index[c] for c in found.tolist()])[inverse]
        k = len(self._classes)
        flat = codes[: t.size] * k + codes[t.size :]
        self._counts += np.bincount(flat, minlength=k * k).reshape(k, k)

    def _learn(self, what: str, found: list[Any]) -> None:
        new = [c for c in found if c not in self._index]
        if not new:
            return
        if self.labels is not None:
            raise InvalidParameterError(
                f"{what}: label {new[0]!r} is not in labels {self._classes!r}; add it to "
                "labels, or pass labels=None to take the classes from the data"
            )
        try:
            classes = sorted(self._classes + new)
        except TypeError as e:
            raise InvalidParameterError(
                f"{what}: labels of different types cannot be ordered: {self._classes + new!r}"
            ) from e
        index = {c: i for i, c in enumerate(classes)}
        old = [index[c] for c in self._classes]
        counts = np.zeros((len(classes),) * 2, dtype=np.int64)
        counts[np.ix_(old, old)] = self._counts
        self._classes, self._index, self._counts = classes, index, counts

    def __repr__(self) -> str:
        title = "ConfusionMatrix (rows: true, columns: predicted)"
        if not self._classes:
            return f"{title}: empty"
        names = [str(c) for c in self._classes]
        rows = [["", *names]] + [
            [name, *map(str, counts)] for name, counts in zip(names, self._counts, strict=True)
        ]
        widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))]
        lines = [
            "  ".join(
                cell.ljust(w) if j == 0 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        ]
        return "\n".join([title, *lines])


class Accuracy(Metric):
    """Share of predictions equal to the true label.

    Examples
    --------
    >>> metric = Accuracy()
    >>> metric.update_many([0, 1, 2, 2], [0, 2, 2, 2])
    >>> metric
    Accuracy: 0.7500
    """

    bigger_is_better = True
    works_with = "classification"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self._correct = 0

    def update_many(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        t, p = _label_pairs(self.name, y_true, y_pred)
        self._n += t.size
        self._correct += int(np.sum(t == p))

    def get(self) -> float:
        return self._correct / self._n if self._n else math.nan


class _PerClass(Metric):
    """A score computed per class from a confusion matrix, then averaged.

    ``average='macro'`` is the plain mean over the classes, ``'weighted'`` weighs each class
    by its support (its count in ``y_true``), and ``'micro'`` pools the counts of every class
    first (for single-label data micro precision, recall and F1 all equal accuracy). A class
    with nothing to divide by (never predicted, for precision) scores 0, as scikit-learn's
    default ``zero_division`` does.
    """

    bigger_is_better = True
    works_with = "classification"

    def __init__(self, average: str = "macro", labels: Sequence[Hashable] | None = None) -> None:
        check_option(self.name, "average", average, AVERAGES)
        _class_list(self.name, labels)
        self.average = average
        self.labels = labels
        self._matrix = ConfusionMatrix(labels)

    def reset(self) -> None:
        self._matrix.reset()

    def update_many(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        self._matrix._add(self.name, y_true, y_pred)

    def get(self) -> float:
        counts = self._matrix._counts
        if not counts.sum():
            return math.nan
        hits = np.diag(counts).astype(np.float64)
        predicted, actual = counts.sum(axis=0), counts.sum(axis=1)
        if self.average == "micro":
            pooled = self._per_class(hits.sum(keepdims=True), predicted.sum(), actual.sum())
            return float(pooled[0])
        scores = self._per_class(hits, predicted, actual)
        if self.average == "weighted":
            return float(np.sum(scores * actual) / actual.sum())
        return float(scores.mean())

    @abstractmethod
    def _per_class(self, hits: np.ndarray, predicted: Any, actual: Any) -> np.ndarray: ...

    def _note(self) -> str:
        return f" ({self.average})"


def _divide(numerator: np.ndarray, denominator: Any) -> np.ndarray:
    denominator = np.broadcast_to(denominator, numerator.shape)
    out = np.zeros(numerator.shape)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


class Precision(_PerClass):
    """Precision, ``TP / (TP + FP)`` per class, averaged (``'macro'`` by default).

    Parameters
    ----------
    average
        ``'macro'``, ``'micro'`` or ``'weighted'`` (see below).
    labels
        The classes to score, fixed in advance; ``None`` takes the ones seen.

    Raises
    ------
    InvalidParameterError
        For another ``average``, bad ``labels``, or a label outside ``labels``.

    Examples
    --------
    Class 0: 1 of 1 predicted right; class 1: 1 of 2; class 2: 1 of 1.

    >>> metric = Precision()
    >>> metric.update_many([0, 1, 2, 2], [0, 1, 1, 2])
    >>> metric  # (1 + 0.5 + 1) / 3
    Precision: 0.8333 (macro)
    """

    def _per_class(self, hits: np.ndarray, predicted: Any, actual: Any) -> np.ndarray:
        return _divide(hits, predicted)


class Recall(_PerClass):
    """Recall, ``TP / (TP + FN)`` per class, averaged (``'macro'`` by default).

    Takes ``average`` and ``labels`` as :class:`Precision` does.

    Examples
    --------
    Class 0: 1 of 1 found; class 1: 1 of 1; class 2: 1 of 2.

    >>> metric = Recall()
    >>> metric.update_many([0, 1, 2, 2], [0, 1, 1, 2])
    >>> metric  # (1 + 1 + 0.5) / 3
    Recall: 0.8333 (macro)
    """

    def _per_class(self, hits: np.ndarray, predicted: Any, actual: Any) -> np.ndarray:
        return _divide(hits, actual)


class F1(_PerClass):
    """F1, the harmonic mean of precision and recall per class, ``2TP / (2TP + FP + FN)``.

    Averaged over classes after the per-class F1 (as scikit-learn does), not the F1 of the
    averaged precision and recall. Takes ``average`` and ``labels`` as :class:`Precision`.

    Examples
    --------
    Per class: 2·1/(1+1) = 1, 2·1/(2+1) = 2/3, 2·1/(1+2) = 2/3.

    >>> metric = F1()
    >>> metric.update_many([0, 1, 2, 2], [0, 1, 1, 2])
    >>> metric  # (1 + 2/3 + 2/3) / 3
    F1: 0.7778 (macro)
    >>> metric = F1(average="weighted")  # supports 1, 1, 2
    >>> metric.update_many([0, 1, 2, 2], [0, 1, 1, 2])
    >>> metric  # (1 + 2/3 + 2 · 2/3) / 4
    F1: 0.7500 (weighted)
    """

    def _per_class(self, hits: np.ndarray, predicted: Any, actual: Any) -> np.ndarray:
        return _divide(2 * hits, predicted + actual)


# ---- one-shot functions -----------------------------------------------------------------


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Accuracy of two label arrays (see :class:`Accuracy`).

    Examples
    --------
    >>> accuracy(["a", "b", "b"], ["a", "b", "a"])
    0.6666666666666666
    """
    return score(Accuracy(), y_true, y_pred)


def precision(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    average: str = "macro",
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Averaged precision of two label arrays (see :class:`Precision`).

    Examples
    --------
    >>> precision([0, 1, 2, 2], [0, 1, 1, 2], average="micro")
    0.75
    """
    return score(Precision(average, labels), y_true, y_pred)


def recall(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    average: str = "macro",
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Averaged recall of two label arrays (see :class:`Recall`).

    Examples
    --------
    >>> recall([0, 1, 2, 2], [0, 1, 1, 2], average="weighted")
    0.75
    """
    return score(Recall(average, labels), y_true, y_pred)


def f1(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    average: str = "macro",
    labels: Sequence[Hashable] | None = None,
) -> float:
    """Averaged F1 of two label arrays (see :class:`F1`).

    Examples
    --------
    >>> round(f1([0, 1, 2, 2], [0, 1, 1, 2]), 4)
    0.7778
    """
    return score(F1(average, labels), y_true, y_pred)


def confusion_matrix(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    labels: Sequence[Hashable] | None = None,
) -> np.ndarray:
    """The confusion matrix of two label arrays, rows true (see :class:`ConfusionMatrix`).

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 0, 1], labels=[1, 0])
    array([[1, 1],
           [0, 1]])
    """
    matrix = ConfusionMatrix(labels)
    matrix.update_many(y_true, y_pred)
    return matrix.get()

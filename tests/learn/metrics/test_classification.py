"""Classification metrics against counts worked out by hand."""

import math

import numpy as np
import pytest

from azuraforge.errors import InvalidParameterError
from azuraforge.learn.metrics import (
    F1,
    Accuracy,
    ConfusionMatrix,
    Precision,
    Recall,
    accuracy,
    confusion_matrix,
    f1,
    precision,
    recall,
)
from tests.helpers import rng

# Confusion matrix (rows true, columns predicted):
#        0  1  2
#   0    1  0  0
#   1    0  1  0
#   2    0  1  1
# true counts (support) 1, 1, 2; predicted counts 1, 2, 1; hits 1, 1, 1
Y = [0, 1, 2, 2]
P = [0, 1, 1, 2]


def test_accuracy():
    assert accuracy(Y, P) == 3 / 4
    assert accuracy(["cat", "dog", "dog"], ["cat", "dog", "cat"]) == 2 / 3
    metric = Accuracy()
    metric.update("a", "a")
    metric.update("a", "b")
    assert repr(metric) == "Accuracy: 0.5000"


def test_confusion_matrix():
    expected = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    np.testing.assert_array_equal(confusion_matrix(Y, P), expected)
    # labels set the order, and give unseen classes their row
    np.testing.assert_array_equal(
        confusion_matrix(Y, P, labels=[2, 1, 0, 9]),
        [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]],
    )


def test_confusion_matrix_learns_classes_in_sorted_order_as_they_come():
    matrix = ConfusionMatrix()
    matrix.update(10, 2)
    matrix.update_many([2, 10], [2, 100])
    assert matrix.classes == [2, 10, 100]
    np.testing.assert_array_equal(matrix.get(), [[1, 0, 0], [1, 0, 1], [0, 0, 0]])
    assert repr(matrix) == (
        "ConfusionMatrix (rows: true, columns: predicted)\n"
        "     2  10  100\n"
        "2    1   0    0\n"
        "10   1   0    1\n"
        "100  0   0    0"
    )
    matrix.reset()
    assert matrix.classes == [] and matrix.get().shape == (0, 0)
    assert repr(matrix) == "ConfusionMatrix (rows: true, columns: predicted): empty"


def test_confusion_matrix_streaming_equals_batch():
    y_true = rng(0).integers(0, 5, size=60)
    y_pred = rng(1).integers(0, 5, size=60)
    one_by_one = ConfusionMatrix()
    for t, p in zip(y_true, y_pred, strict=True):
        one_by_one.update(t, p)
    np.testing.assert_array_equal(one_by_one.get(), confusion_matrix(y_true, y_pred))
    assert one_by_one.get().sum() == 60
    assert one_by_one.clone().get().shape == (0, 0)


def test_confusion_matrix_get_is_a_copy():
    matrix = ConfusionMatrix(labels=[0, 1])
    matrix.get()[0, 0] = 99
    assert matrix.get()[0, 0] == 0


@pytest.mark.parametrize(
    ("cls", "average", "expected"),
    [
        # precision per class: hits / predicted = 1/1, 1/2, 1/1
        (Precision, "macro", (1 + 0.5 + 1) / 3),
        (Precision, "weighted", (1 * 1 + 1 * 0.5 + 2 * 1) / 4),
        (Precision, "micro", 3 / 4),
        # recall per class: hits / true = 1/1, 1/1, 1/2
        (Recall, "macro", (1 + 1 + 0.5) / 3),
        (Recall, "weighted", (1 * 1 + 1 * 1 + 2 * 0.5) / 4),
        (Recall, "micro", 3 / 4),
        # F1 per class: 2 hits / (predicted + true) = 2/2, 2/3, 2/3
        (F1, "macro", (1 + 2 / 3 + 2 / 3) / 3),
        (F1, "weighted", (1 * 1 + 1 * 2 / 3 + 2 * 2 / 3) / 4),
        (F1, "micro", 3 / 4),
    ],
)
def test_per_class_scores(cls, average, expected):
    metric = cls(average=average)
    metric.update_many(Y, P)
    assert metric.get() == pytest.approx(expected, rel=1e-15)
    assert repr(metric) == f"{cls.__name__}: {expected:.4f} ({average})"


def test_functions_match_the_classes():
    assert precision(Y, P) == pytest.approx(2.5 / 3)
    assert recall(Y, P, average="weighted") == 0.75
    assert f1(Y, P, average="micro") == 0.75


def test_labels_add_unseen_classes_to_the_macro_average():
    # class 3 is never seen: its F1 is 0 and it counts in the mean
    assert f1(Y, P, labels=[0, 1, 2, 3]) == pytest.approx((1 + 2 / 3 + 2 / 3 + 0) / 4)


def test_a_class_with_nothing_to_divide_by_scores_zero():
    # class 0 never predicted (precision 0/0 -> 0), class 1 never true (recall 0/0 -> 0)
    assert precision([0, 0], [1, 1]) == 0.0
    assert recall([0, 0], [1, 1]) == 0.0
    assert f1([0, 0], [1, 1]) == 0.0


def test_micro_average_equals_accuracy():
    y_true = rng(2).integers(0, 4, size=100)
    y_pred = rng(3).integers(0, 4, size=100)
    for score in (precision, recall, f1):
        assert score(y_true, y_pred, average="micro") == pytest.approx(accuracy(y_true, y_pred))


def test_string_labels():
    y_true = ["up", "down", "up", "flat"]
    y_pred = ["up", "up", "up", "flat"]
    # precision: down 0/0 -> 0, flat 1/1, up 2/3
    assert precision(y_true, y_pred) == pytest.approx((0 + 1 + 2 / 3) / 3)
    assert ConfusionMatrix(labels=["up", "down"]).classes == ["up", "down"]


def test_bad_average_lists_the_options():
    with pytest.raises(
        InvalidParameterError,
        match="Precision: average must be 'macro', 'micro' or 'weighted', got 'binary'",
    ):
        Precision(average="binary")
    with pytest.raises(InvalidParameterError, match="F1: average must be"):
        f1(Y, P, average=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("labels", [[], [1, 1]])
def test_bad_labels(labels):
    with pytest.raises(InvalidParameterError, match="Recall: labels must be a non-empty seq"):
        Recall(labels=labels)
    with pytest.raises(InvalidParameterError, match="ConfusionMatrix: labels must be"):
        ConfusionMatrix(labels)


def test_a_label_outside_labels_raises_and_changes_nothing():
    metric = F1(labels=[0, 1])
    metric.update_many([0, 1], [0, 1])
    with pytest.raises(InvalidParameterError, match=r"F1: label 2 is not in labels \[0, 1\]"):
        metric.update_many([0, 1], [0, 2])
    assert metric.get() == 1.0


def test_labels_that_cannot_be_ordered():
    matrix = ConfusionMatrix()
    matrix.update(1, 1)
    with pytest.raises(InvalidParameterError, match="labels of different types cannot be ord"):
        matrix.update("a", "a")
    np.testing.assert_array_equal(matrix.get(), [[1]])


def test_nan_labels_raise():
    with pytest.raises(InvalidParameterError, match="Accuracy: y_true has 1 NaN"):
        accuracy([0.0, math.nan], [0.0, 1.0])


def test_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y_true = rng(4).integers(0, 5, size=80)
    y_pred = np.where(rng(5).random(80) < 0.5, y_true, rng(6).integers(0, 5, size=80))
    assert accuracy(y_true, y_pred) == pytest.approx(
        sklearn_metrics.accuracy_score(y_true, y_pred)
    )
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred),
        sklearn_metrics.confusion_matrix(y_true, y_pred),
    )
    for average in ("macro", "micro", "weighted"):
        for ours, theirs in [
            (precision, sklearn_metrics.precision_score),
            (recall, sklearn_metrics.recall_score),
            (f1, sklearn_metrics.f1_score),
        ]:
            assert ours(y_true, y_pred, average=average) == pytest.approx(
                theirs(y_true, y_pred, average=average, zero_division=0)
            )

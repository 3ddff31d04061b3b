"""score_batches: metrics summed over batches equal scikit-learn's on all rows at once."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss, precision_recall_fscore_support

from xentlearn.cli._report import score_batches
from xentlearn.exceptions import XentlearnInputError


def test_metrics_over_batches_equal_sklearn_on_all_rows():
    rng = np.random.default_rng(0)
    classes = np.array(["ant", "bee", "cat", "dog"])
    n = 500
    truth = rng.choice(classes[:3], n)                 # "dog" never occurs: support 0
    proba = rng.dirichlet(np.ones(4), n)
    proba[:, 3] = 0.0                                  # ... and is never predicted
    proba /= proba.sum(axis=1, keepdims=True)
    predicted = classes[proba.argmax(axis=1)]
    cuts = [0, 1, 90, 91, 300, n]
    batches = [(predicted[a:b], proba[a:b], truth[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    metrics = score_batches(batches, classes, target="label")
    p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=classes, zero_division=0)
    np.testing.assert_allclose(metrics.precision, p)
    np.testing.assert_allclose(metrics.recall, r)
    np.testing.assert_allclose(metrics.f1, f)
    np.testing.assert_array_equal(metrics.support, s)
    np.testing.assert_array_equal(metrics.confusion, confusion_matrix(truth, predicted, labels=classes))
    assert metrics.n_rows == n
    assert metrics.accuracy == pytest.approx(accuracy_score(truth, predicted))
    assert metrics.log_loss == pytest.approx(log_loss(truth, proba, labels=classes), rel=1e-12)


def test_no_rows_is_an_error():
    with pytest.raises(XentlearnInputError, match="no rows"):
        score_batches([], np.array([0, 1]), target="y")


def _binary_case(n=2000, seed=1, decimals=None):
    rng = np.random.default_rng(seed)
    classes = np.array(["no", "yes"])
    p = rng.beta(2, 2, n)
    if decimals is not None:
        p = np.round(p, decimals)                     # many ties
    truth_index = (rng.random(n) < p).astype(int)
    proba = np.column_stack([1 - p, p])
    labels = classes[(p > 0.5).astype(int)]
    cuts = [0, 3, 500, 501, 1700, n]
    batches = [(labels[a:b], proba[a:b], classes[truth_index][a:b])
               for a, b in zip(cuts[:-1], cuts[1:])]
    return classes, truth_index, proba, labels, batches


@pytest.mark.parametrize("decimals", [None, 2])
def test_binary_probability_metrics_equal_sklearn(decimals):
    from sklearn import metrics

    classes, y, proba, labels, batches = _binary_case(decimals=decimals)
    m = score_batches(batches, classes, target="label")
    assert m.balanced_accuracy == pytest.approx(metrics.balanced_accuracy_score(classes[y], labels))
    assert m.brier == pytest.approx(metrics.brier_score_loss(y, proba[:, 1]), rel=1e-12)
    assert m.roc_auc == pytest.approx(metrics.roc_auc_score(y, proba[:, 1]), rel=1e-12)
    assert m.pr_auc == pytest.approx(metrics.average_precision_score(y, proba[:, 1]), rel=1e-12)
    assert m.auc_error == 0.0
    # ECE by its definition, bin by bin (10 equal-width bins of the top-class probability).
    confidence, top = proba.max(axis=1), proba.argmax(axis=1)
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(abs((top[bins == b] == y[bins == b]).mean() - confidence[bins == b].mean())
              * (bins == b).mean() for b in range(10) if (bins == b).any())
    assert m.calibration_error == pytest.approx(ece, rel=1e-12)


def test_auc_from_the_histogram_is_within_its_reported_bound(monkeypatch):
    from sklearn import metrics

    from xentlearn.cli import _metrics

    monkeypatch.setattr(_metrics, "EXACT_AUC_ROWS", 100)   # force the bounded path
    for decimals in (None, 2):
        classes, y, proba, _, batches = _binary_case(decimals=decimals)
        m = score_batches(batches, classes, target="label")
        roc, ap = metrics.roc_auc_score(y, proba[:, 1]), metrics.average_precision_score(y, proba[:, 1])
        assert 0 < m.auc_error < 0.02
        assert abs(m.roc_auc - roc) <= m.auc_error and abs(m.pr_auc - ap) <= m.auc_error
    # Continuous scores: 2000 rows in 65536 bins leave few pairs in a bin.
    classes, y, proba, _, batches = _binary_case(decimals=None)
    assert score_batches(batches, classes, target="label").auc_error < 1e-3


def test_multiclass_brier_is_the_sum_over_classes_and_auc_is_binary_only():
    from sklearn import metrics

    rng = np.random.default_rng(2)
    classes = np.array([3, 5, 7])
    proba = rng.dirichlet(np.ones(3), 300)
    truth = classes[rng.integers(0, 3, 300)]
    m = score_batches([(classes[proba.argmax(1)], proba, truth)], classes, target="y")
    assert m.brier == pytest.approx(metrics.brier_score_loss(truth, proba, labels=classes))
    assert m.roc_auc is None and m.pr_auc is None
    with pytest.raises(XentlearnInputError, match="threshold applies to binary models"):
        score_batches([(truth, proba, truth)], classes, target="y", threshold=0.5)


def test_threshold_relabels_and_one_class_leaves_auc_undefined():
    classes = np.array(["no", "yes"])
    proba = np.array([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6]])
    truth = np.array(["no", "no", "no"])
    m = score_batches([(classes[[0, 0, 1]], proba, truth)], classes, target="y", threshold=0.25)
    np.testing.assert_array_equal(m.confusion, [[1, 2], [0, 0]])
    assert m.roc_auc is None and m.balanced_accuracy == pytest.approx(1 / 3)
    from xentlearn.cli._metrics import metrics_json

    assert metrics_json(m)["roc_auc"] is None and metrics_json(m)["threshold"] == 0.25

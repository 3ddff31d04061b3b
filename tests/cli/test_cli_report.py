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

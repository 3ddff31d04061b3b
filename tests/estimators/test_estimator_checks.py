"""scikit-learn's own conformance suite on both estimators, with default parameters.

No check is marked expected-to-fail. The sample-weight-equivalence checks pass
for MLPClassifier too: their data sets are smaller than a mini-batch, so adam
sees the full batch. scikit-learn itself skips its array-API checks unless
SCIPY_ARRAY_API is set; xentlearn is numpy-only, so they do not apply.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from xentlearn import LogisticRegression, MLPClassifier


@parametrize_with_checks([LogisticRegression(), MLPClassifier()])
def test_sklearn_compatible(estimator, check):
    check(estimator)

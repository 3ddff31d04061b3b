"""MLPClassifier's default step for the adam family (a code choice, not DESIGN's): adam
moves each weight by about lr per step, so lr * n / batch per epoch; 0.001 * 256 / 200
travels per epoch as far as scikit-learn's default adam over batches of 200."""

from __future__ import annotations

import numpy as np
import pytest

from xentlearn import LogisticRegression, MLPClassifier


def data():
    X = np.random.default_rng(0).normal(size=(300, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def first_step(clf) -> float:
    return clf.fit(*data()).history_[0]["learning_rate"]


@pytest.mark.parametrize("solver", ["adam", "adamw"])
def test_adam_family_default_step_matches_sklearn_distance_per_epoch(solver):
    clf = MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=1, random_state=0)
    with pytest.warns(Warning):          # ConvergenceWarning after one epoch
        step = first_step(clf)
    # sklearn: 0.001 per batch of 200 rows; here batches of 256 (DESIGN's default).
    assert step == pytest.approx(0.001 / 200 * 256, rel=1e-12)
    assert clf.get_params()["learning_rate_init"] is None       # nothing rewritten


@pytest.mark.parametrize("solver, expected", [("sgd", 0.01), ("rmsprop", 0.001)])
def test_other_solvers_keep_the_registry_default(solver, expected):
    clf = MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=1, random_state=0)
    with pytest.warns(Warning):
        assert first_step(clf) == pytest.approx(expected, rel=1e-12)


def test_a_given_learning_rate_is_used_as_given():
    clf = MLPClassifier(hidden_layer_sizes=(4,), learning_rate_init=0.001, max_iter=1,
                        random_state=0)
    with pytest.warns(Warning):
        assert first_step(clf) == pytest.approx(0.001, rel=1e-12)


def test_logistic_regression_adam_default_is_unchanged():
    clf = LogisticRegression(solver="adam", max_iter=1)
    with pytest.warns(Warning):
        assert first_step(clf) == pytest.approx(0.001, rel=1e-12)

"""Shared data and helpers for the Dask tests (DESIGN §7)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dask  # noqa: E402,F401  (a test extra: the Dask tests always run)


def relative_difference(a, b) -> float:
    """max |a - b| / max |b|: the issue's 'relative coefficient difference'."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(*args, **kwargs)


def problem(n=1200, d=6, classes=2, seed=0):
    """Separable-ish data with a column far from zero and one of tiny spread, so lbfgs's
    standardising preconditioner matters."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:, 1] = 50.0 + 3.0 * X[:, 1]
    X[:, 2] *= 1e-2
    W = rng.normal(size=(d, classes))
    logits = (X - X.mean(0)) / X.std(0) @ W + rng.gumbel(size=(n, classes))
    return X, logits.argmax(axis=1)


def soft_labels(y, classes, seed=0):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(classes), size=len(y)) * 0.4
    P[np.arange(len(y)), y] += 0.6
    return P

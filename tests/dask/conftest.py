"""Shared data and helpers for the Dask tests (DESIGN §7)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

import dask  # noqa: E402,F401  (a test extra: the Dask tests always run)
from distributed import Client, LocalCluster


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes, 1 thread each, for the test module."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def module_client(cluster):
    """A client of `cluster`, the default client while the module runs."""
    with Client(cluster) as client:
        yield client


@pytest.fixture
def client(module_client):
    """The module's client with its 2 workers up when a test starts.

    Worker processes start in the background, and a worker a test killed is
    restarted by its nanny in the background too: on a busy machine that takes
    more than 30 s, and a test after it would otherwise find one worker.
    """
    module_client.wait_for_workers(2, timeout=120)
    return module_client


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

"""Shared builders for the model tests: data, models and sparse formats."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xentlearn.models import MLP, Linear

ACTIVATIONS = ("relu", "tanh", "logistic", "identity")
SPARSE_FORMATS = {
    "csr_matrix": sp.csr_matrix,
    "csr_array": sp.csr_array,
    "csc_matrix": sp.csc_matrix,
    "csc_array": sp.csc_array,
}


def make_X(n: int, d: int, *, seed: int = 0, density: float = 1.0, dtype=np.float64) -> np.ndarray:
    """Dense (n, d) data; with density < 1 most entries are exactly 0 (sparse-friendly)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if density < 1.0:
        X *= rng.random((n, d)) < density
    return X.astype(dtype)


def tiny_models():
    """Every model variant small enough for a full 5-point FD gradient."""
    models = [Linear(4, 3), Linear(4, 3, fit_intercept=False), Linear(4, 1)]
    for activation in ACTIVATIONS:
        models.append(MLP(4, (3, 2), 3, activation))
    models.append(MLP(4, (3, 2), 3, "tanh", fit_intercept=False))
    models.append(MLP(4, (), 2, "relu"))
    return models


def random_params(model, seed: int = 1, dtype=np.float64):
    """Params with every entry random (Linear's init is zeros, which hides bugs)."""
    rng = np.random.default_rng(seed)
    return {key: rng.normal(size=value.shape).astype(dtype)
            for key, value in model.init(np.random.default_rng(0), dtype).items()}

"""Shared test helpers: finite differences and torch conversions."""

from __future__ import annotations

import numpy as np


def fd5(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """5-point central finite-difference gradient of scalar f at float64 array x."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        vals = []
        for step in (2 * h, h, -h, -2 * h):
            flat[i] = orig + step
            vals.append(float(f(x)))
        flat[i] = orig
        gflat[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
    return grad


def directional_fd5(f, x: np.ndarray, v: np.ndarray, h: float = 1e-5) -> float:
    """5-point central finite difference of f along direction v at x (float64)."""
    x = np.asarray(x, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    vals = [float(f(x + s * h * v)) for s in (2, 1, -1, -2)]
    return (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)

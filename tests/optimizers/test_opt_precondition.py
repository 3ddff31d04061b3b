"""The standardising preconditioner: it is A A^T for the change of variables of
standardised inputs, it leaves L-BFGS's optimum where it was, and it makes badly
scaled problems as easy as standardised ones."""

from __future__ import annotations

import numpy as np
import pytest

from tests.optimizers.problems import logistic_value_and_grad
from tests.optimizers.test_opt_convergence import Memo
from xentlearn import _tree
from xentlearn.exceptions import XentlearnInputError
from xentlearn.optimizers import apply_updates, lbfgs, standardizing_preconditioner


def _change_of_variables(mean, scale, k, with_intercept):
    """Dense A with theta = A phi for one output column, (W_c, b_c) <- (V_c, c_c)."""
    d = len(mean)
    if not with_intercept:
        return np.diag(1.0 / scale)
    A = np.zeros((d + 1, d + 1))
    A[:d, :d] = np.diag(1.0 / scale)
    A[d, :d] = -mean / scale
    A[d, d] = 1.0
    return A


@pytest.mark.parametrize("with_intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_preconditioner_is_a_times_a_transpose(with_intercept, dtype):
    rng = np.random.default_rng(0)
    d, k = 4, 3
    mean, scale = rng.normal(size=d) * 5, 10.0 ** rng.uniform(-2, 2, d)
    like = {"W0": np.zeros((d, k), dtype)}
    if with_intercept:
        like["b0"] = np.zeros(k, dtype)
    like.update({"W1": np.zeros((k, 2), dtype), "b1": np.zeros(2, dtype)})   # untouched layer
    apply = standardizing_preconditioner(like, mean, scale)
    q = {key: rng.normal(size=value.shape).astype(dtype) for key, value in like.items()}
    r = _tree.unravel(apply(_tree.ravel(q)), like)
    A = _change_of_variables(mean, scale, k, with_intercept)
    H = A @ A.T
    assert np.linalg.eigvalsh(H).min() > 0                   # symmetric positive definite
    for c in range(k):
        column = np.r_[q["W0"][:, c], q["b0"][c]] if with_intercept else q["W0"][:, c]
        expected = H @ column.astype(np.float64)
        got = np.r_[r["W0"][:, c], r["b0"][c]] if with_intercept else r["W0"][:, c]
        np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(r["W1"], q["W1"])
    np.testing.assert_array_equal(r["b1"], q["b1"])
    assert all(value.dtype == dtype for value in r.values())


def test_preconditioner_refuses_bad_statistics():
    like = {"W0": np.zeros((2, 1)), "b0": np.zeros(1)}
    with pytest.raises(XentlearnInputError, match="positive"):
        standardizing_preconditioner(like, np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(XentlearnInputError, match=r"shape \(2,\)"):
        standardizing_preconditioner(like, np.zeros(3), np.ones(3))
    with pytest.raises(XentlearnInputError, match="weights='W9'"):
        standardizing_preconditioner(like, np.zeros(2), np.ones(2), weights="W9")


def _badly_scaled_logistic():
    rng = np.random.default_rng(3)
    n, d = 200, 4
    Z = rng.normal(size=(n, d))
    y = np.where(Z @ np.array([1.5, -1.0, 0.5, 2.0]) + 0.3 + rng.normal(size=n) > 0, 1.0, -1.0)
    scale = np.array([1e-3, 1.0, 1e2, 1e3])
    X = Z * scale + np.array([0.0, 50.0, -3e3, 1e4])        # units and offsets far apart
    mean, std = X.mean(axis=0), X.std(axis=0)

    def value_and_grad(params):
        flat = {"w": params["W0"][:, 0], "b": params["b0"]}
        value, grads = logistic_value_and_grad(flat, X, y, 1e-2)
        return value, {"W0": grads["w"][:, None], "b0": grads["b"]}

    return value_and_grad, {"W0": np.zeros((d, 1)), "b0": np.zeros(1)}, mean, std


def _lbfgs_iterations(value_and_grad, params, optimizer, max_iterations=500, gtol=1e-9):
    state, memo = optimizer.init(params), Memo(value_and_grad)
    for iteration in range(max_iterations):
        value, grads = memo(params)
        if max(float(np.abs(g).max()) for g in grads.values()) <= gtol:
            return params, iteration
        updates, state = optimizer.update(grads, state, params, value=value, value_fn=memo)
        if state.failed:
            return params, iteration
        params = apply_updates(params, updates)
    return params, max_iterations


def test_lbfgs_with_preconditioner_keeps_the_optimum_and_needs_far_fewer_iterations():
    value_and_grad, start, mean, std = _badly_scaled_logistic()
    preconditioned, n_pre = _lbfgs_iterations(
        value_and_grad, start, lbfgs(preconditioner=standardizing_preconditioner(start, mean, std)))
    plain, n_plain = _lbfgs_iterations(value_and_grad, start, lbfgs())
    # The same objective: both stop at the same point (the plain run only much later).
    f_pre, f_plain = value_and_grad(preconditioned)[0], value_and_grad(plain)[0]
    assert abs(f_pre - f_plain) <= 1e-14
    assert n_pre <= 20
    assert n_plain >= 5 * n_pre
    # Stationary in the standardised variables, A^T g = ((g_W - mean g_b) / std, g_b):
    # in the user's units a column of values ~1e4 has a gradient that rounding keeps
    # near 1e-5 (a step that would lower it changes f by less than one ulp).
    _, grads = value_and_grad(preconditioned)
    standardised = (grads["W0"][:, 0] - mean * grads["b0"][0]) / std
    assert np.abs(standardised).max() <= 1e-7
    assert abs(grads["b0"][0]) <= 1e-8


def test_lbfgs_falls_back_to_the_gradient_when_the_preconditioner_overflows():
    value_and_grad, start, _, _ = _badly_scaled_logistic()
    overflowing = lbfgs(preconditioner=lambda q: np.full_like(q, np.inf))
    params, iterations = _lbfgs_iterations(value_and_grad, start, overflowing, max_iterations=3)
    assert value_and_grad(params)[0] < value_and_grad(start)[0]     # steps were taken

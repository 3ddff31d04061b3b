"""OWL-QN: the KKT conditions of f + l1 |W| at the point it stops, the optimum and the
support of scikit-learn's saga and of glum, exact zeros, dtypes, pure updates, and the
standardising preconditioner (whose centring the orthant projections must respect)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.linear_model import LogisticRegression

from tests.optimizers.test_opt_convergence import Memo
from xentlearn import _tree
from xentlearn.data import ArraySource
from xentlearn.exceptions import XentlearnInputError
from xentlearn.models import MLP, Linear
from xentlearn.objective import Objective, make_loss
from xentlearn.optimizers import (
    OwlqnState, apply_updates, owlqn, pseudo_gradient, standardizing_preconditioner,
    state_from_arrays, state_to_arrays)
from xentlearn.optimizers._owlqn import best_row_shift
from xentlearn.penalties import Penalty


# ----------------------------------------------------------------------------------------
# Problems, built from the library's own objective.

def _data(n, d, *, k=None, seed, scales=False, dtype=np.float64):
    """Correlated Gaussian features (AR(1), rho 0.6), a sparse true model; binary 0/1
    targets, or k classes. With `scales`, columns get units from 1e-2 to 1e3 and offsets
    of ten spreads, as raw user data has."""
    rng = np.random.default_rng(seed)
    cov = 0.6 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    Z = rng.multivariate_normal(np.zeros(d), cov, size=n)
    if k is None:
        beta = np.zeros(d)
        beta[: d // 3] = rng.normal(size=d // 3) * 2
        y = (Z @ beta + 0.3 + rng.logistic(size=n) > 0).astype(dtype)
    else:
        beta = np.zeros((d, k))
        beta[: d // 2] = rng.normal(size=(d // 2, k)) * 1.5
        y = (Z @ beta + rng.gumbel(size=(n, k))).argmax(axis=1).astype(np.intp)
    X = Z
    if scales:
        scale = 10.0 ** rng.uniform(-2, 3, d)
        X = Z * scale + rng.normal(size=d) * 10 * scale
    return X.astype(dtype), y


class _Problem:
    """F = mean weighted cross-entropy + alpha * (l1_ratio |W|_1 + (1 - l1_ratio) |W|^2 / 2)."""

    def __init__(self, X, y, alpha, l1_ratio, sample_weight=None):
        self.task = "binary" if y.dtype.kind == "f" else "multiclass"
        k = 1 if self.task == "binary" else int(y.max()) + 1
        self.model = Linear(X.shape[1], k)
        self.penalty = Penalty(alpha, l1_ratio)
        self.objective = Objective(self.model, make_loss(self.task), self.penalty, self.task)
        self.source = ArraySource(X, y, sample_weight)
        self.mask = self.model.penalty_mask()
        self.l1 = self.penalty.l1_strength
        self.X = X

    def value_and_grad(self, params):
        """(F with the L1 term, gradient of the smooth part), as the training loop's."""
        return self.objective.value_and_grad(params, self.source.batches(None))

    def start(self, dtype=np.float64):
        return self.model.init(np.random.default_rng(0), dtype)

    def preconditioner(self, params):
        X = self.X.toarray() if sp.issparse(self.X) else self.X
        return standardizing_preconditioner(params, X.mean(axis=0), X.std(axis=0))


def _max_abs(tree) -> float:
    return max(float(np.abs(value).max(initial=0.0)) for value in tree.values())


def minimise(problem: _Problem, optimizer=None, *, params=None, tol=1e-10, max_iter=300,
             **options):
    """The training loop's full-batch rule: stop at max |pseudo-gradient| <= tol, or on
    all-zero updates (the line search found no decrease)."""
    optimizer = optimizer or owlqn(problem.l1, mask=problem.mask, **options)
    params = problem.start() if params is None else params
    state = optimizer.init(params)
    value_fn = Memo(problem.value_and_grad)
    for iteration in range(max_iter):
        value, grads = value_fn(params)
        if _max_abs(pseudo_gradient(params, grads, problem.l1, problem.mask)) <= tol:
            return params, iteration, state
        updates, state = optimizer.update(grads, state, params, value=value, value_fn=value_fn)
        if not any(u.any() for u in updates.values()):
            return params, iteration, state
        params = apply_updates(params, updates)
    return params, max_iter, state


def _check_kkt(problem: _Problem, params, tol):
    """0 in the subdifferential: |g_j| <= l1 where w_j == 0, g_j = -l1 sign(w_j) elsewhere,
    g = 0 on the intercepts. Returns (margin of the zeros, smallest non-zero |w_j|)."""
    _, grads = problem.value_and_grad(params)
    W, g = params["W0"], grads["W0"]
    zero = W == 0
    assert np.all(np.abs(g[zero]) <= problem.l1 + tol)
    np.testing.assert_allclose(g[~zero], -problem.l1 * np.sign(W[~zero]), rtol=0, atol=tol)
    assert _max_abs({"b0": grads["b0"]}) <= tol
    margin = float((problem.l1 - np.abs(g[zero])).min(initial=np.inf))
    return margin, float(np.abs(W[~zero]).min(initial=np.inf))


def _centred(intercepts):
    return intercepts - intercepts.mean()


def _saga(n, alpha, l1_ratio):
    """scikit-learn's LogisticRegression with the same optimum: C = 1 / (n alpha)."""
    options = dict(C=1.0 / (n * alpha), l1_ratio=l1_ratio, solver="saga", tol=1e-12,
                   max_iter=100_000)
    if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) < (1, 8):
        options["penalty"] = "l1" if l1_ratio == 1.0 else "elasticnet"   # before 1.8
    return LogisticRegression(**options)


# ----------------------------------------------------------------------------------------
# Optimality.

@pytest.mark.parametrize("direction_projection", ["zeros", "all"])
@pytest.mark.parametrize("k, l1_ratio", [(None, 1.0), (3, 0.5)])
def test_kkt_conditions_hold_with_exact_zeros(k, l1_ratio, direction_projection):
    X, y = _data(300, 12, k=k, seed=1)
    problem = _Problem(X, y, alpha=0.03, l1_ratio=l1_ratio)
    params, iterations, state = minimise(problem, direction_projection=direction_projection)
    assert iterations < 100 and not state.failed
    margin, smallest = _check_kkt(problem, params, tol=1e-9)
    n_zero = int((params["W0"] == 0).sum())
    assert 0 < n_zero < params["W0"].size        # both kinds of coordinate are tested
    assert margin > 1e-4 and smallest > 1e-4     # and neither is a borderline case


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stops_by_itself_at_the_rounding_floor(dtype):
    # With tol 0 the loop relies on the optimizer's all-zero updates to stop, as it does
    # for lbfgs: steps below F's rounding go on only while they make progress.
    X, y = _data(300, 10, k=3, seed=14)
    problem = _Problem(X.astype(dtype), y, alpha=0.01, l1_ratio=1.0)
    params, iterations, state = minimise(problem, params=problem.start(dtype), tol=0.0,
                                         max_iter=1000)
    assert state.failed and iterations < 400
    _check_kkt(problem, params, tol=1e-13 if dtype == np.float64 else 1e-5)


def test_binary_l1_matches_saga_optimum_and_support():
    n, alpha = 300, 0.02
    X, y = _data(n, 10, seed=2)
    problem = _Problem(X, y, alpha=alpha, l1_ratio=1.0)
    params, _, _ = minimise(problem)
    reference = _saga(n, alpha, 1.0).fit(X, y)
    W = params["W0"][:, 0]
    np.testing.assert_array_equal(W != 0, reference.coef_[0] != 0)
    np.testing.assert_allclose(W, reference.coef_[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(params["b0"], reference.intercept_, rtol=0, atol=1e-9)
    assert 0 < np.count_nonzero(W) < W.size


def test_collinear_columns_trading_weight_reach_saga_optimum_and_support():
    # Two pairs of columns correlated at 0.9996: the memory's direction found no decrease
    # after 18 iterations, 7e-4 above the optimum with one zero of three, and the run
    # stopped "converged" without a word. Now it restarts from steepest descent.
    from xentlearn import LogisticRegression as XentLogisticRegression

    rng = np.random.default_rng(1)
    n = 200
    X = rng.normal(size=(n, 6))
    X[:, 5] = X[:, 0] + 0.03 * rng.normal(size=n)
    X[:, 4] = X[:, 1] + 0.03 * rng.normal(size=n)
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=n) > 0.8).astype(int)
    alpha = 1 / (n * 0.5)
    ours = XentLogisticRegression(penalty="l1", alpha=alpha, tol=1e-10, max_iter=2000).fit(X, y)
    reference = _saga(n, alpha, 1.0).fit(X, y)
    np.testing.assert_array_equal(ours.coef_ != 0, reference.coef_ != 0)
    assert np.count_nonzero(ours.coef_) == 3
    np.testing.assert_allclose(ours.coef_, reference.coef_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=0, atol=1e-7)


def test_multinomial_elasticnet_matches_saga_optimum_and_support():
    n, alpha, l1_ratio = 300, 0.01, 0.5
    X, y = _data(n, 8, k=3, seed=3)
    problem = _Problem(X, y, alpha=alpha, l1_ratio=l1_ratio)
    params, _, _ = minimise(problem)
    reference = _saga(n, alpha, l1_ratio).fit(X, y)
    W = params["W0"]                                   # (d, k); scikit-learn's coef_ is (k, d)
    np.testing.assert_array_equal(W != 0, reference.coef_.T != 0)
    np.testing.assert_allclose(W, reference.coef_.T, rtol=0, atol=1e-8)
    # Softmax is blind to a common shift of the (unpenalised) intercepts.
    np.testing.assert_allclose(_centred(params["b0"]), _centred(reference.intercept_),
                               rtol=0, atol=1e-8)
    assert 0 < np.count_nonzero(W) < W.size


@pytest.mark.parametrize("l1, l2", [(1e-3, 1e-3), (0.02, 0.0), (0.5, 2.0)])
def test_best_row_shift_is_the_exact_minimiser_of_each_row_penalty(l1, l2):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(40, 5)) * 0.05
    W[:5] = 0.0                                           # rows already at their optimum
    moved = best_row_shift(W, l1, l2)

    def penalty(V):
        return l1 * np.abs(V).sum(axis=-1) + 0.5 * l2 * (V * V).sum(axis=-1)

    grid = np.linspace(-0.3, 0.3, 60_001)                 # steps of 1e-5
    brute = penalty(W[:, None, :] - grid[None, :, None]).min(axis=1)
    assert np.all(penalty(moved) <= brute + 1e-12)
    assert np.all(penalty(moved) <= penalty(W))
    np.testing.assert_allclose(np.ptp(moved - W, axis=1), 0.0, atol=1e-15)   # one shift a row
    assert np.array_equal(moved[:5], W[:5])
    assert np.count_nonzero(moved[5:] == 0) >= 35         # every moved row has a kink at 0
    assert best_row_shift(moved, l1, l2) is None          # and stays put


@pytest.mark.parametrize("l1_ratio, k", [(0.5, 4), (1.0, 3)])
def test_shift_invariant_softmax_rows_reach_the_same_optimum_in_fewer_iterations(l1_ratio, k):
    # Softmax cannot see a constant added to a row of W: F moves along it only through
    # the penalty, nearly flat, which is where OWL-QN's pairs learn slowest. (Pure L1 with
    # an even number of classes has a segment of optima along such a row: k odd here.)
    n, alpha = 2000, 0.01
    X, y = _data(n, 12, k=k, seed=5)
    problem = _Problem(X, y, alpha=alpha, l1_ratio=l1_ratio)
    plain, plain_iterations, _ = minimise(problem, tol=1e-9, max_iter=2000)
    shifted, shifted_iterations, state = minimise(
        problem, tol=1e-9, max_iter=2000, shift_invariant="W0",
        l2_strength=problem.penalty.l2_strength)
    F_plain, F_shifted = problem.value_and_grad(plain)[0], problem.value_and_grad(shifted)[0]
    assert abs(F_shifted - F_plain) <= 1e-12 * F_plain
    np.testing.assert_array_equal(shifted["W0"] != 0, plain["W0"] != 0)
    np.testing.assert_allclose(shifted["W0"], plain["W0"], rtol=0, atol=1e-7)
    _check_kkt(problem, shifted, 1e-8)
    assert shifted_iterations < plain_iterations
    assert state.n_evaluations <= 1.3 * shifted_iterations + 5


@pytest.mark.parametrize("l1_ratio", [1.0, 0.4])
def test_binary_matches_glum_on_raw_badly_scaled_data(l1_ratio):
    # glum minimises deviance / (2 sum s) + alpha l1_ratio |w|_1 + alpha (1 - l1_ratio) |w|^2 / 2;
    # binomial deviance is twice the log-loss, so the objective is ours, term for term.
    import glum
    n, alpha = 400, 0.01
    X, y = _data(n, 12, seed=4, scales=True)
    sample_weight = np.random.default_rng(5).uniform(0.5, 2.0, n)
    problem = _Problem(X, y, alpha=alpha, l1_ratio=l1_ratio, sample_weight=sample_weight)
    start = problem.start()
    params, iterations, _ = minimise(problem, preconditioner=problem.preconditioner(start),
                                     tol=1e-9)
    reference = glum.GeneralizedLinearRegressor(
        family="binomial", alpha=alpha, l1_ratio=l1_ratio, gradient_tol=1e-12,
        max_iter=1000).fit(X, y, sample_weight=sample_weight)
    W = params["W0"][:, 0]
    np.testing.assert_array_equal(W != 0, reference.coef_ != 0)
    assert 0 < np.count_nonzero(W) < W.size
    # Columns differ in units by 1e5: compare coefficients in standardised units, and the
    # logits themselves (the intercept absorbs mean * W, so alone it says little).
    std = X.std(axis=0)
    np.testing.assert_allclose(W * std, reference.coef_ * std, rtol=0, atol=1e-7)
    logits = X @ W + params["b0"][0]
    np.testing.assert_allclose(logits, X @ reference.coef_ + reference.intercept_,
                               rtol=0, atol=1e-6)
    reference_params = {"W0": reference.coef_[:, None], "b0": np.array([reference.intercept_])}
    value, reference_value = (problem.value_and_grad(p)[0] for p in (params, reference_params))
    assert value <= reference_value + 1e-14
    assert iterations <= 80


def test_mlp_reaches_a_stationary_point_of_the_nonconvex_objective_with_exact_zeros():
    X, y = _data(300, 8, k=3, seed=5, scales=True)
    model = MLP(8, (6,), 3, "tanh")
    objective = Objective(model, make_loss("multiclass"), Penalty(0.01, 1.0), "multiclass")
    source, mask = ArraySource(X, y), model.penalty_mask()     # every W penalised, no b

    def value_and_grad(params):
        return objective.value_and_grad(params, source.batches(None))

    params = model.init(np.random.default_rng(0), np.float64)
    optimizer = owlqn(0.01, mask=mask, preconditioner=standardizing_preconditioner(
        params, X.mean(axis=0), X.std(axis=0)))
    state, memo = optimizer.init(params), Memo(value_and_grad)
    start_value = memo(params)[0]
    for _ in range(500):
        value, grads = memo(params)
        if _max_abs(pseudo_gradient(params, grads, 0.01, mask)) <= 1e-7:
            break
        updates, state = optimizer.update(grads, state, params, value=value, value_fn=memo)
        assert not state.failed
        params = apply_updates(params, updates)
    assert _max_abs(pseudo_gradient(params, grads, 0.01, mask)) <= 1e-7
    assert value < start_value
    for key in ("W0", "W1"):
        assert 0 < np.count_nonzero(params[key] == 0) < params[key].size


# ----------------------------------------------------------------------------------------
# Exact zeros, data formats, dtypes, purity.

def test_large_l1_converges_to_exact_zeros_and_the_log_odds_intercept():
    X, y = _data(200, 6, seed=6)
    p = y.mean()
    # At W = 0 with the best intercept, g_W = X^T (p - y) / n: above that, 0 is optimal.
    threshold = float(np.abs(X.T @ (p - y)).max() / len(y))
    problem = _Problem(X, y, alpha=1.5 * threshold, l1_ratio=1.0)
    start = {"W0": np.random.default_rng(0).normal(size=(6, 1)), "b0": np.array([-1.0])}
    params, iterations, state = minimise(problem, params=start)
    assert not state.failed and iterations < 50
    assert np.all(params["W0"] == 0.0)                  # exactly zero, not 1e-17
    assert params["b0"][0] == pytest.approx(math.log(p / (1 - p)), abs=1e-9)


def test_dense_and_csr_give_the_same_result():
    X, y = _data(250, 10, k=3, seed=7)
    X[np.random.default_rng(8).random(X.shape) < 0.6] = 0.0
    results = []
    for matrix in (X, sp.csr_matrix(X)):
        problem = _Problem(matrix, y, alpha=0.02, l1_ratio=0.7)
        start = problem.start()
        results.append(minimise(problem, preconditioner=problem.preconditioner(start))[0])
    dense, sparse = results
    np.testing.assert_array_equal(dense["W0"] != 0, sparse["W0"] != 0)
    np.testing.assert_allclose(sparse["W0"], dense["W0"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(_centred(sparse["b0"]), _centred(dense["b0"]), rtol=0, atol=1e-9)


def test_float32_stays_float32_and_reaches_the_float64_optimum():
    X, y = _data(300, 8, k=3, seed=9)
    reference, _, _ = minimise(_Problem(X, y, alpha=0.03, l1_ratio=1.0))
    problem = _Problem(X.astype(np.float32), y, alpha=0.03, l1_ratio=1.0)
    start = problem.start(np.float32)
    optimizer = owlqn(problem.l1, mask=problem.mask, preconditioner=problem.preconditioner(start))
    state = optimizer.init(start)
    params = start
    for _ in range(60):
        value, grads = problem.value_and_grad(params)
        assert all(g.dtype == np.float32 for g in grads.values())
        updates, state = optimizer.update(grads, state, params, value=value,
                                          value_fn=problem.value_and_grad)
        assert all(u.dtype == np.float32 for u in updates.values())
        params = apply_updates(params, updates)
        if state.failed:
            break
    assert all(p.dtype == np.float32 for p in params.values())
    assert all(leaf.dtype == np.float32 for leaf in state.s_history + state.y_history)
    assert state.rho.dtype == np.float32
    np.testing.assert_allclose(params["W0"], reference["W0"], rtol=0, atol=2e-4)
    np.testing.assert_allclose(_centred(params["b0"]), _centred(reference["b0"]),
                               rtol=0, atol=2e-4)
    np.testing.assert_array_equal(params["W0"] != 0, reference["W0"] != 0)


def _leaf_signature(state):
    return [(key, type(leaf).__name__, getattr(leaf, "shape", None), getattr(leaf, "dtype", None))
            for key, leaf in state_to_arrays(state).items()]


def test_update_is_pure_keeps_the_state_structure_and_resumes_from_saved_arrays():
    X, y = _data(200, 6, k=3, seed=10)
    problem = _Problem(X, y, alpha=0.02, l1_ratio=1.0)
    params = problem.start()
    optimizer = owlqn(problem.l1, mask=problem.mask, memory_size=3,
                      preconditioner=problem.preconditioner(params))
    state = optimizer.init(params)
    signature = [(f, type(v).__name__) for f, v in zip(state._fields, state)]
    for _ in range(6):     # past memory_size, so the ring buffer wraps
        value, grads = problem.value_and_grad(params)
        before = (_tree.copy(params), _tree.copy(grads), state_to_arrays(state))
        updates, new_state = optimizer.update(grads, state, params, value=value,
                                              value_fn=problem.value_and_grad)
        for old, now in zip(before[:2], (params, grads)):
            assert all(np.array_equal(old[k], now[k]) for k in old)
        assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(
            before[2].values(), state_to_arrays(state).values()))
        assert isinstance(new_state, OwlqnState)
        assert [(f, type(v).__name__) for f, v in zip(new_state._fields, new_state)] == signature
        assert _leaf_signature(new_state) == _leaf_signature(state)
        params, state = apply_updates(params, updates), new_state
    # A checkpoint is arrays only; restored, the next update is bit-identical.
    restored = state_from_arrays(state_to_arrays(state), optimizer.init(params))
    value, grads = problem.value_and_grad(params)
    a, _ = optimizer.update(grads, state, params, value=value, value_fn=problem.value_and_grad)
    b, _ = optimizer.update(grads, restored, params, value=value, value_fn=problem.value_and_grad)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_accepted_point_is_one_the_line_search_evaluated():
    X, y = _data(200, 6, seed=11)
    problem = _Problem(X, y, alpha=0.02, l1_ratio=1.0)
    optimizer = owlqn(problem.l1, mask=problem.mask)
    params = problem.start()
    state, memo = optimizer.init(params), Memo(problem.value_and_grad)
    for _ in range(15):
        value, grads = memo(params)
        updates, state = optimizer.update(grads, state, params, value=value, value_fn=memo)
        if state.failed:
            break
        params = apply_updates(params, updates)
        assert any(all(np.array_equal(params[k], p[k]) for k in p) for p in memo.evaluated)
    assert memo.calls <= state.n_evaluations + 1      # the next gradient came from the memo


def test_value_without_the_l1_term_gives_the_same_optimum():
    X, y = _data(200, 8, seed=12)
    problem = _Problem(X, y, alpha=0.02, l1_ratio=0.5)
    expected, _, _ = minimise(problem)

    full = problem.value_and_grad

    def smooth_only(params):      # f alone: the optimizer adds l1 |W|_1 itself
        value, grads = full(params)
        return value - Penalty(problem.l1, 1.0).value(params, problem.mask), grads

    problem.value_and_grad = smooth_only
    params, _, _ = minimise(problem, value_includes_l1=False)
    for key in params:
        np.testing.assert_allclose(params[key], expected[key], rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------------------
# The preconditioner and the orthants.

def test_centring_preconditioner_converges_fast_on_raw_units_where_projecting_without_it_stalls():
    X, y = _data(400, 12, seed=13, scales=True)
    problem = _Problem(X, y, alpha=3e-3, l1_ratio=1.0)
    start = problem.start()
    preconditioner = problem.preconditioner(start)
    params, iterations, _ = minimise(problem, preconditioner=preconditioner)
    assert iterations <= 80
    # The optimum in the user's units: the KKT conditions, to the precision that columns
    # of values ~1e4 allow.
    margin, smallest = _check_kkt(problem, params, tol=1e-9)
    assert margin > 0 and smallest > 0
    best = problem.value_and_grad(params)[0]
    # The same P without its centring: projections in x keep the intercept's compensation
    # of weights that were projected away. Valid, but it crawls.
    plain = lambda q: preconditioner(q)   # noqa: E731 (a callable without .centring)
    stalled, _, _ = minimise(problem, preconditioner=plain, max_iter=iterations)
    assert problem.value_and_grad(stalled)[0] > best + 1e-6
    unpreconditioned, _, _ = minimise(problem, max_iter=iterations)
    assert problem.value_and_grad(unpreconditioned)[0] > best + 1e-6


# ----------------------------------------------------------------------------------------
# The pseudo-gradient, and bad input.

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pseudo_gradient_is_the_minimum_norm_subgradient(dtype):
    params = {"W0": np.array([[1.0, -2.0], [0.0, 0.0], [0.0, 0.0]], dtype),
              "b0": np.array([0.0, 3.0], dtype)}
    grads = {"W0": np.array([[0.5, 0.5], [0.25, -0.25], [2.0, -3.0]], dtype),
             "b0": np.array([0.125, -0.5], dtype)}
    pg = pseudo_gradient(params, grads, 1.0, {"b0": False})
    expected = {"W0": [[1.5, -0.5], [0.0, 0.0], [1.0, -2.0]], "b0": [0.125, -0.5]}
    for key in params:
        assert pg[key].dtype == dtype
        np.testing.assert_array_equal(pg[key], np.asarray(expected[key], dtype))
    # Unmasked, the intercept is penalised too; l1 = 0 is the gradient.
    assert pseudo_gradient(params, grads, 1.0)["b0"].tolist() == [0.0, 0.5]
    assert pseudo_gradient(params, grads, 0.0)["W0"] is grads["W0"]


def test_bad_input_is_refused():
    with pytest.raises(XentlearnInputError, match="l1_strength"):
        owlqn(-1.0)
    with pytest.raises(XentlearnInputError, match="memory_size"):
        owlqn(1.0, memory_size=0)
    with pytest.raises(XentlearnInputError, match="direction_projection"):
        owlqn(1.0, direction_projection="some")
    params = {"W0": np.zeros((2, 1))}
    optimizer = owlqn(0.1)
    state = optimizer.init(params)
    with pytest.raises(XentlearnInputError, match="value_fn"):
        optimizer.update({"W0": np.ones((2, 1))}, state, params)
    with pytest.raises(XentlearnInputError, match="entries"):
        optimizer.update({"W0": np.ones((3, 1))}, state, {"W0": np.zeros((3, 1))},
                         value_fn=lambda p: (0.0, p))

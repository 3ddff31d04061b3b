"""Convergence table: every optimizer reaches the known optimum of every test problem;
L-BFGS reaches scipy's optimum in few iterations; the L1 prox satisfies the KKT conditions."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.linear_model import Lasso

from tests.optimizers.problems import (
    PROBLEMS, Problem, logistic_data, logistic_value_and_grad, max_distance)
from xentlearn import schedules
from xentlearn.optimizers import (
    adagrad, adam, adamw, apply_updates, chain, lbfgs, proximal_l1, rmsprop, sgd,
    with_curvature)

# name -> (factory(learning_rate, n_steps), {problem: learning_rate}).
# Adaptive methods at a constant rate hover around the optimum at a distance ~ lr
# (their step does not shrink with the gradient), so they get a cosine decay to 0.
OPTIMIZERS_UNDER_TEST = {
    "sgd": (lambda lr, n: sgd(lr),
            {"quadratic": 0.3, "rosenbrock": 1.5e-3, "logistic": 1.0}),
    "sgd-momentum": (lambda lr, n: sgd(lr, momentum=0.9),
                     {"quadratic": 0.1, "rosenbrock": 3e-3, "logistic": 0.3}),
    "sgd-nesterov": (lambda lr, n: sgd(lr, momentum=0.9, nesterov=True),
                     {"quadratic": 0.1, "rosenbrock": 1e-3, "logistic": 0.3}),
    "adam": (lambda lr, n: adam(schedules.cosine(lr, n)),
             {"quadratic": 0.1, "rosenbrock": 0.3, "logistic": 0.3}),
    "adamw": (lambda lr, n: adamw(schedules.cosine(lr, n), weight_decay=0.0),
              {"quadratic": 0.1, "rosenbrock": 0.3, "logistic": 0.3}),
    "adagrad": (lambda lr, n: adagrad(lr),
                {"quadratic": 0.3, "rosenbrock": 1.0, "logistic": 0.3}),
    "rmsprop": (lambda lr, n: rmsprop(schedules.cosine(lr, n)),
                {"quadratic": 0.1, "rosenbrock": 3e-3, "logistic": 0.1}),
    "rmsprop-momentum": (lambda lr, n: rmsprop(schedules.cosine(lr, n), momentum=0.9),
                         {"quadratic": 0.03, "rosenbrock": 1e-3, "logistic": 0.1}),
}
N_STEPS = {"quadratic": 1000, "rosenbrock": 3000, "logistic": 1000}
TOLERANCE = {"quadratic": 1e-8, "rosenbrock": 1e-4, "logistic": 1e-6}
# First-order methods without momentum crawl along Rosenbrock's curved valley.
SLOW = {("sgd", "rosenbrock"): 20000, ("adagrad", "rosenbrock"): 10000,
        ("rmsprop", "rosenbrock"): 10000}
LOOSE = {("adagrad", "rosenbrock"): 1e-3}


def minimise(optimizer, problem: Problem, n_steps: int, dtype=np.float64):
    params = {k: v.astype(dtype) for k, v in problem.start.items()}
    state = optimizer.init(params)
    for _ in range(n_steps):
        value, grads = problem.value_and_grad(params)
        updates, state = optimizer.update(grads, state, params, value=value)
        params = apply_updates(params, updates)
    return params


@pytest.mark.parametrize("problem_name", list(PROBLEMS))
@pytest.mark.parametrize("optimizer_name", list(OPTIMIZERS_UNDER_TEST))
def test_reaches_optimum(optimizer_name, problem_name):
    factory, learning_rates = OPTIMIZERS_UNDER_TEST[optimizer_name]
    problem = PROBLEMS[problem_name]
    n_steps = SLOW.get((optimizer_name, problem_name), N_STEPS[problem_name])
    params = minimise(factory(learning_rates[problem_name], n_steps), problem, n_steps)
    tolerance = LOOSE.get((optimizer_name, problem_name), TOLERANCE[problem_name])
    assert max_distance(params, problem.optimum) < tolerance
    assert max_distance(problem.start, problem.optimum) > 100 * tolerance


class Memo:
    """One-entry memo keyed by parameter content, as the training loop's; counts real calls."""

    def __init__(self, value_and_grad):
        self.value_and_grad, self.calls, self.evaluated = value_and_grad, 0, []
        self._key = self._result = None

    def __call__(self, params):
        if self._key is not None and all(np.array_equal(params[k], self._key[k]) for k in params):
            return self._result
        self.calls += 1
        self.evaluated.append(params)
        self._key, self._result = params, self.value_and_grad(params)
        return self._result


def run_lbfgs(problem: Problem, max_iterations: int, dtype=np.float64, gtol=1e-10, **options):
    optimizer = lbfgs(**options)
    params = {k: v.astype(dtype) for k, v in problem.start.items()}
    state = optimizer.init(params)
    value_fn = Memo(problem.value_and_grad)
    iterations = 0
    for iterations in range(1, max_iterations + 1):
        value, grads = value_fn(params)
        if max(float(np.abs(g).max()) for g in grads.values()) <= gtol:
            break
        updates, state = optimizer.update(grads, state, params, value=value, value_fn=value_fn)
        new_params = apply_updates(params, updates)
        if state.failed:
            break
        # The accepted point is one the line search evaluated, bit for bit.
        assert any(all(np.array_equal(new_params[k], p[k]) for k in p) for p in value_fn.evaluated)
        params = new_params
    return params, state, iterations, value_fn


@pytest.mark.parametrize("problem_name", list(PROBLEMS))
def test_lbfgs_reaches_scipy_optimum_in_few_iterations(problem_name):
    problem = PROBLEMS[problem_name]
    params, state, iterations, value_fn = run_lbfgs(problem, 200)
    # Either the gradient reached gtol, or the line search could no longer decrease f:
    # that happens only at the optimum, where f is flat to machine precision.
    _, grads = problem.value_and_grad(params)
    assert not state.failed or max(float(np.abs(g).max()) for g in grads.values()) < 1e-8
    assert max_distance(params, problem.optimum) < 1e-8
    # scipy's L-BFGS-B needs 14 (quadratic), 39 (Rosenbrock) and 9 (logistic) iterations.
    assert iterations <= {"quadratic": 25, "rosenbrock": 60, "logistic": 20}[problem_name]
    # Each iteration reuses the gradient at the accepted point: the memo (like the training
    # loop's) means about one evaluation per iteration, not two.
    assert value_fn.calls <= state.n_evaluations + 1
    assert value_fn.calls <= 1.5 * iterations + 3


def test_lbfgs_float32_stays_float32_and_converges():
    problem = PROBLEMS["logistic"]
    params, state, _, _ = run_lbfgs(problem, 100, dtype=np.float32, gtol=1e-5)
    assert all(p.dtype == np.float32 for p in params.values())
    assert all(v.dtype == np.float32 for v in state.s_history + state.y_history)
    assert max_distance(params, problem.optimum) < 1e-3


def test_lbfgs_memory_wraps_around():
    # memory_size=2 on Rosenbrock: the ring buffer is overwritten many times and still converges.
    params, state, _, _ = run_lbfgs(PROBLEMS["rosenbrock"], 400, memory_size=2)
    assert state.n_pairs == 2
    assert max_distance(params, PROBLEMS["rosenbrock"].optimum) < 1e-6


def test_lbfgs_line_search_failure_gives_zero_updates_and_flag():
    def wrong_sign(params):
        # The "gradient" points uphill, so no step along -grad decreases the value.
        return float(params["x"] @ params["x"]), {"x": -2.0 * params["x"]}

    optimizer = lbfgs(max_linesearch=5)
    params = {"x": np.array([1.0, -2.0])}
    state = optimizer.init(params)
    value, grads = wrong_sign(params)
    updates, state = optimizer.update(grads, state, params, value=value, value_fn=wrong_sign)
    assert state.failed == 1
    assert all(not u.any() for u in updates.values())
    assert 1 <= state.n_evaluations <= 5


def test_lbfgs_zero_gradient_is_not_a_failure():
    optimizer = lbfgs()
    params = {"x": np.zeros(3)}
    updates, state = optimizer.update({"x": np.zeros(3)}, optimizer.init(params), params,
                                      value=0.0, value_fn=lambda p: (0.0, {"x": np.zeros(3)}))
    assert state.failed == 0 and not updates["x"].any()


# ---------------------------------------------------------------------------------------
# L1 by proximal steps: exact zeros, and the KKT conditions of smooth + strength * ||w||_1.

def assert_l1_kkt(w, grad_w, strength, atol):
    zero = w == 0.0
    assert zero.any() and (~zero).any(), "the test needs both zero and non-zero weights"
    # Subgradient condition at zeros, stationarity elsewhere.
    assert np.all(np.abs(grad_w[zero]) <= strength + atol)
    np.testing.assert_allclose(grad_w[~zero], -strength * np.sign(w[~zero]), atol=atol)


def lasso_problem(seed=3, n=60, d=8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ np.array([2.0, -1.5, 0, 0, 0.8, 0, 0, 0.1]) + 0.5 + 0.3 * rng.normal(size=n)

    def value_and_grad(params):
        r = X @ params["w"] + params["b"][0] - y
        return 0.5 * float(r @ r) / n, {"w": X.T @ r / n, "b": np.array([r.sum() / n])}

    lipschitz = float(np.linalg.eigvalsh(np.c_[X, np.ones(n)].T @ np.c_[X, np.ones(n)] / n).max())
    return X, y, value_and_grad, lipschitz


# The proximal step uses the optimizer's own metric (momentum's 1/(1-mu), Adam's and
# Adagrad's diagonal preconditioners), so every one of these has the lasso optimum as
# its fixed point; a scalar threshold would give no zeros with Adam and a 10x weaker
# penalty with momentum 0.9.
# name -> (factory(learning_rate), learning_rate; None is 1/L, L the Lipschitz constant)
PROXIMAL_UNDER_TEST = {
    "ista": (lambda lr: sgd(lr), None),
    "sgd-momentum": (lambda lr: sgd(lr, momentum=0.9), None),
    "sgd-nesterov": (lambda lr: sgd(lr, momentum=0.9, nesterov=True), None),
    "adam": (lambda lr: adam(lr), 0.05),
    "adamw-no-decay": (lambda lr: adamw(lr, weight_decay=0.0), 0.05),
    "adagrad": (lambda lr: adagrad(lr), 0.5),
}


@pytest.mark.parametrize("name", list(PROXIMAL_UNDER_TEST))
def test_proximal_l1_lasso_kkt_exact_zeros_and_sklearn(name):
    strength = 0.2
    X, y, value_and_grad, lipschitz = lasso_problem()
    factory, lr = PROXIMAL_UNDER_TEST[name]
    lr = 1.0 / lipschitz if lr is None else lr
    base = factory(lr)
    optimizer = chain(base, proximal_l1(strength, lr, {"w": True, "b": False}))
    problem = Problem("lasso", value_and_grad, {"w": np.zeros(8), "b": np.zeros(1)}, {})
    params = minimise(optimizer, problem, 1000)
    _, grads = value_and_grad(params)
    assert_l1_kkt(params["w"], grads["w"], strength, atol=1e-9)
    assert abs(grads["b"][0]) < 1e-9                    # intercept unpenalised
    reference = Lasso(alpha=strength, tol=1e-14, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(params["w"], reference.coef_, atol=1e-8)
    np.testing.assert_array_equal(params["w"] == 0.0, reference.coef_ == 0.0)


def test_proximal_sgd_l1_logistic_kkt():
    strength = 0.05
    X, y = logistic_data(n=80, d=6, seed=4)
    value_and_grad = functools.partial(logistic_value_and_grad, X=X, y=y, alpha=0.0)
    lr = 2.0
    optimizer = chain(sgd(lr, momentum=0.0), proximal_l1(strength, lr, {"w": True, "b": False}))
    problem = Problem("l1-logistic", value_and_grad, {"w": np.zeros(6), "b": np.zeros(1)}, {})
    params = minimise(optimizer, problem, 3000)
    _, grads = value_and_grad(params)
    assert_l1_kkt(params["w"], grads["w"], strength, atol=1e-9)
    assert abs(grads["b"][0]) < 1e-9


def test_with_curvature_carries_the_pairs_and_nothing_else():
    problem = PROBLEMS["quadratic"]
    optimizer = lbfgs(memory_size=4)
    _, solved, _, _ = run_lbfgs(problem, 3, gtol=0.0, memory_size=4)
    fresh = optimizer.init(problem.start)
    carried = with_curvature(fresh, solved)
    assert solved.n_pairs == 3 and solved.iteration == 3
    assert carried.s_history is solved.s_history and carried.y_history is solved.y_history
    assert np.array_equal(carried.rho, solved.rho)
    assert (carried.n_pairs, carried.head) == (solved.n_pairs, solved.head)
    assert (carried.iteration, carried.n_evaluations, carried.failed) == (0, 0, 0)
    assert np.isnan(carried.value) and carried.step_size == 1.0
    # The first update from the carried pairs tries the unit step, from fresh ones a
    # scaled gradient step; on the quadratic the pairs' step lands closer.
    params = {k: v.copy() for k, v in problem.start.items()}
    value_fn = Memo(problem.value_and_grad)
    value, grads = value_fn(params)
    steps = {}
    for name, state in (("fresh", fresh), ("carried", carried)):
        updates, _ = optimizer.update(grads, state, params, value=value, value_fn=value_fn)
        steps[name] = max_distance(apply_updates(params, updates), problem.optimum)
    assert steps["carried"] < steps["fresh"]
    # Chains carry inside; states without pairs stay as init made them.
    adam_state = adam(0.1).init(problem.start)
    assert with_curvature((fresh, adam_state), (solved, adam_state))[0].n_pairs == 3
    kept = with_curvature(adam_state, solved)
    assert len(kept) == len(adam_state) and all(a is b for a, b in zip(kept, adam_state))

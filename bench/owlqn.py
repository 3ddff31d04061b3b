"""Time to a relative objective gap of 1e-6: OWL-QN (the training loop's full-batch step, with
the standardising preconditioner) against scikit-learn's saga and glum. Run by hand, never
collected as a test (about a minute on two cores):

    .venv/bin/python bench/owlqn.py [--rounds 3] [--scaled]

Binary logistic regression, 200k x 100 dense correlated features, L1 with alpha=1e-3
(sklearn C = 1 / (n alpha), glum alpha=1e-3, l1_ratio=1: the same objective). The
reference F* is the lowest objective any solver reaches with tight tolerances. saga and
glum stop on their own tolerances, so each is timed with the loosest of a ladder of
tolerances that reaches the gap (found once, before the timed rounds); OWL-QN stops
as soon as the objective at its accepted point is within the gap; "owlqn-tol" is the
training loop's own stop, max |pseudo-gradient| <= 1e-6 (LogisticRegression's tol). Runs alternate
solver by solver in one process, so a busy shared machine slows them all alike.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

GAP = 1e-6


def _data(n, d, seed, scaled):
    rng = np.random.default_rng(seed)
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    X = rng.standard_normal((n, d)) @ np.linalg.cholesky(cov).T
    beta = np.zeros(d)
    beta[rng.choice(d, 20, replace=False)] = rng.normal(size=20)
    y = (X @ beta + 0.5 + rng.logistic(size=n) > 0).astype(np.float64)
    if scaled:   # raw units: spreads 1e-2 .. 1e3 and offsets of ten spreads
        scale = 10.0 ** rng.uniform(-2, 3, d)
        X = X * scale + rng.normal(size=d) * 10 * scale
    return np.ascontiguousarray(X), y


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scaled", action="store_true", help="raw, badly scaled columns")
    parser.add_argument("--no-saga", action="store_true")
    args = parser.parse_args(argv)

    import glum
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from xentlearn.data import ArraySource, column_moments
    from xentlearn.models import Linear
    from xentlearn.objective import Objective, make_loss
    from xentlearn.optimizers import (
        apply_updates, owlqn, pseudo_gradient, standardizing_preconditioner)
    from xentlearn.penalties import Penalty
    from xentlearn.training._parallel import parallel_map

    n, d, alpha = 200_000, 100, 1e-3
    X, y = _data(n, d, 0, args.scaled)
    model = Linear(d, 1)
    objective = Objective(model, make_loss("binary"), Penalty(alpha, 1.0), "binary")
    source = ArraySource(X, y)
    mask = model.penalty_mask()

    def F(coef, intercept):
        params = {"W0": np.asarray(coef, float).reshape(d, 1),
                  "b0": np.asarray(intercept, float).reshape(1)}
        return objective.value_and_grad(params, source.batches(None))[0]

    def run_owlqn(target=None, max_iter=2000, tol=None):
        # The training loop's full-batch step, written out (the loop itself is being
        # refactored): a one-entry memo by parameter content, BLAS on one thread per
        # worker of the loop's ordered thread-pool map.
        start = time.perf_counter()
        params = model.init(np.random.default_rng(0), np.float64)
        # The estimator's lbfgs preconditioner (no L2 here): one pass for the column moments.
        moments = column_moments(source.batches(None))
        preconditioner = standardizing_preconditioner(params, moments.mean,
                                                      np.sqrt(moments.var))
        optimizer = owlqn(alpha, mask=mask, preconditioner=preconditioner)
        state = optimizer.init(params)
        with parallel_map() as map_fn:
            memo = {}

            def value_fn(p):
                if "key" in memo and all(np.array_equal(p[k], memo["key"][k]) for k in p):
                    return memo["result"]
                memo["key"], memo["result"] = p, objective.value_and_grad(
                    p, source.batches(None), map_fn=map_fn)
                return memo["result"]

            for iteration in range(1, max_iter + 1):
                value, grads = value_fn(params)
                if tol is not None and max(   # the loop's rule for LogisticRegression(tol=)
                        float(np.abs(a).max()) for a in pseudo_gradient(
                            params, grads, alpha, mask).values()) <= tol:
                    break
                updates, state = optimizer.update(grads, state, params, value=value,
                                                  value_fn=value_fn)
                if state.failed:
                    break
                params = apply_updates(params, updates)
                if target is not None and state.value <= target:
                    break
        seconds = time.perf_counter() - start
        return seconds, value_fn(params)[0], iteration, state.n_evaluations

    def run_saga(tol):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(C=1.0 / (n * alpha), l1_ratio=1.0, solver="saga", tol=tol,
                                     max_iter=10_000, random_state=0).fit(X, y)
        seconds = time.perf_counter() - start
        return seconds, F(clf.coef_, clf.intercept_), int(clf.n_iter_[0]), None

    def run_glum(tol):
        start = time.perf_counter()
        reg = glum.GeneralizedLinearRegressor(family="binomial", alpha=alpha, l1_ratio=1.0,
                                              gradient_tol=tol, max_iter=1000).fit(X, y)
        seconds = time.perf_counter() - start
        return seconds, F(reg.coef_, reg.intercept_), int(reg.n_iter_), None

    # Reference optimum: every solver pushed to its limit.
    references = {"owlqn": run_owlqn(), "glum": run_glum(1e-12)}
    for name, (seconds, value, iterations, _) in references.items():
        print(f"reference {name}: F = {value:.15f} ({iterations} iterations, {seconds:.1f} s)")
    f_star = min(value for _, value, _, _ in references.values())
    target = f_star * (1 + GAP)

    def loosest(run, tols):
        for tol in tols:
            seconds, value, iterations, _ = run(tol)
            gap = (value - f_star) / f_star
            print(f"  calibrate {run.__name__} tol={tol:g}: gap {gap:.2e}, {seconds:.2f} s")
            if gap <= GAP:
                return tol
        return tols[-1]

    ladder = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10]
    tols = {"glum": loosest(run_glum, ladder)}
    if not args.no_saga:
        tols["saga"] = loosest(run_saga, ladder)
    runs = {"owlqn": lambda: run_owlqn(target), "glum": lambda: run_glum(tols["glum"]),
            "owlqn-tol": lambda: run_owlqn(tol=1e-6)}
    if not args.no_saga:
        runs["saga"] = lambda: run_saga(tols["saga"])
    times = {name: [] for name in runs}
    for round_number in range(args.rounds):
        for name, run in runs.items():
            seconds, value, iterations, evaluations = run()
            times[name].append(seconds)
            extra = f", {evaluations} value_fn calls" if evaluations is not None else ""
            print(f"round {round_number}: {name:5s} {seconds:7.2f} s, {iterations} iterations"
                  f"{extra}, gap {(value - f_star) / f_star:.1e}")
    best = {name: min(values) for name, values in times.items()}
    print("best of rounds:", {k: round(v, 2) for k, v in best.items()}, "tols:", tols)
    for name in best:
        if name not in ("owlqn", "owlqn-tol"):
            print(f"owlqn / {name} time ratio: {best['owlqn'] / best[name]:.2f}")


if __name__ == "__main__":
    main()

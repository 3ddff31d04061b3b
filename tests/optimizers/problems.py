"""Small test problems with value/gradient in numpy, and their optima (scipy as oracle)."""

from __future__ import annotations

import functools

import numpy as np
import scipy.optimize


class Problem:
    """value_and_grad(params) -> (float, grads); start params; optimum as params."""

    def __init__(self, name, value_and_grad, start, optimum=None):
        self.name, self.value_and_grad, self.start = name, value_and_grad, start
        self._optimum = optimum

    @functools.cached_property
    def optimum(self):
        if self._optimum is not None:
            return self._optimum
        # scipy's L-BFGS-B driven to a tiny gradient is the reference optimum.
        keys, shapes = list(self.start), [v.shape for v in self.start.values()]
        sizes = [int(np.prod(s)) for s in shapes]

        def split(x):
            return {k: p.reshape(s) for k, p, s in zip(keys, np.split(x, np.cumsum(sizes)[:-1]), shapes)}

        def flat(x):
            value, grads = self.value_and_grad(split(x))
            return value, np.concatenate([grads[k].ravel() for k in keys])

        x0 = np.concatenate([v.ravel() for v in self.start.values()])
        result = scipy.optimize.minimize(flat, x0, jac=True, method="L-BFGS-B",
                                         options={"gtol": 1e-12, "ftol": 0.0, "maxiter": 2000})
        assert np.abs(result.jac).max() < 1e-8, result
        self.scipy_iterations = result.nit
        return split(result.x)


def max_distance(a, b) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def _quadratic():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(5, 5))
    hessian = q @ q.T / 5 + 0.5 * np.eye(5)       # SPD, condition number ~ 10
    optimum = rng.normal(size=5)

    def value_and_grad(params):
        r = params["x"] - optimum
        return 0.5 * float(r @ hessian @ r), {"x": hessian @ r}

    return Problem("quadratic", value_and_grad, {"x": np.zeros(5)}, {"x": optimum})


def _rosenbrock():
    def value_and_grad(params):
        x, y = params["x"]
        value = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        grad = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
        return float(value), {"x": grad.astype(params["x"].dtype)}

    return Problem("rosenbrock", value_and_grad, {"x": np.array([-1.2, 1.0])},
                   {"x": np.array([1.0, 1.0])})


LOGISTIC_ALPHA = 0.1


def logistic_data(n=40, d=3, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.where(X @ np.linspace(1.5, -2.0, d) + 0.3 + rng.normal(size=n) > 0, 1.0, -1.0)
    return X, y


def logistic_value_and_grad(params, X, y, alpha):
    """mean_i log(1 + exp(-y_i (x_i w + b))) + alpha/2 ||w||^2, intercept unpenalised."""
    margins = -y * (X @ params["w"] + params["b"][0])
    value = float(np.mean(np.logaddexp(0.0, margins)) + 0.5 * alpha * params["w"] @ params["w"])
    # d/dz log(1 + exp(-y z)) = -y * sigmoid(-y z); sigmoid via exp(-logaddexp) for stability
    dz = -y * np.exp(margins - np.logaddexp(0.0, margins)) / len(y)
    grads = {"w": X.T @ dz + alpha * params["w"], "b": np.array([dz.sum()])}
    return value, {k: g.astype(params[k].dtype) for k, g in grads.items()}


def _logistic():
    X, y = logistic_data()
    return Problem("logistic",
                   functools.partial(logistic_value_and_grad, X=X, y=y, alpha=LOGISTIC_ALPHA),
                   {"w": np.zeros(3), "b": np.zeros(1)})


PROBLEMS = {p.name: p for p in (_quadratic(), _rosenbrock(), _logistic())}

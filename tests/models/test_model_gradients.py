"""Backward against finite differences, and one backprop worked by hand.

The scalar under test is f(params) = sum(forward(params, X) * R) for a fixed
random R, whose gradient is exactly backward(params, cache, R).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tests.helpers import directional_fd5, fd5
from tests.models.model_cases import ACTIVATIONS, make_X, random_params, tiny_models
from xentlearn._tree import ravel, unravel, vdot
from xentlearn.models import MLP, Linear


def _scalar(model, X, R):
    return lambda params: float(np.sum(model.forward(params, X)[0] * R))


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("model", tiny_models(), ids=repr)
def test_full_gradient_matches_fd5(model, sparse):
    X = make_X(5, model.n_features, seed=2, density=0.6 if sparse else 1.0)
    if sparse:
        X = sp.csr_array(X)
    params = random_params(model)
    R = np.random.default_rng(3).normal(size=(5, model.n_outputs))
    f = _scalar(model, X, R)

    _, cache = model.forward(params, X)
    grads = model.backward(params, cache, R)

    assert list(grads) == list(params)
    for key, value in params.items():
        numeric = fd5(lambda leaf, key=key: f({**params, key: leaf}), value, h=1e-5)
        np.testing.assert_allclose(grads[key], numeric, rtol=5e-7, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_directional_derivative_realistic_size(activation):
    # d=50, hidden (64, 32), n=200: too many params for a full FD, so compare
    # grad . v with the FD of f along random unit directions v.
    model = MLP(50, (64, 32), 3, activation)
    X = make_X(200, 50, seed=4)
    params = model.init(np.random.default_rng(5), np.float64)
    R = np.random.default_rng(6).normal(size=(200, 3))
    f = _scalar(model, X, R)
    theta = ravel(params)

    _, cache = model.forward(params, X)
    grads = model.backward(params, cache, R)

    rng = np.random.default_rng(7)
    # relu is piecewise linear: a stencil point across a kink biases the FD by
    # O(slope jump), not O(h^4), so relu uses a smaller h and first checks that
    # no hidden unit changes sign on [theta - 2hv, theta + 2hv].
    h = 1e-6 if activation == "relu" else 1e-4
    for _ in range(3):
        v = rng.normal(size=theta.size)
        v /= np.linalg.norm(v)
        if activation == "relu":
            assert _relu_pattern(model, unravel(theta + 2 * h * v, params), X) == \
                _relu_pattern(model, unravel(theta - 2 * h * v, params), X)
        numeric = directional_fd5(lambda t: f(unravel(t, params)), theta, v, h=h)
        analytic = vdot(grads, unravel(v, params))
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def _relu_pattern(model, params, X):
    _, cache = model.forward(params, X)
    return [np.flatnonzero(A > 0).tolist() for A in cache[1:]]


def test_linear_gradient_formula():
    # dW = X^T G and db = column sums of G, stated directly.
    model = Linear(6, 4)
    X, G = make_X(7, 6, seed=8), make_X(7, 4, seed=9)
    params = random_params(model)
    logits, cache = model.forward(params, X)
    np.testing.assert_allclose(logits, X @ params["W0"] + params["b0"], rtol=1e-14)
    grads = model.backward(params, cache, G)
    np.testing.assert_allclose(grads["W0"], X.T @ G, rtol=1e-14)
    np.testing.assert_allclose(grads["b0"], G.sum(axis=0), rtol=1e-14)


def test_worked_backprop_by_hand():
    # One sample, 2 features -> 2 relu hidden units -> 1 logit, with
    # upstream gradient dL/dlogit = 0.5 (e.g. L = 0.5 (logit - 2.2)^2 at logit 2.7).
    model = MLP(2, (2,), 1, "relu")
    params = {
        "W0": np.array([[0.5, -1.0],
                        [0.25, 0.5]]),          # (fan_in=2, fan_out=2)
        "b0": np.array([0.1, -0.2]),
        "W1": np.array([[2.0],
                        [3.0]]),                # (2, 1)
        "b1": np.array([0.5]),
    }
    X = np.array([[1.0, 2.0]])

    logits, cache = model.forward(params, X)
    # Z1 = x W0 + b0 = [1*0.5 + 2*0.25 + 0.1, 1*(-1) + 2*0.5 - 0.2] = [1.1, -0.2]
    # A1 = relu(Z1) = [1.1, 0.0]          (the second unit is dead)
    np.testing.assert_allclose(cache[1], [[1.1, 0.0]], rtol=1e-15)
    # logit = A1 W1 + b1 = 1.1*2 + 0*3 + 0.5 = 2.7
    np.testing.assert_allclose(logits, [[2.7]], rtol=1e-15)

    grads = model.backward(params, cache, np.array([[0.5]]))
    # delta2 = dL/dlogit = 0.5
    # dW1 = A1^T delta2 = [[1.1*0.5], [0*0.5]] = [[0.55], [0.0]];  db1 = [0.5]
    np.testing.assert_allclose(grads["W1"], [[0.55], [0.0]], rtol=1e-15)
    np.testing.assert_allclose(grads["b1"], [0.5], rtol=1e-15)
    # delta1 = (delta2 W1^T) * relu'(Z1) = [0.5*2, 0.5*3] * [1, 0] = [1.0, 0.0]
    # dW0 = x^T delta1 = [[1*1.0, 1*0], [2*1.0, 2*0]] = [[1, 0], [2, 0]];  db0 = [1.0, 0.0]
    np.testing.assert_allclose(grads["W0"], [[1.0, 0.0], [2.0, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(grads["b0"], [1.0, 0.0], rtol=1e-15)


@pytest.mark.parametrize("activation,expected_W0", [
    # tanh: A1 = tanh([1.1, -0.2]); delta1 = [1.0, 1.5] * (1 - A1^2)
    ("tanh", lambda z: np.outer([1.0, 2.0], [1.0, 1.5] * (1 - np.tanh(z) ** 2))),
    # logistic: A1 = s(Z1); delta1 = [1.0, 1.5] * A1 (1 - A1)
    ("logistic", lambda z: np.outer([1.0, 2.0],
                                    [1.0, 1.5] * (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z))))),
    # identity: delta1 = [1.0, 1.5]
    ("identity", lambda z: np.outer([1.0, 2.0], [1.0, 1.5])),
])
def test_worked_backprop_other_activations(activation, expected_W0):
    # Same net as above; only the derivative at Z1 = [1.1, -0.2] changes.
    model = MLP(2, (2,), 1, activation)
    params = {"W0": np.array([[0.5, -1.0], [0.25, 0.5]]), "b0": np.array([0.1, -0.2]),
              "W1": np.array([[2.0], [3.0]]), "b1": np.array([0.5])}
    _, cache = model.forward(params, np.array([[1.0, 2.0]]))
    grads = model.backward(params, cache, np.array([[0.5]]))
    np.testing.assert_allclose(grads["W0"], expected_W0(np.array([1.1, -0.2])), rtol=1e-14)

"""Forward logits and backward grads against torch autograd on the same weights.

The torch side is the textbook network (``A @ W + b`` then the activation,
none on the output), differentiated by autograd with ``logits.backward(R)``,
on X densified for torch only. Ours runs on the dense or sparse X given.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.models.model_cases import ACTIVATIONS, SPARSE_FORMATS, make_X, random_params
from xentlearn.models import MLP, Linear

TORCH_ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "logistic": torch.sigmoid,
    "identity": lambda z: z,
}
# float32: products of length <= 40 over O(1) numbers; different summation
# orders (BLAS vs torch) give a few ulps, relative to the largest entry.
TOLERANCES = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _torch_forward_backward(model, params, X_dense, R):
    leaves = {key: torch.tensor(value, requires_grad=True) for key, value in params.items()}
    A = torch.tensor(X_dense)
    n_layers = len(getattr(model, "hidden_layer_sizes", ())) + 1
    act = TORCH_ACTIVATIONS[getattr(model, "activation", "identity")]
    for layer in range(n_layers):
        Z = A @ leaves[f"W{layer}"]
        if f"b{layer}" in leaves:
            Z = Z + leaves[f"b{layer}"]
        A = Z if layer == n_layers - 1 else act(Z)
    A.backward(torch.tensor(R))
    return A.detach().numpy(), {key: leaf.grad.numpy() for key, leaf in leaves.items()}


def _check(model, dtype, fmt, seed=0):
    n = 40
    X_dense = make_X(n, model.n_features, seed=seed, density=0.3 if fmt != "dense" else 1.0,
                     dtype=dtype)
    X = X_dense if fmt == "dense" else SPARSE_FORMATS[fmt](X_dense)
    params = random_params(model, seed=seed + 1, dtype=dtype)
    R = make_X(n, model.n_outputs, seed=seed + 2, dtype=dtype)

    logits, cache = model.forward(params, X)
    grads = model.backward(params, cache, R)
    expected_logits, expected_grads = _torch_forward_backward(model, params, X_dense, R)

    tol = TOLERANCES[dtype]
    assert type(logits) is np.ndarray and logits.dtype == dtype
    np.testing.assert_allclose(logits, expected_logits, **tol)
    assert list(grads) == list(params)
    for key in params:
        assert type(grads[key]) is np.ndarray, key
        assert grads[key].dtype == dtype and grads[key].shape == params[key].shape, key
        np.testing.assert_allclose(grads[key], expected_grads[key], err_msg=key, **tol)


@pytest.mark.parametrize("fmt", ["dense", *SPARSE_FORMATS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_matches_torch(activation, dtype, fmt):
    _check(MLP(12, (16, 8), 5, activation), dtype, fmt)


@pytest.mark.parametrize("fmt", ["dense", *SPARSE_FORMATS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_matches_torch(fit_intercept, dtype, fmt):
    _check(Linear(12, 5, fit_intercept=fit_intercept), dtype, fmt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_mlp_without_output_bias_matches_torch(dtype):
    _check(MLP(12, (7,), 1, "tanh", fit_intercept=False), dtype, "csr_array")


def test_mlp_one_hidden_layer_matches_torch():
    _check(MLP(12, (20,), 3, "relu"), np.float64, "dense", seed=3)

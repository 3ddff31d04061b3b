"""The Model interface: init, dtype and sparsity preservation, purity, masks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SklearnMLP

from tests.models.model_cases import (ACTIVATIONS, SPARSE_FORMATS, make_X, random_params,
                                      tiny_models)
from xentlearn._types import Model
from xentlearn.exceptions import XentlearnInputError
from xentlearn.models import MLP, Linear

# ---------------------------------------------------------------- init


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_linear_init_is_zeros(dtype, fit_intercept):
    params = Linear(5, 3, fit_intercept).init(np.random.default_rng(0), dtype)
    assert list(params) == (["W0", "b0"] if fit_intercept else ["W0"])
    assert params["W0"].shape == (5, 3)
    for value in params.values():
        assert value.dtype == dtype and not value.any()
    if fit_intercept:
        assert params["b0"].shape == (3,)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_init_equals_sklearn_init_coef(activation):
    # Oracle: scikit-learn's own MLPClassifier._init_coef, called layer by
    # layer (W then b, input side first) on a Generator with the same seed;
    # Generator.uniform has RandomState.uniform's signature.
    sizes = (7, 10, 4, 3)
    params = MLP(7, (10, 4), 3, activation).init(np.random.default_rng(42), np.float64)

    reference = SklearnMLP(activation=activation)
    reference._random_state = np.random.default_rng(42)
    expected = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        expected[f"W{layer}"], expected[f"b{layer}"] = reference._init_coef(
            fan_in, fan_out, np.float64)

    assert list(params) == list(expected) == ["W0", "b0", "W1", "b1", "W2", "b2"]
    for key in expected:
        np.testing.assert_array_equal(params[key], expected[key], err_msg=key)


@pytest.mark.parametrize("activation,factor", [("relu", 6.0), ("logistic", 2.0)])
def test_mlp_init_bounds_follow_glorot(activation, factor):
    # Wide layers so the sample extremes approach the bound.
    params = MLP(300, (200,), 100, activation).init(np.random.default_rng(1), np.float64)
    for layer, (fan_in, fan_out) in enumerate([(300, 200), (200, 100)]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        W = params[f"W{layer}"]
        assert np.abs(W).max() <= bound
        assert np.abs(W).max() > 0.99 * bound
        assert abs(W.mean()) < 0.01 * bound


def test_mlp_init_same_seed_identical_other_seed_different():
    model = MLP(6, (5, 4), 3)
    a = model.init(np.random.default_rng(3), np.float64)
    b = model.init(np.random.default_rng(3), np.float64)
    c = model.init(np.random.default_rng(4), np.float64)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a[key], c[key])


def test_mlp_init_float32_is_float64_draws_cast():
    model = MLP(6, (5,), 3, "tanh")
    p64 = model.init(np.random.default_rng(0), np.float64)
    p32 = model.init(np.random.default_rng(0), np.float32)
    for key in p64:
        assert p32[key].dtype == np.float32
        np.testing.assert_array_equal(p32[key], p64[key].astype(np.float32))


def test_mlp_without_output_bias_drops_only_last_bias():
    with_bias = MLP(6, (5, 4), 3).init(np.random.default_rng(0), np.float64)
    without = MLP(6, (5, 4), 3, fit_intercept=False).init(np.random.default_rng(0), np.float64)
    assert list(without) == ["W0", "b0", "W1", "b1", "W2"]
    for key in without:          # the output bias is drawn last, so nothing else shifts
        np.testing.assert_array_equal(without[key], with_bias[key])


# ---------------------------------------------------------------- dtype, sparsity


@pytest.mark.parametrize("fmt", ["dense", "csr_matrix", "csc_array"])
@pytest.mark.parametrize("model", tiny_models(), ids=repr)
def test_float32_stays_float32(model, fmt):
    X = make_X(9, model.n_features, density=0.5, dtype=np.float32)
    X = X if fmt == "dense" else SPARSE_FORMATS[fmt](X)
    params = model.init(np.random.default_rng(0), np.float32)
    assert all(value.dtype == np.float32 for value in params.values())
    logits, cache = model.forward(params, X)
    assert logits.dtype == np.float32 and logits.shape == (9, model.n_outputs)
    grads = model.backward(params, cache, np.ones_like(logits))
    for key, value in grads.items():
        assert value.dtype == np.float32, key
    assert model.predict_logits(params, X).dtype == np.float32


@pytest.mark.parametrize("fmt", list(SPARSE_FORMATS))
@pytest.mark.parametrize("model", tiny_models(), ids=repr)
def test_sparse_equals_dense(model, fmt):
    X_dense = make_X(30, model.n_features, density=0.4)
    X_sparse = SPARSE_FORMATS[fmt](X_dense)
    params = random_params(model)
    R = make_X(30, model.n_outputs, seed=5)
    logits_d, cache_d = model.forward(params, X_dense)
    logits_s, cache_s = model.forward(params, X_sparse)
    assert type(logits_s) is np.ndarray
    np.testing.assert_allclose(logits_s, logits_d, rtol=1e-13, atol=1e-14)
    grads_d = model.backward(params, cache_d, R)
    grads_s = model.backward(params, cache_s, R)
    for key in params:
        assert type(grads_s[key]) is np.ndarray, key
        np.testing.assert_allclose(grads_s[key], grads_d[key], rtol=1e-13, atol=1e-14)


def test_sparse_input_is_cached_as_is_not_densified():
    X = SPARSE_FORMATS["csr_array"](make_X(10, 4, density=0.3))
    for model in (Linear(4, 2), MLP(4, (3,), 2)):
        _, cache = model.forward(model.init(np.random.default_rng(0), np.float64), X)
        first = cache if isinstance(model, Linear) else cache[0]
        assert first is X


# ---------------------------------------------------------------- purity and the interface


@pytest.mark.parametrize("model", tiny_models(), ids=repr)
def test_forward_backward_do_not_mutate_inputs(model):
    X = make_X(8, model.n_features)
    params = random_params(model)
    dlogits = make_X(8, model.n_outputs, seed=1)
    saved = ({k: v.copy() for k, v in params.items()}, X.copy(), dlogits.copy())
    logits, cache = model.forward(params, X)
    model.backward(params, cache, dlogits)
    model.backward(params, cache, dlogits)   # the cache is still valid after one backward
    for key in params:
        np.testing.assert_array_equal(params[key], saved[0][key])
    np.testing.assert_array_equal(X, saved[1])
    np.testing.assert_array_equal(dlogits, saved[2])


@pytest.mark.parametrize("model", tiny_models(), ids=repr)
def test_backward_is_repeatable_and_cache_free_inference_agrees(model):
    X = make_X(8, model.n_features)
    params = random_params(model)
    R = make_X(8, model.n_outputs, seed=1)
    logits, cache = model.forward(params, X)
    first = model.backward(params, cache, R)
    second = model.backward(params, cache, R)
    for key in params:
        np.testing.assert_array_equal(first[key], second[key])
    inference, no_cache = model.forward(params, X, keep_cache=False)
    assert no_cache is None
    np.testing.assert_array_equal(inference, logits)
    np.testing.assert_array_equal(model.predict_logits(params, X), logits)


@pytest.mark.parametrize("model", tiny_models(), ids=repr)
def test_penalty_mask_marks_weights_not_biases(model):
    params = model.init(np.random.default_rng(0), np.float64)
    mask = model.penalty_mask()
    assert list(mask) == list(params)
    assert mask == {key: key.startswith("W") for key in params}
    # Structural match with the shared (not runtime-checkable) Model Protocol.
    protocol_members = {"n_features", "n_outputs", "init", "forward", "backward", "penalty_mask"}
    assert protocol_members <= set(Model.__annotations__) | set(vars(Model))
    assert all(hasattr(model, name) for name in protocol_members)


def test_mlp_param_shapes_and_order():
    params = MLP(6, (5, 4), 3).init(np.random.default_rng(0), np.float64)
    assert [(k, v.shape) for k, v in params.items()] == [
        ("W0", (6, 5)), ("b0", (5,)), ("W1", (5, 4)), ("b1", (4,)), ("W2", (4, 3)), ("b2", (3,))]


def test_mlp_positional_construction_and_list_sizes():
    model = MLP(6, [5, 4], 3, "tanh")
    assert model.hidden_layer_sizes == (5, 4) and model.activation == "tanh"
    assert hash(model) == hash(MLP(6, (5, 4), 3, "tanh"))     # frozen, hashable config


@pytest.mark.parametrize("kwargs,match", [
    (dict(activation="softplus"), "activation"),
    (dict(hidden_layer_sizes=(5, 0)), "hidden_layer_sizes"),
    (dict(n_outputs=0), "n_outputs"),
])
def test_mlp_bad_configuration_names_the_argument(kwargs, match):
    config = dict(n_features=4, hidden_layer_sizes=(3,), n_outputs=2) | kwargs
    with pytest.raises(XentlearnInputError, match=match):
        MLP(**config)


def test_linear_bad_configuration_names_the_argument():
    with pytest.raises(XentlearnInputError, match="n_features"):
        Linear(0, 3)


# ---------------------------------------------------------------- flat gradients


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", [None, "csr_matrix", "csc_array"])
@pytest.mark.parametrize("model", [m for m in tiny_models() if isinstance(m, MLP)], ids=repr)
def test_mlp_gradients_are_views_of_one_flat_buffer(model, fmt, dtype):
    # The optimizer then runs once on grads.flat; each leaf must equal the
    # textbook product it stands for (A^T delta, 1^T delta), computed here directly.
    from xentlearn import _tree
    from xentlearn.models import ACTIVATIONS as REGISTRY

    params = random_params(model, dtype=dtype)
    X = make_X(6, model.n_features, density=0.5, dtype=dtype)
    X_in = X if fmt is None else SPARSE_FORMATS[fmt](X)
    logits, cache = model.forward(params, X_in)
    dlogits = np.random.default_rng(3).normal(size=logits.shape).astype(dtype)
    grads = model.backward(params, cache, dlogits)
    assert isinstance(grads, _tree.FlatParams) and list(grads) == list(params)
    assert grads.flat.dtype == dtype and grads.flat.flags.c_contiguous
    assert all(np.shares_memory(g, grads.flat) for g in grads.values())
    activations = [X] + list(cache[1:])
    delta = dlogits
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for layer in range(model.n_layers - 1, -1, -1):
        np.testing.assert_allclose(grads[f"W{layer}"], activations[layer].T @ delta, rtol=rtol,
                                   atol=rtol)
        if f"b{layer}" in params:
            np.testing.assert_allclose(grads[f"b{layer}"], delta.sum(axis=0), rtol=rtol,
                                       atol=rtol)
        if layer:
            delta = delta @ params[f"W{layer}"].T
            REGISTRY[model.activation].derivative(activations[layer], delta)

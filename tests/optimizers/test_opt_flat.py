"""Flat parameter buffers (``_tree.FlatParams``): every transform gives the same bits on
the whole vector as leaf by leaf, keeps dtypes, never writes into its inputs, and picks
up a plain-dict state (a restored checkpoint) without changing a number."""

from __future__ import annotations

import numpy as np
import pytest

from tests.optimizers.test_opt_properties import TRANSFORMS, leaves, make_params, value_and_grad
from xentlearn import _tree
from xentlearn.optimizers import apply_updates, copy_state, state_from_arrays, state_to_arrays


def run(transform, params, n_steps, flat, state=None, *, in_place=False, check=None):
    """n_steps of `transform`, grads as FlatParams (flat) or plain dicts; every
    intermediate (updates, state leaves, params) recorded, as copies. With
    `in_place`, the state is copied once and every update is ``in_place=True``;
    `check(updates, state)` runs after each update."""
    state = transform.init(params) if state is None else state
    if in_place:
        state = copy_state(state)
    keywords = {"in_place": True} if in_place else {}
    trail = []
    for _ in range(n_steps):
        value, grads = value_and_grad(params)
        if flat:
            grads = _tree.as_flat(grads)
        updates, state = transform.update(grads, state, params, value=value,
                                          value_fn=value_and_grad, **keywords)
        if check is not None:
            check(updates, state)
        params = apply_updates(params, updates)
        trail.append(copied((dict(updates), [leaf for _, leaf in leaves(state)],
                             dict(params))))
    return params, state, trail


def copied(node):
    """A deep copy of the arrays of a nest of dicts, lists and tuples."""
    if isinstance(node, np.ndarray):
        return node.copy()
    if isinstance(node, dict):
        return {key: copied(value) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(copied(child) for child in node)
    return node


def assert_same_bits(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same_bits(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_bits(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


@pytest.mark.parametrize("name", TRANSFORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_and_per_leaf_runs_are_bit_identical(name, dtype):
    params = make_params(dtype)
    _, _, per_leaf = run(TRANSFORMS[name](), params, 4, flat=False)
    _, _, flat = run(TRANSFORMS[name](), params, 4, flat=True)
    assert_same_bits(per_leaf, flat)


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop", "adagrad", "adamw", "trace-nesterov"])
def test_element_wise_optimizers_run_on_the_flat_vector(name):
    # After one step, params and the state's buffers are flat: the next step is
    # a handful of operations on whole vectors.
    params, state, _ = run(TRANSFORMS[name](), make_params(np.float64), 2, flat=True)
    assert isinstance(params, _tree.FlatParams)
    flat_leaves = [node for node in _walk(state) if isinstance(node, _tree.FlatParams)]
    assert flat_leaves, "no state buffer was flat"


def _walk(node):
    yield node
    if isinstance(node, tuple):
        for child in node:
            yield from _walk(child)


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop", "adagrad"])
def test_flat_update_never_writes_into_grads_state_or_params(name):
    transform = TRANSFORMS[name]()
    params, state, _ = run(transform, make_params(np.float64), 2, flat=True)
    value, grads = value_and_grad(params)
    grads = _tree.as_flat(grads)
    saved = [leaf.copy() for _, leaf in leaves((grads, state, params))
             if isinstance(leaf, np.ndarray)]
    transform.update(grads, state, params, value=value)
    now = [leaf for _, leaf in leaves((grads, state, params)) if isinstance(leaf, np.ndarray)]
    for before, after in zip(saved, now):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_continuing_from_a_restored_plain_state_matches_the_flat_run(name):
    # A checkpoint restores the state as plain dicts (and params as plain dicts):
    # continuing from it must give the bits of the run that was never saved.
    transform = TRANSFORMS[name]()
    params, state, _ = run(transform, make_params(np.float64), 3, flat=True)
    restored = state_from_arrays(state_to_arrays(state), transform.init(params))
    plain_params = {key: value.copy() for key, value in params.items()}
    _, _, expected = run(transform, params, 3, flat=True, state=state)
    _, _, got = run(transform, plain_params, 3, flat=True, state=restored)
    assert_same_bits(expected, got)

"""Updating in place (``update(..., in_place=True)``): the same bits as pure updates, the
caller's state never written once copied (``copy_state``), updates that never share
memory with the state, and chains that offer it only when every transform does."""

from __future__ import annotations

import numpy as np
import pytest

from tests.optimizers.test_opt_flat import assert_same_bits, copied
from tests.optimizers.test_opt_flat import run as run_steps
from tests.optimizers.test_opt_properties import TRANSFORMS, leaves, make_params, value_and_grad
from xentlearn import _tree
from xentlearn.optimizers import (GradientTransformation, adam, chain, copy_state, lbfgs,
                                  state_from_arrays, state_to_arrays, updates_in_place)

IN_PLACE = [name for name in TRANSFORMS if name != "lbfgs"]


def run(transform, params, n_steps, *, flat, in_place, state=None):
    return run_steps(transform, params, n_steps, flat, state, in_place=in_place,
                     check=_assert_no_shared_memory)


def _assert_no_shared_memory(updates, state):
    # The next transform of a chain may write into the updates.
    for key, update in updates.items():
        for path, leaf in leaves(state):
            if isinstance(leaf, np.ndarray):
                assert not np.shares_memory(update, leaf), (key, path)


@pytest.mark.parametrize("name", IN_PLACE)
def test_every_transform_offers_in_place_updates(name):
    assert updates_in_place(TRANSFORMS[name]())


@pytest.mark.parametrize("name", IN_PLACE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-leaf"])
def test_in_place_and_pure_runs_are_bit_identical(name, dtype, flat):
    params = make_params(dtype)
    _, _, pure = run(TRANSFORMS[name](), params, 4, flat=flat, in_place=False)
    _, _, in_place = run(TRANSFORMS[name](), params, 4, flat=flat, in_place=True)
    assert_same_bits(pure, in_place)


@pytest.mark.parametrize("name", IN_PLACE)
def test_in_place_from_a_restored_plain_state_matches_the_pure_run(name):
    # A checkpoint restores the state as plain dicts; an in-place step lays it out
    # flat (a copy) and goes on with the bits of the pure run.
    transform = TRANSFORMS[name]()
    params, state, _ = run(transform, make_params(np.float64), 3, flat=True, in_place=False)
    restored = state_from_arrays(state_to_arrays(state), transform.init(params))
    _, _, expected = run(transform, params, 3, flat=True, in_place=False, state=state)
    _, _, got = run(transform, dict(params), 3, flat=True, in_place=True, state=restored)
    assert_same_bits(expected, got)


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop", "adagrad", "adamw"])
def test_in_place_writes_the_grads_and_the_copy_never_the_callers_state(name):
    transform = TRANSFORMS[name]()
    params, state, _ = run(transform, make_params(np.float64), 2, flat=True, in_place=False)
    saved = copied([leaf for _, leaf in leaves(state)])
    value, grads = value_and_grad(params)
    grads = _tree.as_flat(grads)
    owned = copy_state(state)
    updates, new_state = transform.update(grads, owned, params, value=value, in_place=True)
    assert updates.flat is grads.flat                 # no new update buffer
    assert_same_bits(saved, [leaf for _, leaf in leaves(state)])
    buffers = [leaf.flat for _, leaf in _flat_trees(new_state)]
    assert buffers and all(any(b is o.flat for _, o in _flat_trees(owned)) for b in buffers)


def _flat_trees(node, path=""):
    if isinstance(node, _tree.FlatParams):
        yield path, node
    elif isinstance(node, tuple):
        for i, child in enumerate(node):
            yield from _flat_trees(child, f"{path}/{i}")


def test_copy_state_copies_every_array_and_keeps_flat_buffers_flat():
    transform = adam(0.1)
    params, state, _ = run(transform, make_params(np.float64), 2, flat=True, in_place=False)
    copied = copy_state(state)
    assert_same_bits([leaf for _, leaf in leaves(state)], [leaf for _, leaf in leaves(copied)])
    for (_, a), (_, b) in zip(leaves(state), leaves(copied)):
        if isinstance(a, np.ndarray):
            assert not np.shares_memory(a, b)
    assert [path for path, _ in _flat_trees(copied)] == [path for path, _ in _flat_trees(state)]


def test_a_chain_offers_in_place_only_when_every_transform_does():
    pure_only = GradientTransformation(lambda params: (),
                                       lambda grads, state, params=None, **kw: (grads, state))
    assert not updates_in_place(pure_only)
    assert not updates_in_place(chain(adam(0.1), pure_only))
    assert not updates_in_place(lbfgs())
    assert updates_in_place(chain(adam(0.1), chain(adam(0.1))))

"""A scalar scale fused into the transform before it (``chain``'s pair of a transform with
``output_scale`` and one with ``scalar_factor``: Adam and its learning rate): one
rounding, as torch's Adam, the same states as the transforms run one after the other,
and no fusion where something sits between them or needs the scale on its own."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.optimizers.test_opt_properties import make_params, value_and_grad
from xentlearn import _tree
from xentlearn.optimizers import (adam, apply_updates, chain, clip_by_global_norm,
                                  scale_by_adam, scale_by_schedule)
from xentlearn.schedules import make_schedule


def adam_by_hand(params, n_steps, learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    """torch's Adam: param += (-lr / (1 - b1^t)) * (m / (sqrt(v) / sqrt(1 - b2^t) + eps)),
    the step size one factor; the per-step updates."""
    schedule = make_schedule(learning_rate)
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    trail = []
    for t in range(1, n_steps + 1):
        _, grads = value_and_grad(params)
        updates = {}
        for key, g in grads.items():
            v[key] = b2 * v[key] + (1.0 - b2) * (g * g)
            m[key] = m[key] + (1.0 - b1) * (g - m[key])
            denom = np.sqrt(v[key]) / math.sqrt(1.0 - b2 ** t) + eps
            updates[key] = (m[key] / denom) * (-schedule(t - 1) / (1.0 - b1 ** t))
        trail.append(updates)
        params = apply_updates(params, updates)
    return trail


def run(transform, params, n_steps, *, flat=False, in_place=False):
    state = transform.init(params)
    trail = []
    for _ in range(n_steps):
        _, grads = value_and_grad(params)
        if flat:
            grads = _tree.as_flat(grads)
        updates, state = transform.update(grads, state, params,
                                          **({"in_place": True} if in_place else {}))
        trail.append({k: u.copy() for k, u in updates.items()})
        params = apply_updates(params, updates)
    return trail, state


@pytest.mark.parametrize("learning_rate", [0.05, lambda step: 0.1 / (1 + step)],
                         ids=["constant", "schedule"])
@pytest.mark.parametrize("flat", [False, True], ids=["per-leaf", "flat"])
def test_adam_takes_its_step_size_as_one_factor(learning_rate, flat):
    params = make_params(np.float64)
    got, _ = run(adam(learning_rate), params, 5, flat=flat)
    expected = adam_by_hand(params, 5, learning_rate)
    for step_got, step_expected in zip(got, expected):
        for key in step_expected:
            np.testing.assert_array_equal(step_got[key], step_expected[key])


def test_fused_and_separate_transforms_agree_and_leave_the_same_states():
    params = make_params(np.float64)
    learning_rate = lambda step: 0.1 * 0.5 ** step                        # noqa: E731
    fused, fused_state = run(chain(scale_by_adam(), scale_by_schedule(learning_rate)),
                             params, 4)
    # clip_by_global_norm with an unreachable bound changes nothing but stands between.
    apart, apart_state = run(chain(scale_by_adam(), clip_by_global_norm(1e9),
                                   scale_by_schedule(learning_rate)), params, 4)
    for a, b in zip(fused, apart):
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-13, atol=0)
    assert fused_state[1] == apart_state[2]            # count and learning rate
    assert fused_state[1].count == 4 and fused_state[1].learning_rate == learning_rate(3)
    # One rounding less per step: the parameters, and so the moments, differ in the last bits.
    for key in params:
        np.testing.assert_allclose(fused_state[0].mu[key], apart_state[0].mu[key], rtol=1e-13)
        np.testing.assert_allclose(fused_state[0].nu[key], apart_state[0].nu[key], rtol=1e-13)


def test_the_pair_is_not_fused_when_the_scale_comes_first():
    # chain(schedule, adam): Adam's update is invariant to a scale of its input only up to
    # eps, so fusing the other way round would change the maths; it is not done.
    params = make_params(np.float64)
    got, _ = run(chain(scale_by_schedule(0.5), scale_by_adam()), params, 3)
    state = scale_by_adam().init(params)
    for step in got:
        _, grads = value_and_grad(params)
        updates, state = scale_by_adam().update({k: -0.5 * g for k, g in grads.items()}, state)
        for key in updates:
            np.testing.assert_array_equal(step[key], updates[key])
        params = apply_updates(params, updates)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pure_and_in_place_fused_updates_are_bit_identical(dtype):
    params = make_params(dtype)
    pure, _ = run(adam(0.01), params, 4, flat=True)
    in_place, _ = run(adam(0.01), params, 4, flat=True, in_place=True)
    for a, b in zip(pure, in_place):
        for key in a:
            assert a[key].dtype == dtype
            np.testing.assert_array_equal(a[key], b[key])

"""``Penalty.add_grad_and_value``: on flat trees (an MLP's mini-batch steps) the gradient's
L2 part runs on the whole vector with the bits of the per-leaf sum, the value is
``Penalty.value``'s bit for bit, intercepts stay unpenalised, and the cached strength
vector follows the layout, mask, strength and dtype it was made for."""

from __future__ import annotations

import numpy as np
import pytest

from xentlearn import _tree
from xentlearn.penalties import Penalty

MASK = {"W0": True, "b0": False, "W1": True, "b1": False}


def trees(dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = {"W0": rng.normal(size=(5, 4)), "b0": rng.normal(size=4),
              "W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=3)}
    grads = {key: rng.normal(size=value.shape) for key, value in params.items()}
    cast = lambda tree: {k: v.astype(dtype) for k, v in tree.items()}          # noqa: E731
    return cast(params), cast(grads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("penalty", [Penalty(0.3), Penalty(0.3, 1.0), Penalty(0.3, 0.4),
                                     Penalty(0.0)], ids=["l2", "l1", "elasticnet", "none"])
def test_flat_and_per_leaf_give_the_same_gradient_and_value(penalty, dtype):
    params, grads = trees(dtype)
    per_leaf = {k: v.copy() for k, v in grads.items()}
    value = penalty.add_grad_and_value(per_leaf, params, MASK)
    flat_params, flat_grads = _tree.as_flat(params), _tree.as_flat(grads)
    flat_value = penalty.add_grad_and_value(flat_grads, flat_params, MASK)
    for key in params:
        np.testing.assert_array_equal(flat_grads[key], per_leaf[key])
        assert flat_grads[key].dtype == dtype
        expected = grads[key] + (penalty.l2_strength * params[key] if MASK[key] else 0)
        np.testing.assert_allclose(per_leaf[key], expected, rtol=1e-6)
    # The same bits either way: a resumed fit (plain dicts) and an uninterrupted one
    # (flat) hand their optimizers the same value.
    assert value == penalty.value(params, MASK) == flat_value
    w = np.concatenate([params["W0"].ravel(), params["W1"].ravel()]).astype(np.float64)
    by_hand = penalty.alpha * (penalty.l1_ratio * np.abs(w).sum()
                               + (1 - penalty.l1_ratio) * 0.5 * w @ w)
    assert flat_value == pytest.approx(by_hand, rel=1e-6 if dtype == np.float32 else 1e-14)


def test_the_strength_vector_follows_mask_strength_and_dtype():
    params, _ = trees(np.float64)
    for mask, penalty, dtype in [(MASK, Penalty(0.3), np.float64),
                                 ({**MASK, "b1": True}, Penalty(0.3), np.float64),
                                 (MASK, Penalty(0.7), np.float64),
                                 (MASK, Penalty(0.7), np.float32)]:
        p = _tree.as_flat({k: v.astype(dtype) for k, v in params.items()})
        flat_grads = _tree.as_flat({k: np.zeros_like(v, dtype=dtype) for k, v in params.items()})
        penalty.add_grad_and_value(flat_grads, p, mask)
        for key in params:
            expected = penalty.l2_strength * p[key] if mask[key] else 0.0
            np.testing.assert_array_equal(flat_grads[key], expected)

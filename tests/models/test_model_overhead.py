"""Linear forward + backward on an engine-sized row block vs the bare matmuls.

The full-batch engine calls the model once per ~8k-row block, so the model
must add nothing measurable on top of ``X @ W + b``, ``X.T @ G`` and
``G.sum(0)``. The timings are printed (run with ``-s``), never asserted:
wall-clock limits make flaky tests. What is asserted is that both routes
compute the same numbers, so the comparison is like for like.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

from xentlearn.models import Linear


def _best_of(fn, repeat=20):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("n_outputs", [1, 10])
def test_linear_block_overhead_is_negligible(n_outputs, fmt):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8192, 100))
    if fmt == "csr":
        X = sp.csr_array(X * (rng.random(X.shape) < 0.05))
    model = Linear(100, n_outputs)
    params = {"W0": rng.normal(size=(100, n_outputs)), "b0": rng.normal(size=n_outputs)}
    G = rng.normal(size=(8192, n_outputs))
    W, b = params["W0"], params["b0"]

    def through_model():
        logits, cache = model.forward(params, X)
        return logits, model.backward(params, cache, G)

    def bare():
        logits = X @ W
        logits += b
        return logits, {"W0": X.T @ G, "b0": G.sum(axis=0)}

    (logits_m, grads_m), (logits_b, grads_b) = through_model(), bare()
    # The model orders its products for speed (the training forward of several outputs
    # is (W^T X^T)^T, the backward (G^T X)^T): same sums, other rounding.
    np.testing.assert_allclose(logits_m, logits_b, rtol=1e-12, atol=1e-12)
    for key in grads_b:
        np.testing.assert_allclose(grads_m[key], grads_b[key], rtol=1e-12, atol=1e-12)

    t_model, t_bare = _best_of(through_model), _best_of(bare)
    print(f"\nLinear fwd+bwd 8192x100 {fmt} float64, k={n_outputs}: "
          f"model {t_model * 1e3:.3f} ms, bare matmuls {t_bare * 1e3:.3f} ms, "
          f"overhead {(t_model - t_bare) * 1e6:+.1f} us")

"""ArraySource's full-batch row blocks of a CSR matrix: views of X, not copies, and
the same objective as dense X over several blocks, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xentlearn.data import ArraySource
from xentlearn.data._arrays import csr_rows, sparse_block_bounds
from xentlearn.models import Linear
from xentlearn.objective import Objective, make_loss
from xentlearn.penalties import Penalty


def _csr(n, d, dtype=np.float64, kind=sp.csr_matrix, seed=0):
    rng = np.random.default_rng(seed)
    # uneven rows: row i has about (i % 7) * 2 non-zeros, some rows none
    dense = rng.normal(size=(n, d)) * (rng.random((n, d)) < (np.arange(n) % 7)[:, None] * 2 / d)
    return kind(dense.astype(dtype)), dense.astype(dtype)


@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_csr_rows_is_a_view_equal_to_the_slice(kind, dtype, index_dtype):
    X, _ = _csr(200, 30, dtype, kind)
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    for start, stop in [(0, 200), (0, 1), (17, 123), (150, 200), (40, 40)]:
        block = csr_rows(X, start, stop)
        assert type(block) is type(X) and block.dtype == X.dtype and block.shape == (stop - start, 30)
        np.testing.assert_array_equal(block.toarray(), X[start:stop].toarray())
        if block.nnz:
            assert np.shares_memory(block.data, X.data)
            assert np.shares_memory(block.indices, X.indices)


@pytest.mark.parametrize("n, d, nnz_per_row", [(0, 5, 3), (10, 5, 3), (3000, 50, 4),
                                                (300_000, 2**16, 40), (50_000, 2**20, 1)])
def test_sparse_block_bounds_cover_all_rows(n, d, nnz_per_row):
    indptr = np.arange(n + 1) * nnz_per_row
    bounds = sparse_block_bounds(indptr, d)
    assert bounds[0] == 0 and bounds[-1] == n
    assert np.all(np.diff(bounds) > 0)
    n_blocks = len(bounds) - 1
    assert n_blocks <= 1 or n_blocks % 2 == 0
    if n_blocks > 1:
        assert np.diff(bounds).min() >= 512
        block_nnz = np.diff(indptr[bounds])
        assert block_nnz.max() - block_nnz.min() <= nnz_per_row


def test_sparse_block_bounds_balance_non_zeros_not_rows():
    lengths = np.r_[np.full(4000, 1), np.full(1000, 99)]       # long rows at the end
    indptr = np.r_[0, np.cumsum(lengths)]
    bounds = sparse_block_bounds(indptr, 10)
    assert len(bounds) == 3
    nnz = np.diff(indptr[bounds])
    assert abs(nnz[0] - nnz[1]) <= 99


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array, sp.csc_matrix])
def test_sparse_blocks_give_the_dense_objective(dtype, kind):
    n, d = 3000, 40
    X, dense = _csr(n, d, dtype, kind)
    rng = np.random.default_rng(1)
    y = (rng.random(n) < 0.5).astype(dtype)
    sw = rng.random(n).astype(dtype)
    model = Linear(d, 1)
    objective = Objective(model, make_loss("binary"), Penalty(0.1), "binary")
    params = {"W0": rng.normal(size=(d, 1)).astype(dtype), "b0": np.array([0.3], dtype)}
    source = ArraySource(X, y, sw)
    blocks = list(source.batches(None))
    assert len(blocks) == 2
    for batch in blocks:
        assert sp.issparse(batch.X) and batch.X.dtype == dtype
        assert np.shares_memory(batch.X.data, source.X.data)
    value_s, grads_s = objective.value_and_grad(params, source.batches(None))
    value_d, grads_d = objective.value_and_grad(params, ArraySource(dense, y, sw).batches(None))
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    assert value_s == pytest.approx(value_d, rel=rtol)
    for key in grads_d:
        assert grads_s[key].dtype == dtype
        np.testing.assert_allclose(grads_s[key], grads_d[key], rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array])
def test_linear_backward_on_a_row_view_equals_dense(kind):
    X, dense = _csr(300, 20, np.float32, kind)
    block, dense_block = csr_rows(X, 100, 250), dense[100:250]
    model = Linear(20, 3)
    params = model.init(np.random.default_rng(0), np.float32)
    G = np.random.default_rng(2).normal(size=(150, 3)).astype(np.float32)
    grads = model.backward(params, block, G)
    assert grads["W0"].dtype == np.float32 and grads["W0"].shape == (20, 3)
    np.testing.assert_allclose(grads["W0"], dense_block.T @ G, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["F", "strided"])
def test_minibatches_of_column_major_x_copy_it_once_not_every_batch(layout):
    # np.take copies all of a non-C-contiguous X to gather each batch (a DataFrame's
    # values are column-major): 80 batches of 8 MB copies made epochs 100x slower.
    import tracemalloc

    rng = np.random.default_rng(0)
    C = rng.normal(size=(20000, 50))
    X = np.asfortranarray(C) if layout == "F" else np.repeat(C, 2, axis=1)[:, ::2]
    y = rng.integers(0, 2, 20000).astype(np.float64)
    source, reference = ArraySource(X, y), ArraySource(C, y)
    first = [b.X.copy() for b in source.batches(256, rng=np.random.default_rng(1))]
    expected = [b.X.copy() for b in reference.batches(256, rng=np.random.default_rng(1))]
    for got, want in zip(first, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    tracemalloc.start()
    for _ in source.batches(256, rng=np.random.default_rng(2)):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < C.nbytes / 20

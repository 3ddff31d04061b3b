"""column_moments: one pass, blocks merged exactly, weights as repeated rows, sparse = dense."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xentlearn.data import Batch, column_moments
from xentlearn.exceptions import XentlearnInputError


def _blocks(X, w=None, sizes=(7, 1, 30, 62)):
    bounds = np.cumsum((0,) + sizes)
    return [Batch(X[a:b], np.zeros(b - a), None if w is None else w[a:b])
            for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_moments_over_uneven_blocks_equal_numpy(dtype, sparse):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(100, 5)) * [1, 10, 0.1, 3, 0] + [0, 5, -2, 0, 0]).astype(dtype)
    X[rng.random(X.shape) < 0.5] = 0.0
    moments = column_moments(_blocks(sp.csr_matrix(X) if sparse else X))
    reference = X.astype(np.float64)
    assert moments.weight_sum == 100
    assert moments.mean.dtype == np.float64 and moments.var.dtype == np.float64
    np.testing.assert_allclose(moments.mean, reference.mean(axis=0), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(moments.var, reference.var(axis=0), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_weights_count_as_repeated_rows(sparse):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3)) + [0.0, 4.0, -1.0]
    w = rng.integers(0, 4, size=100).astype(np.float64)
    repeated = np.repeat(X, w.astype(int), axis=0)
    convert = sp.csr_matrix if sparse else np.asarray
    weighted = column_moments(_blocks(convert(X), w))
    assert weighted.weight_sum == w.sum()
    np.testing.assert_allclose(weighted.mean, repeated.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(weighted.var, repeated.var(axis=0), rtol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_large_mean_does_not_swamp_the_variance(sparse):
    rng = np.random.default_rng(2)
    X = 1e8 + rng.normal(size=(3000, 2))         # E[x^2] - E[x]^2 would lose every digit
    X[::7, 1] = 0.0                              # and implicit zeros in the sparse case
    convert = sp.csr_matrix if sparse else np.asarray
    moments = column_moments(_blocks(convert(X), sizes=(1000, 1, 1999)))
    np.testing.assert_allclose(moments.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.var, X.var(axis=0), rtol=1e-6)


def test_large_sparse_blocks_are_read_in_pieces(monkeypatch):
    import xentlearn.data._stats as stats

    X = sp.random(2000, 50, density=0.2, random_state=0, format="csr") * 3.0   # 20k non-zeros
    w = np.random.default_rng(0).random(2000)
    whole = column_moments([Batch(X, np.zeros(2000), w)])
    monkeypatch.setattr(stats, "_PIECE_NNZ", 1000)
    pieces = column_moments([Batch(X, np.zeros(2000), w)])
    np.testing.assert_allclose(pieces.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(pieces.var, whole.var, rtol=1e-12)
    dense = X.toarray()
    mean = w @ dense / w.sum()
    np.testing.assert_allclose(pieces.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(pieces.var, w @ (dense - mean) ** 2 / w.sum(), rtol=1e-9)


def test_duplicate_entries_of_a_sparse_matrix_add_up():
    X = sp.csr_matrix((np.array([1.0, 2.0, 3.0]), np.array([0, 0, 0]), np.array([0, 2, 3])),
                      shape=(2, 1))              # row 0 stores column 0 twice: 1 + 2 = 3
    assert not X.has_canonical_format
    moments = column_moments([Batch(X, np.zeros(2), None)])
    np.testing.assert_allclose(moments.mean, [3.0])
    np.testing.assert_allclose(moments.var, [0.0])


def test_no_rows_is_an_error():
    with pytest.raises(XentlearnInputError, match=r"no row of positive weight \(no rows"):
        column_moments([Batch(np.zeros((0, 2)), np.zeros(0), None)])


def test_dense_blocks_are_centred_in_chunks(monkeypatch):
    import xentlearn.data._stats as stats

    rng = np.random.default_rng(3)
    X = 1e6 + rng.normal(size=(500, 3)) * [1.0, 10.0, 0.1]
    w = rng.random(500)
    whole = column_moments([Batch(X, np.zeros(500), w)])
    monkeypatch.setattr(stats, "_CENTRED_BYTES", 8 * 3 * 7)      # 7 rows at a time
    chunked = column_moments([Batch(X, np.zeros(500), w)])
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-15)
    np.testing.assert_allclose(chunked.var, whole.var, rtol=1e-12)
    mean = w @ X / w.sum()
    np.testing.assert_allclose(chunked.var, w @ (X - mean) ** 2 / w.sum(), rtol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
def test_sum_of_squares_or_centring_chosen_per_column_keeps_ten_digits(weighted):
    # Means of 0 to 1e5 standard deviations: the columns below the cancellation bound
    # take sum(x^2) - W mean^2, the others are centred, in the same block.
    rng = np.random.default_rng(4)
    ratios = np.array([0.0, 1.0, 30.0, 32.0, 1e3, 1e5])
    X = rng.normal(size=(4000, ratios.size)) * 0.5 + 0.5 * ratios
    w = rng.random(4000) if weighted else np.ones(4000)
    moments = column_moments(_blocks(X, w if weighted else None, sizes=(2500, 1500)))
    mean = w @ X / w.sum()
    np.testing.assert_allclose(moments.mean, mean, rtol=1e-13)
    np.testing.assert_allclose(moments.var, w @ (X - mean) ** 2 / w.sum(), rtol=1e-10)


@pytest.mark.parametrize("sparse", [False, True])
def test_moments_summed_over_threads_are_the_serial_bits(sparse):
    # The estimators sum the blocks' moments on a thread pool (training.parallel_map);
    # merged in block order, the result must not depend on where a block was summed.
    from xentlearn.training import parallel_map

    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 6)) * [1, 1e3, 1e-3, 5, 1, 2] + [0, 1e4, 0, -3, 7, 0]
    w = rng.random(100)
    blocks = _blocks(sp.csr_matrix(X) if sparse else X, w)
    serial = column_moments(blocks)
    with parallel_map(2) as map_fn:
        threaded = column_moments(blocks, map_fn=map_fn)
    assert threaded.weight_sum == serial.weight_sum
    assert threaded.mean.tobytes() == serial.mean.tobytes()
    assert threaded.var.tobytes() == serial.var.tobytes()

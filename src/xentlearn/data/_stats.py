"""Column means and variances in one pass over a source's batches.

Each batch contributes its own count, mean and sum of squared deviations, and
the batches are merged with Chan, Golub & LeVeque's pairwise update

    n = n_a + n_b,  delta = mean_b - mean_a,
    mean = mean_a + delta * n_b / n,
    M2 = M2_a + M2_b + delta^2 * n_a * n_b / n,

which, unlike E[x^2] - E[x]^2 over the whole data, stays accurate for a
column whose mean is far larger than its spread. With sample weights, n is the
sum of the weights and every sum is weighted, so a row of weight 2 counts as
that row twice. Sums are float64 whatever the data's dtype. The batches are
read once; within a sparse batch the non-zeros are read twice (sums, then
squared deviations: exact, where E[x^2] - E[x]^2 would cancel).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from xentlearn._checks import issparse
from xentlearn._types import Batch
from xentlearn.exceptions import XentlearnInputError


class ColumnMoments(NamedTuple):
    """Per-column statistics, float64 arrays of shape (n_features,)."""

    weight_sum: float      # number of rows, or the sum of their sample weights
    mean: np.ndarray
    var: np.ndarray        # population variance (divided by weight_sum)


# Dense blocks are centred this many bytes at a time (a full-batch block is 4 MB).
_CENTRED_BYTES = 1 << 18
# A column's M2 is taken from its sum of squares only if M2 >= this fraction of it:
# rounding then costs at most 3 of float64's 16 digits (mean^2 <= 999 var).
_CANCELLATION = 1e-3
# Sparse blocks are read in pieces of at most this many non-zeros: the squares
# of a piece's values are a temporary (a full-batch sparse block can hold 4M).
_PIECE_NNZ = 1 << 17


def _pieces(X, w):
    """(column indices, float64 values, weights or None) of row ranges of CSR `X`,
    each with at most ``_PIECE_NNZ`` non-zeros."""
    starts = np.searchsorted(X.indptr, np.arange(0, X.nnz, _PIECE_NNZ), side="right") - 1
    for first, last in zip(starts, np.r_[starts[1:], X.shape[0]]):
        lo, hi = X.indptr[first], X.indptr[last]
        weights = None
        if w is not None:
            weights = np.repeat(w[first:last].astype(np.float64),
                                np.diff(X.indptr[first:last + 1]))
        yield X.indices[lo:hi], X.data[lo:hi].astype(np.float64), weights


def _sparse_moments(X, w, total: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sum of weighted squared deviations) of sparse X, exactly, in O(nnz).

    Two passes over the non-zeros: the sums, then sum_nz w (x - mean)^2, to which
    each column's implicit zeros add (total - weight of its non-zeros) * mean^2.
    """
    X = X.tocsr()
    if not X.has_canonical_format:      # duplicate entries of one cell add up
        X = X.copy()
        X.sum_duplicates()
    d = X.shape[1]
    sums, nonzero_weight, m2 = np.zeros(d), np.zeros(d), np.zeros(d)
    for indices, values, weights in _pieces(X, w):
        if weights is not None:
            values *= weights
        sums += np.bincount(indices, weights=values, minlength=d)
        nonzero_weight += np.bincount(indices, weights=weights, minlength=d)
    mean = sums / total
    for indices, values, weights in _pieces(X, w):
        values -= mean[indices]
        values *= values
        if weights is not None:
            values *= weights
        m2 += np.bincount(indices, weights=values, minlength=d)
    m2 += (total - nonzero_weight) * mean * mean
    return mean, m2


def _block_moments(X, w) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """(weight, mean, sum of weighted squared deviations) of one block; (0, None, None)
    for a block without weight.

    Dense blocks take M2 = sum w x^2 - W mean^2 (one more read of the block,
    which is in cache after the sums) where that difference keeps its digits,
    and centre the other columns first: the difference loses about
    log10(sum w x^2 / M2) digits, and ``_CANCELLATION`` bounds the loss.
    """
    total = float(X.shape[0]) if w is None else float(np.sum(w, dtype=np.float64))
    if total == 0.0:
        return 0.0, None, None
    if issparse(X):
        return (total, *_sparse_moments(X, w, total))
    if w is None:
        mean = np.add.reduce(X, axis=0, dtype=np.float64) / total
        squares = np.einsum("ij,ij->j", X, X, dtype=np.float64)
    else:
        w = w.astype(np.float64, copy=False)
        mean = (w @ X) / total
        squares = np.einsum("i,ij,ij->j", w, X, X, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):   # overflow: centred below, as before
        m2 = squares - total * mean * mean
        cancelled = ~(m2 > _CANCELLATION * squares)     # NaN, and spreads small against the mean
    if cancelled.any():
        m2[cancelled] = _centred_m2(X[:, cancelled], w, mean[cancelled])
    return total, mean, m2


def _centred_m2(X, w, mean: np.ndarray) -> np.ndarray:
    """sum_i w_i (x_ij - mean_j)^2, centred a few rows at a time (small temporaries)."""
    m2 = np.zeros(X.shape[1])
    step = max(1, _CENTRED_BYTES // (8 * max(1, X.shape[1])))
    for start in range(0, X.shape[0], step):
        centred = X[start:start + step] - mean         # a small temporary, not the block's size
        if w is None:
            m2 += np.einsum("ij,ij->j", centred, centred)
        else:
            m2 += np.einsum("i,ij,ij->j", w[start:start + step], centred, centred)
    return m2


def _batch_moments(batch: Batch) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    return _block_moments(batch.X, batch.sample_weight)


def column_moments(batches: Iterable[Batch], *, map_fn: Callable = map) -> ColumnMoments:
    """Mean and variance of every column of X over all `batches` (one pass).

    Parameters
    ----------
    batches : iterable of Batch
        Typically ``source.batches(None)`` (cache-sized row blocks); dense or
        sparse X, float32 or float64; a batch's sample weights weigh its rows.
    map_fn : callable, default=map
        ``map_fn(fn, batches)`` computes each batch's moments and must yield them
        in input order (the builtin ``map``, or ``training.parallel_map``'s thread
        pool): they are merged in that order, so the result's bits do not
        depend on where the batches were summed.

    Returns
    -------
    ColumnMoments
        ``weight_sum``, ``mean`` and ``var`` (float64, population variance).

    Examples
    --------
    >>> import numpy as np
    >>> from xentlearn.data import ArraySource
    >>> X = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    >>> moments = column_moments(ArraySource(X, np.zeros(3)).batches(None))
    >>> moments.mean, moments.var
    (array([ 3., 10.]), array([2.66666667, 0.        ]))
    """
    return _merged(map_fn(_batch_moments, batches))


def column_moments_and(fn: Callable[[Batch], object], combine: Callable, batches: Iterable[Batch],
                       *, map_fn: Callable = map) -> tuple[ColumnMoments, object]:
    """``column_moments(batches)`` and ``functools.reduce(combine, map(fn, batches))``, in one
    pass.

    Each batch's `fn` runs right after its moments, while its rows are still in
    the core's cache: a solver that standardises its inputs gets the first
    evaluation of its objective (at the starting point) from the pass that
    computes the moments, instead of reading the data once more.

    Parameters
    ----------
    fn : callable, Batch -> object
    combine : callable, (object, object) -> object
        Folds the results of `fn` in input order, as they come (nothing of the
        size of a batch is kept).
    batches, map_fn
        As for ``column_moments``; `map_fn` runs ``fn`` too.

    Returns
    -------
    (ColumnMoments, object)
        The moments and the folded results of `fn`.
    """
    folded: list = []

    def moments_only(pairs):
        for moments, result in pairs:
            folded[:] = [result if not folded else combine(folded[0], result)]
            yield moments

    moments = _merged(moments_only(map_fn(functools.partial(_moments_and, fn), batches)))
    return moments, folded[0]


def _moments_and(fn, batch: Batch) -> tuple:
    return _batch_moments(batch), fn(batch)


def _merged(parts: Iterable[tuple]) -> ColumnMoments:
    """Merge (n, mean, m2) of batches, in order (Chan et al.; see the module notes)."""
    n_total, mean_total, m2_total = 0.0, None, None
    for n, mean, m2 in parts:
        if n == 0.0:
            continue
        if mean_total is None:
            n_total, mean_total, m2_total = n, mean, m2
            continue
        merged = n_total + n
        # In place: with 2**18 features every temporary here is 2 MiB.
        m2_total += m2
        delta = np.subtract(mean, mean_total, out=mean)
        np.multiply(delta, delta, out=m2)
        m2 *= n_total * n / merged
        m2_total += m2
        delta *= n / merged
        mean_total += delta
        n_total = merged
    if mean_total is None:
        raise XentlearnInputError("no row of positive weight (no rows, or sample_weight zero "
                                  "in every row); nothing to fit")
    return ColumnMoments(n_total, mean_total, m2_total / n_total)

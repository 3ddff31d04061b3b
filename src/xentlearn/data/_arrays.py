"""In-memory data (numpy or scipy.sparse) as a re-iterable source of batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from xentlearn._types import Batch, Matrix

# Full-batch passes walk X in row blocks of about this many bytes, so that each
# block is still in cache when the backward product X_block.T @ dlogits reads it
# again after the forward product X_block @ W. Measured on W1 (1M x 100, binary)
# with two workers: 1 MB blocks 3.46x one read of X, 2 MB 1.86x, 4 MB 1.69x, 8 MB
# 1.85x (W2, 10 classes: 6.38x, 5.39x, 5.42x, 5.92x).
_BLOCK_BYTES = 4 << 20
_MIN_BLOCK_ROWS, _MAX_BLOCK_ROWS = 512, 16384


def block_rows(n_features: int, itemsize: int) -> int:
    """Rows per cache block for a dense matrix with `n_features` columns."""
    rows = _BLOCK_BYTES // max(1, n_features * itemsize)
    return int(min(_MAX_BLOCK_ROWS, max(_MIN_BLOCK_ROWS, rows)))


# Sparse full-batch passes use few, large blocks instead. Caching gains nothing
# there (the products read W and write the gradient at scattered rows anyway),
# while every block costs a dense (d, k) gradient that the reducer adds, and a
# hand-over between the worker threads: on the bench's tf-idf workload (W4) a few
# large blocks beat many small ones.
_SPARSE_BLOCK_NNZ = 1 << 22            # at least max(this, 16 d) non-zeros per block ...
_SPARSE_MAX_BLOCK_ROWS = 1 << 17       # ... and at most this many rows (logits memory)


def sparse_block_bounds(indptr: np.ndarray, n_features: int) -> np.ndarray:
    """Row boundaries ``[0, ..., n_samples]`` of the full-batch blocks of a CSR matrix.

    An even number of blocks (work for both workers of ``parallel_map``) with
    about equal numbers of non-zeros, none under ``_MIN_BLOCK_ROWS`` rows
    unless the matrix is smaller.
    """
    n_samples, nnz = len(indptr) - 1, int(indptr[-1])
    n_blocks = max(-(-nnz // max(_SPARSE_BLOCK_NNZ, 16 * n_features)),
                   -(-n_samples // _SPARSE_MAX_BLOCK_ROWS))
    n_blocks = min(n_blocks + n_blocks % 2, max(1, n_samples // _MIN_BLOCK_ROWS))
    if n_blocks <= 1 or nnz == 0:
        step = -(-n_samples // max(1, n_blocks))
        return np.unique(np.r_[np.arange(0, n_samples, max(1, step)), n_samples])
    # Cut where the cumulative count of non-zeros crosses each multiple of nnz / n_blocks.
    cuts = np.searchsorted(indptr, np.linspace(0, nnz, n_blocks + 1)[1:-1])
    return np.unique(np.r_[0, cuts, n_samples])


def csr_rows(X: sp.csr_matrix, start: int, stop: int) -> sp.csr_matrix:
    """Rows ``start:stop`` of CSR `X`, sharing its data and indices (no copy).

    ``X[start:stop]`` copies the block's non-zeros, and so would the
    ``(data, indices, indptr)`` constructor (scipy copies a slice shorter than
    half its base), so the block is an empty matrix of the right shape given
    views of X's arrays: O(stop - start) for the shifted indptr, O(1) otherwise.
    Writing to the block's data writes to X.
    """
    indptr = X.indptr[start:stop + 1]
    lo, hi = indptr[0], indptr[-1]
    block = type(X)((stop - start, X.shape[1]), dtype=X.dtype)
    block.indptr = indptr - lo
    block.indices = X.indices[lo:hi]
    block.data = X.data[lo:hi]
    return block


def strided_rows(batch: Batch, start: int, step: int) -> Batch:
    """Rows start, start + step, ... of `batch`: views, except a C-ordered copy of dense
    rows that would have no unit stride (column-major X) and a CSR slice of sparse X."""
    rows = slice(start, None, step)
    X = batch.X[rows]
    if not sp.issparse(X) and X.strides[-1] != X.itemsize:
        X = np.ascontiguousarray(X)
    sw = None if batch.sample_weight is None else batch.sample_weight[rows]
    return Batch(X, batch.targets[rows], sw)


class ArraySource:
    """A dense or sparse matrix with its targets and sample weights.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
        float32 or float64; CSC is converted to CSR once (row slicing).
    targets : ndarray of shape (n_samples,) or (n_samples, k)
    sample_weight : ndarray of shape (n_samples,) or None

    Notes
    -----
    ``batches(None)`` yields contiguous row blocks (views for dense X) in a
    fixed order: the objective sums their terms, so the result is the full-batch
    gradient. ``batches(b, rng=rng)`` yields shuffled mini-batches gathered with
    ``np.take`` into buffers reused across batches (the loop consumes each batch
    before asking for the next). Dense X that is not C-contiguous (a DataFrame's
    values are column-major) is copied to row-major order once, at the first
    shuffled pass: ``np.take`` would copy all of it for every batch, and gathering
    rows from column-major X costs several times the copy every epoch.
    """

    def __init__(self, X: Matrix, targets: np.ndarray, sample_weight: np.ndarray | None = None):
        if sp.issparse(X) and X.format != "csr":
            X = X.tocsr()
        self.X = X
        self.targets = targets
        self.sample_weight = sample_weight
        self.n_samples, self.n_features = X.shape
        self.dtype = np.dtype(X.dtype)

    def __len__(self) -> int:
        return self.n_samples

    def n_batches(self, batch_size: int | None) -> int:
        """Batches in one pass (1 for full batch: one gradient step)."""
        if batch_size is None:
            return 1
        return -(-self.n_samples // batch_size)

    def take(self, rows: np.ndarray) -> "ArraySource":
        """A new source over the given rows (used for the validation split)."""
        sw = None if self.sample_weight is None else self.sample_weight[rows]
        return ArraySource(self.X[rows], self.targets[rows], sw)

    def every(self, step: int) -> "ArraySource":
        """A source over rows 0, step, 2 step, ...: a subsample that keeps each stretch
        of the data (sorted rows included) in proportion.

        Views of C-ordered dense X (no copy); a C-ordered copy (1/step of X) of any
        other dense layout, whose strided rows no product could read at BLAS speed
        (a DataFrame's values are column-major); a CSR slice of about 1/step of the
        non-zeros.
        """
        return ArraySource(*strided_rows(Batch(self.X, self.targets, self.sample_weight),
                                         0, step))

    def batches(self, batch_size: int | None, *, rng: np.random.Generator | None = None,
                skip: int = 0) -> Iterator[Batch]:
        """One pass: row blocks (batch_size None) or mini-batches, shuffled by `rng`.

        `skip` mini-batches are left out at the start of the pass, after the
        permutation is drawn (so `rng` advances exactly as in a whole pass):
        resuming an epoch from a checkpoint costs no gathering of skipped rows.
        """
        if batch_size is None:
            yield from self._blocks()
            return
        order = rng.permutation(self.n_samples) if rng is not None else None
        first = skip * batch_size
        if order is None or sp.issparse(self.X):
            yield from self._gathered(order, batch_size, first)
        else:
            yield from self._gathered_into_buffers(order, batch_size, first)

    def _blocks(self) -> Iterator[Batch]:
        if sp.issparse(self.X):
            bounds = sparse_block_bounds(self.X.indptr, self.n_features)
            for start, stop in zip(bounds[:-1], bounds[1:]):
                yield self._slice(slice(start, stop))
            return
        step = block_rows(self.n_features, self.dtype.itemsize)
        for start in range(0, self.n_samples, step):
            yield self._slice(slice(start, start + step))

    def _slice(self, rows) -> Batch:
        sw = None if self.sample_weight is None else self.sample_weight[rows]
        if isinstance(rows, slice) and sp.issparse(self.X):
            start, stop, _ = rows.indices(self.n_samples)
            return Batch(csr_rows(self.X, start, stop), self.targets[rows], sw)
        return Batch(self.X[rows], self.targets[rows], sw)

    def _gathered(self, order: np.ndarray | None, batch_size: int, first: int
                  ) -> Iterator[Batch]:
        for start in range(first, self.n_samples, batch_size):
            if order is None:
                yield self._slice(slice(start, start + batch_size))
            else:
                yield self._slice(order[start:start + batch_size])

    def _gathered_into_buffers(self, order: np.ndarray, batch_size: int, first: int
                               ) -> Iterator[Batch]:
        if not self.X.flags.c_contiguous:
            self.X = np.ascontiguousarray(self.X)
        X_buf = np.empty((batch_size, self.n_features), dtype=self.dtype)
        t_buf = np.empty((batch_size,) + self.targets.shape[1:], dtype=self.targets.dtype)
        w_buf = None if self.sample_weight is None else np.empty(batch_size, self.sample_weight.dtype)
        for start in range(first, self.n_samples, batch_size):
            idx = order[start:start + batch_size]
            m = idx.shape[0]
            X_b = np.take(self.X, idx, axis=0, out=X_buf[:m])
            t_b = np.take(self.targets, idx, axis=0, out=t_buf[:m])
            w_b = None if w_buf is None else np.take(self.sample_weight, idx, out=w_buf[:m])
            yield Batch(X_b, t_b, w_b)

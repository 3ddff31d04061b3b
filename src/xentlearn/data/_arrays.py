"""In-memory data (numpy or scipy.sparse) as a re-iterable source of batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from xentlearn._types import Batch, Matrix

# Full-batch passes walk X in row blocks of about this many bytes, so that each
# block is still in cache when the backward product X_block.T @ dlogits reads it
# again after the forward product X_block @ W.
_BLOCK_BYTES = 2 << 20
_MIN_BLOCK_ROWS, _MAX_BLOCK_ROWS = 512, 16384


def block_rows(n_features: int, itemsize: int) -> int:
    """Rows per cache block for a dense matrix with `n_features` columns."""
    rows = _BLOCK_BYTES // max(1, n_features * itemsize)
    return int(min(_MAX_BLOCK_ROWS, max(_MIN_BLOCK_ROWS, rows)))


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
    before asking for the next).
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

    def batches(self, batch_size: int | None, *, rng: np.random.Generator | None = None
                ) -> Iterator[Batch]:
        if batch_size is None:
            yield from self._blocks()
            return
        order = rng.permutation(self.n_samples) if rng is not None else None
        if order is None or sp.issparse(self.X):
            yield from self._gathered(order, batch_size)
        else:
            yield from self._gathered_into_buffers(order, batch_size)

    def _blocks(self) -> Iterator[Batch]:
        if sp.issparse(self.X):
            # ~4 MB of non-zeros per block: slicing CSR rows is O(nnz of the block).
            nnz_per_row = max(1, self.X.nnz // max(1, self.n_samples))
            step = int(max(_MIN_BLOCK_ROWS, (4 << 20) // (12 * nnz_per_row)))
        else:
            step = block_rows(self.n_features, self.dtype.itemsize)
        for start in range(0, self.n_samples, step):
            yield self._slice(slice(start, start + step))

    def _slice(self, rows) -> Batch:
        sw = None if self.sample_weight is None else self.sample_weight[rows]
        return Batch(self.X[rows], self.targets[rows], sw)

    def _gathered(self, order: np.ndarray | None, batch_size: int) -> Iterator[Batch]:
        for start in range(0, self.n_samples, batch_size):
            if order is None:
                yield self._slice(slice(start, start + batch_size))
            else:
                yield self._slice(order[start:start + batch_size])

    def _gathered_into_buffers(self, order: np.ndarray, batch_size: int) -> Iterator[Batch]:
        X_buf = np.empty((batch_size, self.n_features), dtype=self.dtype)
        t_buf = np.empty((batch_size,) + self.targets.shape[1:], dtype=self.targets.dtype)
        w_buf = None if self.sample_weight is None else np.empty(batch_size, self.sample_weight.dtype)
        for start in range(0, self.n_samples, batch_size):
            idx = order[start:start + batch_size]
            m = idx.shape[0]
            X_b = np.take(self.X, idx, axis=0, out=X_buf[:m])
            t_b = np.take(self.targets, idx, axis=0, out=t_buf[:m])
            w_b = None if w_buf is None else np.take(self.sample_weight, idx, out=w_buf[:m])
            yield Batch(X_b, t_b, w_b)

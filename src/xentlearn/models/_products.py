"""The gradient products A^T delta and 1^T delta, shared by the models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from xentlearn._types import Matrix


def transpose(X: Matrix) -> Matrix:
    """X.T without copying X's arrays, also for CSR row blocks that are views.

    scipy's ``csr.T`` builds a CSC matrix through the ``(data, indices, indptr)``
    constructor, which copies arrays that are views of much larger ones (the row
    blocks of ``ArraySource``), so for CSR the CSC matrix is given X's arrays directly.
    """
    if not (sp.issparse(X) and X.format == "csr"):
        return X.T
    csc = sp.csc_array if isinstance(X, sp.sparray) else sp.csc_matrix
    XT = csc((X.shape[1], X.shape[0]), dtype=X.dtype)
    XT.indptr, XT.indices, XT.data = X.indptr, X.indices, X.data
    return XT


def weight_gradient(A: Matrix, delta: np.ndarray) -> np.ndarray:
    """A^T delta, shape (n_features, n_outputs), C-contiguous, dtype of `delta`.

    Dense A is multiplied as (delta^T A)^T: OpenBLAS runs the tall-skinny
    product faster in that orientation (full-batch blocks of many rows by few
    outputs; equal at mini-batch shapes), and the transposed copy of the small
    result costs little (bench/engine.py, full-batch gradient).
    Sparse A (CSR or CSC) goes through the copy-free ``transpose``, O(nnz * k).
    """
    if sp.issparse(A):
        return np.asarray(transpose(A) @ delta)
    return np.ascontiguousarray((delta.T @ A).T)


def bias_gradient(delta: np.ndarray) -> np.ndarray:
    """1^T delta, the column sums, shape (n_outputs,), dtype of `delta`.

    A BLAS matrix-vector product: numpy's ``delta.sum(axis=0)`` walks a short
    contiguous axis per row, several times slower at full-batch block and
    mini-batch shapes alike.
    """
    return np.ones(delta.shape[0], dtype=delta.dtype) @ delta

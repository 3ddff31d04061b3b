"""Sparse helpers shared by the models."""

from __future__ import annotations

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
